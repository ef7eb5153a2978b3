"""The relay driver a burner's config names (``driver = "simulated" | "miio" | "mqtt"``)."""

from __future__ import annotations

from core.config import Burner, MiioBurner, MqttBurner, MqttConfig, SimulatedBurner
from devices.miio_relay import MiioRelay
from devices.mqtt_bus import MqttBus
from devices.mqtt_relay import MqttRelay
from devices.relay import Relay, SimulatedRelay

__all__ = ["make_relay"]


def make_relay(burner: Burner, mqtt: MqttBus | MqttConfig | None = None) -> Relay:
    """The driver for this burner.

    ``mqtt`` is the daemon's one shared MQTT connection, or an ``MqttConfig`` for a relay that connects
    on its own (``coolstove config check``, tests).
    """
    if isinstance(burner, SimulatedBurner):
        return SimulatedRelay(burner.name)
    if isinstance(burner, MiioBurner):
        return MiioRelay(burner)
    if isinstance(burner, MqttBurner):
        return MqttRelay(burner, mqtt)
    raise TypeError(f"no driver for {type(burner).__name__}")

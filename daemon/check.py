"""``coolstove config check``: validate, then actually reach every device and the broker.

Like Home Assistant's config flow, a config is only "good" once the things it
names have answered. Library errors arrive here already translated
(DeviceError); each line says what was tried and what went wrong.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from daemon.config import Config
from daemon.errors import DeviceError

__all__ = ["check_config"]


async def _check_broker(cfg: Config) -> str | None:
    """Connect as the daemon does (same client options, MQTT 5) and subscribe as its link does.

    No will: a check that dies must not announce a running daemon ``offline``.
    """
    import aiomqtt

    from devices.mqtt_bus import make_client
    from devices.mqtt_link import command_subscription

    topic, options = command_subscription(cfg.mqtt)
    try:
        async with make_client(
            cfg.mqtt, identifier=f"coolstove-check-{secrets.token_hex(4)}", timeout=5
        ) as client:
            granted = await client.subscribe(topic, options=options, timeout=5)
            await client.unsubscribe(topic, timeout=5)
    except aiomqtt.MqttError as exc:
        return str(exc)
    refused = [code for code in granted if getattr(code, "is_failure", False)]
    if refused:
        return f"the broker refused the subscription to {topic}: {refused[0]}"
    return None


async def _check_relays(cfg: Config, echo: Callable[[str], None]) -> bool:
    from devices.relay import make_relay

    ok = True
    for b in cfg.burners:
        relay = make_relay(b, cfg.mqtt)
        try:
            await relay.start()
            coil = await relay.read()
            echo(
                f"ok    burner {b.name} ({b.driver}): relay answers, coil "
                f"{'energised' if coil else 'released'}"
            )
        except DeviceError as exc:
            ok = False
            echo(f"FAIL  burner {b.name} ({b.driver}): {exc}")
        finally:
            await relay.stop()
    return ok


def check_config(cfg: Config, *, offline: bool, echo: Callable[[str], None]) -> bool:
    """Print one line per check; True when everything answered."""
    echo(f"ok    config {cfg.source or '(embedded defaults)'} is valid: "
         f"{len(cfg.burners)} burner(s), data in {cfg.storage.data_dir}")
    if offline:
        return True

    async def run() -> bool:
        ok = True
        if cfg.mqtt.enabled:
            err = await _check_broker(cfg)
            if err is None:
                echo(f"ok    MQTT broker {cfg.mqtt.host}:{cfg.mqtt.port} accepts the connection "
                     f"(MQTT 5) and the command subscription")
            else:
                ok = False
                echo(f"FAIL  MQTT broker {cfg.mqtt.host}:{cfg.mqtt.port}: {err}")
        return await _check_relays(cfg, echo) and ok

    return asyncio.run(run())

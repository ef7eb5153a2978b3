"""``coolstove config check``: validate, then actually reach every device and the broker.

Like Home Assistant's config flow, a config is only "good" once the things it
names have answered. Library errors arrive here already translated
(DeviceError); each line says what was tried and what went wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from core.config import Config
from core.errors import DeviceError
from devices.drivers import make_relay
from devices.mqtt_link import probe_broker

__all__ = ["check_config"]


async def _check_broker(cfg: Config) -> str | None:
    try:
        await probe_broker(cfg.mqtt)
    except DeviceError as exc:
        return str(exc)
    return None


async def _check_relays(cfg: Config, echo: Callable[[str], None]) -> bool:
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

"""The daemon: one event loop that composes the stove guard, the paper feed and the web server.

Start order puts the stove first: relays are read and released (reconciliation)
before anything can send a command, then timers load from disk and fire what
fell due while the daemon was down. Stop order is the reverse, with one rule:
every relay is released, and its state published, before MQTT disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from daemon import systemd
from daemon.config import Config, http_token
from daemon.database import Database
from daemon.logging import setup_logging
from daemon.supervisor import supervise
from devices.audit import AuditLog
from devices.stove import Stove
from devices.timers import Timers

# The web server, MQTT and the paper feed are imported inside main(), after the
# relays have been reconciled and overdue timers have fired: a restart reaches
# the relays before it spends time loading FastAPI and friends.

__all__ = ["main", "run_daemon"]

_LOGGER = logging.getLogger("coolstove")
POLL_INTERVAL_S = 30.0


def run_daemon(cfg: Config) -> int:
    setup_logging(cfg.log_level)
    try:
        return asyncio.run(main(cfg))
    except KeyboardInterrupt:
        return 130


async def _poll(stove: Stove) -> None:
    while True:
        await asyncio.sleep(POLL_INTERVAL_S)
        await stove.poll()


async def _watchdog(interval: float) -> None:
    while True:
        systemd.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


async def main(cfg: Config, *, stop: asyncio.Event | None = None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    cfg.storage.data_dir.mkdir(parents=True, exist_ok=True)
    stove_db = Database(f"sqlite:///{cfg.storage.stove_db.resolve()}")
    stove_db.start()
    bus: Any = None  # the one MQTT connection (devices/mqtt_bus.py), shared by the relays and the link
    if any(b.driver == "mqtt" for b in cfg.burners):  # MQTT relays need it before reconciliation
        from devices.mqtt_bus import daemon_bus

        bus = daemon_bus(cfg.mqtt)
        bus.start()
    audit = AuditLog(stove_db, max_age_days=cfg.storage.audit_max_age_days, max_rows=cfg.storage.audit_max_rows)
    stove = Stove(cfg, audit, mqtt_bus=bus)
    _LOGGER.info("starting: %d burner(s): %s", len(stove.burners),
                 ", ".join(f"{b.name} ({b.driver})" for b in cfg.burners))
    await stove.start()
    timers = Timers(cfg.storage.stove_db, stove)
    timers.start()

    tasks: list[asyncio.Task[Any]] = []

    def spawn(name: str, factory: Any) -> None:
        tasks.append(asyncio.create_task(supervise(name, factory), name=name))

    from daemon.http import HttpServer, make_app
    from devices.api import make_router as stove_router
    from devices.api import refusal_auditor
    from devices.flame import FlameWatcher
    from devices.mqtt_link import MqttLink
    from devices.voice import watch_voice

    link: MqttLink | None = None
    if cfg.mqtt.enabled:
        if bus is None:
            from devices.mqtt_bus import daemon_bus

            bus = daemon_bus(cfg.mqtt)
            bus.start()
        flame = None
        if cfg.flame.topic:
            flame = FlameWatcher(cfg.flame, stove)
            spawn("flame", flame.run)
        link = MqttLink(cfg, stove, flame, bus=bus)
        if flame is not None:
            flame.alert = link.publish_event
        spawn("mqtt", link.run)
    for g in stove.burners.values():
        if g.cfg.driver == "miio" and g.cfg.voice_siid is not None:
            spawn(f"voice-{g.name}", lambda g=g: watch_voice(stove, g))
    spawn("relay-poll", lambda: _poll(stove))

    papers: Any = None
    stove_routers: list[Any] = [stove_router(stove, http_token(cfg))]
    routers: list[Any] = []  # the paper pages' routers: served on their own listener
    mounts: list[Any] = []
    home_parts: list[str] = []
    if cfg.papers.enabled:
        from daemon.papers import Papers

        papers = Papers(cfg)
        try:
            await papers.open()
        except Exception:
            _LOGGER.exception("the paper feed could not start; the stove guard runs without it")
            papers = None
        else:
            routers += papers.routers()
            mounts += papers.mounts()
            home_parts.append(papers.home_html())
            for name, factory in papers.services():
                spawn(name, factory)

    servers: list[Any] = []
    if cfg.http.enabled:
        # Two origins: the stove's control surface, and the paper pages (whose data is imported, so
        # a page's script must not share an origin with the stove token). A listener that cannot
        # bind stops the start before READY.
        from daemon.errors import ConfigError

        stove_app = make_app(cfg, stove_routers, refusal_hooks=[refusal_auditor(stove)], role="stove",
                             pages=bool(routers))
        servers.append(HttpServer(stove_app, cfg.http.host, cfg.http.port, cfg.http, name="stove"))
        if cfg.http.pages_enabled and routers:
            pages_app = make_app(cfg, routers, mounts, home_parts, role="pages")
            servers.append(HttpServer(pages_app, cfg.http.pages_host, cfg.http.pages_port, cfg.http,
                                      name="pages"))
        try:
            for server in servers:
                await server.start()
        except OSError as exc:
            _LOGGER.error("%s", exc)
            for server in servers:
                await server.stop()
            raise ConfigError(str(exc)) from exc
        _LOGGER.info("HTTP on %s (stove page /stove, API /api/stove)", cfg.http.base_url)
        if len(servers) > 1:
            _LOGGER.info("paper pages on %s", cfg.http.pages_base_url)

    systemd.notify("READY=1")
    systemd.notify(f"STATUS=guarding {len(stove.burners)} burner(s)")
    interval = systemd.watchdog_interval()
    if interval:
        tasks.append(asyncio.create_task(_watchdog(interval), name="watchdog"))
    _LOGGER.info("ready")

    await stop.wait()

    _LOGGER.info("stopping")
    systemd.notify("STOPPING=1")
    for server in servers:
        await server.stop()
    timers.shutdown()
    await stove.shutdown()  # relays released and published while MQTT is still up
    if link is not None:
        await link.close()
    if bus is not None:
        await bus.close()
    await stove.audit.close()  # counted refusals still in their window are written
    for task in tasks:
        task.cancel()
    done, pending = await asyncio.wait(tasks, timeout=cfg.shutdown_grace_s) if tasks else (set(), set())
    for task in pending:
        _LOGGER.error("%s did not stop within %.0f s", task.get_name(), cfg.shutdown_grace_s)
    if papers is not None:
        await papers.close()
    stove_db.close()
    _LOGGER.info("stopped")
    return 0

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
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from daemon import systemd
from daemon.config import Config, http_token
from daemon.database import Database
from daemon.datalock import DataLock
from daemon.errors import ConfigError
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
    lock = DataLock(cfg.storage.data_dir)
    lock.acquire()  # before any relay is touched: a second daemon must not reconcile a running cut
    try:
        return await _guard(cfg, stop)
    finally:
        lock.release()


@dataclass
class _Parts:
    """What has been started so far: the stop sequence undoes exactly that, whatever failed."""

    cfg: Config
    stove_db: Database
    bus: Any = None  # the one MQTT connection (devices/mqtt_bus.py), shared by the relays and the link
    stove: Stove | None = None
    timers: Timers | None = None
    link: Any = None
    papers: Any = None
    servers: list[Any] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def spawn(self, name: str, factory: Any) -> None:
        self.tasks.append(asyncio.create_task(supervise(name, factory), name=name))


async def _guard(cfg: Config, stop: asyncio.Event) -> int:
    parts = _Parts(cfg, Database(f"sqlite:///{cfg.storage.stove_db.resolve()}"))
    parts.stove_db.start()
    try:
        await _start(parts)
        assert parts.stove is not None
        systemd.notify("READY=1")
        systemd.notify(f"STATUS=guarding {len(parts.stove.burners)} burner(s)")
        interval = systemd.watchdog_interval()
        if interval:
            parts.tasks.append(asyncio.create_task(_watchdog(interval), name="watchdog"))
        _LOGGER.info("ready")
        await stop.wait()
        _LOGGER.info("stopping")
    finally:  # a start that failed half-way (a port in use, say) still releases every relay
        systemd.notify("STOPPING=1")
        await _stop(parts)
    return 0


async def _start(parts: _Parts) -> None:
    cfg = parts.cfg
    if any(b.driver == "mqtt" for b in cfg.burners):  # MQTT relays need it before reconciliation
        from devices.mqtt_bus import daemon_bus

        parts.bus = daemon_bus(cfg.mqtt)
        parts.bus.start()
    audit = AuditLog(parts.stove_db, max_age_days=cfg.storage.audit_max_age_days,
                     max_rows=cfg.storage.audit_max_rows)
    stove = parts.stove = Stove(cfg, audit, mqtt_bus=parts.bus)
    _LOGGER.info("starting: %d burner(s): %s", len(stove.burners),
                 ", ".join(f"{b.name} ({b.driver})" for b in cfg.burners))
    await stove.start()
    parts.timers = Timers(parts.stove_db, stove)
    await parts.timers.start()  # loads deadlines, owed cuts and schedules; what fell due fires now
    spawn = parts.spawn

    from daemon.http import HttpServer, make_app
    from devices.api import make_router as stove_router
    from devices.api import refusal_auditor
    from devices.flame import FlameWatcher
    from devices.mqtt_link import MqttLink
    from devices.voice import watch_voice

    if cfg.mqtt.enabled:
        if parts.bus is None:
            from devices.mqtt_bus import daemon_bus

            parts.bus = daemon_bus(cfg.mqtt)
            parts.bus.start()
        flame = None
        if cfg.flame.topic:
            flame = FlameWatcher(cfg.flame, stove)
            spawn("flame", flame.run)
        link = parts.link = MqttLink(cfg, stove, flame, bus=parts.bus)
        stove.add_event_listener(link.publish_event)  # cut_failed and the flame events
        if flame is not None:
            flame.alert = stove.event  # events carry event_type for Home Assistant's event entity
        spawn("mqtt", link.run)
    for g in stove.burners.values():
        if g.cfg.driver == "miio" and g.cfg.voice_siid is not None:
            spawn(f"voice-{g.name}", lambda g=g: watch_voice(stove, g))
    spawn("relay-poll", lambda: _poll(stove))

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
        else:
            parts.papers = papers
            routers += papers.routers()
            mounts += papers.mounts()
            home_parts.append(papers.home_html())
            for name, factory in papers.services():
                spawn(name, factory)

    if cfg.http.enabled:
        # Two origins: the stove's control surface, and the paper pages (whose data is imported, so
        # a page's script must not share an origin with the stove token). A listener that cannot
        # bind stops the start before READY.
        stove_app = make_app(cfg, stove_routers, refusal_hooks=[refusal_auditor(stove)], role="stove",
                             pages=bool(routers))
        parts.servers.append(HttpServer(stove_app, cfg.http.host, cfg.http.port, cfg.http, name="stove"))
        if cfg.http.pages_enabled and routers:
            pages_app = make_app(cfg, routers, mounts, home_parts, role="pages")
            parts.servers.append(HttpServer(pages_app, cfg.http.pages_host, cfg.http.pages_port, cfg.http,
                                            name="pages"))
        try:
            for server in parts.servers:
                await server.start()
        except OSError as exc:
            _LOGGER.error("%s", exc)
            raise ConfigError(str(exc)) from exc
        _LOGGER.info("HTTP on %s (stove page /stove, API /api/stove)", cfg.http.base_url)
        if len(parts.servers) > 1:
            _LOGGER.info("paper pages on %s", cfg.http.pages_base_url)


async def _step(what: str, coro: Awaitable[Any]) -> None:
    """One step of the stop sequence; its failure is logged and the next step still runs."""
    try:
        await coro
    except Exception:
        _LOGGER.exception("stopping: %s failed", what)


async def _stop(parts: _Parts) -> None:
    """Stop what was started, relays before MQTT: released and published before ``offline``."""
    for server in parts.servers:
        await _step("the HTTP server", server.stop())
    if parts.timers is not None:
        await _step("the timers", parts.timers.shutdown())  # owed cuts stay on disk for the next start
    if parts.stove is not None:
        await _step("releasing the relays", parts.stove.shutdown())
    if parts.link is not None:
        await _step("the MQTT link", parts.link.close())
    if parts.bus is not None:
        await _step("the MQTT connection", parts.bus.close())
    if parts.stove is not None:
        await _step("the audit log", parts.stove.audit.close())  # counted refusals still in their window
    for task in parts.tasks:
        task.cancel()
    if parts.tasks:
        _, pending = await asyncio.wait(parts.tasks, timeout=parts.cfg.shutdown_grace_s)
        for task in pending:
            _LOGGER.error("%s did not stop within %.0f s", task.get_name(), parts.cfg.shutdown_grace_s)
    if parts.papers is not None:
        await _step("the paper feed", parts.papers.close())
    parts.stove_db.close()
    _LOGGER.info("stopped")

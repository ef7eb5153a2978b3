"""The daemon: one event loop that composes the stove guard, the paper feed and the web server.

Start order puts the stove first: relays are read and released (reconciliation)
before anything can send a command, then timers load from disk and fire what
fell due while the daemon was down. Stop order is the reverse, with one rule:
every relay is released, and its state published, before MQTT disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core import systemd
from core.config import Config, DaemonRecord, MiioBurner, http_token, token_file
from core.errors import ConfigError
from core.logging import setup_logging
from core.sqlitedb import SqliteDatabase
from daemon.datalock import DataLock, RuntimeRecord
from daemon.supervisor import Restart, stop_tasks, supervise
from devices.audit import AuditLog
from devices.flame import FlameWatcher
from devices.mqtt_bus import MqttBus, daemon_bus
from devices.mqtt_link import MqttLink
from devices.stove import Stove
from devices.timers import Timers
from devices.voice import watch_voice

if TYPE_CHECKING:
    from daemon.http import HttpServer
    from daemon.papers import Papers

# The web stack (FastAPI, ~0.8 s to import here) and the paper feed are imported where they start,
# after the relays have been reconciled and overdue timers have fired: a restart reaches the relays
# first. These are the only imports inside functions in the daemon.

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
    """What has been started so far (the stack in ``_guard`` undoes exactly that, whatever failed)."""

    cfg: Config
    stove_db: SqliteDatabase
    bus: MqttBus | None = None  # the one MQTT connection, shared by the relays and the link
    stove: Stove | None = None
    timers: Timers | None = None
    link: MqttLink | None = None
    servers: list[HttpServer] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(asyncio.create_task(supervise(name, factory, restart=Restart.ALWAYS), name=name))


async def _guard(cfg: Config, stop: asyncio.Event) -> int:
    parts = _Parts(cfg, SqliteDatabase(cfg.storage.stove_db.resolve()))
    record = RuntimeRecord(cfg.runtime_dir)
    async with contextlib.AsyncExitStack() as stack:
        try:
            await _start(parts, stack)
            assert parts.stove is not None
            _publish(parts, record)  # before READY: whoever waits for READY finds the record
            systemd.notify("READY=1")
            systemd.notify(f"STATUS=guarding {len(parts.stove.burners)} burner(s)")
            interval = systemd.watchdog_interval()
            if interval:
                parts.tasks.append(asyncio.create_task(_watchdog(interval), name="watchdog"))
            _LOGGER.info("ready")
            await stop.wait()
            _LOGGER.info("stopping")
        finally:  # before the stack unwinds: a start that failed half-way stops (and says so) too
            record.remove()  # the CLI no longer finds a daemon that is going away
            systemd.notify("STOPPING=1")
    _LOGGER.info("stopped")
    return 0


def _publish(parts: _Parts, record: RuntimeRecord) -> None:
    """Tell the CLI where this daemon runs: data folder, listeners, where its token comes from (never the
    token). The daemon guards the stove without it, so a runtime folder it cannot write is only logged."""
    cfg = parts.cfg
    bound = {s.name: f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}" for s in parts.servers}
    data_dir = cfg.storage.data_dir.resolve()
    token_from = (cfg.token_from or "the configured [http] token") if cfg.http.token else str(
        token_file(cfg).resolve())
    _LOGGER.info("data in %s (%s)", data_dir, cfg.data_dir_from)
    try:
        record.write(DaemonRecord(
            pid=os.getpid(), data_dir=data_dir, listen=bound.get("stove", cfg.http.listen),
            pages_listen=bound.get("pages", "off"), token_from=token_from,
            config=str(cfg.source.resolve()) if cfg.source else None,
        ))
    except OSError as exc:
        _LOGGER.warning("cannot record where the daemon runs in %s (the CLI will not find it): %s",
                        record.path, exc)
        return
    if record.path is not None:
        _LOGGER.info("recorded in %s", record.path)


async def _quietly(what: str, fn: Callable[[], Awaitable[object]]) -> None:
    """One step of the stop sequence: its failure is logged and the next step still runs."""
    try:
        await fn()
    except Exception:
        _LOGGER.exception("stopping: %s failed", what)


def _undo(stack: contextlib.AsyncExitStack, what: str, fn: Callable[[], Awaitable[object]]) -> None:
    stack.push_async_callback(_quietly, what, fn)


async def _start(parts: _Parts, stack: contextlib.AsyncExitStack) -> None:
    """Start each part and register its stop on ``stack``, which unwinds in reverse: servers, paper feed,
    timers, relays released (and published), tasks, MQTT link (``offline``), audit log, MQTT, database."""
    cfg = parts.cfg
    parts.stove_db.start()
    stack.callback(parts.stove_db.close)
    if cfg.mqtt.enabled or any(b.driver == "mqtt" for b in cfg.burners):  # MQTT relays need it first
        bus = parts.bus = daemon_bus(cfg.mqtt)
        bus.start()
        _undo(stack, "the MQTT connection", bus.close)
    audit = AuditLog(parts.stove_db, max_age_days=cfg.storage.audit_max_age_days,
                     max_rows=cfg.storage.audit_max_rows)
    _undo(stack, "the audit log", audit.close)  # counted refusals still in their window
    _undo(stack, "the MQTT link", _close_link(parts))  # registered early: unwinds after the relays
    _undo(stack, "the tasks", _cancel_tasks(parts))
    stove = parts.stove = Stove(cfg, audit, mqtt_bus=parts.bus)
    _LOGGER.info("starting: %d burner(s): %s", len(stove.burners),
                 ", ".join(f"{b.name} ({b.driver})" for b in cfg.burners))
    _undo(stack, "releasing the relays", stove.shutdown)  # also when start() fails half-way
    await stove.start()
    timers = parts.timers = Timers(parts.stove_db, stove)
    _undo(stack, "the timers", timers.shutdown)  # owed cuts stay on disk for the next start
    await timers.start()  # loads deadlines, owed cuts and schedules; what fell due fires now
    _start_stove_services(parts)
    pages = await stack.enter_async_context(_papers(cfg)) if cfg.papers.enabled else None
    if cfg.http.enabled:
        await _start_http(parts, stack, pages)


def _close_link(parts: _Parts) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        if parts.link is not None:
            await parts.link.close()

    return close


def _cancel_tasks(parts: _Parts) -> Callable[[], Awaitable[None]]:
    async def cancel() -> None:
        await stop_tasks(parts.tasks, parts.cfg.shutdown_grace_s)

    return cancel


def _start_stove_services(parts: _Parts) -> None:
    cfg, stove = parts.cfg, parts.stove
    assert stove is not None
    if cfg.mqtt.enabled:
        assert parts.bus is not None
        flame = None
        if cfg.flame.topic:
            flame = FlameWatcher(cfg.flame, stove)
            parts.spawn("flame", flame.run)
        link = parts.link = MqttLink(cfg, stove, flame, bus=parts.bus)
        stove.add_event_listener(link.publish_event)  # cut_failed and the flame events
        if flame is not None:
            flame.alert = stove.event  # events carry event_type for Home Assistant's event entity
        parts.spawn("mqtt", link.run)
    for g in stove.burners.values():
        if isinstance(g.cfg, MiioBurner) and g.cfg.voice_siid is not None:
            parts.spawn(f"voice-{g.name}", functools.partial(watch_voice, stove, g))
    parts.spawn("relay-poll", functools.partial(_poll, stove))


@contextlib.asynccontextmanager
async def _papers(cfg: Config) -> AsyncIterator[Papers | None]:
    """The paper feed, or None if it cannot start: the stove guard runs without it."""
    from daemon.papers import Papers

    papers: Papers | None = None
    try:
        papers = Papers(cfg)
        await papers.open()
    except Exception:
        _LOGGER.exception("the paper feed could not start; the stove guard runs without it")
        if papers is not None:
            await _quietly("the paper feed", papers.close)
        papers = None
    try:
        yield papers
    finally:
        if papers is not None:
            await _quietly("the paper feed", papers.close)


async def _start_http(parts: _Parts, stack: contextlib.AsyncExitStack, papers: Papers | None) -> None:
    """Two origins: the stove's control surface, and the paper pages (whose data is imported, so a page's
    script must not share an origin with the stove token). A listener that cannot bind stops the start
    before READY."""
    from daemon.http import CSP, HttpServer, make_app, page_csp
    from devices.api import make_router as stove_router
    from devices.api import refusal_auditor

    cfg, stove = parts.cfg, parts.stove
    assert stove is not None
    stove_app = make_app(cfg, [stove_router(stove, http_token(cfg))], refusal_hooks=[refusal_auditor(stove)],
                         role="stove", pages=papers is not None)
    apps = [("stove", stove_app, cfg.http.host, cfg.http.port)]
    if cfg.http.pages_enabled and papers is not None:
        pages_app = make_app(cfg, papers.routers(), [papers.home_html()], role="pages")
        apps.append(("pages", pages_app, cfg.http.pages_host, cfg.http.pages_port))
    for name, app, host, port in apps:
        csp = page_csp(cfg.papers.pdf_url) if name == "pages" else CSP  # pages fetch PDFs from arXiv
        server = HttpServer(app, host, port, cfg.http, name=name, csp=csp)
        try:
            await server.start()
        except OSError as exc:
            _LOGGER.error("%s", exc)
            raise ConfigError(str(exc)) from exc
        parts.servers.append(server)
        _undo(stack, f"the HTTP server ({name})", server.stop)
    _LOGGER.info("HTTP on %s (stove page /stove, API /api/stove)", cfg.http.base_url)
    if len(parts.servers) > 1:
        _LOGGER.info("paper pages on %s", cfg.http.pages_base_url)

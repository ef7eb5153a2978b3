"""``coolstove web``: the paper pages and search in a process of their own, reading only.

Where one daemon is not enough readers, several of these run behind a load
balancer (``deploy/web-tier.md``). Each serves the same pages as the daemon's
pages origin from the papers database (``[papers] database_url``: PostgreSQL
when they run on other machines) and an index it only reads: the generations
the daemon publishes in ``[search] publish_dir`` (or a copy of that folder, or
``--index``), followed within a second of each new one
(:class:`search.replica.ReplicaIndex`). The daemon stays the one writer of the
index and the stove guard; a web process has no crawler, no stove, no MQTT.

What writes: a paper that is not in the database is not fetched from arXiv
(its page is a 404 linking to arXiv; the daemon's crawler adds papers), and
stars are rows in the papers database, which takes writers from every process
(PostgreSQL, or SQLite's WAL on one machine): they work on every web process.

``GET /healthz`` answers 200 with what is served (generation, papers, age)
when an index generation is open and the database answers, else 503: the load
balancer's health check. The same guard as the daemon's listeners stands in
front (Host check against ``[http] allowed_hosts`` and the listen address,
body limits, security headers, connection cap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import click
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from sqlalchemy.engine import make_url

from core import systemd
from core.clicontext import CliContext, pass_cli
from core.config import Config
from core.database import Database
from core.endpoint import split_listen
from core.errors import ConfigError, StorageError
from core.logging import setup_logging
from core.memory import tune_allocator
from daemon.http import STOVE_PREFIXES, HttpServer, home_page, make_app, page_csp
from feeds import store
from feeds.migrate import current_revision, head_revision
from search.fastscore import set_cache_budget
from search.replica import ReplicaIndex, age_s
from search.web import home_partial, make_router

__all__ = ["DEFAULT_LISTEN", "make_web_app", "run_web", "serve", "web"]

_LOGGER = logging.getLogger("coolstove.web")
DEFAULT_LISTEN = "127.0.0.1:8472"


def _listen(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        host, port = split_listen(value)
    except ValueError:
        host, port = "", -1  # "²" passes str.isdigit() and then fails int(): refused the same way
    if not host or not 0 <= port <= 65535:
        raise click.BadParameter(f"must be HOST:PORT, got {value!r}")
    return value.strip()


@click.command()
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, callback=_listen,
              help="HOST:PORT to serve the pages on (0.0.0.0 behind a load balancer).")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The published index to read (default: [search] publish_dir, else the daemon's own "
                   "index folder on this machine).")
@pass_cli
def web(cli: CliContext, listen: str, index_dir: Path | None) -> None:
    """Serve the paper pages and search, reading only (a web tier process; the daemon writes)."""
    tune_allocator()
    sys.exit(run_web(cli.loaded_config, listen, index_dir))


def run_web(cfg: Config, listen: str = DEFAULT_LISTEN, index_dir: Path | None = None) -> int:
    setup_logging(cfg.log_level)
    try:
        return asyncio.run(serve(cfg, listen, index_dir))
    except KeyboardInterrupt:
        return 130


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _check_database(url: str) -> None:
    """Warn (never refuse: the daemon may be migrating it right now) when the database is not at the
    schema this code reads. A SQLite file that is not there is refused: this process never creates one."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise ConfigError(
            f"no paper database at {url.removeprefix('sqlite:///')}: set [papers] database_url to the "
            "daemon's database (PostgreSQL when the web processes run on other machines)"
        )
    try:
        found, head = current_revision(url), head_revision()
    except StorageError as exc:
        _LOGGER.warning("the paper database does not answer yet (%s); pages fail until it does", exc)
        return
    if found != head:
        _LOGGER.warning("the paper database is at schema %s, this code reads %s: the daemon migrates it "
                        "when it starts (upgrade the daemon first, then the web processes)", found, head)


async def serve(cfg: Config, listen: str = DEFAULT_LISTEN, index_dir: Path | None = None,
                *, stop: asyncio.Event | None = None) -> int:
    """Serve until SIGTERM/SIGINT (or ``stop``); returns the exit status."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    where = index_dir or cfg.search.publish_dir or cfg.storage.index_dir
    host, port = split_listen(listen)
    await asyncio.to_thread(_check_database, cfg.papers_db_url)
    db = Database(cfg.papers_db_url)
    set_cache_budget(cfg.search.cache_mb * 2**20)  # as the daemon's index does ([search] cache_mb)
    replica = ReplicaIndex(where, max_results=cfg.search.max_results)
    tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.to_thread(replica.open)
        if replica.serving is None:
            _LOGGER.warning("no index generation in %s yet: searches say so until the daemon publishes one "
                            "(is this the daemon's [search] publish_dir, or a copy of it?)", where)
        cfg = cfg.model_copy(update={"http": cfg.http.model_copy(update={"pages_listen": listen})})
        server = HttpServer(make_web_app(cfg, db, replica), host, port, cfg.http, name="web",
                            csp=page_csp(cfg.papers.pdf_url))
        try:
            await server.start()
        except OSError as exc:
            raise ConfigError(str(exc)) from exc
        try:
            _LOGGER.info("web: pages on http://%s:%d, index from %s, papers in %s", host, server.port, where,
                         _safe_url(cfg.papers_db_url))
            systemd.notify("READY=1")
            serving = replica.serving
            systemd.notify(f"STATUS=serving index generation {serving.name if serving else 'none yet'}")
            interval = systemd.watchdog_interval()
            if interval:
                tasks.append(asyncio.create_task(_watchdog(interval), name="watchdog"))
            await stop.wait()
            _LOGGER.info("stopping")
            systemd.notify("STOPPING=1")
        finally:
            await server.stop(cfg.shutdown_grace_s)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(replica.close)
        db.close()
    return 0


async def _watchdog(interval: float) -> None:
    while True:
        systemd.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def make_web_app(cfg: Config, db: Database, replica: ReplicaIndex) -> FastAPI:
    """The pages app of a web process: the daemon's pages origin without on-demand fetches and without
    the way to the stove, plus ``/healthz``."""
    routers = [_web_router(cfg, db, replica), make_router(cfg, db, replica, fetch=None)]
    return make_app(cfg, routers, role="pages")


def _web_router(cfg: Config, db: Database, replica: ReplicaIndex) -> APIRouter:
    """Included before the pages' own routes, so these answer first."""
    router = APIRouter()
    home = str(home_partial(cfg))
    db_failing = False

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def web_home() -> str:
        return home_page([("/search", "Search papers", "by words, authors, categories and dates"),
                          ("/stars", "Stars", "the papers you starred")], home)

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        nonlocal db_failing
        serving = replica.serving
        try:
            await db.read(store.current_generation)
            database = "ok"
            if db_failing:
                _LOGGER.info("the paper database answers again")
            db_failing = False
        except StorageError as exc:
            database = "unreachable"
            if not db_failing:
                _LOGGER.warning("health check: the paper database does not answer: %s", exc)
            db_failing = True
        body = {
            "index": None if serving is None else serving.name,
            "papers": None if serving is None else serving.documents,
            "published_s_ago": None if (age := age_s(serving)) is None else round(age, 1),
            "database": database,
        }
        ok = serving is not None and database == "ok"
        return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})

    async def no_stove(request: Request) -> PlainTextResponse:
        return PlainTextResponse("not served here: this is a read-only web process for the paper pages",
                                 status_code=404)

    for prefix in STOVE_PREFIXES:
        for path in (prefix, prefix + "/{rest:path}"):
            router.add_api_route(path, no_stove, methods=["GET", "HEAD", "POST", "DELETE", "PUT", "PATCH"],
                                 include_in_schema=False)
    return router

"""The daemon's web servers: FastAPI apps served by uvicorn inside the daemon's loop.

Two listeners, two origins (see ``HttpConfig``): the stove's control surface
(``/stove``, ``/api/stove``) and the paper pages. Each part brings its own
router; this module composes them and puts one guard in front of every
response of either app:

- the Host header must name this machine (DNS rebinding gets 400);
- request bodies are read whole before any handler runs: over 64 KiB is 413,
  one that trickles for longer than ``body_timeout_s`` is 408;
- every response carries a Content-Security-Policy without inline script or
  framing, ``X-Frame-Options: DENY``, ``nosniff`` and a referrer policy, and
  never a CORS header;
- each listener holds at most ``max_connections`` connections (more are closed
  at once, so idle sockets cannot eat the daemon's file descriptors), and a
  connection that does not send a complete request head in ``header_timeout_s``
  is closed.

The docs UI stays off (it would load from a CDN): the schema is at ``/api/openapi.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import logging
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from importlib import resources
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from core.config import Config, HttpConfig

__all__ = [
    "CSP",
    "MAX_BODY",
    "PAGE_PREFIXES",
    "SECURITY_HEADERS",
    "Guard",
    "HttpServer",
    "home_page",
    "host_name",
    "make_app",
    "page_csp",
]

_LOGGER = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
STOVE_PREFIXES = ("/stove", "/api/stove", "/static/stove")
HOME_CSS = "/static/home.css"  # the home page's look, served by both origins
PAGE_PREFIXES = (
    "/arxiv", "/search", "/stars", "/preferences", "/go", "/faq", "/foryou", "/redirect", "/cite",
    "/static/papers",
)

# KaTeX sets inline styles (style="…") and loads its fonts from its own folder: styles are not script.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def page_csp(pdf_url: str) -> str:
    """The paper pages' CSP: :data:`CSP`, plus PDF.js's module worker (``worker-src 'self'``) and the
    reader's browser fetching PDFs from ``pdf_url``'s origin (``[papers] pdf_url``, arXiv by default)."""
    parts = urllib.parse.urlsplit(pdf_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return CSP.replace("connect-src 'self'", f"connect-src 'self' {origin}; worker-src 'self'")


SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: a same-origin POST must keep its Origin (the star forms check it)
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_DROPPED = {name for name, _ in SECURITY_HEADERS} | {b"access-control-allow-origin",
                                                    b"access-control-allow-credentials"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RefusalHook = Callable[[str, str], Awaitable[None]]  # (path, message): audits a refused request


def host_name(value: str) -> str:
    """``Example.org:8470`` → ``example.org``; ``[::1]:8470`` → ``::1`` (lower case, no trailing dot)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return ""
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
        if not port.isdigit():
            return ""
    else:
        name = value
    return name.rstrip(".")


class Guard:
    """The ASGI middleware in front of each app: Host check, whole-body read, security headers."""

    def __init__(
        self,
        app: ASGIApp,
        hosts: Iterable[str] | None = None,
        limit: int = MAX_BODY,
        body_timeout_s: float = 10.0,
        csp: str = CSP,
    ) -> None:
        self.app = app
        self.headers = [(b"content-security-policy", csp.encode()), *SECURITY_HEADERS[1:]]
        self.hosts = None if hosts is None else frozenset(hosts)
        self.limit = limit
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _DROPPED]
                message["headers"] = headers + self.headers
            await send(message)

        headers = scope.get("headers", [])
        if self.hosts is not None:
            given = [v for k, v in headers if k == b"host"]
            name = host_name(given[0].decode("latin-1")) if len(given) == 1 else ""
            if name not in self.hosts:
                shown = given[0].decode("latin-1")[:80] if given else "(none)"
                await self._refuse(scope, secured, 400, f"Host {shown!r} is not this daemon's name")
                return
        length = [v for k, v in headers if k == b"content-length"]
        if length:
            try:
                too_big = int(length[0]) > self.limit
            except ValueError:
                too_big = True
            if too_big:
                await self._refuse(scope, secured, 413, f"request body over {self.limit} bytes")
                return
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body, disconnected = await self._read_body(receive)
        except _TooLarge:
            await self._refuse(scope, secured, 413, f"request body over {self.limit} bytes")
            return
        except TimeoutError:
            await self._refuse(
                scope, secured, 408, f"request body not received within {self.body_timeout_s:g} s"
            )
            return
        if disconnected:  # the client gave up before its request was read: nothing runs
            for hook in _hooks(self.app):
                await hook(
                    scope.get("path", ""), "the client went away before its request was read; not executed"
                )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, secured)

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", True
            if message["type"] != "http.request":
                continue
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    async def _refuse(self, scope: Scope, send: Send, status: int, message: str) -> None:
        for hook in _hooks(self.app):
            await hook(scope.get("path", ""), message)
        response = JSONResponse({"detail": message}, status_code=status, headers={"Connection": "close"})
        await response({"type": "http"}, _no_receive, send)


def home_page(parts: list[tuple[str, str, str]], extra: str = "") -> str:
    """The HTML at ``/`` on either origin: the parts as (href, name, what it is), then ``extra``.

    ``extra`` is already-escaped HTML (a part's home section); everything else is escaped here. The look is
    the paper pages' (``/static/home.css``), on the stove's origin too.
    """
    items = "".join(
        f'<li><a href="{html.escape(href, quote=True)}">{html.escape(name)}</a>'
        f' <span class="note">— {html.escape(note)}</span></li>'
        for href, name, note in parts
    )
    bar = "".join(f'<a href="{html.escape(href, quote=True)}">{html.escape(name)}</a>'
                  for href, name, _ in parts)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<title>coolstove</title>\n'
        f'<link rel="stylesheet" href="{HOME_CSS}">\n'
        '</head>\n<body>\n'
        f'<header class="top"><a href="/" class="home">coolstove</a>{bar}</header>\n'
        f'<main>\n<h1>coolstove</h1>\n<ul class="parts">{items}</ul>\n{extra}\n</main>\n</body>\n</html>\n'
    )


@functools.cache
def _home_css() -> str:
    return resources.files("daemon").joinpath("static", "home.css").read_text(encoding="utf-8")


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _hooks(app: ASGIApp) -> list[RefusalHook]:
    return list(getattr(getattr(app, "state", None), "refusal_hooks", []))


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def make_app(
    cfg: Config,
    routers: list[APIRouter],
    home_parts: list[str] | None = None,
    refusal_hooks: list[RefusalHook] | None = None,
    *,
    role: str = "stove",
    pages: bool = True,
) -> FastAPI:
    """One listener's app: ``role`` "stove" (control surface and API) or "pages" (the paper pages).

    Each points at the other: a paper path on the stove origin redirects to the
    pages origin (when ``pages`` are served), and the stove paths on the pages
    origin are a 404 with a link.
    """
    app = FastAPI(
        title="coolstove",
        version="0.1.0",
        description="Stove guard API (bearer token)." if role == "stove" else "The paper pages.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json" if role == "stove" else None,
    )
    app.state.refusal_hooks = list(refusal_hooks or [])
    http_cfg: HttpConfig = cfg.http
    with_pages = pages and http_cfg.pages_enabled

    @app.exception_handler(RequestValidationError)
    async def refused(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {"loc": [_printable(str(p))[:64] for p in e.get("loc", ())], "msg": _printable(str(e.get("msg"))),
             "type": str(e.get("type"))}
            for e in exc.errors()[:5]
        ]  # never the input itself: it may not even be encodable (a lone surrogate)
        errors = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details)
        for hook in app.state.refusal_hooks:
            await hook(request.url.path, f"invalid request: {errors}"[:300])
        return JSONResponse({"detail": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_refused(request: Request, exc: StarletteHTTPException) -> Response:
        """FastAPI's own refusals (a body it cannot parse is 400) are audited like the others."""
        if exc.status_code in (400, 408, 413, 422) and not getattr(exc, "audited", False):
            for hook in app.state.refusal_hooks:
                await hook(request.url.path, str(exc.detail)[:300])
        return await http_exception_handler(request, exc)

    for router in routers:
        app.include_router(router)

    @app.get(HOME_CSS, include_in_schema=False)
    async def home_css() -> Response:
        return Response(_home_css(), media_type="text/css; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})

    def other(request: Request, port: int) -> str:
        """The other listener's origin, under the name this request used (the Host was checked)."""
        name = host_name(request.headers.get("host", "")) or "127.0.0.1"
        if ":" in name:
            name = f"[{name}]"
        return f"http://{name}:{port}"

    if role == "stove":
        if with_pages:

            async def to_pages(request: Request) -> RedirectResponse:
                target = other(request, http_cfg.pages_port) + request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                return RedirectResponse(target, status_code=307)

            for prefix in PAGE_PREFIXES:
                app.add_api_route(prefix, to_pages, methods=["GET", "HEAD"], include_in_schema=False)
                app.add_api_route(prefix + "/{rest:path}", to_pages, methods=["GET", "HEAD"],
                                  include_in_schema=False)

        if not any(getattr(r, "path", None) == "/" for r in app.routes):

            @app.get("/", response_class=HTMLResponse, include_in_schema=False)
            async def stove_home(request: Request) -> str:
                parts = [("/stove", "Stove", "the gas-stove guard: cut a burner now, later, or every night")]
                if with_pages:
                    url = other(request, http_cfg.pages_port) + "/"
                    parts.append((url, "Papers", "the arXiv reader (on its own origin)"))
                return home_page(parts)

    else:

        async def to_stove(request: Request) -> HTMLResponse:
            url = html.escape(other(request, http_cfg.port) + "/stove", quote=True)
            return HTMLResponse(
                "<!doctype html><meta charset=utf-8><title>not here</title>"
                f"<p>The stove is controlled from its own origin: <a href=\"{url}\">{url}</a></p>",
                status_code=404,
            )

        for prefix in STOVE_PREFIXES:
            app.add_api_route(prefix, to_stove, methods=["GET", "HEAD", "POST", "DELETE", "PUT", "PATCH"],
                              include_in_schema=False)
            app.add_api_route(
                prefix + "/{rest:path}",
                to_stove,
                methods=["GET", "HEAD", "POST", "DELETE", "PUT", "PATCH"],
                include_in_schema=False,
            )

        extra = "".join(home_parts or [])  # already-escaped HTML from the parts

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def pages_home(request: Request) -> str:
            parts = [
                (other(request, http_cfg.port) + "/stove", "Stove", "the gas-stove guard (its own origin)"),
                ("/search", "Search papers", "by words, authors, categories and dates"),
                ("/stars", "Stars", "the papers you starred"),
            ]
            return home_page(parts, extra)

    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The daemon owns SIGTERM/SIGINT; uvicorn must not take them."""
        yield


def guarded_protocol(where: str, max_connections: int, header_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a per-listener connection cap and a request-head timeout.

    uvicorn's ``limit_concurrency`` answers 503 to a request; it does nothing
    against connections that never send one, and its keep-alive timeout only
    starts after a first response. Here, at the cap, a new connection takes the
    place of the longest-idle one (connected, or done with its last response,
    and no request head yet), so a flood of idle sockets cannot lock the CLI
    out; when every connection is serving a request, the new one is closed as
    soon as it is accepted. A connection that sends no complete request head
    within ``header_timeout_s`` (after connecting, or after its previous
    response) is closed.
    """

    class GuardedH11(H11Protocol):
        _refused = False
        _head_timer: asyncio.TimerHandle | None = None

        _idle_since = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections and not self._evict_idle():
                self._refused = True
                _LOGGER.warning("HTTP on %s: %d connections busy (the limit); closing new ones",
                                where, max_connections)
                transport.abort()
                return
            super().connection_made(transport)
            self._arm()

        def _evict_idle(self) -> bool:
            """Close the longest-idle connection (no request in flight) to make room; False if none is."""
            idle = [
                c
                for c in self.connections
                if isinstance(c, GuardedH11) and c._head_timer is not None and not c.transport.is_closing()
            ]
            if not idle:
                return False
            oldest = min(idle, key=lambda c: c._idle_since)
            _LOGGER.warning("HTTP on %s: %d connections open (the limit); closing the longest idle",
                            where, max_connections)
            oldest._disarm()
            oldest.transport.close()
            self.connections.discard(oldest)  # its connection_lost follows; the room is taken now
            return True

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            super().data_received(data)

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a complete request head arrived
                self._disarm()

        def on_response_complete(self) -> None:
            self._arm()  # the next request's head has the same time
            super().on_response_complete()

        def _arm(self) -> None:
            self._disarm()
            self._idle_since = self.loop.time()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request is being served
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedH11


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=128)
    sock.setblocking(False)
    return sock


class HttpServer:
    """One listener: uvicorn inside the daemon's loop, without its own signal handling."""

    def __init__(
        self, app: ASGIApp, host: str, port: int, http: HttpConfig | None = None, name: str = "http",
        csp: str = CSP,
    ) -> None:
        http = http or HttpConfig()
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        where = f"{host}:{port}"
        config = uvicorn.Config(
            Guard(app, hosts=http.hosts, limit=MAX_BODY, body_timeout_s=http.body_timeout_s, csp=csp),
            host=host,
            port=port,
            http=guarded_protocol(where, http.max_connections, http.header_timeout_s),
            log_config=None,
            access_log=False,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            h11_max_incomplete_event_size=16 * 1024,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=3,
        )
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind (``OSError`` naming host:port if that fails), then serve in the background."""
        where = f"{self.host}:{self.port}"
        try:
            sock = _bind(self.host, self.port)
        except OSError as exc:
            raise OSError(
                exc.errno, f"HTTP ({self.name}) cannot listen on {where}: {exc.strerror or exc}"
            ) from exc
        self.port = sock.getsockname()[1]
        self.server.should_exit = False
        self._task = asyncio.create_task(self._serve(sock), name=self.name)
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"HTTP ({self.name}) on {where} stopped while starting")
            await asyncio.sleep(0.01)

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self.server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn exits the process when it cannot start
            raise OSError(f"HTTP ({self.name}) could not start on {self.host}:{self.port}") from exc
        finally:
            sock.close()

    async def serve(self) -> None:
        """Start, then serve until :meth:`stop`."""
        await self.start()
        assert self._task is not None
        await self._task

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish for ``grace_s``, then cut the rest off.

        Returns only when the server's task has ended, so the parts it calls into can stop after it.
        """
        self.server.should_exit = True
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace_s)
        if not done:
            _LOGGER.warning("HTTP (%s): requests still running after %.0f s; closed", self.name, grace_s)
            self.server.force_exit = True
            task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await task

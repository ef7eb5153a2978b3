"""The daemon's web server: one FastAPI app, served by uvicorn inside the daemon's loop.

Each part brings its own router (the stove API and page, the paper pages);
this module only composes them, caps request bodies, and keeps the docs UI
off (it would load from a CDN): the schema is at ``/api/openapi.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from daemon.config import Config

__all__ = ["MAX_BODY", "HttpServer", "make_app"]

_LOGGER = logging.getLogger(__name__)
MAX_BODY = 64 * 1024

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
RefusalHook = Callable[[str, str], Awaitable[None]]  # (path, message): audits a refused request


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, before any handler reads them."""

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._refuse(scope, send)
                    return
        seen = 0

        async def limited() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        message = f"request body over {self.limit} bytes"
        for hook in getattr(getattr(self.app, "state", None), "refusal_hooks", []):
            await hook(scope.get("path", ""), message)
        response = JSONResponse({"detail": message}, status_code=413)
        await response({"type": "http"}, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> MutableMapping[str, Any]:
    return {"type": "http.disconnect"}


def make_app(
    cfg: Config,
    routers: list[Any],
    mounts: list[tuple[str, Any, str]] | None = None,
    home_parts: list[str] | None = None,
    refusal_hooks: list[RefusalHook] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="coolstove",
        version="0.1.0",
        description="Stove guard API (bearer token) and the paper pages.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.refusal_hooks = list(refusal_hooks or [])

    @app.exception_handler(RequestValidationError)
    async def refused(request: Request, exc: RequestValidationError) -> Any:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]
        )
        for hook in app.state.refusal_hooks:
            await hook(request.url.path, f"invalid request: {errors}"[:300])
        return await request_validation_exception_handler(request, exc)

    for router in routers:
        app.include_router(router)
    for path, sub, name in mounts or []:
        app.mount(path, sub, name=name)

    if not any(getattr(r, "path", None) == "/" for r in app.routes):

        extra = "".join(home_parts or [])  # already-escaped HTML from the parts

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def home() -> str:
            papers = " · <a href=/search>Search papers</a> · <a href=/stars>Stars</a>" if extra else ""
            return (
                "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
                "<title>coolstove</title><link rel=stylesheet href=/static/papers/papers.css>"
                f"<h1>coolstove</h1><p><a href=/stove>Stove</a>{papers}</p>{extra}"
            )

    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The daemon owns SIGTERM/SIGINT; uvicorn must not take them."""
        yield


class HttpServer:
    """uvicorn inside the daemon's loop, without its own signal handling."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        config = uvicorn.Config(
            BodyLimit(app),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            h11_max_incomplete_event_size=16 * 1024,
            timeout_graceful_shutdown=3,
        )
        self.server = _Server(config)

    async def serve(self) -> None:
        """Serve until :meth:`stop`; a port that cannot be bound raises OSError, not SystemExit."""
        self.server.should_exit = False
        try:
            await self.server.serve()
        except SystemExit as exc:  # uvicorn exits the process when it cannot bind
            where = f"{self.server.config.host}:{self.server.config.port}"
            raise OSError(f"HTTP server could not start on {where}") from exc

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.sleep(0)

"""Debian's headless Chromium for the browser tests: where it is, how it starts, when tests skip."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

CHROMIUM = Path("/usr/bin/chromium")
# The closed network refuses Chromium's background connections; these flags keep it from trying.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed (make test installs it)"
    ),
]


@contextlib.contextmanager
def serve_guarded(
    app: Any, csp: str | None = None, *, lifespan: str = "off", port: int | None = None
) -> Iterator[str]:
    """``app`` behind the daemon's ``Guard`` (its Content-Security-Policy: the pages must work under
    it) on a free loopback port, in a uvicorn thread; yields the base URL."""
    from services import free_port

    from daemon.http import CSP, Guard

    port = port or free_port()
    srv = uvicorn.Server(
        uvicorn.Config(Guard(app, csp=csp or CSP), host="127.0.0.1", port=port, log_level="warning",
                       lifespan=lifespan, timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped while starting"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def launched() -> Iterator[Any]:
    """Debian's Chromium, headless with :data:`ARGS`, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()

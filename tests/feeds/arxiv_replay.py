"""A local HTTP server that replays scripted arXiv responses and records every request.

It is a real server on 127.0.0.1 (a thread of ``http.server``), so the client's
one connection, timeouts, truncated bodies and spacing are exercised for real.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "arxiv"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a timeout when above the client's)
    truncate: bool = False  # promise more bytes than sent, then drop the connection
    content_type: str = "application/atom+xml; charset=utf-8"


@dataclass
class Hit:
    at: float  # time.monotonic() on arrival
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class ReplayServer:
    """Scripted replies per path, consumed in order; the last one of a path repeats."""

    def __init__(self) -> None:
        self.routes: dict[str, deque[Reply]] = {}
        self.hits: list[Hit] = []
        self.connections = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.connections += 1

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with server._lock:
                    server.hits.append(
                        Hit(
                            time.monotonic(),
                            parts.path,
                            parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                        )
                    )
                    queue = server.routes.get(parts.path)
                    reply = None
                    if queue:
                        reply = queue.popleft() if len(queue) > 1 else queue[0]
                if reply is None:
                    reply = Reply(404, b"not found", content_type="text/plain")
                if reply.delay:
                    time.sleep(reply.delay)
                etag = reply.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    length = len(reply.body) * 2 + 10 if reply.truncate else len(reply.body)
                    self.send_header("Content-Length", str(length))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                    if reply.truncate:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="arxiv-replay", daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.routes.setdefault(path, deque()).extend(replies)

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

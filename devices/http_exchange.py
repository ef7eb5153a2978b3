"""One HTTP/1.1 request to the daemon on this machine, over a plain socket, within a deadline.

The stove's CLI sends one small JSON request to its own daemon on loopback. httpx costs that command
about 0.1 s of imports and the standard library's ``http.client`` still about 20 ms (it brings the email
parser and ssl along); this is the part of HTTP such a request uses: a request line with ``Connection:
close``, headers, a body with its length, and an answer whose body is framed by ``Content-Length``,
``chunked`` transfer coding, or the end of the connection.

The whole exchange, connecting included, ends by ``deadline`` (``time.time()``): the CLI waits exactly
as long as the deadline it sends the daemon, never longer.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.parse

__all__ = ["Dropped", "NoAnswer", "Unreachable", "exchange"]

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")


class Unreachable(Exception):
    """Nothing accepted the connection (refused, no route, unknown host)."""


class NoAnswer(Exception):
    """The deadline passed before a whole answer arrived."""


class Dropped(Exception):
    """The connection closed, or what came back is not an HTTP answer."""


class _Conn:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = b""

    def _arm(self) -> None:
        left = self.deadline - time.time()
        if left <= 0:
            raise NoAnswer
        self.sock.settimeout(left)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._arm()
            try:
                sent = self.sock.send(view)
            except TimeoutError as exc:
                raise NoAnswer from exc
            except OSError as exc:
                raise Dropped(str(exc)) from exc
            view = view[sent:]

    def _more(self) -> bytes:
        self._arm()
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError as exc:
            raise NoAnswer from exc
        except OSError as exc:
            raise Dropped(str(exc)) from exc
        return chunk

    def until(self, mark: bytes, limit: int) -> bytes:
        """Everything up to and without ``mark``."""
        while mark not in self.buf:
            if len(self.buf) > limit:
                raise Dropped("an answer line too long")
            chunk = self._more()
            if not chunk:
                raise Dropped("the connection closed")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(mark)
        return head

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self._more()
            if not chunk:
                raise Dropped("the connection closed in the middle of the answer")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self) -> bytes:
        while True:
            chunk = self._more()
            if not chunk:
                data, self.buf = self.buf, b""
                return data
            self.buf += chunk
            if len(self.buf) > MAX_BODY:
                raise Dropped("an answer too long")


def _header_value(value: str) -> str:
    if any(c in value for c in "\r\n\0") or not value.isascii():
        raise ValueError(f"a header value with a line break or a non-ASCII character: {value[:20]!r}…")
    return value


def exchange(
    base_url: str, method: str, path: str, headers: dict[str, str], body: bytes | None, deadline: float
) -> tuple[int, bytes]:
    """Send one request to ``base_url`` (``http://HOST:PORT``) and return (status, body).

    Raises :class:`Unreachable`, :class:`NoAnswer` or :class:`Dropped`; ValueError for a header value
    that cannot be sent (a token with a line break).
    """
    url = urllib.parse.urlsplit(base_url)
    try:
        host, port = url.hostname or "", url.port or 80
    except ValueError as exc:  # a port out of range in a damaged record: nothing to connect to
        raise Unreachable(f"{base_url}: {exc}") from exc
    host_header = f"[{host}]" if ":" in host else host
    if port != 80:
        host_header += f":{port}"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}", "Connection: close",
             *(f"{k}: {_header_value(v)}" for k, v in headers.items())]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")
    left = deadline - time.time()
    if left <= 0:
        raise NoAnswer
    try:
        sock = socket.create_connection((host, port), timeout=left)
    except TimeoutError as exc:
        raise NoAnswer from exc
    except OSError as exc:
        raise Unreachable(str(exc)) from exc
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock, deadline)
        conn.send(request)
        while True:
            status_line, *header_lines = conn.until(b"\r\n\r\n", MAX_HEAD).split(b"\r\n")
            parts = status_line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise Dropped(f"not an HTTP answer: {status_line[:40]!r}")
            status = int(parts[1])
            if status >= 200 or status == 101:
                break  # 1xx (100 Continue) are interim: the answer follows
        fields: dict[bytes, bytes] = {}
        for line in header_lines:
            name, sep, value = line.partition(b":")
            if not sep:
                raise Dropped(f"not an HTTP header: {line[:40]!r}")
            key, value = name.strip().lower(), value.strip()
            if key == b"content-length" and fields.get(key, value) != value:
                raise Dropped("two different Content-Length headers")
            fields[key] = value
        if method == "HEAD" or status in (204, 304):
            return status, b""
        if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            return status, _chunked(conn)
        length = fields.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > MAX_BODY:
                raise Dropped(f"a bad Content-Length: {length[:20]!r}")
            return status, conn.exactly(int(length))
        return status, conn.rest()
    finally:
        sock.close()


def _chunked(conn: _Conn) -> bytes:
    body = b""
    while True:
        size_line = conn.until(b"\r\n", 1024).split(b";")[0].strip()
        if not _CHUNK_SIZE.fullmatch(size_line):  # int(x, 16) would take "-5", "0x5", "1_0"
            raise Dropped(f"a bad chunk size: {size_line[:20]!r}")
        size = int(size_line, 16)
        if size == 0:
            while conn.until(b"\r\n", MAX_HEAD):  # trailers, up to the empty line
                pass
            return body
        if len(body) + size > MAX_BODY:  # before reading it, not after
            raise Dropped("an answer too long")
        body += conn.exactly(size)
        if conn.exactly(2) != b"\r\n":
            raise Dropped("a chunk not followed by CRLF")

"""The stove CLI's one HTTP request over a socket: what it sends, every way an answer can be framed,
and every way a daemon can fail to answer, each within the deadline."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from devices.http_exchange import Dropped, NoAnswer, Unreachable, exchange

Handler = Callable[[socket.socket, bytes], None]


@pytest.fixture
def server() -> Iterator[Callable[[Handler], str]]:
    """A one-connection-at-a-time server on loopback whose answer is the test's ``handler``."""
    sockets: list[socket.socket] = []

    def serve(handler: Handler, family: int = socket.AF_INET) -> str:
        lsock = socket.socket(family, socket.SOCK_STREAM)
        lsock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        lsock.listen()
        sockets.append(lsock)

        def run() -> None:
            while True:
                try:
                    conn, _ = lsock.accept()
                except OSError:
                    return
                with conn, contextlib.suppress(OSError):  # the client gave up: so be it
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += conn.recv(65536) or b"\r\n\r\n"
                    head, _, body = request.partition(b"\r\n\r\n")
                    length = [int(v) for k, _, v in (ln.partition(b": ") for ln in head.split(b"\r\n"))
                              if k.lower() == b"content-length"]
                    while length and len(body) < length[0]:
                        body += conn.recv(65536)
                    handler(conn, head + b"\r\n\r\n" + body)

        threading.Thread(target=run, daemon=True).start()
        host, port = lsock.getsockname()[:2]
        return f"http://[{host}]:{port}" if family == socket.AF_INET6 else f"http://{host}:{port}"

    yield serve
    for s in sockets:
        s.close()


def answer(raw: bytes, seen: list[bytes] | None = None) -> Handler:
    def handler(conn: socket.socket, request: bytes) -> None:
        if seen is not None:
            seen.append(request)
        conn.sendall(raw)

    return handler


def soon(s: float = 5.0) -> float:
    return time.time() + s


def test_the_request_and_a_json_answer(server: Callable[[Handler], str]) -> None:
    seen: list[bytes] = []
    url = server(answer(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n"
                        b'{"ok":true}junk after the body', seen))
    status, body = exchange(url, "POST", "/api/stove/cut", {"Authorization": "Bearer t0k"},
                            b'{"burner":"left"}', soon())
    assert (status, body) == (200, b'{"ok":true}')
    head, _, sent = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/stove/cut HTTP/1.1"
    assert {b"Host: " + url.removeprefix("http://").encode(), b"Connection: close",
            b"Authorization: Bearer t0k", b"Content-Length: 17"} <= set(lines[1:])
    assert sent == b'{"burner":"left"}'


def test_ipv6_and_a_get(server: Callable[..., str]) -> None:
    seen: list[bytes] = []
    url = server(answer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}", seen), socket.AF_INET6)
    assert exchange(url, "GET", "/api/stove?x=1", {}, None, soon()) == (404, b"{}")
    assert seen[0].startswith(b"GET /api/stove?x=1 HTTP/1.1\r\nHost: [::1]:")
    assert b"Content-Length" not in seen[0]


def test_chunked_close_delimited_and_interim_answers(server: Callable[[Handler], str]) -> None:
    url = server(answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n0b\r\n"
                        b"efghijklmno\r\n0\r\nTrailer: 1\r\n\r\n"))
    assert exchange(url, "GET", "/", {}, None, soon()) == (200, b"abcdefghijklmno")
    url = server(answer(b"HTTP/1.0 500 Internal Server Error\r\n\r\nno length, then the end"))
    assert exchange(url, "GET", "/", {}, None, soon()) == (500, b"no length, then the end")
    url = server(answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
    assert exchange(url, "DELETE", "/x", {}, None, soon()) == (204, b"")


def test_an_answer_in_pieces(server: Callable[[Handler], str]) -> None:
    def slowly(conn: socket.socket, _request: bytes) -> None:
        for piece in (b"HTTP/1.1 2", b"00 OK\r\nContent-Le", b"ngth: 5\r\n\r", b"\nhel", b"lo"):
            conn.sendall(piece)
            time.sleep(0.02)

    assert exchange(server(slowly), "GET", "/", {}, None, soon()) == (200, b"hello")


def test_nothing_listening_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(Unreachable):
            exchange(f"http://127.0.0.1:{port}", "GET", "/", {}, None, soon())


def test_silence_ends_at_the_deadline(server: Callable[[Handler], str]) -> None:
    url = server(lambda conn, _request: time.sleep(2.0))
    t0 = time.monotonic()
    with pytest.raises(NoAnswer):
        exchange(url, "POST", "/api/stove/cut", {}, b"{}", time.time() + 0.5)
    assert 0.45 < time.monotonic() - t0 < 1.5, "the deadline, not a per-read timeout"

    def trickle(conn: socket.socket, _request: bytes) -> None:  # a byte at a time keeps each read short
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100:
            conn.sendall(bytes([byte]))
            time.sleep(0.05)

    t0 = time.monotonic()
    with pytest.raises(NoAnswer):
        exchange(server(trickle), "GET", "/", {}, None, time.time() + 0.5)
    assert time.monotonic() - t0 < 1.5
    with pytest.raises(NoAnswer):
        exchange(url, "GET", "/", {}, None, time.time() - 1)


@pytest.mark.parametrize("raw", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                                 b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                                 # sizes int(x, 16) would take, and one past the body limit (refused
                                 # before anything is read), and a chunk not ended by CRLF
                                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc",
                                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"0x5\r\nabcde\r\n0\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFF\r\nab",
                                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nabcde"])
def test_a_closed_or_garbled_answer_is_dropped(server: Callable[[Handler], str], raw: bytes) -> None:
    with pytest.raises(Dropped):
        exchange(server(answer(raw)), "GET", "/", {}, None, soon())


def test_a_record_with_an_impossible_port_is_unreachable_not_a_token_problem() -> None:
    with pytest.raises(Unreachable, match="out of range"):
        exchange("http://127.0.0.1:99999", "GET", "/", {}, None, soon())


def test_a_header_value_that_cannot_be_sent(server: Callable[[Handler], str]) -> None:
    url = server(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    for token in ("a\r\nX-Injected: 1", "tök"):
        with pytest.raises(ValueError, match="header value"):
            exchange(url, "GET", "/", {"Authorization": f"Bearer {token}"}, None, soon())

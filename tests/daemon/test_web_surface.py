"""The daemon's HTTP surface as a client sees it.

Host checks, headers, no CORS, binding, limits, stale commands.

Every test runs the real daemon as a subprocess and talks to it over real sockets.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from pathlib import Path

import httpx
import pytest
from daemon_proc import DaemonProc, status
from waiting import wait_for_sync

pytestmark = pytest.mark.slow

CONFIG = """
[[stove.burners]]
name = "left"
pulse_s = 2

[[stove.burners]]
name = "right"
pulse_s = 2
"""
AUTH = {"Authorization": "Bearer daemon-test-token"}
CSP_PARTS = ("frame-ancestors 'none'", "script-src 'self'", "object-src 'none'", "base-uri 'none'")


def log(d: DaemonProc) -> list[dict]:
    return d.api("GET", "/api/stove/log?limit=200").json()


def cuts(d: DaemonProc) -> list[dict]:
    return [e for e in log(d) if e["action"].startswith("cut") and e["result"] != "rejected"]


def test_a_foreign_host_name_is_refused_and_audited(tmp_path: Path) -> None:
    """DNS rebinding: evil.example resolving to 127.0.0.1 is same-origin for the browser, not for us."""
    d = DaemonProc(tmp_path, CONFIG)
    try:
        d.start()
        for host in ("evil.example", f"evil.example:{d.port}", "127.0.0.1.evil.example", "", "localhost:x"):
            r = httpx.get(f"{d.base}/stove", headers={"Host": host}, timeout=10)
            assert r.status_code == 400, host
        r = httpx.post(f"{d.base}/api/stove/cut", json={"burner": "left"},
                       headers={**AUTH, "Host": f"evil.example:{d.port}"}, timeout=10)
        assert r.status_code == 400
        assert "evil.example" in r.json()["detail"]
        assert status(d, "left")["state"] == "armed"
        assert status(d, "left")["last_cut"] is None
        refused = [e for e in log(d) if e["result"] == "rejected"]
        assert len(refused) == 1
        assert "evil.example" in refused[0]["detail"]
        assert cuts(d) == []
        # this machine's names, with or without the port, are fine
        for host in (f"localhost:{d.port}", f"127.0.0.1:{d.port}", "127.0.0.1", f"LOCALHOST.:{d.port}"):
            assert httpx.get(f"{d.base}/stove", headers={"Host": host}, timeout=10).status_code == 200, host
    finally:
        d.stop()


def test_configured_host_names_are_allowed(tmp_path: Path) -> None:
    d = DaemonProc(tmp_path, CONFIG, {"COOLSTOVE_HTTP__ALLOWED_HOSTS": "stove.lan, 192.168.1.5"})
    try:
        d.start()
        assert (
            httpx.get(f"{d.base}/stove", headers={"Host": f"stove.lan:{d.port}"}, timeout=10).status_code
            == 200
        )
        assert httpx.get(f"{d.base}/stove", headers={"Host": "evil.example"}, timeout=10).status_code == 400
        r = d.cli("stove", "status")  # the CLI's own address stays allowed
        assert r.returncode == 0, r.stderr
    finally:
        d.stop()


def test_every_response_carries_the_security_headers_and_never_cors(tmp_path: Path) -> None:
    d = DaemonProc(tmp_path, CONFIG)
    try:
        d.start()
        replies = [
            httpx.get(f"{d.base}/stove", timeout=10),
            httpx.get(f"{d.base}/static/stove/control.js", timeout=10),
            httpx.get(f"{d.base}/", timeout=10),
            httpx.get(f"{d.base}/api/openapi.json", timeout=10),
            httpx.get(f"{d.base}/api/stove", timeout=10),  # 401
            httpx.get(f"{d.base}/api/stove", headers=AUTH, timeout=10),
            httpx.get(f"{d.base}/nowhere", timeout=10),  # 404
            httpx.get(f"{d.base}/stove", headers={"Host": "evil.example"}, timeout=10),  # 400
            httpx.post(f"{d.base}/api/stove/cut", content=b"x" * 70_000, headers=AUTH, timeout=10),  # 413
            httpx.post(f"{d.base}/api/stove/cut", json={"burner": "oven"}, headers=AUTH, timeout=10),  # 422
        ]
        assert [r.status_code for r in replies] == [200, 200, 200, 200, 401, 200, 404, 400, 413, 422]
        for r in replies:
            csp = r.headers.get("content-security-policy", "")
            assert all(part in csp for part in CSP_PARTS), (r.url, csp)
            assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"]
            assert not any(k.lower().startswith("access-control-") for k in r.headers)
        page = replies[0].text
        assert "<script>" not in page
        assert 'src="/static/stove/control.js"' in page
        assert replies[1].headers["content-type"].startswith("text/javascript")

        # a page on another origin asking the browser for leave to send the token: no CORS answer
        origin = f"http://127.0.0.1:{d.pages_port}"
        for path in ("/api/stove/cut", "/api/stove"):
            pre = httpx.options(f"{d.base}{path}", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"}, timeout=10)
            assert "access-control-allow-origin" not in pre.headers
            assert "access-control-allow-headers" not in pre.headers
        r = httpx.post(f"{d.base}/api/stove/cut", json={"burner": "left"},
                       headers={**AUTH, "Origin": origin}, timeout=10)
        assert "access-control-allow-origin" not in r.headers
        wait_for_sync(lambda: status(d, "left")["state"] == "armed", 15)
    finally:
        d.stop()


def test_a_port_that_cannot_be_bound_stops_the_daemon_before_ready(tmp_path: Path) -> None:
    d = DaemonProc(tmp_path, CONFIG)
    taken = socket.create_server(("127.0.0.1", d.port))
    try:
        d.start(wait_ready=False)
        rc = d.wait_exit(30)
        assert rc != 0
        assert "READY=1" not in d.notifications
        assert f"127.0.0.1:{d.port}" in d.log()
        assert "cannot listen" in d.log()
    finally:
        taken.close()
        d.stop()


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    return s


def _closed_by_peer(s: socket.socket) -> bool:
    """True once the daemon closed this connection (EOF or reset); the socket's timeout bounds the wait."""
    try:
        return s.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_connections_cannot_starve_the_daemon(tmp_path: Path) -> None:
    """At the cap a new connection replaces the longest-idle one; when all are busy, it is closed at once."""
    d = DaemonProc(tmp_path, CONFIG, {"COOLSTOVE_HTTP__MAX_CONNECTIONS": "4",
                                      "COOLSTOVE_HTTP__HEADER_TIMEOUT_S": "30",
                                      "COOLSTOVE_HTTP__BODY_TIMEOUT_S": "30"})
    held: list[socket.socket] = []
    try:
        d.start()
        idle = [_connect(d.port) for _ in range(4)]
        idle[0].sendall(b"GET /stove HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # a head that never ends
        held += idle
        flood = [_connect(d.port) for _ in range(40)]  # far more than the cap, none sends a request
        held += flood
        # the first idle ones made room for the later ones, long before any timeout
        for s in idle + flood[:-4]:
            s.settimeout(10)
            assert _closed_by_peer(s)
        # while the newest idle ones are still open, the CLI gets in at once
        r = d.cli("stove", "status")
        assert r.returncode == 0, r.stderr

        # four requests in flight (head sent, body still coming) take every place: nothing is evicted
        busy = [_connect(d.port) for _ in range(4)]
        held += busy
        for s in busy:
            s.sendall(b"POST /api/stove/cut HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Authorization: Bearer daemon-test-token\r\nContent-Type: application/json\r\n"
                      b"Expect: 100-continue\r\nContent-Length: 40\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 100"), "the daemon is reading this request's body"
            s.sendall(b"{")
        for _ in range(20):
            s = _connect(d.port)
            s.settimeout(10)
            assert _closed_by_peer(s), "all places busy: a new connection is closed at once"
            s.close()
        for s in busy:
            s.close()  # their clients went away: nothing was executed
        wait_for_sync(lambda: d.api("GET", "/api/stove").status_code == 200, 15)
        assert status(d, "left")["last_cut"] is None
        # floods of one message: each logged once, not once per connection
        assert d.log().count("closing the longest idle") == 1
        assert d.log().count("connections busy (the limit)") == 1
    finally:
        for s in held:
            with contextlib.suppress(OSError):
                s.close()
        d.stop()


def test_a_connection_that_sends_no_request_is_closed(tmp_path: Path) -> None:
    d = DaemonProc(tmp_path, CONFIG, {"COOLSTOVE_HTTP__HEADER_TIMEOUT_S": "1"})
    try:
        d.start()
        silent, trickling = _connect(d.port), _connect(d.port)
        trickling.sendall(b"GET /stove HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _closed_by_peer(silent)
        assert _closed_by_peer(trickling)
        silent.close()
        trickling.close()
    finally:
        d.stop()


def test_a_trickling_body_is_cut_off(tmp_path: Path) -> None:
    d = DaemonProc(tmp_path, CONFIG, {"COOLSTOVE_HTTP__BODY_TIMEOUT_S": "1"})
    try:
        d.start()
        s = _connect(d.port)
        s.sendall(
            b"POST /api/stove/cut HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer daemon-test-token\r\n"
            b'Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"burner": '
        )
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
        s.close()
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert status(d, "left")["last_cut"] is None
        assert [e["result"] for e in log(d)] == ["rejected"]
    finally:
        d.stop()


def test_a_command_the_cli_gave_up_on_is_never_carried_out(tmp_path: Path) -> None:
    """The daemon is frozen while the CLI waits; when it resumes, the stale cut is refused, not run."""
    d = DaemonProc(tmp_path, CONFIG, {"COOLSTOVE_HTTP__CLIENT_TIMEOUT_S": "2"})
    try:
        d.start()
        d.signal(signal.SIGSTOP)  # as good as an event loop stuck for longer than the CLI waits
        try:
            r = d.cli("stove", "off", "--burner", "left")
        finally:
            d.signal(signal.SIGCONT)
        assert r.returncode == 1
        assert "did not answer within 2 s" in r.stderr
        assert "not running" not in r.stderr
        wait_for_sync(lambda: [e for e in log(d) if e["result"] == "rejected"], 20)
        refused = [e for e in log(d) if e["result"] == "rejected"]
        assert len(refused) == 1
        assert ("stale" in refused[0]["detail"] or "went away" in refused[0]["detail"])
        assert cuts(d) == []
        assert status(d, "left")["last_cut"] is None
        assert status(d, "left")["relay"] == "released"
        # a CLI that is answered in time still works
        r = d.cli("stove", "off", "--burner", "right")
        assert r.returncode == 0, r.stderr
        wait_for_sync(lambda: cuts(d), 15)  # the cut's audit row lands when its pulse is over
        assert [e["burner"] for e in cuts(d)] == ["right"]
    finally:
        d.stop()

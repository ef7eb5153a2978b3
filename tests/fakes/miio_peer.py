"""A Mi relay on loopback that speaks the real miio UDP protocol.

Built on python-miio's own codec (``miio.protocol.Message``: header, md5
checksum with the token, AES-128-CBC with key/iv derived from the token) and
nothing else of python-miio, so the real 0.5.12 client talks to it unchanged:
the 32-byte hello handshake, then encrypted JSON-RPC — ``miIO.info``,
``get_properties``, ``set_properties``, ``get_prop``.

Its MIoT model is a 4-channel relay laid out like yeelink.switch.sw1: channel
*n* is siid *n+1* with piid 1 = on (bool), piid 2 = power-on state (int),
piid 3 = off-delay (int, ``-1`` off or 1..43200 s; when the channel switches
on with an off-delay set, the peer really switches it off after that many
seconds). As in the blog's setup, channels 3 and 4 (siid 4, 5) start on: they
are the Mi Home / XiaoAI virtual switches resting "on".

Knobs (plain attributes, safe to flip from any thread):

* ``unreachable`` — drop every packet, hello included;
* packets sealed with another token are always dropped, like a real device
  (counted in ``wrong_token_packets``);
* ``error_code`` — answer every command with ``{"error": {"code": …}}``;
* ``prop_codes`` — ``{(siid, piid): code}``: per-property refusal in MIoT answers;
* ``latency_s`` — act and answer that much later;
* ``revert_sets`` — accept a switch write (code 0) and snap back at once;
* ``flip(siid, piid)`` — change a switch on its own (a button press);
* ``reveal_token`` — the hello answer carries the token, as an unprovisioned device's does.

Every state change is in ``history`` (see ``peer_base.StateChange``); every
decoded request in ``requests``; ``max_in_flight`` is the largest number of
requests that were being worked on at once.

Standalone (binds 127.0.0.5:54321 — port 54321 is hard-coded in python-miio)::

    python tests/fakes/miio_peer.py --host 127.0.0.5 --token 00112233445566778899aabbccddeeff \\
        --state-file /tmp/relay.jsonl

``--host auto`` picks a free 127.x.y.z; the first stdout line is ``READY <host>``.
SIGUSR1 toggles ``unreachable``, SIGUSR2 toggles ``revert_sets``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import errno
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import construct
from miio.protocol import Message

if __package__ in (None, ""):  # run as a script: make the `fakes` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakes.peer_base import Peer, run_standalone

__all__ = ["DEFAULT_TOKEN", "MIIO_PORT", "MiioPeer"]

MIIO_PORT = 54321
DEFAULT_TOKEN = "00112233445566778899aabbccddeeff"
_HELLO_PREFIX = bytes.fromhex("21310020")
Key = tuple[int, int]


def _random_loopback() -> str:
    """An address in 127.0.0.0/8, all of which is local on Linux: one per peer, no clashes."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(2, 254)}"


def _utc_naive() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class MiioPeer(Peer, asyncio.DatagramProtocol):
    """A fake Mi relay on ``host``:54321 (``host=None`` picks a free 127.x.y.z)."""

    def __init__(
        self,
        host: str | None = None,
        token: str = DEFAULT_TOKEN,
        *,
        model: str = "coolstove.relay.v4",
        channels: int = 4,
        device_id: int | None = None,
        initial: dict[Key, Any] | None = None,
        state_file: str | Path | None = None,
    ) -> None:
        Peer.__init__(self, state_file=state_file)
        self.host = host
        self.token = bytes.fromhex(token)
        self.model = model
        self.device_id = (device_id if device_id is not None else random.getrandbits(32)).to_bytes(4, "big")
        self.props: dict[Key, Any] = {}
        for n in range(1, channels + 1):
            siid = n + 1
            self.props[(siid, 1)] = n >= 3
            self.props[(siid, 2)] = 0
            self.props[(siid, 3)] = -1
        self.props.update(initial or {})
        # knobs
        self.unreachable = False
        self.error_code: int | None = None
        self.prop_codes: dict[Key, int] = {}
        self.latency_s = 0.0
        self.revert_sets = False
        self.refuse_sets: set[Key] = set()  # properties that read fine but refuse writes
        self.reveal_token = False
        # observations
        self.requests: list[tuple[float, str, Any]] = []
        self.wrong_token_packets = 0
        self.hellos = 0
        self.dropped = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._off_timers: dict[Key, asyncio.TimerHandle] = {}
        self._started = time.monotonic()

    @property
    def address(self) -> str:
        assert self.host is not None
        return self.host

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        candidates = [self.host] if self.host else [_random_loopback() for _ in range(50)]
        last: OSError | None = None
        for host in candidates:
            try:
                transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, MIIO_PORT))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                last = exc
                continue
            self._transport = transport  # type: ignore[assignment]
            self.host = host
            break
        else:
            raise last or OSError("no free loopback address")
        for key, value in sorted(self.props.items()):
            if isinstance(value, bool):
                self.record(f"{key[0]}.{key[1]}", value, "init")

    async def stop(self) -> None:
        for handle in self._off_timers.values():
            handle.cancel()
        self._off_timers.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ------------------------------------------------------------ knobs with effects
    def flip(self, siid: int = 2, piid: int = 1) -> None:
        """The switch changes on its own (someone pressed the button)."""
        self.call_in_peer_loop(lambda: self._write((siid, piid), not self.props[(siid, piid)], "flip"))

    def switch(self, siid: int = 2, piid: int = 1) -> bool:
        return bool(self.props[(siid, piid)])

    # ------------------------------------------------------------ UDP
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        if self.unreachable or self._transport is None:
            self.dropped += 1
            return
        if len(data) == 32 and data[:4] == _HELLO_PREFIX:
            self.hellos += 1
            self._transport.sendto(self._hello_answer(), addr)
            return
        try:
            request = Message.parse(data, token=self.token)
        except construct.ChecksumError:
            self.wrong_token_packets += 1  # a real device stays silent
            return
        except construct.ConstructError:
            return
        payload = request.data.value
        if not isinstance(payload, dict) or "method" not in payload:
            return
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.latency_s > 0:
            assert self._loop is not None
            self._loop.call_later(self.latency_s, self._serve, payload, addr)
        else:
            self._serve(payload, addr)

    def _serve(self, payload: dict[str, Any], addr: tuple[str, int]) -> None:
        try:
            method, params = payload["method"], payload.get("params", [])
            self.requests.append((time.time(), method, params))
            if self.error_code is not None:
                reply: dict[str, Any] = {"id": payload.get("id"), "error": {"code": self.error_code,
                                                                            "message": "fake error"}}
            else:
                try:
                    reply = {"id": payload.get("id"), "result": self._dispatch(method, params)}
                except _RpcError as exc:
                    reply = {"id": payload.get("id"), "error": {"code": exc.code, "message": str(exc)}}
            if self._transport is not None and not self.unreachable:
                self._transport.sendto(self._sealed(reply), addr)
        finally:
            self.in_flight -= 1

    def _hello_answer(self) -> bytes:
        checksum = self.token if self.reveal_token else b"\xff" * 16
        return Message.build({"data": {"data": b""}, "header": self._header(), "checksum": checksum})

    def _header(self) -> dict[str, Any]:
        return {"value": {"length": 0, "unknown": 0, "device_id": self.device_id, "ts": _utc_naive()}}

    def _sealed(self, reply: dict[str, Any]) -> bytes:
        message = {"data": {"value": reply}, "header": self._header(), "checksum": 0}
        return Message.build(message, token=self.token)

    # ------------------------------------------------------------ JSON-RPC
    def _dispatch(self, method: str, params: Any) -> Any:
        if method == "miIO.info":
            return {
                "model": self.model,
                "fw_ver": "1.0.0_fake",
                "hw_ver": "esp32",
                "mac": ":".join(f"{b:02x}" for b in b"\x02\x00" + self.device_id),
                "life": int(time.monotonic() - self._started),
                "ap": {"ssid": "coolstove-test", "bssid": "02:00:00:00:00:01", "rssi": -42},
                "netif": {"localIp": self.host, "mask": "255.0.0.0", "gw": "127.0.0.1"},
            }
        if method == "get_properties":
            return [self._get_one(p) for p in _list_of_dicts(params)]
        if method == "set_properties":
            return [self._set_one(p) for p in _list_of_dicts(params)]
        if method == "get_prop":
            if isinstance(params, list) and params and all(isinstance(p, dict) for p in params):
                return [self._get_one(p) for p in params]
            legacy = {"power": "on" if self.props.get((2, 1)) else "off"}
            return [legacy.get(str(name)) for name in (params or [])]
        raise _RpcError(-32601, "Method not found")

    def _get_one(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (p.get("siid"), p.get("piid"))
        base = {"did": p.get("did"), "siid": key[0], "piid": key[1]}
        if key in self.prop_codes:
            return {**base, "code": self.prop_codes[key]}  # type: ignore[index]
        if key not in self.props:
            return {**base, "code": -4003}
        return {**base, "code": 0, "value": self.props[key]}  # type: ignore[index]

    def _set_one(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (p.get("siid"), p.get("piid"))
        base = {"did": p.get("did"), "siid": key[0], "piid": key[1]}
        if key in self.prop_codes:
            return {**base, "code": self.prop_codes[key]}  # type: ignore[index]
        if key not in self.props:
            return {**base, "code": -4003}
        if key in self.refuse_sets:
            return {**base, "code": -4004}
        value = p.get("value")
        current = self.props[key]  # type: ignore[index]
        if isinstance(current, bool):
            if not isinstance(value, bool):
                return {**base, "code": -4005}
        elif not isinstance(value, int) or isinstance(value, bool):
            return {**base, "code": -4005}
        elif key[1] == 3 and not (value == -1 or 1 <= value <= 43200):
            return {**base, "code": -4005}
        self._write(key, value, "set_properties")  # type: ignore[arg-type]
        if isinstance(current, bool) and self.revert_sets and value != current:
            self._write(key, current, "revert")  # type: ignore[arg-type]
        return {**base, "code": 0}

    def _write(self, key: Key, value: Any, source: str) -> None:
        """Change a property; a switch turning on with an off-delay set arms the release."""
        old = self.props[key]
        self.props[key] = value
        if value != old:
            self.record(f"{key[0]}.{key[1]}", value, source)
        if isinstance(value, bool) and key[1] == 1:
            timer = self._off_timers.pop(key, None)
            if timer is not None:
                timer.cancel()
            delay = self.props.get((key[0], 3))
            if value and isinstance(delay, int) and delay > 0 and source != "revert":
                assert self._loop is not None
                self._off_timers[key] = self._loop.call_later(delay, self._off_delay_expired, key)

    def _off_delay_expired(self, key: Key) -> None:
        self._off_timers.pop(key, None)
        self._write(key, False, "off-delay")


class _RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _list_of_dicts(params: Any) -> list[dict[str, Any]]:
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise _RpcError(-32602, "Invalid params")
    return params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="A fake Mi relay speaking miio on HOST:54321.")
    ap.add_argument("--host", default="auto", help="loopback address to bind, or 'auto' (default)")
    ap.add_argument("--token", default=DEFAULT_TOKEN, help="32 hex characters")
    ap.add_argument("--state-file", help="append every state change here as a JSON line")
    ap.add_argument("--model", default="coolstove.relay.v4")
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before acting and answering")
    ap.add_argument("--error-code", type=int, help="answer every command with this error code")
    ap.add_argument("--unreachable", action="store_true", help="start dropping every packet")
    ap.add_argument("--reveal-token", action="store_true", help="hello answers carry the token")
    args = ap.parse_args(argv)
    peer = MiioPeer(
        None if args.host == "auto" else args.host,
        args.token,
        model=args.model,
        channels=args.channels,
        state_file=args.state_file,
    )
    peer.latency_s = args.latency
    peer.error_code = args.error_code
    peer.unreachable = args.unreachable
    peer.reveal_token = args.reveal_token
    run_standalone(peer, {signal.SIGUSR1: "unreachable", signal.SIGUSR2: "revert_sets"})


if __name__ == "__main__":
    main()

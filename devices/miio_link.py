"""The one place where python-miio (blocking sockets) crosses into asyncio.

Each device gets a :class:`MiioLink`: its own ``ThreadPoolExecutor(max_workers=1)``
(so calls to one device run one at a time, in order, and never block the loop),
an ``asyncio.Lock`` in front of it (so waiting callers queue in the loop, not in
the executor), and an outer ``asyncio.timeout`` per call as a safety net over
python-miio's own short socket timeout. A timeout cannot stop the worker
thread; the single worker means a late call still finishes before the next one
starts.

python-miio's exceptions are translated here and nowhere else:

* no answer, no handshake, a wrong token (a real device silently drops packets
  sealed with another token; python-miio then times out, or fails the checksum),
  socket errors, unreadable packets → :class:`DeviceUnavailable`;
* an error reply (``DeviceError``, also a ``RecoverableError`` that stayed an
  error after the retries) or a MIoT per-property result ``code != 0`` →
  :class:`DeviceRejected`.

The token is a secret: no message built here contains it (every text is
scrubbed anyway), and the ``miio`` logger is held at INFO or above, because
python-miio logs at DEBUG what the device returns in its hello answer — which
is the token itself for a device that is not yet provisioned.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import socket
import sys
import types
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

import construct  # type: ignore[import-untyped]  # construct ships no type information


def _import_miio_core() -> None:
    """Load python-miio's protocol modules without its package ``__init__``.

    ``import miio`` runs ``miio/__init__.py``, which imports every device
    integration python-miio ships (about 300 modules, ~20 MiB of RSS) although
    a relay needs only the protocol, ``Device`` and ``MiotDevice``. Registering
    the package as a bare module with the right ``__path__`` first lets the
    submodules below import normally while the integrations stay unloaded.
    Harmless if ``miio`` was imported already (tests, other callers).
    """
    if "miio" in sys.modules:
        return
    spec = importlib.util.find_spec("miio")
    if spec is None or spec.submodule_search_locations is None:  # pragma: no cover
        return
    package = types.ModuleType("miio")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    sys.modules["miio"] = package


_import_miio_core()

from miio.exceptions import DeviceError as MiioDeviceError  # noqa: E402
from miio.exceptions import DeviceException, PayloadDecodeException, RecoverableError  # noqa: E402
from miio.miioprotocol import MiIOProtocol  # noqa: E402
from miio.miot_device import MiotDevice  # noqa: E402
from miio.protocol import Message  # noqa: E402

from core.errors import DeviceError, DeviceRejected, DeviceUnavailable  # noqa: E402

__all__ = ["MIIO_PORT", "MiioLink", "MiotValue", "guard_miio_logging"]

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
#: What a MIoT property can be set to (python-miio's ``set_property_by``); reads give ``object``:
#: whatever JSON the device answered, for the caller to check.
MiotValue = bool | int | float | str

MIIO_PORT = 54321  # hard-coded in python-miio, for the handshake and for commands
_HELLO = bytes.fromhex("21310020" + "ff" * 28)
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def guard_miio_logging() -> None:
    """Keep python-miio's loggers at INFO or above (its DEBUG output can carry the token).

    Set on the ``miio`` logger itself, so it holds even when the daemon puts
    the root logger at DEBUG; its child loggers (``miio.miioprotocol``, …)
    inherit it as long as nobody sets them lower explicitly.
    """
    miio_logger = logging.getLogger("miio")
    if miio_logger.level == logging.NOTSET or miio_logger.level < logging.INFO:
        miio_logger.setLevel(logging.INFO)


guard_miio_logging()


class _BoundedProtocol(MiIOProtocol):
    """``MiIOProtocol`` whose handshake obeys the configured timeout.

    In python-miio 0.5.12 ``send_handshake()`` calls the static
    ``MiIOProtocol.discover(ip)``, whose socket timeout is hard-coded to 5 s
    (not ``self._timeout``), and a failed handshake is not retried by
    ``send()``. So an unreachable device costs 5 s per call whatever
    ``timeout=`` says, and a device whose first hello got lost fails at once.
    This subclass replaces only the handshake: up to ``handshake_attempts``
    hellos, each waiting ``timeout`` seconds, to the device's address (no
    broadcast). Unreachable therefore fails after
    ``handshake_attempts * timeout`` and the whole call stays below
    :attr:`MiioLink.call_bound_s`. It also does not log the hello answer,
    whose checksum field is the token on an unprovisioned device
    (python-miio's own handshake logs it at DEBUG). Everything else —
    encryption, ids, ``send()`` retries — is python-miio's.
    """

    def __init__(self, ip: str, token: str, *, timeout: float, handshake_attempts: int) -> None:
        # python-miio annotates ``timeout`` as int; it is a socket timeout and takes fractions of a second.
        super().__init__(ip, token, timeout=timeout)  # type: ignore[arg-type]
        self.handshake_attempts = max(1, handshake_attempts)

    def send_handshake(self, *, retry_count: int = 0) -> Any:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self._timeout)
            for _ in range(self.handshake_attempts):
                try:
                    sock.sendto(_HELLO, (self.ip, self.port))
                    data = sock.recv(1024)
                except TimeoutError:
                    continue
                except OSError as exc:
                    raise DeviceException(f"cannot send to {self.ip}: {exc.strerror or exc}") from exc
                if len(data) != 32 or data[:4] != _HELLO[:4]:
                    continue  # not a hello answer
                try:
                    m = Message.parse(data)
                except construct.ConstructError:
                    continue
                self._device_id = m.header.value.device_id
                self._device_ts = m.header.value.ts
                self._discovered = True
                return m
        raise DeviceException(
            f"Unable to discover the device {self.ip} "
            f"({self.handshake_attempts} hello(s), {self._timeout:g} s each)"
        )


class MiioLink:
    """One miio/MIoT device, driven from asyncio.

    ``timeout_s`` is python-miio's per-packet timeout, ``retries`` its retry
    count (each retry of a command re-does the handshake); keep both small.
    ``model`` is passed to python-miio so it never asks the device
    (``miIO.info``) first. Burners on channels of one device should share one
    link (:meth:`shared`): the device then sees one request at a time and one
    sequence of message ids.

    Every call takes a ``label`` (the burner's name) for its error messages.
    """

    _shared: ClassVar[dict[tuple[str, str], MiioLink]] = {}

    def __init__(
        self,
        host: str,
        token: str,
        *,
        model: str,
        timeout_s: float = 1.0,
        retries: int = 2,
    ) -> None:
        if not _HEX32.match(token or ""):
            raise ValueError("a miio token is 32 hexadecimal characters")  # the token is not repeated
        guard_miio_logging()
        self.host = host
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self._token = token.lower()
        handshake_attempts = min(self.retries + 1, 2)
        #: Outer bound of one call: python-miio tries ``retries + 1`` sends; each may need
        #: a fresh handshake of up to ``handshake_attempts`` hellos; every wait is ``timeout_s``.
        self.call_bound_s = (self.retries + 1) * (handshake_attempts + 1) * self.timeout_s + 0.5
        # ``timeout``: an int in python-miio's annotation, a float socket timeout in fact (as above).
        device = MiotDevice(host, token, timeout=self.timeout_s, model=model, mapping={})  # type: ignore[arg-type]
        device.retry_count = self.retries
        device._protocol = _BoundedProtocol(
            host, token, timeout=self.timeout_s, handshake_attempts=handshake_attempts
        )
        self._device = device
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"miio-{host}"
        )
        self._lock = asyncio.Lock()
        self._users = 0

    def __repr__(self) -> str:
        return f"<MiioLink {self.host}>"

    @classmethod
    def shared(
        cls, host: str, token: str, *, model: str, timeout_s: float = 1.0, retries: int = 2
    ) -> MiioLink:
        """The link to ``host``, made on first use; give it back with :meth:`release`.

        The first user's ``timeout_s``/``retries``/``model`` apply to all.
        """
        key = (host, token.lower())
        link = cls._shared.get(key)
        if link is None or link.closed:
            link = cls(host, token, model=model, timeout_s=timeout_s, retries=retries)
            cls._shared[key] = link
        link._users += 1
        return link

    async def release(self) -> None:
        """One user fewer; the last one closes the link."""
        self._users -= 1
        if self._users <= 0:
            key = (self.host, self._token)
            if self._shared.get(key) is self:
                del self._shared[key]
            await self.close()

    @property
    def closed(self) -> bool:
        return self._executor is None

    # ------------------------------------------------------------ calls
    async def call(self, label: str, what: str, func: Callable[[MiotDevice], T]) -> T:
        """Run ``func(device)`` on this device's worker thread; errors become DeviceError.

        ``label`` and ``what`` name the caller and the operation in error messages.
        """
        where = f"{label} (miio {self.host})"
        if self._executor is None:
            raise DeviceUnavailable(f"{where}: link closed")
        guard_miio_logging()
        loop = asyncio.get_running_loop()
        async with self._lock:
            bound = asyncio.timeout(self.call_bound_s)
            try:
                async with bound:
                    return await loop.run_in_executor(self._executor, func, self._device)
            except TimeoutError as exc:  # an OSError: test it first
                if bound.expired():
                    raise DeviceUnavailable(
                        f"{where}: no answer to {what} within {self.call_bound_s:g} s"
                    ) from exc
                raise self._translate(where, what, exc) from exc
            except (DeviceException, OSError, construct.ConstructError) as exc:
                raise self._translate(where, what, exc) from exc

    def _translate(self, where: str, what: str, exc: BaseException) -> DeviceError:
        if isinstance(exc, MiioDeviceError):
            return DeviceRejected(self._scrub(f"{where} refused {what}: {_error_text(exc)}"))
        if isinstance(exc, DeviceException) and isinstance(exc.__cause__, RecoverableError):
            cause = exc.__cause__
            return DeviceRejected(self._scrub(f"{where} refused {what} after retries: {_error_text(cause)}"))
        if isinstance(exc, PayloadDecodeException):
            return DeviceUnavailable(f"{where}: unreadable answer to {what}")
        if isinstance(exc, construct.ConstructError):
            return DeviceUnavailable(f"{where}: malformed packet in answer to {what}")
        reason = str(exc) or type(exc).__name__
        return DeviceUnavailable(self._scrub(f"{where}: no usable answer to {what} ({reason})"))

    def _scrub(self, text: str) -> str:
        return re.sub(re.escape(self._token), "<token>", text, flags=re.IGNORECASE)

    # ------------------------------------------------------------ MIoT properties
    async def get_properties(self, label: str, *props: tuple[int, int]) -> list[object]:
        """Values of MIoT properties ``(siid, piid)``, in order; a per-property error is a refusal."""
        what = "get " + ",".join(f"{s}.{p}" for s, p in props)
        request = [{"did": f"{s}-{p}", "siid": s, "piid": p} for s, p in props]
        answer = await self.call(label, what, lambda dev: dev.send("get_properties", request))
        items = _result_items(answer, props, label, what)
        values: list[object] = []
        for (siid, piid), item in zip(props, items, strict=True):
            if "value" not in item:
                raise DeviceRejected(f"{label}: answer to {what} has no value for {siid}.{piid}")
            values.append(item["value"])
        return values

    async def get_property(self, label: str, siid: int, piid: int) -> object:
        (value,) = await self.get_properties(label, (siid, piid))
        return value

    async def set_property(self, label: str, siid: int, piid: int, value: MiotValue) -> None:
        """Write one MIoT property; the device's per-property code must be 0."""
        what = f"set {siid}.{piid}={value!r}"
        answer = await self.call(label, what, lambda dev: dev.set_property_by(siid, piid, value))
        _result_items(answer, ((siid, piid),), label, what)

    # ------------------------------------------------------------ lifecycle
    async def close(self) -> None:
        """Stop the worker thread (a call still running finishes on its own, bounded by its timeouts)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _error_text(exc: MiioDeviceError) -> str:
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if code is None and message is None:
        return str(exc) or type(exc).__name__
    return f"error {code}" + (f" ({message})" if message else "")


def _result_items(
    answer: Any, wanted: Iterable[tuple[int, int]], name: str, what: str
) -> list[dict[str, Any]]:
    """The per-property results of a MIoT answer; any ``code != 0`` raises DeviceRejected."""
    props = list(wanted)
    well_formed = isinstance(answer, list) and all(isinstance(i, dict) for i in answer)
    if not well_formed or len(answer) != len(props):
        raise DeviceRejected(f"{name}: unexpected answer to {what}: {str(answer)[:200]}")
    items: list[dict[str, Any]] = []
    for (siid, piid), item in zip(props, answer, strict=True):
        if item.get("siid", siid) != siid or item.get("piid", piid) != piid:
            raise DeviceRejected(f"{name}: answer to {what} is about {item.get('siid')}.{item.get('piid')}")
        code = item.get("code", 0)
        if code != 0:
            raise DeviceRejected(f"{name} refused {what}: property {siid}.{piid} code {code}")
        items.append(item)
    return items


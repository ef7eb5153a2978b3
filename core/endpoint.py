"""Where the running daemon answers and how a client proves who it is, read with the standard library.

The stove's commands need four things of the configuration: the daemon's address, how long to wait for
it, the data folder (its ``http-token`` file, and the messages that name it) and a configured token.
:func:`read_endpoint` finds them without pydantic (``coolstove stove off`` would otherwise spend about
0.2 s importing and building the schema before its first byte reaches the daemon): from the embedded
defaults, the few environment overrides a client reads, the secrets, and the running daemon's record.

It only answers when the validated configuration (:func:`core.config.load_config`) would give the same
answer: with a config file, with any other ``COOLSTOVE_<SECTION>__<KEY>`` override, or with a value it
does not vouch for, it answers None and the caller loads the validated configuration instead (which
then also reports what is wrong, as before). ``tests/daemon/test_cli_endpoint.py`` holds both to the same
answers.

The helpers for where things live (:func:`default_data_dir`, :func:`runtime_files`, :func:`read_secret`
…) are the same rules as ``core.config``'s, which the validated configuration uses.
"""

from __future__ import annotations

import json
import os
import pwd
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Endpoint",
    "Running",
    "UnsureRecord",
    "base_url",
    "daemon_runtime_dir",
    "default_data_dir",
    "find_running",
    "read_endpoint",
    "read_running",
    "read_secret",
    "runtime_files",
    "secret_source",
    "split_listen",
]

ENV_PREFIX = "COOLSTOVE_"
APP = "coolstove"
TOKEN_FILE = "http-token"  # noqa: S105 - a file name, not a password
RUNTIME_FILE = "daemon.json"
SYSTEM_RUNTIME_DIR = Path("/run/coolstove")
DEFAULT_LISTEN = "127.0.0.1:8470"
DEFAULT_PAGES_LISTEN = "127.0.0.1:8471"
DEFAULT_CLIENT_TIMEOUT_S = 10.0
#: The overrides a client reads (or that only [http] listeners' rules check); any other one present
#: sends the CLI to the validated configuration.
CLIENT_OVERRIDES = frozenset(
    {"HTTP__LISTEN", "HTTP__PAGES_LISTEN", "HTTP__CLIENT_TIMEOUT_S", "STORAGE__DATA_DIR"}
)
_PLAIN_NUMBER = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")


# ---------------------------------------------------------------- where things live (core.config's rules)


def _first_dir(value: str | None) -> Path | None:
    """The first of systemd's colon-separated ``*_DIRECTORY`` paths (the one named first in the unit)."""
    first = (value or "").split(":")[0]
    return Path(first) if first and os.path.isabs(first) else None


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME", "")
    return Path(home) if os.path.isabs(home) else Path(pwd.getpwuid(os.getuid()).pw_dir)


def default_data_dir(env: Mapping[str, str] | None = None) -> tuple[Path, str]:
    """The data folder when none is configured, and where that default came from (for messages).

    Never the working directory: ``$STATE_DIRECTORY`` (systemd's ``StateDirectory=``), else
    ``$XDG_DATA_HOME/coolstove`` (an absolute path, as the XDG spec asks), else ``~/.local/share/coolstove``.
    """
    env = os.environ if env is None else env
    state = _first_dir(env.get("STATE_DIRECTORY"))
    if state is not None:
        return state, "systemd's $STATE_DIRECTORY"
    xdg = env.get("XDG_DATA_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / APP, "the default, $XDG_DATA_HOME/coolstove"
    return _home(env) / ".local" / "share" / APP, "the default, ~/.local/share/coolstove"


def daemon_runtime_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """Where a daemon records that it runs: ``$RUNTIME_DIRECTORY`` (systemd), else
    ``$XDG_RUNTIME_DIR/coolstove``; None when neither is set."""
    env = os.environ if env is None else env
    systemd_dir = _first_dir(env.get("RUNTIME_DIRECTORY"))
    if systemd_dir is not None:
        return systemd_dir
    xdg = env.get("XDG_RUNTIME_DIR", "")
    return Path(xdg) / APP if os.path.isabs(xdg) else None


def runtime_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where the CLI looks for a running daemon's record, in order: the user's own, then the system's."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_RUNTIME_DIR", "")
    dirs = [_first_dir(env.get("RUNTIME_DIRECTORY")), Path(xdg) / APP if os.path.isabs(xdg) else None,
            SYSTEM_RUNTIME_DIR]
    return [d / RUNTIME_FILE for d in dict.fromkeys(d for d in dirs if d is not None)]


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def secret_source(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """Where :func:`read_secret` finds ``name`` (``$COOLSTOVE_<NAME>`` or the credential's path), or None."""
    env = os.environ if env is None else env
    key = ENV_PREFIX + _env_name(name)
    if env.get(key):
        return f"${key}"
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / name).is_file():
        return f"the credential {name} ({Path(cred_dir) / name})"
    return None


def read_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """A secret from ``$COOLSTOVE_<NAME>`` or ``$CREDENTIALS_DIRECTORY/<name>``."""
    env = os.environ if env is None else env
    key = ENV_PREFIX + _env_name(name)
    if env.get(key):
        return env[key].strip()
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return None


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:80`` too) as (host, port); ValueError if it is not one."""
    host, _, port = listen.strip().rpartition(":")
    if not host or not port:
        raise ValueError(f"not HOST:PORT: {listen!r}")
    return host.strip("[]"), int(port)


def base_url(host: str, port: int) -> str:
    """The URL a client uses for a listener (a wildcard address is reached on loopback)."""
    host = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104 - wildcard -> loopback URL
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


# ---------------------------------------------------------------- the running daemon's record


class UnsureRecord(Exception):
    """A record this module cannot read as the validated model would (the caller asks that model)."""


@dataclass(frozen=True)
class Running:
    """A running daemon as its ``daemon.json`` tells it (never the token, only where it comes from)."""

    pid: int
    data_dir: Path
    listen: str  # HOST:PORT as bound
    token_from: str
    path: Path | None = None
    pages_listen: str = "off"
    config: str | None = None

    @property
    def base_url(self) -> str:
        return base_url(*split_listen(self.listen))

    def alive(self) -> bool:
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    """Whether a recorded daemon's pid still runs (a daemon killed with -9 leaves its record behind)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a pid no system has, from a damaged record
        return False
    except PermissionError:
        return True  # someone else's process: the system daemon under its own user
    return True


def read_running(path: Path) -> Running | None:
    """The record at ``path``; None if there is none or it is not a record at all.

    Raises :class:`UnsureRecord` for a JSON object whose fields are not exactly the types the daemon
    writes (the validated model is lenient there; its answer decides).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid, data_dir, listen, token_from = (data.get(k) for k in ("pid", "data_dir", "listen", "token_from"))
    pages_listen, config = data.get("pages_listen", "off"), data.get("config")
    if not (type(pid) is int and pid > 0 and isinstance(data_dir, str) and data_dir
            and isinstance(listen, str) and isinstance(token_from, str) and isinstance(pages_listen, str)
            and (config is None or isinstance(config, str))):
        raise UnsureRecord(str(path))
    return Running(pid=pid, data_dir=Path(data_dir), listen=listen, token_from=token_from, path=path,
                   pages_listen=pages_listen, config=config)


def find_running(env: Mapping[str, str] | None = None) -> Running | None:
    """The first live daemon recorded in :func:`runtime_files`; stale records (dead pid) are skipped."""
    for path in runtime_files(env):
        record = read_running(path)
        if record is not None and record.alive():
            return record
    return None


# ---------------------------------------------------------------- what a client needs


@dataclass(frozen=True)
class Endpoint:
    """The daemon a client command talks to, and the token it sends."""

    base_url: str
    client_timeout_s: float
    data_dir: Path
    #: Where ``data_dir`` came from, for messages ("the running daemon's, pid …", "the default, …").
    data_dir_from: str
    #: True when the data folder is only a default (and no running daemon was found).
    data_dir_default: bool
    #: A configured token (``$COOLSTOVE_HTTP_TOKEN`` or the credential); None: the data folder's file.
    token: str | None
    token_from: str | None
    #: The running daemon this endpoint points at (None: none found, or the data folder is explicit).
    daemon: Running | None = None

    @property
    def token_file(self) -> Path:
        return self.data_dir / TOKEN_FILE

    def read_token(self) -> str | None:
        """The token to send: configured, or the data folder's file; None when neither. Never creates one.

        Raises OSError when the file is there but cannot be read (the system daemon's, for a user).
        """
        if self.token:
            return self.token
        try:
            return self.token_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None


def _listener_ok(value: str) -> bool:
    """What ``[http] listen``'s rule accepts, in a form whose meaning is plain (ASCII digits)."""
    host, _, port = value.strip().rpartition(":")
    return bool(host) and port.isascii() and port.isdigit() and int(port) <= 65535


def _is_off(value: str) -> bool:
    return value.strip().lower() in ("", "off")


def read_endpoint(config_path: str | None, env: Mapping[str, str] | None = None) -> Endpoint | None:
    """The endpoint from the defaults, the environment and the daemon's record; None when only the
    validated configuration can tell (see the module docstring)."""
    env = os.environ if env is None else env
    if config_path is not None or env.get("COOLSTOVE_CONFIG"):
        return None  # a file: its every key is validated, as before
    overrides: dict[str, str] = {}
    for key, value in env.items():
        if key.upper().startswith(ENV_PREFIX) and "__" in key:
            name = key.upper()[len(ENV_PREFIX):]
            if name not in CLIENT_OVERRIDES or name in overrides:
                return None
            overrides[name] = value
    listen = overrides.get("HTTP__LISTEN", DEFAULT_LISTEN)
    pages = overrides.get("HTTP__PAGES_LISTEN", DEFAULT_PAGES_LISTEN)
    if _is_off(listen) or not _listener_ok(listen) or not (_is_off(pages) or _listener_ok(pages)):
        return None
    if not _is_off(pages) and split_listen(listen) == split_listen(pages) and split_listen(listen)[1] != 0:
        return None  # the two origins rule: the validated configuration says so
    timeout = overrides.get("HTTP__CLIENT_TIMEOUT_S")
    if timeout is not None and not (_PLAIN_NUMBER.fullmatch(timeout) and 0.1 <= float(timeout) <= 600):
        return None
    data_dir_env = overrides.get("STORAGE__DATA_DIR")
    if data_dir_env == "":
        return None
    token = read_secret("http-token", env)
    token_from = secret_source("http-token", env) if token else None
    client_timeout_s = DEFAULT_CLIENT_TIMEOUT_S if timeout is None else float(timeout)
    if data_dir_env is not None:
        return Endpoint(base_url(*split_listen(listen)), client_timeout_s, Path(data_dir_env),
                        f"{ENV_PREFIX}STORAGE__DATA_DIR", False, token, token_from)
    try:
        daemon = find_running(env)
        daemon_url = daemon.base_url if daemon is not None else None
    except (UnsureRecord, ValueError):
        return None
    if daemon is None or daemon_url is None:
        data_dir, data_dir_from = default_data_dir(env)
        return Endpoint(base_url(*split_listen(listen)), client_timeout_s, data_dir, data_dir_from, True,
                        token, token_from)
    return Endpoint(daemon_url, client_timeout_s, daemon.data_dir,
                    f"the running daemon's, pid {daemon.pid}, recorded in {daemon.path}", False, token,
                    token_from, daemon)

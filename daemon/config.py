"""Configuration: one TOML file, environment overrides, secrets from outside it.

The file is found from ``--config``, else ``$COOLSTOVE_CONFIG``; with neither the
embedded defaults apply (data in ``./data``, one simulated burner), so a newcomer
sees the daemon work before writing any config. Scalars of any section can be
overridden as ``COOLSTOVE_<SECTION>__<KEY>`` (lists comma-separated).

Secrets never live in the TOML: device tokens, the MQTT password and the HTTP
token come from the environment or from systemd credentials
(``$CREDENTIALS_DIRECTORY/<name>``, see ``LoadCredential=``). This is the only
module that knows file-system paths.
"""

from __future__ import annotations

import math
import os
import re
import secrets as _secrets
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from daemon.errors import ConfigError

__all__ = [
    "Burner",
    "Config",
    "FlameConfig",
    "HttpConfig",
    "MqttConfig",
    "PapersConfig",
    "SearchConfig",
    "StorageConfig",
    "load_config",
    "read_secret",
]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
TOKEN_RE = re.compile(r"^[0-9a-fA-F]{32}$")
MAX_PULSE_S = 60.0
ENV_PREFIX = "COOLSTOVE_"


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    base_topic: str = "coolstove"
    discovery_prefix: str = "homeassistant"
    keepalive: int = 30


@dataclass(frozen=True)
class Burner:
    """One burner: a relay channel wired into that burner's flame-failure loop."""

    name: str
    driver: str = "simulated"  # "miio" | "mqtt" | "simulated"
    pulse_s: float = 3.0
    wiring: str = "nc"  # "nc": energised relay = gas cut (the blog's wiring); "no": inverted
    # miio
    host: str | None = None
    token: str | None = field(default=None, repr=False)
    siid: int = 2
    piid: int = 1
    model: str = "coolstove.relay"
    off_delay_piid: int | None = None  # device-side off delay, e.g. yeelink.switch.sw1 (siid, 3)
    timeout_s: float = 1.0
    retries: int = 2
    # Mi Home / XiaoAI virtual switch (relay-less channel): its "off" means "cut"
    voice_siid: int | None = None
    voice_piid: int = 1
    voice_poll_s: float = 2.0
    # mqtt relay
    flavour: str = "tasmota"  # "tasmota" | "zigbee2mqtt"
    command_topic: str | None = None
    state_topic: str | None = None
    power_index: int = 1


@dataclass(frozen=True)
class FlameConfig:
    """Optional usage input: a topic that says the stove is burning."""

    topic: str | None = None
    payload_on: str = "ON"
    alert_after_min: float | None = None
    cut_after_min: float | None = None
    burner: str | None = None  # None = all burners


@dataclass(frozen=True)
class StorageConfig:
    data_dir: Path = Path("data")
    #: Audit rows older than this many days are pruned (at start, then hourly).
    audit_max_age_days: float = 365.0
    #: At most this many audit rows are kept; the oldest go first.
    audit_max_rows: int = 100_000

    def __post_init__(self) -> None:
        if not (self.audit_max_age_days > 0 and math.isfinite(self.audit_max_age_days)):
            raise ConfigError(f"[storage] audit_max_age_days must be a positive number, got {self.audit_max_age_days!r}")
        if isinstance(self.audit_max_rows, bool) or not isinstance(self.audit_max_rows, int) or self.audit_max_rows < 100:
            raise ConfigError(f"[storage] audit_max_rows must be a whole number of at least 100, got {self.audit_max_rows!r}")

    @property
    def stove_db(self) -> Path:
        return self.data_dir / "stove.db"

    @property
    def papers_db_url(self) -> str:
        return f"sqlite:///{(self.data_dir / 'papers.db').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


@dataclass(frozen=True)
class HttpConfig:
    """Two listeners: the stove's control surface (``listen``) and the paper pages (``pages_listen``).

    They are two origins on purpose: a script on a paper page can neither read
    the stove page's stored token nor call the stove API (no CORS is ever sent).
    """

    enabled: bool = True
    listen: str = "127.0.0.1:8470"
    pages_listen: str = "127.0.0.1:8471"  # "" or "off": no paper pages over HTTP
    allowed_hosts: tuple[str, ...] = ()  # Host names accepted; () = localhost, 127.0.0.1, ::1, listen hosts
    max_connections: int = 64  # per listener; more are closed at once
    header_timeout_s: float = 5.0  # a request head must arrive within this
    body_timeout_s: float = 10.0  # a request body must arrive within this
    client_timeout_s: float = 10.0  # the CLI waits this long; the daemon refuses its command after that
    token: str | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return _split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return _split_listen(self.listen)[1]

    @property
    def base_url(self) -> str:
        return _base_url(self.host, self.port)

    @property
    def pages_enabled(self) -> bool:
        return self.pages_listen.strip().lower() not in ("", "off")

    @property
    def pages_host(self) -> str:
        return _split_listen(self.pages_listen)[0]

    @property
    def pages_port(self) -> int:
        return _split_listen(self.pages_listen)[1]

    @property
    def pages_base_url(self) -> str:
        return _base_url(self.pages_host, self.pages_port)

    @property
    def hosts(self) -> frozenset[str]:
        """The Host names (without port) a request may carry: the rest is DNS rebinding."""
        names = set(self.allowed_hosts) or {"localhost", "127.0.0.1", "::1"}
        names.update((self.host, urllib.parse.urlsplit(self.base_url).hostname or ""))  # the CLI's
        if self.pages_enabled:
            names.add(self.pages_host)
        return frozenset(n.strip().strip("[]").rstrip(".").lower() for n in names if n.strip())


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.strip().rpartition(":")
    if not host or not port:
        raise ValueError(f"not HOST:PORT: {listen!r}")
    return host.strip("[]"), int(port)


def _base_url(host: str, port: int) -> str:
    host = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class PapersConfig:
    enabled: bool = True
    categories: tuple[str, ...] = ("cs.LG", "cs.CL")
    database_url: str | None = None  # None = SQLite in data_dir
    min_interval_s: float = 3.0
    user_agent: str = "coolstove/0.1 (self-hosted arXiv reader; +https://github.com/coolstove)"
    rss_url: str = "https://rss.arxiv.org/atom/{category}"
    api_url: str = "https://export.arxiv.org/api/query"
    oai_url: str = "https://oaipmh.arxiv.org/oai"
    timeout_s: float = 30.0
    max_retries: int = 4
    poll_interval_s: float = 900.0


@dataclass(frozen=True)
class SearchConfig:
    enabled: bool = True
    max_results: int = 1000


@dataclass(frozen=True)
class Config:
    mqtt: MqttConfig = MqttConfig()
    burners: tuple[Burner, ...] = (Burner(name="burner"),)
    flame: FlameConfig = FlameConfig()
    storage: StorageConfig = StorageConfig()
    http: HttpConfig = HttpConfig()
    papers: PapersConfig = PapersConfig()
    search: SearchConfig = SearchConfig()
    log_level: str = "INFO"
    shutdown_grace_s: float = 10.0
    source: Path | None = None

    @property
    def papers_db_url(self) -> str:
        return self.papers.database_url or self.storage.papers_db_url

    def burner(self, name: str) -> Burner:
        for b in self.burners:
            if b.name == name:
                return b
        raise ConfigError(f"unknown burner {name!r}")


# ---------------------------------------------------------------- secrets


def read_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """A secret from ``$COOLSTOVE_<NAME>`` or ``$CREDENTIALS_DIRECTORY/<name>``."""
    env = os.environ if env is None else env
    key = ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    if env.get(key):
        return env[key].strip()
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return None


def http_token(cfg: Config) -> str:
    """The HTTP bearer token; generated once into the data folder if none is configured.

    The CLI reads the same file, so on one machine the daemon and the CLI agree
    without the user ever handling the token.
    """
    if cfg.http.token:
        return cfg.http.token
    path = cfg.storage.data_dir / "http-token"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = _secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token)
    return token


# ---------------------------------------------------------------- parsing


def _coerce(section: str, key: str, value: Any, default: Any) -> Any:
    """Check a value against the default's type; env strings are converted."""
    where = f"[{section}] {key}" if section else key
    kind = type(default) if default is not None else None
    if isinstance(value, str) and kind is not str and kind is not None:
        text = value.strip()
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        if kind is tuple:
            return tuple(p.strip() for p in text.split(",") if p.strip())
        try:
            return kind(text)
        except (TypeError, ValueError) as exc:
            names = {int: "an integer", float: "a number"}
            raise ConfigError(f"{where}: expected {names.get(kind, kind.__name__)}, got {value!r}") from exc
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if kind is float and not isinstance(value, float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if kind is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if isinstance(default, Path):
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    if default is None and value is not None and not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: unexpected value {value!r}")
    return value


def _build(cls: type, section: str, raw: Mapping[str, Any]) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[{section}] must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"[{section}] unknown key {key!r} (known: {', '.join(sorted(known))})")
        f = known[key]
        default = f.default if f.default is not f.default_factory else None  # type: ignore[misc]
        if f.name in ("password", "token"):
            raise ConfigError(
                f"[{section}] {key}: secrets are not read from the config file; "
                f"set it in the environment or a systemd credential (see deploy/README.md)"
            )
        kwargs[key] = _coerce(section, key, value, default)
    return cls(**kwargs)


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        section, _, name = key[len(ENV_PREFIX) :].partition("__")
        out.setdefault(section.lower(), {})[name.lower()] = value
    return out


def _validate_burner(b: Burner, index: int) -> None:
    where = f"[[stove.burners]] #{index + 1} ({b.name!r})"
    if not NAME_RE.match(b.name):
        raise ConfigError(f"{where}: name must match {NAME_RE.pattern} (it becomes an MQTT topic level)")
    if b.driver not in ("miio", "mqtt", "simulated"):
        raise ConfigError(f"{where}: driver must be miio, mqtt or simulated, got {b.driver!r}")
    if not (0.2 <= b.pulse_s <= MAX_PULSE_S):
        raise ConfigError(f"{where}: pulse_s must be between 0.2 and {MAX_PULSE_S:g} seconds, got {b.pulse_s:g}")
    if b.wiring not in ("nc", "no"):
        raise ConfigError(f"{where}: wiring must be 'nc' (default) or 'no', got {b.wiring!r}")
    if b.driver == "miio":
        if not b.host:
            raise ConfigError(f"{where}: driver miio needs host")
        if not b.token:
            raise ConfigError(
                f"{where}: driver miio needs a token: set COOLSTOVE_BURNER_{b.name.upper().replace('-', '_')}_TOKEN "
                f"or the credential burner-{b.name}-token"
            )
        if not TOKEN_RE.match(b.token):
            raise ConfigError(f"{where}: the token must be 32 hexadecimal characters")
        for attr in ("siid", "piid"):
            if not 1 <= getattr(b, attr) <= 255:
                raise ConfigError(f"{where}: {attr} must be between 1 and 255")
        if not 0.1 <= b.timeout_s <= 10:
            raise ConfigError(f"{where}: timeout_s must be between 0.1 and 10")
        if not 0 <= b.retries <= 5:
            raise ConfigError(f"{where}: retries must be between 0 and 5")
    if b.driver == "mqtt":
        if b.flavour not in ("tasmota", "zigbee2mqtt"):
            raise ConfigError(f"{where}: flavour must be tasmota or zigbee2mqtt, got {b.flavour!r}")
        if not b.command_topic:
            raise ConfigError(f"{where}: driver mqtt needs command_topic (Tasmota: the device topic, e.g. 'stove')")


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, override and validate the configuration; raise ConfigError on anything wrong."""
    env = os.environ if env is None else env
    if path is None and env.get("COOLSTOVE_CONFIG"):
        path = env["COOLSTOVE_CONFIG"]
    raw: dict[str, Any] = {}
    source = None
    if path is not None:
        source = Path(path)
        try:
            with source.open("rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {source} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {source} is not valid TOML: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {source} cannot be read: {exc}") from exc

    known_top = {"mqtt", "stove", "storage", "http", "papers", "search", "daemon"}
    for key in raw:
        if key not in known_top:
            raise ConfigError(f"unknown section [{key}] (known: {', '.join(sorted(known_top))})")

    overrides = _env_overrides(env)
    for section in overrides:
        if section not in known_top - {"stove"}:
            raise ConfigError(f"environment override for unknown section {section!r}")

    def section(name: str, cls: type) -> Any:
        if not isinstance(raw.get(name, {}), Mapping):
            raise ConfigError(f"[{name}] must be a table")
        merged = dict(raw.get(name, {}))
        merged.update(overrides.get(name, {}))
        return _build(cls, name, merged)

    mqtt = section("mqtt", MqttConfig)
    if "mqtt" in raw or "mqtt" in overrides:
        mqtt = replace(mqtt, enabled=_coerce("mqtt", "enabled", merged_flag(raw, overrides, "mqtt"), True))
    mqtt = replace(mqtt, password=read_secret("mqtt-password", env))
    storage = section("storage", StorageConfig)
    http = replace(section("http", HttpConfig), token=read_secret("http-token", env))
    papers = section("papers", PapersConfig)
    search = section("search", SearchConfig)
    daemon_raw = dict(raw.get("daemon", {}))
    daemon_raw.update(overrides.get("daemon", {}))
    log_level = str(daemon_raw.pop("log_level", "INFO")).upper()
    grace = _coerce("daemon", "shutdown_grace_s", daemon_raw.pop("shutdown_grace_s", 10.0), 10.0)
    if daemon_raw:
        raise ConfigError(f"[daemon] unknown key(s): {', '.join(sorted(daemon_raw))}")
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"[daemon] log_level must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")

    stove = raw.get("stove", {})
    if not isinstance(stove, Mapping):
        raise ConfigError("[stove] must be a table")
    for key in stove:
        if key not in ("burners", "flame"):
            raise ConfigError(f"[stove] unknown key {key!r} (known: burners, flame)")
    burner_list = stove.get("burners")
    burners: tuple[Burner, ...]
    if burner_list is None:
        burners = (Burner(name="burner"),)
    else:
        if not isinstance(burner_list, list) or not burner_list:
            raise ConfigError("[[stove.burners]] must be a non-empty array of tables")
        built = []
        for i, item in enumerate(burner_list):
            b = _build(Burner, f"stove.burners #{i + 1}", item)
            token = read_secret(f"burner-{b.name}-token", env)
            b = replace(b, token=token)
            _validate_burner(b, i)
            built.append(b)
        names = [b.name for b in built]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ConfigError(f"[[stove.burners]] duplicate name(s): {', '.join(sorted(dupes))}")
        if "all" in names:
            raise ConfigError("[[stove.burners]] 'all' is reserved for the all-burners command")
        burners = tuple(built)
    if any(b.driver == "mqtt" for b in burners) and not mqtt.enabled:
        raise ConfigError("an mqtt burner needs the [mqtt] section (the broker it talks through)")
    flame = _build(FlameConfig, "stove.flame", stove.get("flame", {}))
    if flame.burner is not None and flame.burner not in {b.name for b in burners}:
        raise ConfigError(f"[stove.flame] burner {flame.burner!r} is not a configured burner")
    if flame.topic is not None and not mqtt.enabled:
        raise ConfigError("[stove.flame] topic needs the [mqtt] section")

    _check_ranges(mqtt, http, papers)
    return Config(
        mqtt=mqtt,
        burners=burners,
        flame=flame,
        storage=storage,
        http=http,
        papers=papers,
        search=search,
        log_level=log_level,
        shutdown_grace_s=float(grace),
        source=source,
    )


def merged_flag(raw: Mapping[str, Any], overrides: Mapping[str, Any], name: str) -> Any:
    """A section's ``enabled`` flag: present sections are enabled unless they say otherwise."""
    value = overrides.get(name, {}).get("enabled", raw.get(name, {}).get("enabled", True))
    return value


def _check_ranges(mqtt: MqttConfig, http: HttpConfig, papers: PapersConfig) -> None:
    if not 1 <= mqtt.port <= 65535:
        raise ConfigError(f"[mqtt] port must be 1..65535, got {mqtt.port}")
    for name, topic in (("base_topic", mqtt.base_topic), ("discovery_prefix", mqtt.discovery_prefix)):
        if not topic or any(c in topic for c in "+#\0") or topic.startswith("/") or topic.endswith("/"):
            raise ConfigError(f"[mqtt] {name} {topic!r} is not a usable topic prefix")
    _check_http(http)
    if papers.min_interval_s < 3.0:
        raise ConfigError(
            f"[papers] min_interval_s may only be raised above arXiv's 3 s, got {papers.min_interval_s:g}"
        )
    cat_re = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")
    for cat in papers.categories:
        if not cat_re.match(cat):
            raise ConfigError(f"[papers] categories: {cat!r} is not an arXiv category like cs.LG")


def _check_http(http: HttpConfig) -> None:
    listeners = [("listen", http.listen)] + ([("pages_listen", http.pages_listen)] if http.pages_enabled else [])
    bound = []
    for key, value in listeners:
        try:
            host, port = _split_listen(value)
        except ValueError as exc:
            raise ConfigError(f"[http] {key} must be HOST:PORT, got {value!r}") from exc
        if not 0 <= port <= 65535:
            raise ConfigError(f"[http] {key} port must be 0..65535, got {port}")
        bound.append((host, port))
    if len(bound) == 2 and bound[0] == bound[1] and bound[0][1] != 0:
        raise ConfigError("[http] pages_listen must differ from listen: the paper pages need their own origin")
    for name in http.allowed_hosts:
        if not name.strip() or any(c in name for c in "/@ \t"):
            raise ConfigError(f"[http] allowed_hosts: {name!r} is not a host name")
    if not 1 <= http.max_connections <= 10000:
        raise ConfigError(f"[http] max_connections must be 1..10000, got {http.max_connections}")
    for key in ("header_timeout_s", "body_timeout_s", "client_timeout_s"):
        value = getattr(http, key)
        if not 0.1 <= value <= 600:
            raise ConfigError(f"[http] {key} must be between 0.1 and 600 seconds, got {value:g}")

"""Configuration: one TOML file, environment overrides, secrets from outside it.

The file is found from ``--config``, else ``$COOLSTOVE_CONFIG``; with neither the
embedded defaults apply (one simulated burner), so a newcomer sees the daemon work
before writing any config.

The data folder is ``[storage] data_dir`` or ``COOLSTOVE_STORAGE__DATA_DIR`` when
set; otherwise it never depends on the working directory: systemd's
``$STATE_DIRECTORY`` (``StateDirectory=coolstove``: ``/var/lib/coolstove``), else
``$XDG_DATA_HOME/coolstove``, else ``~/.local/share/coolstove``. A running daemon
records where it runs (pid, data folder, listeners, where its HTTP token comes
from; never the token) in ``daemon.json`` in ``$RUNTIME_DIRECTORY`` (systemd's
``RuntimeDirectory=coolstove``) or ``$XDG_RUNTIME_DIR/coolstove``; the CLI reads
it (:func:`find_daemon`) when its own data folder is only a default. Scalars of any section can be
overridden as ``COOLSTOVE_<SECTION>__<KEY>`` (lists comma-separated; a flame key
as ``COOLSTOVE_STOVE__FLAME__<KEY>``). ``COOLSTOVE_STOVE__<KEY>`` overrides a
burner key on every burner that has it (``COOLSTOVE_STOVE__PULSE_S=4``).

The schema is pydantic: frozen models, unknown keys refused, strict types (no
``"three"`` or ``4.5`` for an integer, no ``1`` for a boolean), bounds on every
number, and one burner model per ``driver``. pydantic-settings reads the
environment overrides (strings, converted to the key's type). Validation errors
become one :class:`ConfigError` listing every problem, one line each, with the
file, the key and what is wrong.

Secrets never live in the TOML: device tokens, the MQTT password, the HTTP
token and the language model's API key come from the environment or from systemd credentials
(``$CREDENTIALS_DIRECTORY/<name>``, see ``LoadCredential=``). This is the only
module that knows file-system paths.
"""

from __future__ import annotations

import json
import os
import re
import secrets as _secrets
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

from core.endpoint import (
    ENV_PREFIX,
    RUNTIME_FILE,
    SYSTEM_RUNTIME_DIR,
    TOKEN_FILE,
    _env_name,
    base_url,
    daemon_runtime_dir,
    default_data_dir,
    pid_alive,
    read_secret,
    runtime_files,
    secret_source,
    split_listen,
)
from core.errors import ConfigError

__all__ = [
    "RUNTIME_FILE",
    "SYSTEM_RUNTIME_DIR",
    "Burner",
    "Config",
    "DaemonRecord",
    "FlameConfig",
    "HttpConfig",
    "LlmConfig",
    "MiioBurner",
    "MqttBurner",
    "MqttConfig",
    "PapersConfig",
    "SearchConfig",
    "SimulatedBurner",
    "StorageConfig",
    "daemon_runtime_dir",
    "default_data_dir",
    "find_daemon",
    "http_token",
    "load_config",
    "read_daemon_record",
    "read_http_token",
    "read_secret",
    "runtime_files",
    "secret_source",
    "token_file",
]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
TOKEN_RE = re.compile(r"^[0-9a-fA-F]{32}$")
CATEGORY_RE = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")
MAX_PULSE_S = 60.0
#: Where the system daemon's runtime record is (the unit's ``RuntimeDirectory=coolstove``).
# help text, not a password
SECRET_HELP = "set it in the environment or a systemd credential (see deploy/README.md)"  # noqa: S105


class _Model(BaseModel):
    """Frozen, strict, closed: what every section of the configuration is."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def _range(lo: float, hi: float) -> Any:
    return Field(ge=lo, le=hi)


# Numbers with their bounds (inclusive). Floats accept integers (``pulse_s = 4``), never strings.
Port = Annotated[int, _range(1, 65535)]
Miot = Annotated[int, _range(1, 255)]  # MIoT siid/piid
DeviceTimeout = Annotated[float, _range(0.1, 10.0)]
Retries = Annotated[int, _range(0, 5)]
Minutes = Annotated[float, Field(gt=0, le=24 * 60)]
NonEmpty = Annotated[str, Field(min_length=1)]
# Lists: a TOML array or (from the environment) a comma-separated string, stored as a tuple.
# An empty override (COOLSTOVE_PAPERS__CATEGORIES=) is an empty list: pydantic-settings does not
# decode empty values, so it arrives as "".
StrTuple = Annotated[tuple[str, ...], Field(strict=False), BeforeValidator(lambda v: () if v == "" else v)]
Secret = Annotated[str | None, Field(repr=False, exclude=True)]


def _topic(value: str | None, what: str) -> str | None:
    if value is not None and (not value or any(c in value for c in "+#\0")):
        raise ValueError(f"{value!r} is not a usable {what} (empty, or MQTT wildcards)")
    return value


class MqttConfig(_Model):
    enabled: bool = False
    host: NonEmpty = "127.0.0.1"
    port: Port = 1883
    username: str | None = None
    password: Secret = None
    base_topic: str = "coolstove"
    discovery_prefix: str = "homeassistant"
    keepalive: Annotated[int, _range(5, 3600)] = 30

    @field_validator("base_topic", "discovery_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/"):
            raise ValueError(f"{value!r} is not a usable topic prefix")
        return value


# ---------------------------------------------------------------- burners


class Burner(_Model):
    """One burner: a relay channel wired into that burner's flame-failure loop.

    The common keys; build one of the driver models (:class:`SimulatedBurner`,
    :class:`MiioBurner`, :class:`MqttBurner`), each with only its own keys.
    """

    name: str
    driver: Literal["simulated", "miio", "mqtt"]
    pulse_s: Annotated[float, _range(0.2, MAX_PULSE_S)] = 3.0
    wiring: Literal["nc", "no"] = "nc"  # "nc": energised relay = gas cut (the blog's wiring); "no": inverted

    @model_validator(mode="before")
    @classmethod
    def _concrete_only(cls, data: Any) -> Any:
        if cls is Burner:
            raise TypeError("Burner is the common base: build SimulatedBurner, MiioBurner or MqttBurner")
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"must match {NAME_RE.pattern} (it becomes an MQTT topic level), got {value!r}")
        if value == "all":
            raise ValueError("'all' is reserved for the all-burners command")
        return value


class SimulatedBurner(Burner):
    driver: Literal["simulated"] = "simulated"


class MiioBurner(Burner):
    driver: Literal["miio"] = "miio"
    host: NonEmpty
    token: Secret = None  # from the environment or a credential; load_config insists on it
    siid: Miot = 2
    piid: Miot = 1
    model: NonEmpty = "coolstove.relay"
    off_delay_piid: Miot | None = None  # device-side off delay, e.g. yeelink.switch.sw1 (siid, 3)
    timeout_s: DeviceTimeout = 1.0
    retries: Retries = 2
    # Mi Home / XiaoAI virtual switch (relay-less channel): its "off" means "cut"
    voice_siid: Miot | None = None
    voice_piid: Miot = 1
    voice_poll_s: Annotated[float, _range(0.5, 3600.0)] = 2.0

    @field_validator("token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not TOKEN_RE.match(value):
            raise ValueError("the token must be 32 hexadecimal characters")  # never echo it
        return value


TASMOTA_FULL_TOPIC = "%prefix%/%topic%/"
_FULL_TOPIC_TOKEN_RE = re.compile(r"%[^%]*%")
_ENDPOINT_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


class MqttBurner(Burner):
    driver: Literal["mqtt"] = "mqtt"
    flavour: Literal["tasmota", "zigbee2mqtt"] = "tasmota"
    command_topic: str
    state_topic: str | None = None
    power_index: Annotated[int, _range(1, 32)] = 1
    # Tasmota's FullTopic (console: `FullTopic`); %prefix% = cmnd/stat/tele, %topic% = command_topic
    full_topic: str = TASMOTA_FULL_TOPIC
    # zigbee2mqtt: the gang of a multi-endpoint device ("l2" = the key state_l2)
    endpoint: str | None = None
    timeout_s: DeviceTimeout = 1.0
    retries: Retries = 2

    @field_validator("command_topic", "state_topic")
    @classmethod
    def _topics(cls, value: str | None) -> str | None:
        return _topic(value, "topic")

    @field_validator("full_topic")
    @classmethod
    def _full_topic(cls, value: str) -> str:
        _topic(value, "full_topic")
        tokens = set(_FULL_TOPIC_TOKEN_RE.findall(value))
        if not {"%prefix%", "%topic%"} <= tokens:
            raise ValueError(
                f"{value!r} must contain %prefix% and %topic% (Tasmota's default is {TASMOTA_FULL_TOPIC!r})"
            )
        if tokens - {"%prefix%", "%topic%"}:
            others = ", ".join(sorted(tokens - {"%prefix%", "%topic%"}))
            raise ValueError(
                f"{value!r}: write the device's own value instead of {others} "
                "(only %prefix% and %topic% are filled in)"
            )
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not _ENDPOINT_RE.match(value):
            raise ValueError(f"{value!r} is not a zigbee2mqtt endpoint name (like 'l2'; letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _flavour_keys(self) -> MqttBurner:
        if self.flavour == "tasmota":
            if self.endpoint is not None:
                raise ValueError("endpoint is a zigbee2mqtt key; a Tasmota relay is chosen with power_index")
            if self.state_topic is not None and self.full_topic != TASMOTA_FULL_TOPIC:
                raise ValueError("give full_topic or state_topic, not both (full_topic places stat/ too)")
        else:
            if self.full_topic != TASMOTA_FULL_TOPIC:
                raise ValueError(
                    "full_topic is a Tasmota key; zigbee2mqtt topics are command_topic and state_topic"
                )
            gang = f"l{self.power_index}"
            if self.endpoint is not None and self.power_index != 1 and self.endpoint != gang:
                raise ValueError(
                    f"endpoint {self.endpoint!r} and power_index {self.power_index} name different gangs "
                    f"(power_index {self.power_index} is endpoint 'l{self.power_index}'); give only endpoint"
                )
        return self

    @property
    def state_key(self) -> str:
        """zigbee2mqtt's JSON key of this gang: ``state``, ``state_<endpoint>``, or ``state_l<i>`` (i > 1)."""
        if self.endpoint is not None:
            return f"state_{self.endpoint}"
        return "state" if self.power_index == 1 else f"state_l{self.power_index}"

    def tasmota_topic(self, prefix: str, leaf: str) -> str:
        """``<FullTopic with %prefix% and %topic% filled in><leaf>``, as Tasmota builds its topics."""
        base = self.full_topic.replace("%prefix%", prefix).replace("%topic%", self.command_topic.strip("/"))
        topic = base.rstrip("/") + "/" + leaf
        while "//" in topic:  # Tasmota drops empty levels the same way
            topic = topic.replace("//", "/")
        return topic


_BURNER_MODELS: dict[str, type[Burner]] = {
    "simulated": SimulatedBurner,
    "miio": MiioBurner,
    "mqtt": MqttBurner,
}


def _driver_of(value: Any) -> str | None:
    driver = (
        value.get("driver", "simulated") if isinstance(value, Mapping) else getattr(value, "driver", None)
    )
    return driver if isinstance(driver, str) else None


AnyBurner = Annotated[
    Annotated[SimulatedBurner, Tag("simulated")]
    | Annotated[MiioBurner, Tag("miio")]
    | Annotated[MqttBurner, Tag("mqtt")],
    Discriminator(
        _driver_of,
        custom_error_type="driver",
        custom_error_message="driver must be miio, mqtt or simulated",
    ),
]


class FlameConfig(_Model):
    """Optional usage input: a topic that says the stove is burning."""

    topic: str | None = None
    payload_on: str = "ON"
    alert_after_min: Minutes | None = None
    cut_after_min: Minutes | None = None
    burner: str | None = None  # None = all burners

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        return _topic(value, "topic")


# ---------------------------------------------------------------- storage, http, papers, search


# ---------------------------------------------------------------- where things live


def _default_data_dir() -> Path:
    return default_data_dir()[0]


class StorageConfig(_Model):
    data_dir: Path = Field(default_factory=_default_data_dir, strict=False)
    #: Audit rows older than this many days are pruned (at start, then hourly).
    audit_max_age_days: Annotated[float, Field(gt=0, le=36_500)] = 365.0
    #: At most this many audit rows are kept; the oldest go first.
    audit_max_rows: Annotated[int, _range(100, 100_000_000)] = 100_000

    @property
    def stove_db(self) -> Path:
        return self.data_dir / "stove.db"

    @property
    def papers_db_url(self) -> str:
        return f"sqlite:///{(self.data_dir / 'papers.db').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


class HttpConfig(_Model):
    """Two listeners: the stove's control surface (``listen``) and the paper pages (``pages_listen``).

    They are two origins on purpose: a script on a paper page can neither read
    the stove page's stored token nor call the stove API (no CORS is ever sent).
    """

    enabled: bool = True
    listen: str = "127.0.0.1:8470"
    pages_listen: str = "127.0.0.1:8471"  # "" or "off": no paper pages over HTTP
    allowed_hosts: StrTuple = ()  # Host names accepted; () = localhost, 127.0.0.1, ::1, listen hosts
    max_connections: Annotated[int, _range(1, 10_000)] = 64  # per listener; more are closed at once
    header_timeout_s: Annotated[float, _range(0.1, 600)] = 5.0  # a request head must arrive within this
    body_timeout_s: Annotated[float, _range(0.1, 600)] = 10.0  # a request body must arrive within this
    # the CLI's deadline; later commands are refused
    client_timeout_s: Annotated[float, _range(0.1, 600)] = 10.0
    token: Secret = None

    @field_validator("listen", "pages_listen")
    @classmethod
    def _listener(cls, value: str) -> str:
        if value.strip().lower() in ("", "off"):
            return value
        try:
            _, port = split_listen(value)
        except ValueError:
            raise ValueError(f"must be HOST:PORT, got {value!r}") from None
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not name.strip() or any(c in name for c in "/@ \t"):
                raise ValueError(f"{name!r} is not a host name")
        return value

    @model_validator(mode="after")
    def _two_origins(self) -> HttpConfig:
        if self.listen.strip().lower() in ("", "off"):
            raise ValueError("[http] listen must be HOST:PORT (the stove API cannot be turned off)")
        if self.pages_enabled:
            a, b = split_listen(self.listen), split_listen(self.pages_listen)
            if a == b and a[1] != 0:
                raise ValueError(
                    "[http] pages_listen must differ from listen: the paper pages need their own origin"
                )
        return self

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def base_url(self) -> str:
        return base_url(self.host, self.port)

    @property
    def pages_enabled(self) -> bool:
        return self.pages_listen.strip().lower() not in ("", "off")

    @property
    def pages_host(self) -> str:
        return split_listen(self.pages_listen)[0]

    @property
    def pages_port(self) -> int:
        return split_listen(self.pages_listen)[1]

    @property
    def pages_base_url(self) -> str:
        return base_url(self.pages_host, self.pages_port)

    @property
    def hosts(self) -> frozenset[str]:
        """The Host names (without port) a request may carry: the rest is DNS rebinding."""
        names = set(self.allowed_hosts) or {"localhost", "127.0.0.1", "::1"}
        names.update((self.host, urllib.parse.urlsplit(self.base_url).hostname or ""))  # the CLI's
        if self.pages_enabled:
            names.add(self.pages_host)
        return frozenset(n.strip().strip("[]").rstrip(".").lower() for n in names if n.strip())


class PapersConfig(_Model):
    enabled: bool = True
    categories: StrTuple = ("cs.LG", "cs.CL")
    database_url: NonEmpty | None = None  # None = SQLite in data_dir
    min_interval_s: float = 3.0
    user_agent: NonEmpty = "coolstove/0.1 (self-hosted arXiv reader; +https://github.com/coolstove)"
    rss_url: NonEmpty = "https://rss.arxiv.org/atom/{category}"
    api_url: NonEmpty = "https://export.arxiv.org/api/query"
    oai_url: NonEmpty = "https://oaipmh.arxiv.org/oai"
    timeout_s: Annotated[float, _range(0.1, 600)] = 30.0
    max_retries: Annotated[int, _range(0, 10)] = 4
    poll_interval_s: Annotated[float, _range(60, 86_400)] = 900.0
    #: Where readers' browsers fetch a paper's PDF (``<pdf_url><id>``): [PDF], its preview, the pages' CSP.
    pdf_url: NonEmpty = "https://arxiv.org/pdf/"
    #: Papers per page of a day list or the star list (``?page=``; with JavaScript, loaded on scroll).
    page_size: Annotated[int, _range(5, 5000)] = 50

    @field_validator("pdf_url")
    @classmethod
    def _pdf_url(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"must be an http(s) URL like https://arxiv.org/pdf/ (no query), got {value!r}")
        if not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", parts.netloc):  # it goes into the pages' CSP
            raise ValueError(f"must name a plain host[:port] (no user, no spaces or quotes), got {value!r}")
        if not value.endswith("/"):
            raise ValueError(f"must end with /, got {value!r}")
        return value

    @field_validator("min_interval_s")
    @classmethod
    def _polite(cls, value: float) -> float:
        if value < 3.0:
            raise ValueError(f"may only be raised above arXiv's 3 s, got {value:g}")
        if value > 3600:
            raise ValueError(f"must be at most 3600 s, got {value:g}")
        return value

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cat in value:
            if not CATEGORY_RE.match(cat):
                raise ValueError(f"{cat!r} is not an arXiv category like cs.LG")
        return value

    @field_validator("rss_url")
    @classmethod
    def _rss(cls, value: str) -> str:
        try:
            value.format(category="cs.LG")
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"must contain {{category}} and no other braces, got {value!r}") from None
        if "{category}" not in value:
            raise ValueError(f"must contain {{category}}, got {value!r}")
        return value


class SearchConfig(_Model):
    max_results: Annotated[int, _range(1, 100_000)] = 1000
    #: Memory for search's caches in a serving process (recent rankings; decoded lists of stock segments).
    cache_mb: Annotated[int, _range(8, 65_536)] = 96
    #: Memory a rebuild's worker processes may use together; sets how many papers go in one segment.
    build_memory_mb: Annotated[int, _range(256, 1_048_576)] = 6144
    #: Where the daemon publishes each committed index generation for `coolstove web` (None: not published).
    publish_dir: Path | None = Field(default=None, strict=False)


FAQ_LANGUAGES = ("en", "zh")


class LlmConfig(_Model):
    """``[llm]``: the FAQ per paper from an OpenAI-compatible chat-completions endpoint (off by default).

    The API key is a secret (``$COOLSTOVE_LLM_API_KEY`` or the credential ``llm-api-key``); a local
    server (llama.cpp, vLLM, Ollama) may need none.
    """

    enabled: bool = False
    base_url: NonEmpty = "https://api.moonshot.cn/v1"  # ``<base_url>/chat/completions`` is called
    model: NonEmpty = "moonshot-v1-128k"
    languages: StrTuple = FAQ_LANGUAGES  # answers generated per language, independently (en, zh)
    max_concurrent: Annotated[int, _range(1, 16)] = 1  # generations at once
    max_input_tokens: Annotated[int, _range(2_000, 2_000_000)] = 120_000  # the paper is cut to fit
    max_queue: Annotated[int, _range(1, 10_000)] = 100  # waiting jobs; more are refused with a message
    max_retries: Annotated[int, _range(0, 10)] = 3  # per job, on 429/5xx/a broken stream
    timeout_s: Annotated[float, _range(1, 3600)] = 120.0  # between two pieces of the stream
    pdf_url: NonEmpty = "https://arxiv.org/pdf/{id}"  # {id} is the versioned id (2401.06769v2)
    api_key: Secret = None

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if urllib.parse.urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("pdf_url")
    @classmethod
    def _pdf(cls, value: str) -> str:
        if "{id}" not in value or urllib.parse.urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"must be an http(s) URL containing {{id}}, got {value!r}")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(v not in FAQ_LANGUAGES for v in value) or len(set(value)) != len(value):
            raise ValueError(f"must be one or more of {', '.join(FAQ_LANGUAGES)}, got {list(value)}")
        return value


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
GraceSeconds = Annotated[float, Field(gt=0, le=600)]


class Config(_Model):
    mqtt: MqttConfig = MqttConfig()
    burners: Annotated[tuple[AnyBurner, ...], Field(strict=False, min_length=1)] = (
        SimulatedBurner(name="burner"),
    )
    flame: FlameConfig = FlameConfig()
    storage: StorageConfig = Field(default_factory=StorageConfig)
    http: HttpConfig = HttpConfig()
    papers: PapersConfig = PapersConfig()
    search: SearchConfig = SearchConfig()
    llm: LlmConfig = LlmConfig()
    log_level: LogLevel = "INFO"
    shutdown_grace_s: GraceSeconds = 10.0
    source: Path | None = None
    #: Where ``storage.data_dir`` came from, for messages ("[storage] data_dir in FILE", "the default, …").
    data_dir_from: str = "set in code"
    #: True when the data folder is only a default: the CLI then looks for a running daemon's.
    data_dir_default: bool = False
    #: Where ``http.token`` came from (``$COOLSTOVE_HTTP_TOKEN`` or a credential file); None: not set.
    token_from: str | None = None
    #: Where the daemon records that it runs (``daemon_runtime_dir``); None: it does not.
    runtime_dir: Path | None = None

    @property
    def papers_db_url(self) -> str:
        return self.papers.database_url or self.storage.papers_db_url

    def burner(self, name: str) -> Burner:
        for b in self.burners:
            if b.name == name:
                return b
        raise ConfigError(f"unknown burner {name!r}")

    def at_daemon(self, daemon: DaemonRecord) -> Config:
        """This configuration pointed at a running daemon: its data folder and its listeners."""
        http = {"listen": daemon.listen, "pages_listen": daemon.pages_listen}
        return self.model_copy(update={
            "storage": self.storage.model_copy(update={"data_dir": daemon.data_dir}),
            "http": self.http.model_copy(update=http),
            "data_dir_from": f"the running daemon's, pid {daemon.pid}, recorded in {daemon.path}",
            "data_dir_default": False,
        })


# ---------------------------------------------------------------- the file's shape


class _Stove(_Model):
    burners: Annotated[tuple[AnyBurner, ...], Field(strict=False, min_length=1)] = (
        SimulatedBurner(name="burner"),
    )
    flame: FlameConfig = FlameConfig()


class _Daemon(_Model):
    log_level: LogLevel = "INFO"
    shutdown_grace_s: GraceSeconds = 10.0

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class _File(_Model):
    """The TOML file's sections; cross-section rules live here."""

    mqtt: MqttConfig = MqttConfig()
    stove: _Stove = _Stove()
    storage: StorageConfig = Field(default_factory=StorageConfig)
    http: HttpConfig = HttpConfig()
    papers: PapersConfig = PapersConfig()
    search: SearchConfig = SearchConfig()
    llm: LlmConfig = LlmConfig()
    daemon: _Daemon = _Daemon()

    @model_validator(mode="after")
    def _across_sections(self) -> _File:
        burners = self.stove.burners
        names = [b.name for b in burners]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"[[stove.burners]] duplicate name(s): {', '.join(dupes)}")
        for i, b in enumerate(burners):
            if isinstance(b, MiioBurner) and not b.token:
                raise ValueError(
                    f"[stove.burners] #{i + 1} ({b.name!r}): driver miio needs a token: set "
                    f"{ENV_PREFIX}BURNER_{_env_name(b.name)}_TOKEN or the credential burner-{b.name}-token"
                )
        if any(b.driver == "mqtt" for b in burners) and not self.mqtt.enabled:
            raise ValueError("an mqtt burner needs the [mqtt] section (the broker it talks through)")
        flame = self.stove.flame
        if flame.burner is not None and flame.burner not in names:
            raise ValueError(f"[stove.flame] burner {flame.burner!r} is not a configured burner")
        if flame.topic is not None and not self.mqtt.enabled:
            raise ValueError("[stove.flame] topic needs the [mqtt] section")
        return self


SECTIONS = tuple(_File.model_fields)
_SUBTABLES: dict[str, type[BaseModel]] = {
    "mqtt": MqttConfig, "stove": _Stove, "storage": StorageConfig, "http": HttpConfig,
    "papers": PapersConfig, "search": SearchConfig, "daemon": _Daemon, "flame": FlameConfig,
    "llm": LlmConfig,
}
SECRETS = {"mqtt": "password", "http": "token", "llm": "api_key"}  # and each burner's token
SECRET_KEYS = ("password", "token", "api_key")


# ---------------------------------------------------------------- secrets


def token_file(cfg: Config) -> Path:
    """The data folder's HTTP token file (used when no token is configured)."""
    return cfg.storage.data_dir / TOKEN_FILE


def read_http_token(cfg: Config) -> str | None:
    """The HTTP token as the CLI finds it: configured, or the data folder's file; None when neither.

    Never creates anything (the daemon makes the file at its first start). Raises OSError when the file
    is there but cannot be read (the system daemon's, for a user).
    """
    if cfg.http.token:
        return cfg.http.token
    try:
        return token_file(cfg).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def http_token(cfg: Config) -> str:
    """The daemon's HTTP bearer token; generated once into the data folder if none is configured.

    The CLI reads the same file (:func:`read_http_token`, found through the daemon's record), so on one
    machine the daemon and the CLI agree without the user ever handling the token.
    """
    if cfg.http.token:
        return cfg.http.token
    path = token_file(cfg)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = _secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token)
    return token


# ---------------------------------------------------------------- the running daemon's record


class DaemonRecord(BaseModel):
    """What a running daemon tells the CLI (``daemon.json``): never the token, only where it comes from."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pid: Annotated[int, Field(gt=0)]
    data_dir: Path
    listen: str  # HOST:PORT as bound (port 0 in the config is the real port here)
    pages_listen: str = "off"
    token_from: str  # the token file's path, or the variable/credential that holds it
    config: str | None = None
    path: Path | None = Field(default=None, exclude=True)  # where this record was read

    @property
    def base_url(self) -> str:
        return base_url(*split_listen(self.listen))

    def alive(self) -> bool:
        """Whether its pid still runs (a daemon killed with -9 leaves its record behind)."""
        return pid_alive(self.pid)


def read_daemon_record(path: Path) -> DaemonRecord | None:
    """The record at ``path``, or None if there is none or it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return DaemonRecord.model_validate({**data, "path": path}) if isinstance(data, dict) else None
    except (OSError, ValueError):  # ValueError: bad JSON, and pydantic's ValidationError
        return None


def find_daemon(env: Mapping[str, str] | None = None) -> DaemonRecord | None:
    """The first live daemon recorded in :func:`runtime_files`; stale records (dead pid) are skipped."""
    for path in runtime_files(env):
        record = read_daemon_record(path)
        if record is not None and record.alive():
            return record
    return None


# ---------------------------------------------------------------- environment overrides


class _EnvOverrides(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, lists comma-separated.

    Only ``COOLSTOVE_<SECTION>__<KEY>`` names are read (never a whole section as
    JSON); strings are converted to the key's type, and what does not convert is
    left for the schema to refuse with the usual message.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = {k: v for k, v in env.items() if k.upper().startswith(ENV_PREFIX) and "__" in k}
        super().__init__(_File, case_sensitive=False, env_prefix=ENV_PREFIX, env_nested_delimiter="__")  # type: ignore[arg-type]

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._env.items()}  # case-insensitive names, as the default

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        if (
            field is not None
            and getattr(field.annotation, "__origin__", None) is tuple
            and isinstance(value, str)
        ):
            return [p.strip() for p in value.split(",") if p.strip()]
        return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    for key in env:
        if key.upper().startswith(ENV_PREFIX) and "__" in key:
            section = key[len(ENV_PREFIX) :].partition("__")[0].lower()
            if section not in SECTIONS:
                raise ConfigError(
                    f"environment override {key}: unknown section {section!r} (known: {', '.join(SECTIONS)})"
                )
    try:
        return _EnvOverrides(env)()
    except Exception as exc:  # pydantic-settings' SettingsError and friends
        raise ConfigError(f"environment overrides cannot be read: {exc}") from exc


def _coerce_env(annotation: Any, value: Any) -> Any:
    """An environment string as the key's type (lax), or unchanged for the schema to refuse."""
    if not isinstance(value, str):
        return value
    try:
        return TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return value


def _apply_to_burners(burners: Any, keys: Mapping[str, Any]) -> Any:
    """``COOLSTOVE_STOVE__<KEY>``: the key on every burner whose driver has it."""
    if not isinstance(burners, list):
        return burners  # the schema says what is wrong with it
    for key, value in keys.items():
        var = f"{ENV_PREFIX}STOVE__{key.upper()}"
        if key in ("name", "driver", "burners"):
            raise ConfigError(
                f"environment override {var}: {key} cannot be set for all burners; edit the file"
            )
        if key == "token":
            raise ConfigError(
                f"environment override {var}: tokens are per burner secrets: set "
                f"{ENV_PREFIX}BURNER_<NAME>_TOKEN or the credential burner-<name>-token"
            )
        owners = [m for m in _BURNER_MODELS.values() if key in m.model_fields]
        if not owners:
            known = sorted(
                {k for m in _BURNER_MODELS.values() for k in m.model_fields} - {"name", "driver", "token"}
            )
            raise ConfigError(
                f"environment override {var}: {key!r} is neither a burner key nor a [stove] table "
                f"(burner keys: {', '.join(known)}; flame keys: {ENV_PREFIX}STOVE__FLAME__<KEY>)"
            )
        hit = False
        for item in burners:
            model = _BURNER_MODELS.get(_driver_of(item) or "")
            if isinstance(item, dict) and model is not None and key in model.model_fields:
                item[key] = _coerce_env(model.model_fields[key].annotation, value)
                hit = True
        if not hit:
            drivers = " or ".join(sorted(d for d, m in _BURNER_MODELS.items() if m in owners))
            raise ConfigError(
                f"environment override {var}: no configured burner has {key!r} (a {drivers} key)"
            )
    return burners


# ---------------------------------------------------------------- errors


def _where(loc: tuple[Any, ...], data: Mapping[str, Any]) -> tuple[str, str]:
    """``([stove.burners] #1 ('left'), voice_siid)`` for a pydantic error location."""
    if not loc:
        return "", ""
    if loc[0] == "stove" and len(loc) >= 3 and loc[1] == "burners" and isinstance(loc[2], int):
        i = loc[2]
        items = data.get("stove", {}).get("burners", [])
        name = items[i].get("name") if i < len(items) and isinstance(items[i], dict) else None
        rest = [str(p) for p in loc[4 if _tag(loc) else 3 :]]  # without the union's tag
        head = f"[stove.burners] #{i + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
        return head, ".".join(rest)
    if loc[0] == "stove" and len(loc) >= 2 and loc[1] == "flame":
        return "[stove.flame]", ".".join(str(p) for p in loc[2:])
    if len(loc) == 1:
        return "", str(loc[0])
    return f"[{loc[0]}]", ".".join(str(p) for p in loc[1:])


def _tag(loc: tuple[Any, ...]) -> str | None:
    """The driver of a burner's error: pydantic puts the union's tag after the index."""
    if loc[:2] == ("stove", "burners") and len(loc) > 3 and loc[3] in _BURNER_MODELS:
        return str(loc[3])
    return None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that holds the last key of ``loc`` (None if the path leaves the schema)."""
    model: Any = _File
    tag = _tag(loc)
    if tag is not None:
        return _BURNER_MODELS[tag] if len(loc) == 5 else None
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        elif isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields:
            model = _SUBTABLES.get(part) if model in (_File, _Stove) else None
        else:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model = _model_at(loc)
    return [k for k in model.model_fields if k not in SECRET_KEYS] if model else []


def _bounds(loc: tuple[Any, ...]) -> str | None:
    """``between 0.2 and 60`` for a bounded number."""
    model = _model_at(loc)
    field = model.model_fields.get(str(loc[-1])) if model else None
    if field is None:
        return None
    found: dict[str, Any] = {}
    metadata = list(field.metadata)
    for member in get_args(field.annotation):  # ``Annotated[int, ...] | None``
        for meta in getattr(member, "__metadata__", ()):
            metadata.extend(meta.metadata if isinstance(meta, FieldInfo) else [meta])
    for meta in metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if getattr(meta, attr, None) is not None:
                found[attr] = getattr(meta, attr)
    low = f"{found['ge']:g}" if "ge" in found else (f"more than {found['gt']:g}" if "gt" in found else None)
    if low is None or "le" not in found:
        return None
    if "ge" in found:
        return f"between {low} and {found['le']:g}"
    return f"{low} and at most {found['le']:g}"


def _problem(err: Mapping[str, Any], loc: tuple[Any, ...], key: str) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    secret = key in SECRET_KEYS
    tables = isinstance(value, dict) or (
        isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value)
    )
    got = "" if secret or tables else f", got {value!r}"  # tables may hold an injected secret
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer{got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number{got}"
    if kind == "finite_number":
        return f"must be a finite number{got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false{got}"
    if kind == "string_type":
        return f"expected a string{got}"
    if kind in ("tuple_type", "list_type", "too_short") and key == "burners":
        return f"must be a non-empty array of tables{got}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list of strings{got}"
    if kind == "path_type":
        return f"expected a path{got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a table{got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than") and _bounds(loc):
        return f"must be {_bounds(loc)}{got}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']:g}{got}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']:g}{got}"
    if kind == "greater_than":
        return f"must be more than {ctx['gt']:g}{got}"
    if kind == "less_than":
        return f"must be less than {ctx['lt']:g}{got}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}{got}"
    if kind == "driver":
        return f"must be miio, mqtt or simulated, got {_driver_of(value)!r}"
    if kind == "missing":
        driver = _tag(loc)
        hint = " (Tasmota: the device topic, e.g. 'stove')" if key == "command_topic" else ""
        return f"driver {driver} needs {key}{hint}" if driver else "is required"
    if kind == "extra_forbidden":
        driver = _tag(loc)
        owners = [d for d, m in _BURNER_MODELS.items() if key in m.model_fields]
        if driver and owners:
            return f"is a {' or '.join(owners)} key, not one of driver {driver}'s"
        known = _known_keys(loc)
        return "unknown key" + (f" (known: {', '.join(known)})" if known else "")
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])


def _messages(exc: ValidationError, data: Mapping[str, Any], from_env: Mapping[str, Any]) -> list[str]:
    lines = []
    errors = exc.errors()
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "too_short" and any(len(e["loc"]) > len(loc) and tuple(e["loc"][: len(loc)]) == loc
                                              for e in errors):
            continue  # pydantic's echo of an item that failed: the item's own error says it
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            lines.append(f"unknown section [{loc[0]}] (known: {', '.join(SECTIONS)})")
            continue
        if err["type"] == "driver":
            loc = (*loc, "driver")
        where, key = _where(loc, data)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not key or (err["type"] == "value_error" and msg.startswith("[")):  # a rule across keys names them
            across = where and not key and err["type"] == "value_error"  # a burner's rule: name the burner
            lines.append(f"{where}: {msg}" if across else msg)
            continue
        line = f"{where} {key}: {_problem(err, loc, key.rpartition('.')[2])}".strip()
        section = from_env.get(str(loc[0])) if len(loc) >= 2 else None
        if isinstance(section, dict) and loc[-1] in section:
            line += f" (from {ENV_PREFIX}{str(loc[0]).upper()}__{str(loc[-1]).upper()})"
        lines.append(line)
    return lines


# ---------------------------------------------------------------- loading


def _merge(base: Any, over: Mapping[str, Any]) -> Any:
    if not isinstance(base, dict):
        return base  # not a table: the schema says so
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def _refuse_file_secrets(raw: Mapping[str, Any], source: Path | None) -> None:
    where = [(f"[{s}]", k, raw.get(s)) for s, k in SECRETS.items()]
    stove = raw.get("stove")
    items = stove.get("burners") if isinstance(stove, Mapping) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        where.append((f"[stove.burners] #{i + 1}", "token", item))
    for section, key, table in where:
        if isinstance(table, Mapping) and key in table:
            raise ConfigError(
                f"config file {source}: {section} {key}: secrets are not read from the config file; "
                f"{SECRET_HELP}"
            )


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
    _refuse_file_secrets(raw, source)

    overrides = _env_overrides(env)
    for section, key in SECRETS.items():
        if key in overrides.get(section, {}):
            raise ConfigError(
                f"environment override {ENV_PREFIX}{section.upper()}__{key.upper()}: secrets are "
                "not overrides; "
                f"set {ENV_PREFIX}{section.upper()}_{key.upper()} "
                f"or the credential {section}-{key.replace('_', '-')}"
            )
    data = _merge(raw, {k: v for k, v in overrides.items() if k != "stove"})
    stove = overrides.get("stove", {})
    if stove:
        data["stove"] = _merge(data.get("stove", {}), {"flame": stove["flame"]} if "flame" in stove else {})
        burner_keys = {k: v for k, v in stove.items() if k != "flame"}
        if burner_keys and isinstance(data["stove"], dict):
            burners = data["stove"].get("burners", [{"name": "burner"}])
            data["stove"]["burners"] = _apply_to_burners(
                [dict(b) if isinstance(b, dict) else b for b in burners]
                if isinstance(burners, list)
                else burners,
                burner_keys,
            )

    # The data folder: the file's or the override's, else a default that is not the working directory.
    storage = data.get("storage")
    if "storage" not in data or (isinstance(storage, dict) and "data_dir" not in storage):
        data_dir, data_dir_from = default_data_dir(env)
        data["storage"] = {**(storage or {}), "data_dir": data_dir}
        data_dir_default = True
    else:
        env_dir = isinstance(overrides.get("storage"), dict) and "data_dir" in overrides["storage"]
        data_dir_from = f"{ENV_PREFIX}STORAGE__DATA_DIR" if env_dir else f"[storage] data_dir in {source}"
        data_dir_default = False

    # A present [mqtt] section is enabled unless it says otherwise.
    if isinstance(data.get("mqtt"), dict):
        data["mqtt"].setdefault("enabled", True)
    # Secrets, from the environment or systemd credentials only.
    secrets = {
        "mqtt": ("password", read_secret("mqtt-password", env)),
        "http": ("token", read_secret("http-token", env)),
        "llm": ("api_key", read_secret("llm-api-key", env)),
    }
    for section, (key, value) in secrets.items():
        if value is not None and isinstance(data.get(section, {}), dict):
            data[section] = {**data.get(section, {}), key: value}
    stove_table = data.get("stove")
    if isinstance(stove_table, dict) and isinstance(stove_table.get("burners"), list):
        stove_table["burners"] = [
            {**b, "token": token}
            if isinstance(b, dict) and b.get("driver") == "miio" and isinstance(b.get("name"), str)
            and (token := read_secret(f"burner-{b['name']}-token", env)) is not None
            else b
            for b in stove_table["burners"]
        ]

    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        lines = _messages(exc, data, overrides)
        origin = f"config file {source}" if source else "configuration (embedded defaults)"
        if len(lines) == 1:
            raise ConfigError(f"{origin}: {lines[0]}") from None
        raise ConfigError(f"{origin}: {len(lines)} problems:\n  " + "\n  ".join(lines)) from None
    return Config(
        mqtt=parsed.mqtt,
        burners=parsed.stove.burners,
        flame=parsed.stove.flame,
        storage=parsed.storage,
        http=parsed.http,
        papers=parsed.papers,
        search=parsed.search,
        llm=parsed.llm,
        log_level=parsed.daemon.log_level,
        shutdown_grace_s=parsed.daemon.shutdown_grace_s,
        source=source,
        data_dir_from=data_dir_from,
        data_dir_default=data_dir_default,
        token_from=secret_source("http-token", env) if parsed.http.token else None,
        runtime_dir=daemon_runtime_dir(env),
    )

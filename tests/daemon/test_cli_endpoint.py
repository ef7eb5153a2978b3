"""The stove's commands find the daemon without the configuration's schema, and find the same daemon.

``core.endpoint.read_endpoint`` answers only when ``core.config.load_config`` (with the daemon's record)
would give the same address, timeout, data folder and token; otherwise it says None and the CLI loads
the validated configuration. Here both are asked the same questions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clicontext import _endpoint_of
from core.config import find_daemon, load_config
from core.endpoint import Endpoint, read_endpoint
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

LISTEN = ["127.0.0.1:8470", "127.0.0.1:9000", "[::1]:8470", "::1:8470", "0.0.0.0:8470", "localhost:0",
          "127.0.0.1:8471", "off", "", "x", "h:+5", "h:\u0661\u0662", " h:5 ", "h:70000", "h:00080", ":80"]
PAGES = ["off", " OFF ", "", "127.0.0.1:8470", "127.0.0.1:9001", "bad", "127.0.0.1:0"]
TIMEOUT = ["10", "2.5", "0.1", "600", "601", "0.05", "nan", "1e1", " 5", "5_0", "+5", "\uff11\uff10", "",
           "10."]
DATA_DIR = ["", "/srv/data", "rel/x", " /srv/data"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


RECORDS = {
    "none": None,
    "live": {"pid": os.getpid(), "data_dir": "/srv/daemon-data", "listen": "127.0.0.1:8999",
             "pages_listen": "off", "token_from": "/srv/daemon-data/http-token", "config": None},
    "live-v6": {"pid": os.getpid(), "data_dir": "/srv/d6", "listen": "[::1]:8998", "token_from": "$X"},
    "stale": {"pid": _dead_pid(), "data_dir": "/srv/old", "listen": "127.0.0.1:1", "token_from": "x"},
    "lenient": {"pid": str(os.getpid()), "data_dir": "/srv/s", "listen": "127.0.0.1:2", "token_from": "x"},
    "broken": "{not json",
    "huge-pid": {"pid": 10**30, "data_dir": "/srv/h", "listen": "127.0.0.1:3", "token_from": "x"},
}


def full(env: dict[str, str]) -> Endpoint:
    """What the CLI used before: the validated configuration, pointed at the running daemon."""
    cfg = load_config(None, env=env)
    daemon = None
    if cfg.data_dir_default:
        daemon = find_daemon(env)
        if daemon is not None:
            cfg = cfg.at_daemon(daemon)
    return _endpoint_of(cfg, daemon)


def environment(tmp: Path, overrides: dict[str, str], record: str, extra: dict[str, str]) -> dict[str, str]:
    env = {"HOME": str(tmp / "home"), "XDG_RUNTIME_DIR": str(tmp / "run"), **extra}
    env.update({f"COOLSTOVE_{k}": v for k, v in overrides.items()})
    data = RECORDS[record]
    if data is not None:
        (tmp / "run" / "coolstove").mkdir(parents=True, exist_ok=True)
        text = data if isinstance(data, str) else json.dumps(data)
        (tmp / "run" / "coolstove" / "daemon.json").write_text(text)
    return env


def agree(env: dict[str, str]) -> Endpoint | None:
    light = read_endpoint(None, env)
    try:
        expected = full(env)
    except ConfigError:
        assert light is None, "the validated configuration refuses this, so the CLI must load it to say so"
        return None
    assert light is None or light == expected
    return light


@settings(max_examples=300)
@given(
    listen=st.none() | st.sampled_from(LISTEN),
    pages=st.none() | st.sampled_from(PAGES),
    timeout=st.none() | st.sampled_from(TIMEOUT),
    data_dir=st.none() | st.sampled_from(DATA_DIR),
    record=st.sampled_from(sorted(RECORDS)),
    extra=st.sampled_from([{}, {"COOLSTOVE_HTTP_TOKEN": "tok"}, {"COOLSTOVE_MQTT_PASSWORD": "pw"},
                           {"XDG_DATA_HOME": "/srv/xdg"}, {"STATE_DIRECTORY": "/var/lib/coolstove"},
                           {"COOLSTOVE_PAPERS__ENABLED": "false"}, {"coolstove_http__listen": "127.0.0.1:7"},
                           {"COOLSTOVE_CONFIG": ""}]),
)
def test_the_light_reading_gives_the_validated_answer_or_none(
    listen: str | None, pages: str | None, timeout: str | None, data_dir: str | None, record: str,
    extra: dict[str, str],
) -> None:
    overrides = {k: v for k, v in (("HTTP__LISTEN", listen), ("HTTP__PAGES_LISTEN", pages),
                                   ("HTTP__CLIENT_TIMEOUT_S", timeout), ("STORAGE__DATA_DIR", data_dir))
                 if v is not None}
    with tempfile.TemporaryDirectory() as tmp:
        agree(environment(Path(tmp), overrides, record, extra))


@pytest.mark.parametrize(
    ("overrides", "record", "extra"),
    [
        ({}, "none", {}),
        ({}, "live", {}),
        ({}, "live-v6", {"COOLSTOVE_HTTP_TOKEN": "tok"}),
        ({}, "stale", {"XDG_DATA_HOME": "/srv/xdg"}),
        ({}, "none", {"STATE_DIRECTORY": "/var/lib/coolstove", "RUNTIME_DIRECTORY": "/run/coolstove"}),
        ({"STORAGE__DATA_DIR": "/srv/data", "HTTP__LISTEN": "127.0.0.1:9000"}, "live", {}),
        ({"HTTP__LISTEN": "127.0.0.1:9000", "HTTP__PAGES_LISTEN": "127.0.0.1:9001",
          "STORAGE__DATA_DIR": "/srv/data", "HTTP__CLIENT_TIMEOUT_S": "2.5"}, "none",
         {"COOLSTOVE_HTTP_TOKEN": "tok"}),  # what the daemon tests give their CLI, without the file
    ],
)
def test_the_usual_cases_need_no_schema(
    tmp_path: Path, overrides: dict[str, str], record: str, extra: dict[str, str]
) -> None:
    assert agree(environment(tmp_path, overrides, record, extra)) is not None


@pytest.mark.parametrize(
    ("overrides", "record", "extra"),
    [
        ({}, "lenient", {}),  # a record only the lenient model reads: it decides
        ({"PAPERS__ENABLED": "false"}, "none", {}),  # an override the client does not read
        ({"HTTP__CLIENT_TIMEOUT_S": "1e1"}, "none", {}),  # a number in a form the light reading leaves alone
        ({}, "none", {"COOLSTOVE_CONFIG": "/etc/coolstove/config.toml"}),
    ],
)
def test_anything_else_goes_to_the_schema(
    tmp_path: Path, overrides: dict[str, str], record: str, extra: dict[str, str]
) -> None:
    assert read_endpoint(None, environment(tmp_path, overrides, record, extra)) is None
    assert read_endpoint(str(tmp_path / "config.toml"), {}) is None, "a config file is always validated"


def test_the_stove_commands_import_no_schema_and_no_http_library(tmp_path: Path) -> None:
    """`coolstove stove …` stays light: no pydantic, no HTTP library (not even http.client, which brings
    the email parser and ssl), no SQLAlchemy, FastAPI or python-miio."""
    heavy = ["pydantic", "pydantic_settings", "httpx", "http.client", "ssl", "logging.config",
             "sqlalchemy", "fastapi", "starlette", "miio", "uvicorn", "paho", "apscheduler",
             "feeds", "search", "daemon.app"]
    probe = (
        "import sys\n"
        "from daemon.cli import main\n"
        "try:\n"
        "    main(['stove', 'status'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)})
    assert "no HTTP token" in r.stderr, r.stderr
    assert r.stdout.strip() == "[]", r.stdout

"""Configuration: the file, environment overrides, secrets, and every way it can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import http_token, load_config
from daemon.errors import ConfigError

TOKEN = "00112233445566778899aabbccddeeff"
ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_embedded_defaults() -> None:
    cfg = load_config(env={})
    assert [b.driver for b in cfg.burners] == ["simulated"]
    assert cfg.storage.data_dir == Path("data")
    assert cfg.mqtt.enabled is False
    assert cfg.http.host == "127.0.0.1", "the HTTP API binds to localhost by default"


def test_example_config_is_valid() -> None:
    env = {"COOLSTOVE_BURNER_LEFT_TOKEN": TOKEN, "COOLSTOVE_BURNER_RIGHT_TOKEN": TOKEN}
    cfg = load_config(ROOT / "deploy" / "config.example.toml", env=env)
    assert {b.name for b in cfg.burners} >= {"left", "right"}
    assert cfg.mqtt.enabled


def test_full_config_and_overrides(tmp_path: Path) -> None:
    p = write(tmp_path, f"""
[mqtt]
host = "broker.lan"
port = 1884
base_topic = "kitchen"

[[stove.burners]]
name = "left"
driver = "miio"
host = "192.168.1.50"
siid = 2
piid = 1
pulse_s = 4

[[stove.burners]]
name = "right"
driver = "mqtt"
command_topic = "stove"

[storage]
data_dir = "{tmp_path / 'd'}"

[papers]
categories = ["cs.LG", "math.OC"]
""")
    env = {
        "COOLSTOVE_BURNER_LEFT_TOKEN": TOKEN,
        "COOLSTOVE_MQTT_PASSWORD": "s3cret",
        "COOLSTOVE_MQTT__PORT": "1999",
        "COOLSTOVE_PAPERS__CATEGORIES": "cs.AI, cs.CL",
        "COOLSTOVE_HTTP_TOKEN": "httptok",
    }
    cfg = load_config(p, env=env)
    assert cfg.mqtt.port == 1999 and cfg.mqtt.password == "s3cret" and cfg.mqtt.base_topic == "kitchen"
    assert cfg.papers.categories == ("cs.AI", "cs.CL")
    left = cfg.burner("left")
    assert left.token == TOKEN and left.pulse_s == 4.0
    assert cfg.http.token == "httptok"
    assert TOKEN not in repr(cfg) and "s3cret" not in repr(cfg), "secrets never appear in reprs or logs"


def test_secrets_from_systemd_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "burner-left-token").write_text(TOKEN + "\n")
    (creds / "mqtt-password").write_text("pw")
    p = write(tmp_path, '[mqtt]\n[[stove.burners]]\nname="left"\ndriver="miio"\nhost="10.0.0.2"\n')
    cfg = load_config(p, env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert cfg.burner("left").token == TOKEN and cfg.mqtt.password == "pw"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is [not toml", "not valid TOML"),
        ("[bogus]\n", "unknown section"),
        ("[mqtt]\nhots = 'x'\n", "unknown key 'hots'"),
        ("[mqtt]\nport = 'abc'\n", "expected an integer"),
        ("[mqtt]\nport = 70000\n", "port must be"),
        ("[mqtt]\nbase_topic = 'a/#'\n", "base_topic"),
        ("[mqtt]\npassword = 'x'\n", "secrets are not read"),
        ("[[stove.burners]]\nname = 'Left Burner'\n", "name must match"),
        ("[[stove.burners]]\nname = 'all'\n", "reserved"),
        ("[[stove.burners]]\nname = 'a'\n[[stove.burners]]\nname = 'a'\n", "duplicate"),
        ("[[stove.burners]]\nname = 'a'\ndriver = 'gpio'\n", "driver must be"),
        ("[[stove.burners]]\nname = 'a'\npulse_s = 600\n", "pulse_s must be"),
        ("[[stove.burners]]\nname = 'a'\npulse_s = -1\n", "pulse_s must be"),
        ("[[stove.burners]]\nname = 'a'\nwiring = 'inverted'\n", "wiring must be"),
        ("[[stove.burners]]\nname = 'a'\ndriver = 'miio'\n", "needs host"),
        ("[[stove.burners]]\nname = 'a'\ndriver = 'miio'\nhost = 'h'\n", "needs a token"),
        ("[[stove.burners]]\nname = 'a'\ndriver = 'miio'\nhost = 'h'\ntoken = 'x'\n", "secrets are not read"),
        ("[mqtt]\n[[stove.burners]]\nname = 'a'\ndriver = 'mqtt'\n", "needs command_topic"),
        ("[[stove.burners]]\nname = 'a'\ndriver = 'mqtt'\ncommand_topic = 't'\n", r"needs the \[mqtt\] section"),
        ("[stove]\nburners = []\n", "non-empty"),
        ("[stove]\nburners = 5\n", "non-empty"),
        ("[papers]\nmin_interval_s = 1\n", "only be raised"),
        ("[papers]\ncategories = ['cs.LG', '<script>']\n", "not an arXiv category"),
        ("[http]\nlisten = 'nonsense'\n", "HOST:PORT"),
        ("[daemon]\nlog_level = 'LOUD'\n", "log_level"),
        ("mqtt = 5\n", "must be a table"),
    ],
)
def test_bad_configs(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_bad_token_format(tmp_path: Path) -> None:
    p = write(tmp_path, "[[stove.burners]]\nname='a'\ndriver='miio'\nhost='h'\n")
    with pytest.raises(ConfigError, match="32 hexadecimal") as info:
        load_config(p, env={"COOLSTOVE_BURNER_A_TOKEN": "zz" * 16})
    assert "zz" * 16 not in str(info.value), "the error must not echo the token"


def test_bad_env_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(env={"COOLSTOVE_MQTT__PORT": "many"})
    with pytest.raises(ConfigError, match="unknown section"):
        load_config(env={"COOLSTOVE_NOPE__X": "1"})


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", env={})
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError):
        load_config(p, env={})


def test_http_token_generated_once_with_private_mode(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, f'[storage]\ndata_dir = "{tmp_path}"\n'), env={})
    t1 = http_token(cfg)
    t2 = http_token(cfg)
    assert t1 == t2 and len(t1) >= 32
    assert (tmp_path / "http-token").stat().st_mode & 0o777 == 0o600

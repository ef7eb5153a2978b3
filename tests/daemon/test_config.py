"""Configuration: the file, environment overrides, secrets, and every way it can be wrong."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import (
    Burner,
    Config,
    MiioBurner,
    MqttBurner,
    find_daemon,
    http_token,
    load_config,
    read_daemon_record,
    read_http_token,
    runtime_files,
)
from core.errors import ConfigError

TOKEN = "00112233445566778899aabbccddeeff"
ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_embedded_defaults() -> None:
    cfg = load_config(env={"HOME": "/home/ada"})
    assert [b.driver for b in cfg.burners] == ["simulated"]
    assert cfg.storage.data_dir == Path("/home/ada/.local/share/coolstove"), "per user, not ./data"
    assert cfg.data_dir_default is True
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
    assert cfg.mqtt.port == 1999
    assert cfg.mqtt.password == "s3cret"
    assert cfg.mqtt.base_topic == "kitchen"
    assert cfg.papers.categories == ("cs.AI", "cs.CL")
    left = cfg.burner("left")
    assert left.token == TOKEN
    assert left.pulse_s == 4.0
    assert cfg.http.token == "httptok"
    assert TOKEN not in repr(cfg), "secrets never appear in reprs or logs"
    assert "s3cret" not in repr(cfg), "secrets never appear in reprs or logs"


def test_secrets_from_systemd_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "burner-left-token").write_text(TOKEN + "\n")
    (creds / "mqtt-password").write_text("pw")
    p = write(tmp_path, '[mqtt]\n[[stove.burners]]\nname="left"\ndriver="miio"\nhost="10.0.0.2"\n')
    cfg = load_config(p, env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert cfg.burner("left").token == TOKEN
    assert cfg.mqtt.password == "pw"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is [not toml", "not valid TOML"),
        ("[bogus]\n", "unknown section"),
        ("[mqtt]\nhots = 'x'\n", "hots: unknown key"),
        ("[mqtt]\nport = 'abc'\n", "expected an integer"),
        ("[mqtt]\nport = 70000\n", "port: must be between 1 and 65535"),
        ("[mqtt]\nbase_topic = 'a/#'\n", "base_topic"),
        ("[mqtt]\npassword = 'x'\n", "secrets are not read"),
        ("[[stove.burners]]\nname = 'Left Burner'\n", "name: must match"),
        ("[[stove.burners]]\nname = 'all'\n", "reserved"),
        ("[[stove.burners]]\nname = 'a'\n[[stove.burners]]\nname = 'a'\n", "duplicate"),
        ("[[stove.burners]]\nname = 'a'\ndriver = 'gpio'\n", "driver: must be miio, mqtt or simulated"),
        ("[[stove.burners]]\nname = 'a'\npulse_s = 600\n", "pulse_s: must be between 0.2 and 60"),
        ("[[stove.burners]]\nname = 'a'\npulse_s = -1\n", "pulse_s: must be between 0.2 and 60"),
        ("[[stove.burners]]\nname = 'a'\nwiring = 'inverted'\n", "wiring: must be"),
        ("[[stove.burners]]\nname = 'a'\ndriver = 'miio'\n", "needs host"),
        ("[[stove.burners]]\nname = 'a'\ndriver = 'miio'\nhost = 'h'\n", "needs a token"),
        ("[[stove.burners]]\nname = 'a'\ndriver = 'miio'\nhost = 'h'\ntoken = 'x'\n", "secrets are not read"),
        ("[mqtt]\n[[stove.burners]]\nname = 'a'\ndriver = 'mqtt'\n", "needs command_topic"),
        (
            "[[stove.burners]]\nname = 'a'\ndriver = 'mqtt'\ncommand_topic = 't'\n",
            r"needs the \[mqtt\] section",
        ),
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
    assert t1 == t2
    assert len(t1) >= 32
    assert (tmp_path / "http-token").stat().st_mode & 0o777 == 0o600


def test_read_http_token_never_creates_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = load_config(env={"COOLSTOVE_STORAGE__DATA_DIR": str(data)})
    assert read_http_token(cfg) is None
    assert not data.exists(), "the CLI's read made no folder"
    token = http_token(cfg)  # the daemon's: makes it
    assert read_http_token(cfg) == token
    env_cfg = load_config(env={"COOLSTOVE_STORAGE__DATA_DIR": str(data), "COOLSTOVE_HTTP_TOKEN": "from-env"})
    assert read_http_token(env_cfg) == "from-env"
    assert env_cfg.token_from == "$COOLSTOVE_HTTP_TOKEN"


# ---------------------------------------------------------------- the data folder's default and overrides


@pytest.mark.parametrize(
    ("env", "expected", "origin"),
    [
        ({"HOME": "/home/ada"}, "/home/ada/.local/share/coolstove", "~/.local/share/coolstove"),
        ({"HOME": "/home/ada", "XDG_DATA_HOME": "/xdg"}, "/xdg/coolstove", "$XDG_DATA_HOME"),
        ({"HOME": "/home/ada", "XDG_DATA_HOME": "rel/xdg"}, "/home/ada/.local/share/coolstove",
         "~/.local/share/coolstove"),  # the XDG spec: a relative path is ignored
        ({"HOME": "/home/ada", "XDG_DATA_HOME": "/xdg", "STATE_DIRECTORY": "/var/lib/coolstove"},
         "/var/lib/coolstove", "$STATE_DIRECTORY"),
        ({"STATE_DIRECTORY": "/var/lib/coolstove:/var/lib/other"}, "/var/lib/coolstove", "$STATE_DIRECTORY"),
    ],
)
def test_default_data_folder(env: dict[str, str], expected: str, origin: str) -> None:
    cfg = load_config(env=env)
    assert cfg.storage.data_dir == Path(expected)
    assert origin in cfg.data_dir_from
    assert cfg.data_dir_default is True


def test_explicit_data_folder_wins(tmp_path: Path) -> None:
    defaults = {"HOME": "/home/ada", "XDG_DATA_HOME": "/xdg", "STATE_DIRECTORY": "/var/lib/coolstove"}
    p = write(tmp_path, '[storage]\ndata_dir = "/srv/from-file"\n')
    cfg = load_config(p, env=defaults)
    assert cfg.storage.data_dir == Path("/srv/from-file")
    assert cfg.data_dir_from == f"[storage] data_dir in {p}"
    assert cfg.data_dir_default is False
    cfg = load_config(p, env={**defaults, "COOLSTOVE_STORAGE__DATA_DIR": "/srv/from-env"})
    assert cfg.storage.data_dir == Path("/srv/from-env")
    assert cfg.data_dir_from == "COOLSTOVE_STORAGE__DATA_DIR"
    assert cfg.data_dir_default is False
    cfg = load_config(env={**defaults, "COOLSTOVE_STORAGE__AUDIT_MAX_ROWS": "1000"})
    assert (cfg.storage.data_dir, cfg.storage.audit_max_rows) == (Path("/var/lib/coolstove"), 1000), (
        "another [storage] override keeps the default folder"
    )
    assert cfg.data_dir_default is True


def test_runtime_folders() -> None:
    assert load_config(env={"XDG_RUNTIME_DIR": "/run/user/7"}).runtime_dir == Path("/run/user/7/coolstove")
    assert load_config(env={"XDG_RUNTIME_DIR": "/run/user/7", "RUNTIME_DIRECTORY": "/run/coolstove"}
                       ).runtime_dir == Path("/run/coolstove")
    assert load_config(env={}).runtime_dir is None, "nowhere to record: the daemon records nothing"
    assert runtime_files({"XDG_RUNTIME_DIR": "/run/user/7"}) == [
        Path("/run/user/7/coolstove/daemon.json"), Path("/run/coolstove/daemon.json")]


def test_daemon_record_stale_or_broken_is_ignored(tmp_path: Path) -> None:
    run = tmp_path / "coolstove"
    run.mkdir()
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    record = run / "daemon.json"
    record.write_text(json.dumps({"pid": os.getpid(), "data_dir": "/srv/d", "listen": "127.0.0.1:9",
                                  "token_from": "/srv/d/http-token"}))
    found = find_daemon(env)
    assert found is not None
    assert (found.data_dir, found.base_url, found.path) == (Path("/srv/d"), "http://127.0.0.1:9", record)
    proc = subprocess.Popen(["true"])  # a pid that has exited
    proc.wait()
    record.write_text(record.read_text().replace(str(os.getpid()), str(proc.pid)))
    assert read_daemon_record(record) is not None
    assert find_daemon(env) is None, "a record whose pid is dead is stale"
    record.write_text("{not json")
    assert find_daemon(env) is None


# ---------------------------------------------------------------- the schema's holes, each a test

MIIO = "[[stove.burners]]\nname = 'left'\ndriver = 'miio'\nhost = 'h'\n"
MQTT = "[mqtt]\n[[stove.burners]]\nname = 'left'\ndriver = 'mqtt'\ncommand_topic = 't'\n"
LEFT = {"COOLSTOVE_BURNER_LEFT_TOKEN": TOKEN}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            MIIO + "off_delay_piid = 'three'\n",
            r"\[stove.burners\] #1 \('left'\) off_delay_piid: expected an integer, got 'three'",
        ),
        (
            MIIO + "voice_siid = 4.5\n",
            r"\[stove.burners\] #1 \('left'\) voice_siid: expected an integer, got 4.5",
        ),
        (MIIO + "voice_siid = 0\n", "voice_siid: must be between 1 and 255"),
        (MIIO + "siid = true\n", "siid: expected an integer, got True"),
        (MIIO + "voice_poll_s = 0\n", "voice_poll_s: must be between 0.5 and 3600, got 0"),
        (MIIO + "timeout_s = 0.0\n", "timeout_s: must be between 0.1 and 10"),
        (MIIO + "retries = 99\n", "retries: must be between 0 and 5, got 99"),
        (
            "[stove.flame]\nalert_after_min = 'ten'\n",
            r"\[stove.flame\] alert_after_min: expected a number, got 'ten'",
        ),
        (
            "[stove.flame]\ncut_after_min = -5\n",
            r"\[stove.flame\] cut_after_min: must be more than 0 and at most 1440, got -5",
        ),
        ("[stove.flame]\ncut_after_min = nan\n", "cut_after_min: must be a finite number"),
        (MQTT + "timeout_s = 0.0\n", "timeout_s: must be between 0.1 and 10, got 0.0"),
        (MQTT + "retries = 99\n", "retries: must be between 0 and 5, got 99"),
        (MQTT + "power_index = 0\n", "power_index: must be between 1 and 32"),
        (MQTT + "flavour = 'shelly'\n", "flavour: must be 'tasmota' or 'zigbee2mqtt'"),
        (MQTT + "endpoint = 'l2'\n",
         r"\[stove.burners\] #1 \('left'\): endpoint is a zigbee2mqtt key; a Tasmota relay is chosen"),
        (MQTT + "flavour = 'zigbee2mqtt'\nendpoint = 'l1'\npower_index = 2\n",
         r"#1 \('left'\): endpoint 'l1' and power_index 2 name different gangs"),
        (MQTT + "flavour = 'zigbee2mqtt'\nendpoint = 'l-2'\n",
         "endpoint: 'l-2' is not a zigbee2mqtt endpoint"),
        (MQTT + "flavour = 'zigbee2mqtt'\nfull_topic = '%topic%/%prefix%/'\n", "full_topic is a Tasmota key"),
        (MQTT + "full_topic = 'home/%topic%/'\n",
         "full_topic: 'home/%topic%/' must contain %prefix% and %topic%"),
        (MQTT + "full_topic = '%prefix%/%hostname%/'\n", "must contain %prefix% and %topic%"),
        (MQTT + "full_topic = '%prefix%/%topic%/%id%/'\n", "write the device's own value instead of %id%"),
        (MQTT + "full_topic = 'home/#/%prefix%/%topic%'\n", "MQTT wildcards"),
        (MQTT + "full_topic = '%topic%/%prefix%/'\nstate_topic = 's'\n", "give full_topic or state_topic"),
        (MQTT + "siid = 2\n", r"#1 \('left'\) siid: is a miio key, not one of driver mqtt's"),
        (MIIO + "command_topic = 'x'\n", "command_topic: is a mqtt key, not one of driver miio's"),
        ("[[stove.burners]]\nname = 'a'\nhost = 'h'\n", "host: is a miio key, not one of driver simulated's"),
        ("[[stove.burners]]\nname = 'a'\nbogus = 1\n", "bogus: unknown key"),
        ("[mqtt]\nkeepalive = 0\n", r"\[mqtt\] keepalive: must be between 5 and 3600, got 0"),
        ("[mqtt]\nenabled = 1\n", r"\[mqtt\] enabled: expected true or false, got 1"),
        ("[mqtt]\nport = '1883'\n", "port: expected an integer, got '1883'"),
        ("[papers]\nmax_retries = -3\n", r"\[papers\] max_retries: must be between 0 and 10, got -3"),
        ("[papers]\npoll_interval_s = 0\n", "poll_interval_s: must be between 60 and 86400"),
        ("[papers]\nrss_url = 'https://x/{cat}'\n", "rss_url: must contain {category}"),
        ("[papers]\ncategories = 'cs.LG'\n", "categories: expected a list of strings"),
        ("[papers]\npdf_url = \"https://arxiv.org; script-src *; x/\"\n", "pdf_url: must name a plain host"),
        ("[papers]\npdf_url = 'https://user@arxiv.org/pdf/'\n", "pdf_url: must name a plain host"),
        ("[papers]\npdf_url = 'ftp://arxiv.org/pdf/'\n", "pdf_url: must be an http"),
        ("[search]\nmax_results = -1\n", r"\[search\] max_results: must be between 1 and 100000, got -1"),
        ("[search]\nenabled = true\n",
         r"\[search\] enabled: unknown key \(known: max_results, cache_mb, build_memory_mb, publish_dir\)"),
        (
            "[daemon]\nshutdown_grace_s = -1\n",
            r"\[daemon\] shutdown_grace_s: must be more than 0 and at most 600",
        ),
        ("[daemon]\nbogus = 1\n", r"\[daemon\] bogus: unknown key"),
        ("[storage]\ndata_dir = 5\n", r"\[storage\] data_dir: expected a path, got 5"),
        ("[stove]\npulse_s = 3\n", r"\[stove\] pulse_s: unknown key \(known: burners, flame\)"),
        ("[stove.flame]\nburner = 'nope'\n", "not a configured burner"),
        ("[http]\ntoken = 'x'\n", r"\[http\] token: secrets are not read from the config file"),
    ],
)
def test_schema_holes_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_config(write(tmp_path, text), env=LEFT)
    assert str(tmp_path / "config.toml") in str(info.value), "the message names the file"


def test_every_problem_is_one_line(tmp_path: Path) -> None:
    text = MIIO + "voice_siid = 4.5\nretries = 99\n[mqtt]\nport = 0\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=LEFT)
    lines = str(info.value).splitlines()
    assert "3 problems" in lines[0]
    assert sorted(line.strip() for line in lines[1:]) == [
        "[mqtt] port: must be between 1 and 65535, got 0",
        "[stove.burners] #1 ('left') retries: must be between 0 and 5, got 99",
        "[stove.burners] #1 ('left') voice_siid: expected an integer, got 4.5",
    ]


def test_good_configs_still_load(tmp_path: Path) -> None:
    text = MIIO + "voice_siid = 4\noff_delay_piid = 3\npulse_s = 4\n" + (
        "[[stove.burners]]\nname = 'wok'\ndriver = 'mqtt'\ncommand_topic = 'w'\nflavour = 'zigbee2mqtt'\n"
        "endpoint = 'l2'\npower_index = 2\n"
        "[[stove.burners]]\nname = 'sim'\n"
        "[[stove.burners]]\nname = 'hob'\ndriver = 'mqtt'\ncommand_topic = 'hob'\n"
        "full_topic = 'home/%topic%/%prefix%/'\n"
        "[mqtt]\nkeepalive = 60\n[stove.flame]\ntopic = 'hood'\nalert_after_min = 45\ncut_after_min = 90.5\n"
        "[daemon]\nlog_level = 'debug'\nshutdown_grace_s = 5\n[search]\nmax_results = 50\n"
    )
    cfg = load_config(write(tmp_path, text), env=LEFT)
    left, wok, sim, tas = cfg.burners
    assert (type(left).__name__, type(wok).__name__, type(sim).__name__) == ("MiioBurner", "MqttBurner",
                                                                              "SimulatedBurner")
    assert left.voice_siid == 4
    assert left.off_delay_piid == 3
    assert left.pulse_s == 4.0
    assert isinstance(left.pulse_s, float)
    assert wok.flavour == "zigbee2mqtt"
    assert wok.endpoint == "l2"
    assert wok.state_key == "state_l2"
    assert tas.full_topic == "home/%topic%/%prefix%/"
    assert tas.tasmota_topic("tele", "LWT") == "home/hob/tele/LWT"
    assert tas.tasmota_topic("cmnd", "POWER2") == "home/hob/cmnd/POWER2"
    assert cfg.flame.cut_after_min == 90.5
    assert cfg.log_level == "DEBUG"
    assert cfg.shutdown_grace_s == 5.0
    assert cfg.search.max_results == 50
    assert cfg.source == tmp_path / "config.toml"


def test_models_are_frozen_and_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MIIO), env={**LEFT, "COOLSTOVE_HTTP_TOKEN": "tok-123"})
    with pytest.raises(ValidationError):
        cfg.mqtt.port = 1  # type: ignore[misc]
    assert TOKEN not in repr(cfg)
    assert "tok-123" not in repr(cfg)
    assert TOKEN not in str(cfg.model_dump()), "secrets are not dumped either"


def test_embedded_defaults_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("STATE_DIRECTORY", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", "/home/ada")
    cfg = load_config(env={"HOME": "/home/ada"})
    assert cfg.model_copy(update={"data_dir_from": "set in code", "data_dir_default": False}) == Config(), (
        "the loaded defaults are the model's (a Config built in code takes its data folder from os.environ)"
    )
    assert cfg.source is None
    assert [type(b).__name__ for b in cfg.burners] == ["SimulatedBurner"]
    assert cfg.burners[0].name == "burner"
    assert cfg.http.base_url == "http://127.0.0.1:8470"
    assert cfg.http.pages_base_url == "http://127.0.0.1:8471"
    assert cfg.storage.data_dir == Path("/home/ada/.local/share/coolstove")
    assert cfg.papers_db_url == "sqlite:////home/ada/.local/share/coolstove/papers.db"


def test_burner_models_validate_when_built_in_code() -> None:
    with pytest.raises(ValidationError, match="siid"):
        MiioBurner(name="x", host="h", siid=4.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="extra"):
        MqttBurner(name="x", command_topic="t", host="h")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="SimulatedBurner, MiioBurner or MqttBurner"):
        Burner(name="x", driver="simulated")


# ---------------------------------------------------------------- environment overrides


def test_env_overrides_convert_strings_to_the_keys_type(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MIIO), env={
        **LEFT,
        "COOLSTOVE_MQTT__ENABLED": "yes",
        "COOLSTOVE_MQTT__KEEPALIVE": "60",
        "COOLSTOVE_HTTP__ALLOWED_HOSTS": "a.lan, b.lan",
        "COOLSTOVE_DAEMON__SHUTDOWN_GRACE_S": "2.5",
        "COOLSTOVE_DAEMON__LOG_LEVEL": "warning",
        "COOLSTOVE_STOVE__FLAME__CUT_AFTER_MIN": "30",
        "COOLSTOVE_SEARCH__MAX_RESULTS": "10",
    })
    assert cfg.mqtt.enabled is True
    assert cfg.mqtt.keepalive == 60
    assert cfg.http.allowed_hosts == ("a.lan", "b.lan")
    assert cfg.shutdown_grace_s == 2.5
    assert cfg.log_level == "WARNING"
    assert cfg.flame.cut_after_min == 30.0
    assert cfg.search.max_results == 10


def test_stove_env_override_sets_a_burner_key_on_every_burner(tmp_path: Path) -> None:
    text = (
        MIIO
        + "pulse_s = 2\n[[stove.burners]]\nname = 'sim'\n[[stove.burners]]\nname = 'wok'\ndriver = 'mqtt'\n"
        "command_topic = 'w'\n[mqtt]\n"
    )
    cfg = load_config(write(tmp_path, text), env={**LEFT, "COOLSTOVE_STOVE__PULSE_S": "5"})
    assert [b.pulse_s for b in cfg.burners] == [5.0, 5.0, 5.0]
    cfg = load_config(write(tmp_path, text), env={**LEFT, "COOLSTOVE_STOVE__TIMEOUT_S": "2"})
    assert [getattr(b, "timeout_s", None) for b in cfg.burners] == [2.0, None, 2.0], (
        "only burners with the key"
    )
    assert load_config(env={"COOLSTOVE_STOVE__WIRING": "no"}).burners[0].wiring == "no", (
        "the default burner too"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"COOLSTOVE_STOVE__PULSE_S": "600"},
            r"pulse_s: must be between 0.2 and 60, got 600.0 \(from COOLSTOVE_STOVE",
        ),
        ({"COOLSTOVE_STOVE__PULSE_S": "soon"}, "pulse_s: expected a number, got 'soon'"),
        ({"COOLSTOVE_STOVE__VOICE_SIID": "4"}, "no configured burner has 'voice_siid' \\(a miio key\\)"),
        ({"COOLSTOVE_STOVE__BOGUS": "1"}, "'bogus' is neither a burner key"),
        ({"COOLSTOVE_STOVE__NAME": "x"}, "cannot be set for all burners"),
        ({"COOLSTOVE_STOVE__TOKEN": TOKEN}, "tokens are per burner secrets"),
        (
            {"COOLSTOVE_MQTT__KEEPALIVE": "0"},
            r"\[mqtt\] keepalive: must be between 5 and 3600, got 0 \(from COOLSTOVE_MQTT__KEEPALIVE\)",
        ),
        ({"COOLSTOVE_MQTT__ENABLED": "maybe"}, "enabled: expected true or false, got 'maybe'"),
        ({"COOLSTOVE_MQTT__HOTS": "x"}, r"\[mqtt\] hots: unknown key"),
        ({"COOLSTOVE_MQTT__PASSWORD": "x"}, "secrets are not overrides; set COOLSTOVE_MQTT_PASSWORD"),
        ({"COOLSTOVE_SEARCH__ENABLED": "true"}, r"\[search\] enabled: unknown key"),
        ({"COOLSTOVE_PAPERS__MAX_RETRIES": "2.5"}, "max_retries: expected an integer, got '2.5'"),
    ],
)
def test_bad_env_overrides_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


def test_an_empty_list_override_is_an_empty_list() -> None:
    """``COOLSTOVE_PAPERS__CATEGORIES=`` (follow nothing) was refused after the move to pydantic."""
    assert load_config(None, env={"COOLSTOVE_PAPERS__CATEGORIES": ""}).papers.categories == ()
    assert load_config(None, env={"COOLSTOVE_PAPERS__CATEGORIES": "cs.LG, cs.AI"}).papers.categories == (
        "cs.LG", "cs.AI")

"""Command parsing: the one gate every interface's input passes through."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.errors import InputError
from devices.commands import parse_at, parse_command, parse_cron, parse_duration

NAMES = ("left", "right")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("600", 600),
        (600, 600),
        ("10m", 600),
        ("1h30m", 5400),
        ("90s", 90),
        ("1h", 3600),
        (" 2m ", 120),
        (0.5, 0.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["", "abc", "-5", "0", "10x", "1h-3m", "nan", "inf", "8d", str(10**30), "m", True, "9" * 40, 10**9],
)
def test_bad_durations(text: object) -> None:
    with pytest.raises(InputError):
        parse_duration(text)  # type: ignore[arg-type]


def test_at_next_occurrence() -> None:
    now = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.UTC).astimezone()
    later = parse_at("23:00", now)
    assert later > now
    assert (later.hour, later.minute) == (23, 0)
    earlier = parse_at(f"{(now.hour - 1) % 24:02d}:00", now)
    assert 0 < (earlier - now).total_seconds() <= 24 * 3600


@pytest.mark.parametrize(
    "text", ["24:00", "12:60", "noon", "2001-01-01T00:00:00", "x" * 100, "2099-01-01T00:00:00+00:00"]
)
def test_bad_at(text: str) -> None:
    with pytest.raises(InputError):
        parse_at(text)


def test_cron() -> None:
    assert parse_cron("23:00") == "0 23 * * *"
    assert parse_cron("  0  23 * * 1-5 ") == "0 23 * * 1-5"
    for bad in ["", "61 * * * *", "* * *", "@reboot", "0 23 * * * *", "x" * 200]:
        with pytest.raises(InputError):
            parse_cron(bad)


def test_commands_parse() -> None:
    c = parse_command(b'{"action":"cut"}', burners=NAMES, burner="left")
    assert (c.action, c.burner, c.delay_s, c.at) == ("cut", "left", None, None)
    c = parse_command('{"action":"cut","delay_s":600}', burners=NAMES)
    assert c.burner == "all"
    assert c.delay_s == 600
    c = parse_command({"action": "cut", "at": "23:00", "id": 7}, burners=NAMES, burner="right")
    assert c.at is not None
    assert c.request_id == "7"
    c = parse_command({"action": "extend", "by_s": "5m"}, burners=NAMES, burner="left")
    assert c.by_s == 300
    c = parse_command({"action": "cancel"}, burners=NAMES, burner="all")
    assert c.action == "cancel"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'"cut"', "JSON object"),
        (b"null", "JSON object"),
        (b'{"action":"on"}', "by hand"),
        (b'{"action":"open"}', "by hand"),
        (b'{"action":"explode"}', "must be one of"),
        (b'{"action":"cut","delay_s":-5}', "positive"),
        (b'{"action":"cut","delay_s":1e308}', "week"),
        (b'{"action":"cut","delay_s":true}', "number"),
        (b'{"action":"cut","delay_s":[1]}', "number"),
        (b'{"action":"cut","delay_s":60,"at":"23:00"}', "not both"),
        (b'{"action":"cut","at":"25:61"}', "time of day"),
        (b'{"action":"cut","burner":"oven"}', "unknown burner"),
        (b'{"action":"cut","burner":5}', "must be a string"),
        (b'{"action":"cancel","delay_s":5}', "takes no"),
        (b'{"action":"extend"}', "needs 'by_s'"),
        (b'{"action":"cut","evil":1}', "unknown field"),
        (b'{"action":"cut","id":"' + b"x" * 100 + b'"}', "short string"),
        (b'{"action":"cut","x":"' + b"a" * 5000 + b'"}', "limit"),
    ],
)
def test_bad_commands(payload: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_command(payload, burners=NAMES, burner="left" if b"burner" not in payload else None)


def test_topic_and_payload_burner_must_agree() -> None:
    with pytest.raises(InputError, match="different burner"):
        parse_command({"action": "cut", "burner": "right"}, burners=NAMES, burner="left")


# ---------------------------------------------------------------- strict input (issue 8)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"action":"cut","delay_s":null}', "null"),  # a present null is refused, never "cut now"
        (b'{"action":"cut","at":null}', "null"),
        (b'{"action":"cut","burner":null}', "null"),
        (b'{"action":"cut","id":null}', "null"),
        (b'{"action":"cut","delay_s":true}', "number"),  # not 1 s
        (b'{"action":"cut","delay_s":false}', "number"),
        (b'{"action":"extend","by_s":true}', "number"),
        (b'{"action":"cut","delay_s":"\xef\xbc\x96\xef\xbc\x90"}', "ASCII"),  # full-width 60
        (b'{"action":"cut","delay_s":"\xd9\xa6\xd9\xa0"}', "ASCII"),  # Arabic-Indic 60
        (b'{"action":"cut","delay_s":"\\uff16\\uff10"}', "ASCII"),
        (b'{"action":"cut","delay_s":"nan"}', "cannot read"),
        (b'{"action":"cut","delay_s":"1e3"}', "cannot read"),
        (b'{"action":"cut","delay_s":' + b"9" * 400 + b"}", "week"),  # float() would raise OverflowError
        (b'{"action":"cut","delay_s":-' + b"9" * 400 + b"}", "positive"),
        (b'{"action":"cut","delay_s":1e400}', "finite"),
        (b'{"action":"cut","delay_s":NaN}', "finite"),
        (b'{"action":"cut","delay_s":{"a":1}}', "plain value"),
        (b"[" * 1000 + b"]" * 1000, "nested"),
        (b'{"a":' * 600 + b"1" + b"}" * 600, "nested"),
        (b'{"action":"cut","x":' + b"[" * 2000 + b"]" * 2000 + b"}", "nested"),
        (b'{"\\ud800":1}', "surrogate"),
        (b'{"action":"cut","id":"\\udfff"}', "surrogate"),
        (b'{"action":"cut","burner":"\\ud83d"}', "surrogate"),
        (b'{"action":"cut","id":true}', "short string"),
        (b'{"action":"cut","delay_s":5,"in":5}', "not both"),
    ],
)
def test_strict_commands_are_refused_with_printable_json_safe_errors(payload: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_command(payload, burners=NAMES, burner="left" if b"burner" not in payload else None)
    text = str(info.value)
    assert text.isprintable()
    json.dumps({"ok": False, "error": text}).encode("utf-8")  # what MQTT sends back
    text.encode("utf-8")  # what SQLite stores: a lone surrogate would fail here


def test_strict_str_input_with_surrogates_is_refused() -> None:
    with pytest.raises(InputError, match="surrogate"):
        parse_command('{"action":"cut","id":"\ud800"}', burners=NAMES)


@pytest.mark.parametrize(
    "text", ["６０", "٦٠", "１h", None, float("nan"), 10**400, -(10**400), [], "0x10", "1_000"]
)
def test_strict_durations(text: object) -> None:
    with pytest.raises(InputError):
        parse_duration(text)  # type: ignore[arg-type]


def test_unsafe_unknown_keys_are_reported_ascii_safe() -> None:
    with pytest.raises(InputError, match="unknown field") as info:
        parse_command(b'{"action":"cut","\xe7\x81\xab\\u0007":1}', burners=NAMES)
    assert str(info.value).isascii()
    assert str(info.value).isprintable()

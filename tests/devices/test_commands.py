"""Command parsing: the one gate every interface's input passes through."""

from __future__ import annotations

import datetime as dt

import pytest

from daemon.errors import InputError
from devices.commands import parse_at, parse_command, parse_cron, parse_duration

NAMES = ("left", "right")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("600", 600), (600, 600), ("10m", 600), ("1h30m", 5400), ("90s", 90), ("1h", 3600), (" 2m ", 120), (0.5, 0.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["", "abc", "-5", "0", "10x", "1h-3m", "nan", "inf", "8d", str(10**30), "m", True, "9" * 40, 10**9]
)
def test_bad_durations(text: object) -> None:
    with pytest.raises(InputError):
        parse_duration(text)  # type: ignore[arg-type]


def test_at_next_occurrence() -> None:
    now = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.UTC).astimezone()
    later = parse_at("23:00", now)
    assert later > now and (later.hour, later.minute) == (23, 0)
    earlier = parse_at(f"{(now.hour - 1) % 24:02d}:00", now)
    assert 0 < (earlier - now).total_seconds() <= 24 * 3600


@pytest.mark.parametrize("text", ["24:00", "12:60", "noon", "2001-01-01T00:00:00", "x" * 100, "2099-01-01T00:00:00+00:00"])
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
    assert c.burner == "all" and c.delay_s == 600
    c = parse_command({"action": "cut", "at": "23:00", "id": 7}, burners=NAMES, burner="right")
    assert c.at is not None and c.request_id == "7"
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

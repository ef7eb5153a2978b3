"""Stove commands as every interface sends them, parsed and checked in one place.

MQTT payloads, HTTP bodies and CLI arguments all become a :class:`Command`;
anything malformed, oversized or out of range raises ``InputError`` with a
message meant for the person who sent it. There is no "gas on" command.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from core.errors import InputError
from devices.cron import parse_schedule
from devices.localtime import local_zone, next_local_time, resolve_local

__all__ = [
    "ACTIONS",
    "MAX_DELAY_S",
    "MAX_PAYLOAD",
    "SOURCES",
    "Command",
    "load_command_json",
    "next_time_of_day",
    "parse_at",
    "parse_command",
    "parse_cron",
    "parse_duration",
]

ACTIONS = ("cut", "cancel", "extend")
SOURCES = ("mqtt", "http", "cli", "timer", "schedule", "voice", "flame", "startup", "shutdown")
MAX_PAYLOAD = 4096  # bytes; a command is a few dozen
MAX_DELAY_S = 7 * 24 * 3600  # a week: longer is a mistake, not a plan
_DURATION_RE = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?", re.ASCII)
_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+", re.ASCII)
_FIELDS = {"action", "burner", "delay_s", "in", "at", "by_s", "id"}
_MAX_BRACKETS = 8  # a command has none; above this the nesting is measured before parsing
_MAX_DEPTH = 2
_STRING_BYTES_RE = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_PAIR_RE = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


@dataclass(frozen=True)
class Command:
    action: str  # "cut" | "cancel" | "extend"
    burner: str  # a burner name or "all"
    delay_s: float | None = None  # cut later, relative
    at: dt.datetime | None = None  # cut later, absolute (aware)
    by_s: float | None = None  # extend by
    request_id: str | None = None

    def deadline(self, now: dt.datetime) -> dt.datetime | None:
        if self.at is not None:
            return self.at
        if self.delay_s is not None:
            return now + dt.timedelta(seconds=self.delay_s)
        return None


def parse_duration(text: str | float | int) -> float:
    """``600``, ``"600"``, ``"10m"``, ``"1h30m"``, ``"90s"`` → seconds (0 < s ≤ a week).

    Strict: booleans and null are not durations, text must be ASCII digits
    (Python's ``float()`` would take full-width or Arabic-Indic ones, and
    ``"nan"``), and numbers too large for a float are refused, not raised.
    """
    if isinstance(text, bool) or text is None:
        raise InputError("a duration must be a number of seconds or like 10m, 1h30m, 90s")
    if isinstance(text, int):
        if text > MAX_DELAY_S:  # compared as an int: a 400-digit number would overflow float()
            raise InputError("duration is longer than a week; use a schedule instead")
        if text <= 0:
            raise InputError("duration must be positive")
        seconds = float(text)
    elif isinstance(text, float):
        seconds = text
    elif isinstance(text, str):
        s = text.strip().lower()
        if len(s) > 32:
            raise InputError("duration is too long to be a duration")
        if not s.isascii():
            raise InputError(f"cannot read duration {text!a}: use ASCII digits, like 600, 10m, 1h30m, 90s")
        if _NUMBER_RE.fullmatch(s):
            seconds = float(s)
        else:
            m = _DURATION_RE.fullmatch(s)
            if not s or not m or not any(m.groups()):
                raise InputError(f"cannot read duration {text!a}: use seconds or forms like 10m, 1h30m, 90s")
            h, mi, se = (int(g) if g else 0 for g in m.groups())
            seconds = float(h * 3600 + mi * 60 + se)
    else:
        raise InputError("a duration must be a number of seconds or like 10m, 1h30m, 90s")
    if not math.isfinite(seconds):
        raise InputError("duration must be a finite number")
    if seconds <= 0:
        raise InputError(f"duration must be positive, got {seconds:g} s")
    if seconds > MAX_DELAY_S:
        raise InputError(f"duration {seconds:g} s is longer than a week; use a schedule instead")
    return seconds


def next_time_of_day(hour: int, minute: int, now: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime:
    """The next local wall-clock HH:MM strictly after ``now``, on the day it falls (DST-aware)."""
    return next_local_time(hour, minute, now, zone or local_zone())


def parse_at(text: str, now: dt.datetime | None = None, zone: dt.tzinfo | None = None) -> dt.datetime:
    """``"23:00"`` (next occurrence, local time) or an ISO 8601 date-time in the future.

    Local times resolve with zoneinfo on the day they fall; a time in a DST gap
    or fold follows :mod:`devices.localtime`'s rule.
    """
    now = now or dt.datetime.now(dt.UTC)
    zone = zone or local_zone()
    if not isinstance(text, str) or len(text) > 64 or not text.isascii():
        raise InputError("'at' must be a time like 23:00 or an ISO 8601 date-time")
    s = text.strip()
    m = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", s)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour > 23 or minute > 59:
            raise InputError(f"'at' {text!r} is not a time of day")
        return next_time_of_day(hour, minute, now, zone)
    try:
        when = dt.datetime.fromisoformat(s)
    except ValueError:
        raise InputError(f"cannot read time {text!r}: use HH:MM or an ISO 8601 date-time") from None
    when = resolve_local(when, zone) if when.tzinfo is None else when.astimezone(dt.UTC)
    if when <= now:
        raise InputError(f"'at' {text!r} is in the past")
    if (when - now).total_seconds() > MAX_DELAY_S:
        raise InputError(f"'at' {text!r} is more than a week away; use a schedule instead")
    return when


def parse_cron(text: str, now: dt.datetime | None = None, zone: dt.tzinfo | None = None) -> str:
    """Standard cron or ``HH:MM``, normalised; the one checker is :func:`devices.cron.parse_schedule`."""
    return parse_schedule(text, now=now or dt.datetime.now(dt.UTC), zone=zone or local_zone()).expr


def _burner(raw: Any, burners: tuple[str, ...]) -> str:
    if not isinstance(raw, str):
        raise InputError("'burner' must be a string")
    if raw != "all" and raw not in burners:
        known = ", ".join((*burners, "all"))
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise InputError(f"unknown burner {shown!a} (known: {known})")
    return raw


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def load_command_json(data: bytes | str) -> Any:
    """``json.loads`` within bounds: size, nesting (RecursionError is caught), lone surrogates."""
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > MAX_PAYLOAD:
        raise InputError(f"command is {size} bytes; the limit is {MAX_PAYLOAD}")
    if isinstance(data, str) and _has_surrogate(data):
        raise InputError("command contains a lone surrogate; send UTF-8 text")
    # A command is one flat object: more than a few brackets is never one, and
    # json.loads would recurse once per bracket (RecursionError near 1,000 deep).
    brackets = (
        data.count(b"[") + data.count(b"{") if isinstance(data, bytes) else data.count("[") + data.count("{")
    )
    if brackets > _MAX_BRACKETS and _depth_exceeds(data, _MAX_DEPTH):
        raise InputError(f"command is nested more than {_MAX_DEPTH} deep; a command is one flat JSON object")
    try:
        return json.loads(data)
    except RecursionError:
        raise InputError("command is nested too deeply; a command is one flat JSON object") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"command is not valid JSON: {ascii(str(exc))[1:-1][:200]}") from None


def _depth_exceeds(data: bytes | str, limit: int) -> bool:
    """Is the bracket nesting (outside JSON strings) deeper than ``limit``? Regex and bytes ops only.

    Strings are blanked, everything but brackets dropped, then innermost pairs
    are removed once per level: anything left after ``limit`` rounds is deeper
    (or its brackets do not match, which json.loads would refuse anyway).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    rest = _STRING_BYTES_RE.sub(b"", raw).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        rest = _PAIR_RE.sub(b"", rest)
    return bool(rest)


def _check_value(key: str, value: Any) -> None:
    if value is None:
        raise InputError(f"{key!a} is null: leave the field out instead")
    if isinstance(value, dict | list):
        raise InputError(
            f"{key!a} must be a plain value (a number or a string), not a JSON {type(value).__name__}"
        )
    if isinstance(value, str) and _has_surrogate(value):
        raise InputError(f"{key!a} contains a lone surrogate; send UTF-8 text")


def parse_command(
    data: bytes | str | dict[str, Any],
    *,
    burners: tuple[str, ...],
    burner: str | None = None,
    now: dt.datetime | None = None,
) -> Command:
    """Parse a JSON command (``{"action":"cut","delay_s":600}``) addressed to ``burner``.

    ``burner`` comes from the MQTT topic or URL when the payload does not name one.
    Strict: a field present with ``null`` is refused (not taken as absent),
    booleans are not numbers, and every message is ASCII-safe, so it can be
    sent back as JSON and written to the audit log whatever the input was.
    """
    obj = load_command_json(data) if isinstance(data, bytes | str) else data
    if not isinstance(obj, dict):
        raise InputError('command must be a JSON object like {"action":"cut"}')
    keys = [k if isinstance(k, str) else str(k) for k in obj]
    if any(_has_surrogate(k) for k in keys):
        raise InputError("a field name contains a lone surrogate; send UTF-8 text")
    unknown = set(keys) - _FIELDS
    if unknown:
        raise InputError(f"unknown field(s) in command: {', '.join(sorted(map(ascii, unknown)))[:200]}")
    for key, value in obj.items():
        _check_value(key, value)
    action = obj.get("action")
    if action not in ACTIONS:
        if isinstance(action, str) and action.lower() in ("on", "open", "ignite", "light"):
            raise InputError("coolstove can only cut the gas; lighting the stove is done by hand")
        raise InputError(f"'action' must be one of {', '.join(ACTIONS)}")
    target = _burner(obj.get("burner", burner if burner is not None else "all"), burners)
    if burner is not None and obj.get("burner") not in (None, burner):
        raise InputError("the payload names a different burner than the topic")
    request_id = obj.get("id")
    if request_id is not None:
        if isinstance(request_id, bool) or not isinstance(request_id, str | int):
            raise InputError("'id' must be a short string or number")
        if (isinstance(request_id, int) and abs(request_id) >= 10**64) or len(str(request_id)) > 64:
            raise InputError("'id' must be a short string or number")
    request_id = None if request_id is None else str(request_id)

    if "delay_s" in obj and "in" in obj:
        raise InputError("give either 'delay_s' or 'in', not both")
    delay = obj.get("delay_s", obj.get("in"))
    at = obj.get("at")
    by = obj.get("by_s")
    if action == "cut":
        if delay is not None and at is not None:
            raise InputError("give either 'delay_s' or 'at', not both")
        if by is not None:
            raise InputError("'by_s' belongs to the extend action")
        if delay is not None:
            if not isinstance(delay, int | float | str) or isinstance(delay, bool):
                raise InputError("'delay_s' must be a number of seconds")
            return Command("cut", target, delay_s=parse_duration(delay), request_id=request_id)
        if at is not None:
            return Command("cut", target, at=parse_at(at, now), request_id=request_id)
        return Command("cut", target, request_id=request_id)
    if delay is not None or at is not None:
        raise InputError(f"'{action}' takes no 'delay_s' or 'at'")
    if action == "extend":
        if by is None:
            raise InputError("'extend' needs 'by_s', the seconds to add to the countdown")
        if not isinstance(by, int | float | str) or isinstance(by, bool):
            raise InputError("'by_s' must be a number of seconds")
        return Command("extend", target, by_s=parse_duration(by), request_id=request_id)
    if by is not None:
        raise InputError("'cancel' takes no 'by_s'")
    return Command("cancel", target, request_id=request_id)

"""Recurring cuts in standard cron, with one parser for checking and for running.

The old design checked expressions with croniter (0 = Sunday) and ran them
with APScheduler's ``CronTrigger.from_crontab`` (0 = Monday), so
``0 23 * * 1-5`` fired Tuesday to Saturday. Here a :class:`CronSchedule` is
made once, by :func:`parse_schedule`, and the same object both answers
"when next?" for the API and drives the trigger.

Accepted, as in Vixie cron / cronie (``man 5 crontab``): five fields
(minute hour day-of-month month day-of-week); ``*``, numbers, ranges
``a-b``, lists ``a,b``, steps ``*/n`` and ``a-b/n``; month names ``jan``–``dec``
and weekday names ``sun``–``sat``; 0 and 7 are both Sunday; when both day
fields are restricted a day matching either one fires (cron's rule); the
macros ``@yearly @annually @monthly @weekly @daily @midnight @hourly``; and
``HH:MM`` as this project's shorthand for every day. Refused: anything else
(``L``, ``W``, ``#``, ``?``, ``H``, seconds, ``@reboot``), reversed ranges,
out-of-range values, a schedule that never fires (``0 0 31 2 *``), and one that
cuts less than :data:`MIN_GAP` after its previous cut (``* 23 * * *``).

Times are local wall-clock times, evaluated on naive local time and resolved
to instants by :mod:`devices.localtime`'s DST rule: a slot in a spring gap
fires shifted forward by the gap, a slot in an autumn fold fires once (first).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from core.errors import InputError
from devices.localtime import resolve_local, to_local_naive

__all__ = ["CronSchedule", "parse_schedule"]

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names mapped to numbers)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)
_ITEM = re.compile(r"^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?$")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
USAGE = "a schedule is a 5-field cron expression like '0 23 * * 1-5', a macro like @daily, or HH:MM"
MIN_GAP = dt.timedelta(minutes=10)  # the closest two cuts of one schedule may be
_GAP_SLOTS = 60
# How far ahead a schedule must fire at least once: Feb 29 fires within 8 years (2096 → 2104).
_HORIZON_YEARS = 9


def _value(text: str, field: str, lo: int, hi: int, names: dict[str, int]) -> int:
    if text.isascii() and text.isdigit():
        value = int(text)
    elif text in names:
        value = names[text]
    else:
        raise InputError(f"{field} {text!r} is not a number" + (" or a name" if names else ""))
    if not lo <= value <= hi:
        raise InputError(f"{field} {value} is outside {lo}-{hi}")
    return value


def _check_field(text: str, field: str, lo: int, hi: int, names: dict[str, int]) -> None:
    for item in text.split(","):
        m = _ITEM.match(item)
        if not m:
            raise InputError(f"{field} {text!r}: {item!r} is not standard cron (no L, W, #, ? or H)")
        star, first, last, step = m.groups()
        if step is not None and not 1 <= int(step) <= hi - lo + 1:
            raise InputError(f"{field} step {step} must be between 1 and {hi - lo + 1}")
        if star:
            continue
        a = _value(first, field, lo, hi, names)
        if last is not None:
            b = _value(last, field, lo, hi, names)
            if b < a:
                raise InputError(f"{field} range {first}-{last} runs backwards")
        elif step is not None:
            raise InputError(f"{field} {item!r}: a step needs * or a range (*/{step} or {first}-{hi}/{step})")


@dataclass(frozen=True)
class CronSchedule:
    """A checked 5-field expression; :meth:`next_after` is the only way its times are computed."""

    expr: str  # normalised: lower case, single spaces, macros expanded

    def next_after(self, instant: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
        """The first slot strictly after ``instant`` (aware), as an aware UTC instant."""
        naive = to_local_naive(instant, zone)
        while True:
            slot_naive = croniter(self.expr, naive).get_next(dt.datetime)
            slot = resolve_local(slot_naive, zone)
            if slot > instant:  # a fold slot already passed in wall time is skipped, never repeated
                return slot
            naive = slot_naive

    def last_at_or_before(self, instant: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
        """The latest slot at or before ``instant``: what a daemon that was down has missed."""
        naive = to_local_naive(instant, zone) + dt.timedelta(microseconds=1)
        try:
            slot_naive = croniter(self.expr, naive).get_prev(dt.datetime)
        except CroniterBadDateError:
            return None
        slot = resolve_local(slot_naive, zone)
        return slot if slot <= instant else None


def parse_schedule(text: object, *, now: dt.datetime, zone: dt.tzinfo, stored: bool = False) -> CronSchedule:
    """Check ``text`` (see the module docstring) and prove it fires; raise InputError if not.

    ``stored``: a schedule read back from disk, accepted by an earlier version; the
    spacing rule is not applied to it, so an upgrade never drops a user's schedule.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > 100 or not text.isascii():
        raise InputError(USAGE)
    s = " ".join(text.lower().split())
    m = _HHMM.match(s)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour > 23 or minute > 59:
            raise InputError(f"{text!r} is not a time of day")
        s = f"{minute} {hour} * * *"
    elif s.startswith("@"):
        if s not in _MACROS:
            raise InputError(f"{text!r} is not one of {', '.join(_MACROS)} ({USAGE})")
        s = _MACROS[s]
    parts = s.split(" ")
    if len(parts) != 5:
        raise InputError(f"{text!r} has {len(parts)} fields; {USAGE}")
    for part, (field, lo, hi, names) in zip(parts, _FIELDS, strict=True):
        _check_field(part, field, lo, hi, names)
    schedule = CronSchedule(s)
    try:
        first = schedule.next_after(now, zone)
    except (CroniterBadDateError, CroniterBadCronError, CroniterError) as exc:
        raise InputError(f"{text!r} never fires (no such date)") from exc
    if first - now > dt.timedelta(days=366 * _HORIZON_YEARS):
        raise InputError(f"{text!r} never fires within {_HORIZON_YEARS} years")
    if not stored:
        _check_spacing(text, schedule, first, zone)
    return schedule


def _check_spacing(text: str, schedule: CronSchedule, first: dt.datetime, zone: dt.tzinfo) -> None:
    """Refuse cuts closer together than MIN_GAP: ``* 23 * * *`` cuts every minute for an hour.

    That is almost always a typo for ``0 23 * * *``, and a stove cut every
    minute cannot be cooked on. The next :data:`_GAP_SLOTS` slots are checked.
    """
    previous = first
    for _ in range(_GAP_SLOTS):
        slot = schedule.next_after(previous, zone)
        if slot - previous < MIN_GAP:
            gap = int((slot - previous).total_seconds() // 60)
            raise InputError(
                f"{text!r} cuts {gap} min after a cut; a schedule must leave at least "
                f"{int(MIN_GAP.total_seconds() // 60)} min between cuts (did you mean a 0 in the "
                "minute field?)"
            )
        previous = slot

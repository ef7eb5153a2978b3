"""Wall-clock times of day for the stove's timers: the local zone and the DST rule.

"Cut at 08:00" and a schedule's "23:00" are local wall-clock times on the day
they fall, resolved with zoneinfo on that day (never with today's UTC offset,
which is one hour off across a DST change). Two days a year a wall time is not
a single instant; the rule, the same for ``at`` and for schedules:

- **spring gap** (the time does not exist, e.g. 02:30 in Berlin on the last
  Sunday of March): the cut happens as far after the gap's start as the time
  is, i.e. shifted forward by the length of the gap (02:30 → 03:30 summer
  time). It is never skipped.
- **autumn fold** (the time exists twice, e.g. 02:30 in Berlin on the last
  Sunday of October): the first occurrence (summer time), once. A cut is a
  safety action, so the earlier of the two.

Both are what PEP 495 gives for ``fold=0``; this module names the rule so it
is tested and documented in one place.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzlocal

__all__ = ["classify", "local_zone", "next_local_time", "resolve_local", "to_local_naive"]


def local_zone() -> dt.tzinfo:
    """The machine's zone (``$TZ``, else ``/etc/localtime``) as a zoneinfo zone."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        return tzlocal.get_localzone()  # reads /etc/localtime portably
    except Exception:  # an unreadable zone must not stop the stove guard: UTC is explicit
        return dt.UTC


def classify(naive: dt.datetime, zone: dt.tzinfo) -> str:
    """``"normal"``, ``"gap"`` (does not exist) or ``"fold"`` (exists twice) in ``zone``."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return "normal"
    back = first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    return "fold" if back == naive else "gap"


def resolve_local(naive: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The instant (aware, UTC) of a local wall time, by the module's DST rule."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)


def to_local_naive(instant: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """What a wall clock in ``zone`` showed at ``instant`` (naive)."""
    return instant.astimezone(zone).replace(tzinfo=None)


def next_local_time(hour: int, minute: int, now: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The next instant strictly after ``now`` at which the local clock reads HH:MM (by the rule)."""
    day = to_local_naive(now, zone).date()
    for offset in range(3):  # today, tomorrow; a third day only if a gap moved "tomorrow" oddly
        candidate = resolve_local(
            dt.datetime.combine(day + dt.timedelta(days=offset), dt.time(hour, minute)), zone
        )
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a time of day recurs within two days")  # pragma: no cover

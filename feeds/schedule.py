"""arXiv's announcement calendar: when to look for a new day's feed, and which day to expect.

arXiv announces at 20:00 US/Eastern, Sunday to Thursday, and dates each
mailing by the next day (Sunday evening's is Monday's list). The clock only
decides when to *look*; the date stored is always the feed's own. Holidays
are not listed here on purpose: the feed simply does not move on, the
crawler keeps polling, and the next evening's expectation supersedes it.
"""

from __future__ import annotations

import datetime as dt

from feeds.parse_rss import EASTERN

__all__ = [
    "ANNOUNCE_HOUR",
    "announced_at",
    "expected_listing_date",
    "last_announcement",
    "next_announcement",
]

ANNOUNCE_HOUR = 20
_ANNOUNCE_WEEKDAYS = frozenset({6, 0, 1, 2, 3})  # Sunday .. Thursday (date.weekday())


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(ANNOUNCE_HOUR), tzinfo=EASTERN)


def last_announcement(now: dt.datetime) -> dt.datetime:
    """The most recent announcement time at or before ``now`` (aware)."""
    today = now.astimezone(EASTERN).date()
    for back in range(8):
        day = today - dt.timedelta(days=back)
        if day.weekday() in _ANNOUNCE_WEEKDAYS and _at(day) <= now:
            return _at(day)
    raise AssertionError("unreachable: there is an announcement every week")  # pragma: no cover


def next_announcement(now: dt.datetime) -> dt.datetime:
    """The first announcement time strictly after ``now`` (aware)."""
    today = now.astimezone(EASTERN).date()
    for ahead in range(8):
        day = today + dt.timedelta(days=ahead)
        if day.weekday() in _ANNOUNCE_WEEKDAYS and _at(day) > now:
            return _at(day)
    raise AssertionError("unreachable: there is an announcement every week")  # pragma: no cover


def expected_listing_date(now: dt.datetime) -> dt.date:
    """The listing date the newest announcement by ``now`` carries (Sunday evening → Monday)."""
    return last_announcement(now).date() + dt.timedelta(days=1)


def announced_at(listing_date: dt.date) -> dt.datetime:
    """The instant arXiv announced the listing dated ``listing_date``: 20:00 US/Eastern the evening before.

    Monday's listing was announced on Sunday evening; the inverse of :func:`expected_listing_date`.
    """
    return _at(listing_date - dt.timedelta(days=1))

"""The daily announcement feed (rss.arxiv.org, RSS 2.0 or Atom), parsed with feedparser.

The announcement date is taken from the feed itself (Atom ``updated``, RSS
``lastBuildDate``/``pubDate``), read in US/Eastern where arXiv lives, never from
our clock: a lagging feed must look like yesterday's feed, not like today's.
One malformed entry is skipped and reported rather than losing the whole day;
a malformed document, an HTML page or arXiv's "Feed error" is a ParseError.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
import xml.sax
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import feedparser  # untyped: pyproject [tool.mypy] ignores its missing stubs

from core.errors import InputError, ParseError
from feeds.ids import parse_id
from feeds.records import AnnouncementRecord, PaperRecord, check_record
from feeds.tex import split_authors
from feeds.xmlsafe import parse_xml

__all__ = ["ANNOUNCE_TYPES", "FeedDay", "announce_date_of", "parse_feed"]

_LOGGER = logging.getLogger(__name__)
EASTERN = zoneinfo.ZoneInfo("America/New_York")
ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")
_DESC_RE = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[a-z-]+)\s*(?:Abstract:\s*)?(?P<abstract>.*)$",
    re.DOTALL,
)


@dataclass
class FeedDay:
    """One category's feed as arXiv served it."""

    category: str
    announce_date: dt.date | None  # None only for an empty feed without a date
    records: list[PaperRecord] = field(default_factory=list)
    announcements: list[AnnouncementRecord] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # why entries were skipped

    @property
    def empty(self) -> bool:
        return not self.records

    def type_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(ANNOUNCE_TYPES, 0)
        for a in self.announcements:
            counts[a.type] = counts.get(a.type, 0) + 1
        return counts


def announce_date_of(stamp: dt.datetime) -> dt.date:
    """The listing date a feed timestamp stands for, in arXiv's time zone.

    A feed built after the 20:00 ET announcement carries the next day's listing
    (arXiv dates a mailing by the day it is read), so evening stamps move on a day.
    """
    eastern = stamp.astimezone(EASTERN)
    day = eastern.date()
    if eastern.hour >= 20:
        day += dt.timedelta(days=1)
    return day


def _struct_to_utc(value: Any) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(calendar.timegm(value), tz=dt.UTC)


def _feed_stamp(feed: Any) -> dt.datetime | None:
    for key in ("updated_parsed", "published_parsed"):
        stamp = _struct_to_utc(feed.get(key))
        if stamp is not None:
            return stamp
    return None


def _is_fatal(exc: BaseException | None) -> bool:
    """feedparser sets ``bozo`` for harmless things too (a charset override); XML errors are fatal."""
    return isinstance(exc, xml.sax.SAXException) and not isinstance(exc, feedparser.CharacterEncodingOverride)


def parse_feed(content: bytes, category: str) -> FeedDay:
    """Parse one category's feed into records (partial) and announcements."""
    what = f"feed {category}"
    parse_xml(content, what)  # defusedxml first: refuses any DTD (in any encoding) before feedparser reads it
    try:
        d = feedparser.parse(content, sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser is lenient, but never let a library bug crash a crawl
        raise ParseError(f"{what}: feedparser failed: {exc}") from exc
    if d.get("bozo") and _is_fatal(d.get("bozo_exception")):
        raise ParseError(f"{what}: malformed XML ({d['bozo_exception']})")
    if not d.get("version"):
        raise ParseError(f"{what}: not an RSS or Atom feed")
    title = str(d.feed.get("title", ""))
    if title.lower().startswith("feed error"):
        raise ParseError(f"{what}: arXiv answered {title!r} (is {category!r} a valid category?)")
    stamp = _feed_stamp(d.feed)
    entries = d.get("entries", [])
    if stamp is None and entries:
        raise ParseError(f"{what}: the feed has entries but no date (updated/lastBuildDate/pubDate)")
    day = announce_date_of(stamp) if stamp else None
    out = FeedDay(category=category, announce_date=day)
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        try:
            record, kind = _entry(entry)
        except (ParseError, InputError) as exc:
            out.rejected.append(f"entry {position}: {exc}")
            continue
        if record.id in seen:
            out.rejected.append(f"entry {position}: duplicate {record.id}")
            continue
        seen.add(record.id)
        out.records.append(record)
        if day is not None:
            out.announcements.append(
                AnnouncementRecord(record.id, category, day, kind, len(out.announcements))
            )
    if entries and not out.records:
        raise ParseError(f"{what}: none of {len(entries)} entries could be read ({out.rejected[0]})")
    for reason in out.rejected[:5]:
        _LOGGER.warning("%s: skipped %s", what, reason)
    return out


def _entry(e: Any) -> tuple[PaperRecord, str]:
    guid = str(e.get("id") or e.get("link") or "")
    if not guid:
        raise ParseError("no id")
    paper_id, version = parse_id(guid)
    desc = str(e.get("summary", ""))
    m = _DESC_RE.match(desc)
    kind = str(e.get("arxiv_announce_type") or (m.group("type") if m else "")).strip().lower()
    if kind not in ANNOUNCE_TYPES:
        raise ParseError(f"{paper_id}: unknown announce type {kind!r}")
    if version is None and m:
        version = parse_id(m.group("id"))[1]
    abstract = m.group("abstract") if m else desc
    title = str(e.get("title", "")).strip()
    if not title:
        raise ParseError(f"{paper_id}: no title")
    authors_raw = str(e.get("author", "") or "")
    categories = [str(t.get("term")) for t in e.get("tags", []) if t.get("term")]
    v = version or 1
    record = PaperRecord(
        id=paper_id,
        title_tex=title,
        abstract_tex=abstract.strip(),
        authors_tex=authors_raw,
        authors=split_authors(authors_raw),
        journal_ref=_opt(e.get("arxiv_journal_reference") or e.get("arxiv_journal_ref")),
        doi=_opt(e.get("arxiv_doi")),
        categories=list(dict.fromkeys(categories)),
        license=_opt(e.get("rights")),
        latest_version=v,
        versions=[(v, None, None)],
        partial=True,
    )
    return check_record(record), kind


def _opt(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None

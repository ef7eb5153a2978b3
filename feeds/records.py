"""What every parser hands to the store: one paper, one announcement, as plain data.

Parsers keep arXiv's text as sent (TeX, line breaks); the store derives the
cleaned columns, so the rule for cleaning lives in one place. A record from
the daily feed is *partial*: the feed has no comments, no version dates and no
submission date, so its missing fields mean "unknown", not "empty".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from core.errors import ParseError

__all__ = ["AnnouncementRecord", "PaperRecord", "check_record", "parse_rfc822", "parse_w3c", "utc"]

CATEGORY_RE = re.compile(r"^[a-z][a-z-]{0,15}(?:\.[A-Za-z][A-Za-z-]{0,14})?$")
MAX_VERSION = 9999
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


@dataclass(slots=True)
class PaperRecord:
    id: str  # canonical, version-less
    title_tex: str
    abstract_tex: str = ""
    authors_tex: str = ""
    authors: list[str] = field(default_factory=list)  # cleaned, in order
    comments: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    report_no: str | None = None
    categories: list[str] = field(default_factory=list)  # primary first
    license: str | None = None
    submitted: dt.datetime | None = None  # v1, UTC
    updated: dt.datetime | None = None  # latest version, UTC
    latest_version: int = 1
    versions: list[tuple[int, dt.datetime | None, str | None]] = field(
        default_factory=list
    )  # (n, created, size)
    partial: bool = False

    @property
    def primary_category(self) -> str:
        return self.categories[0] if self.categories else ""


@dataclass(frozen=True, slots=True)
class AnnouncementRecord:
    paper_id: str
    category: str
    date: dt.date  # arXiv's announcement date, from the feed
    type: str  # new | cross | replace | replace-cross
    position: int = 0


def utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime; naive values (SQLite reads) are taken as UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_rfc822(text: str) -> dt.datetime:
    """``Mon, 2 Apr 2007 19:18:42 GMT`` (snapshot and arXivRaw version dates) as UTC.

    The common GMT form is split by hand: it is parsed millions of times in a
    snapshot import and ``email.utils`` is several times slower.
    """
    parts = text.split()
    try:
        if len(parts) == 6 and parts[5] in ("GMT", "UTC", "+0000"):
            h, mi, s = parts[4].split(":")
            return dt.datetime(
                int(parts[3]), _MONTHS[parts[2]], int(parts[1]), int(h), int(mi), int(s), tzinfo=dt.UTC
            )
        value = parsedate_to_datetime(text)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise ParseError(f"bad date {text[:60]!r}") from exc
    return utc(value)


def parse_w3c(text: str) -> dt.datetime:
    """``2016-05-26T17:59:46Z`` or a bare ``2014-12-29`` (API, OAI) as UTC."""
    t = text.strip()
    try:
        if len(t) == 10:
            return dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC)
        return utc(dt.datetime.fromisoformat(t.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ParseError(f"bad date {t[:60]!r}") from exc


def check_record(rec: PaperRecord) -> PaperRecord:
    """Refuse what the schema cannot hold or no arXiv paper has, before it reaches a batch.

    One hostile record must not fail a whole transaction (NUL bytes on
    PostgreSQL, lone surrogates anywhere, over-long categories), so each parser
    calls this per record.
    """
    if not rec.categories:
        raise ParseError(f"{rec.id}: no categories")
    for cat in rec.categories:
        if not CATEGORY_RE.match(cat):
            raise ParseError(f"{rec.id}: {cat[:40]!r} is not an arXiv category")
    if not rec.title_tex.strip():
        raise ParseError(f"{rec.id}: empty title")
    if not 1 <= rec.latest_version <= MAX_VERSION or any(not 1 <= v[0] <= MAX_VERSION for v in rec.versions):
        raise ParseError(f"{rec.id}: version number out of range")
    texts = (
        rec.title_tex,
        rec.abstract_tex,
        rec.authors_tex,
        rec.comments,
        rec.journal_ref,
        rec.doi,
        rec.report_no,
        rec.license,
        *rec.authors,
    )
    if any(t is not None and "\x00" in t for t in texts):
        raise ParseError(f"{rec.id}: NUL character in the metadata")
    for t in texts:
        if t is not None and not t.isascii():
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800" in JSON): no database stores it
                raise ParseError(
                    f"{rec.id}: {exc.object[exc.start : exc.end]!r} is a lone surrogate, not a character"
                ) from None
    for _, _, size in rec.versions:
        if size is not None and len(size) > 32:
            raise ParseError(f"{rec.id}: version size {size[:40]!r} is too long")
    return rec

"""The arXiv query API's Atom pages (``export.arxiv.org/api/query``).

arXiv reports a bad query as an ordinary feed holding one entry titled
"Error" (HTTP 400 or even 200); that entry must become an error, never a
paper called "Error". Everything else becomes complete records: the API has
all fields except the licence and report number.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from core.errors import InputError, ParseError
from feeds.ids import parse_id
from feeds.records import PaperRecord, check_record, parse_w3c
from feeds.tex import clean_name
from feeds.xmlsafe import parse_xml

__all__ = ["ApiError", "ApiPage", "parse_api"]

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


class ApiError(ParseError):
    """arXiv's API answered with its error entry (bad id, bad query)."""


@dataclass
class ApiPage:
    total: int
    start: int
    per_page: int
    records: list[PaperRecord] = field(default_factory=list)


def _text(el: ET.Element, tag: str) -> str | None:
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    text = child.text.strip()
    return text or None


def _int(root: ET.Element, tag: str, default: int) -> int:
    value = _text(root, OPENSEARCH + tag)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ParseError(f"API page: {tag} is not a number: {value[:40]!r}") from exc


def parse_api(content: bytes) -> ApiPage:
    """One page of API results; ApiError for arXiv's error entry, ParseError for bad XML."""
    root = parse_xml(content, "API response")
    if root.tag != ATOM + "feed":
        raise ParseError(f"API response: root element is {root.tag!r}, not an Atom feed")
    entries = root.findall(ATOM + "entry")
    for entry in entries:
        entry_id = _text(entry, ATOM + "id") or ""
        if "/api/errors" in entry_id or (_text(entry, ATOM + "title") == "Error" and "/abs/" not in entry_id):
            message = _text(entry, ATOM + "summary") or entry_id
            raise ApiError(f"arXiv API error: {message}")
    page = ApiPage(
        total=_int(root, "totalResults", len(entries)),
        start=_int(root, "startIndex", 0),
        per_page=_int(root, "itemsPerPage", len(entries)),
    )
    for entry in entries:
        page.records.append(_record(entry))
    return page


def _record(entry: ET.Element) -> PaperRecord:
    raw_id = _text(entry, ATOM + "id")
    if not raw_id:
        raise ParseError("API entry without an id")
    try:
        paper_id, version = parse_id(raw_id)
    except InputError as exc:
        raise ParseError(f"API entry id {raw_id[:80]!r} is not an arXiv id") from exc
    title = _text(entry, ATOM + "title")
    if title is None:
        raise ParseError(f"API entry {paper_id} has no title")
    published = _text(entry, ATOM + "published")
    updated = _text(entry, ATOM + "updated")
    submitted = parse_w3c(published) if published else None
    latest = parse_w3c(updated) if updated else submitted
    names = [n for a in entry.findall(ATOM + "author") if (n := _text(a, ATOM + "name"))]
    categories = [c.get("term", "") for c in entry.findall(ATOM + "category") if c.get("term")]
    primary_el = entry.find(ARXIV + "primary_category")
    primary = primary_el.get("term") if primary_el is not None else None
    if primary:
        categories = [primary, *(c for c in categories if c != primary)]
    v = version or 1
    versions: list[tuple[int, dt.datetime | None, str | None]] = [(v, latest, None)]
    if v > 1 and submitted is not None:
        versions.insert(0, (1, submitted, None))
    return check_record(
        PaperRecord(
            id=paper_id,
            title_tex=title,
            abstract_tex=_text(entry, ATOM + "summary") or "",
            authors_tex=", ".join(names),
            authors=[clean_name(n) for n in names],
            comments=_text(entry, ARXIV + "comment"),
            journal_ref=_text(entry, ARXIV + "journal_ref"),
            doi=_text(entry, ARXIV + "doi"),
            categories=list(dict.fromkeys(categories)),
            submitted=submitted,
            updated=latest,
            latest_version=v,
            versions=versions,
        )
    )

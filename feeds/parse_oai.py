"""OAI-PMH ``ListRecords`` pages in arXiv's ``arXivRaw`` and ``arXiv`` metadata formats.

``arXivRaw`` is what the backfill asks for: it is the only OAI format with
every version and its date. ``arXiv`` (the recorded sample's format) has
split author names but only the first and last dates, so its version count is
a lower bound. ``noRecordsMatch`` is an empty page, not an error; any other
OAI error code is.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TypedDict

from core.errors import InputError, ParseError
from feeds.ids import parse_id
from feeds.records import PaperRecord, check_record, parse_rfc822, parse_w3c
from feeds.tex import clean_name, split_authors
from feeds.xmlsafe import parse_xml

__all__ = ["OaiError", "OaiPage", "parse_oai"]

OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"
RAW = "{http://arxiv.org/OAI/arXivRaw/}"


class OaiError(ParseError):
    """The OAI-PMH server answered with an error code other than noRecordsMatch."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"OAI-PMH error {code}: {message}")
        self.code = code


@dataclass
class OaiPage:
    records: list[PaperRecord] = field(default_factory=list)
    resumption_token: str | None = None  # None: last page
    response_date: str | None = None
    deleted: list[str] = field(default_factory=list)


class _Common(TypedDict):
    """The ``PaperRecord`` fields both metadata formats carry alike."""

    id: str
    title_tex: str
    abstract_tex: str
    comments: str | None
    journal_ref: str | None
    doi: str | None
    report_no: str | None
    categories: list[str]
    license: str | None


def _t(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    text = child.text.strip()
    return text or None


def parse_oai(content: bytes) -> OaiPage:
    """One ListRecords page; OaiError for OAI error codes, ParseError for anything malformed."""
    root = parse_xml(content, "OAI-PMH response")
    if root.tag != OAI + "OAI-PMH":
        raise ParseError(f"OAI-PMH response: root element is {root.tag!r}")
    page = OaiPage(response_date=_t(root, OAI + "responseDate"))
    errors = root.findall(OAI + "error")
    if errors:
        code = errors[0].get("code", "unknown")
        if code == "noRecordsMatch":
            return page
        raise OaiError(code, (errors[0].text or "").strip()[:300])
    listing = root.find(OAI + "ListRecords")
    if listing is None:
        raise ParseError("OAI-PMH response: no ListRecords element")
    for rec in listing.findall(OAI + "record"):
        header = rec.find(OAI + "header")
        if header is not None and header.get("status") == "deleted":
            ident = _t(header, OAI + "identifier") or ""
            page.deleted.append(ident)
            continue
        meta = rec.find(OAI + "metadata")
        if meta is None or len(meta) == 0:
            raise ParseError(f"OAI-PMH record without metadata ({_t(header, OAI + 'identifier')})")
        body = meta[0]
        if body.tag == RAW + "arXivRaw":
            page.records.append(_raw_record(body))
        elif body.tag == ARXIV + "arXiv":
            page.records.append(_arxiv_record(body))
        else:
            raise ParseError(f"OAI-PMH record in an unsupported metadata format {body.tag!r}")
    token_el = listing.find(OAI + "resumptionToken")
    if token_el is not None and token_el.text and token_el.text.strip():
        page.resumption_token = token_el.text.strip()
    return page


def _paper_id(raw: str | None) -> str:
    if not raw:
        raise ParseError("OAI-PMH record without an id")
    try:
        return parse_id(raw)[0]
    except InputError as exc:
        raise ParseError(f"OAI-PMH record id {raw[:80]!r} is not an arXiv id") from exc


def _common(el: ET.Element, ns: str, paper_id: str) -> _Common:
    title = _t(el, ns + "title")
    if title is None:
        raise ParseError(f"OAI-PMH record {paper_id} has no title")
    cats = (_t(el, ns + "categories") or "").split()
    if not cats:
        raise ParseError(f"OAI-PMH record {paper_id} has no categories")
    return {
        "id": paper_id,
        "title_tex": title,
        "abstract_tex": _raw_text(el, ns + "abstract"),
        "comments": _t(el, ns + "comments"),
        "journal_ref": _t(el, ns + "journal-ref"),
        "doi": _t(el, ns + "doi"),
        "report_no": _t(el, ns + "report-no"),
        "categories": list(dict.fromkeys(cats)),
        "license": _t(el, ns + "license"),
    }


def _raw_text(el: ET.Element, tag: str) -> str:
    child = el.find(tag)
    return child.text if child is not None and child.text else ""


def _raw_record(el: ET.Element) -> PaperRecord:
    paper_id = _paper_id(_t(el, RAW + "id"))
    fields = _common(el, RAW, paper_id)
    versions: list[tuple[int, dt.datetime | None, str | None]] = []
    for v in el.findall(RAW + "version"):
        label = v.get("version", "")
        if not (label.startswith("v") and label[1:].isdigit()):
            raise ParseError(f"OAI-PMH record {paper_id}: bad version label {label!r}")
        date = _t(v, RAW + "date")
        versions.append((int(label[1:]), parse_rfc822(date) if date else None, _t(v, RAW + "size")))
    if not versions:
        raise ParseError(f"OAI-PMH record {paper_id} has no versions")
    versions.sort(key=lambda x: x[0])
    authors_tex = _t(el, RAW + "authors") or ""
    return check_record(
        PaperRecord(
            authors_tex=authors_tex,
            authors=split_authors(authors_tex),
            submitted=versions[0][1],
            updated=versions[-1][1],
            latest_version=versions[-1][0],
            versions=versions,
            **fields,
        )
    )


def _arxiv_record(el: ET.Element) -> PaperRecord:
    paper_id = _paper_id(_t(el, ARXIV + "id"))
    fields = _common(el, ARXIV, paper_id)
    names = []
    authors_el = el.find(ARXIV + "authors")
    for a in authors_el.findall(ARXIV + "author") if authors_el is not None else []:
        parts = [_t(a, ARXIV + "forenames"), _t(a, ARXIV + "keyname")]
        name = " ".join(p for p in parts if p)
        suffix = _t(a, ARXIV + "suffix")
        if suffix:
            name = f"{name} {suffix}"
        if name:
            names.append(name)
    created = _t(el, ARXIV + "created")
    updated = _t(el, ARXIV + "updated")
    submitted = parse_w3c(created) if created else None
    last = parse_w3c(updated) if updated else submitted
    return check_record(
        PaperRecord(
            authors_tex=", ".join(names),
            authors=[clean_name(n) for n in names],
            submitted=submitted,
            updated=last,
            latest_version=2 if updated else 1,  # a lower bound: this format has no version list
            versions=[(1, submitted, None)],
            **fields,
        )
    )

"""Atom 1.0 feeds (RFC 4287) for a category list and for a search, built with ElementTree.

ElementTree escapes text and attributes itself; characters XML 1.0 forbids
(control characters that slipped into a title) are removed first, since no
escaping makes them legal. Every link passes :func:`search.web.urls.safe_url`
(http/https only); one that does not is left out, as a feed reader would
otherwise make it clickable.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from search.web.urls import safe_url

__all__ = ["FeedEntry", "atom_feed", "xml_text"]

ATOM_NS = "http://www.w3.org/2005/Atom"
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str | None) -> str:
    return _INVALID_XML.sub("", text or "")


def _ts(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        value = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FeedEntry:
    id: str
    title: str
    summary: str
    authors: list[str]
    categories: list[str]
    updated: dt.datetime | dt.date | None
    published: dt.datetime | dt.date | None
    link: str  # the local page


def atom_feed(
    *, feed_id: str, title: str, self_url: str, html_url: str, entries: Iterable[FeedEntry]
) -> bytes:
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        if "href" in attrs and safe_url(attrs["href"]) is None:
            return ET.Element(f"{{{ATOM_NS}}}{tag}")  # not attached: an unsafe link is left out
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = xml_text(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", feed_id)
    sub(feed, "title", title)
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    sub(feed, "link", rel="alternate", type="text/html", href=html_url)
    author = sub(feed, "author")
    sub(author, "name", "coolstove")
    sub(feed, "generator", "coolstove")
    updated_el = sub(feed, "updated")
    newest = ""
    for e in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", f"https://arxiv.org/abs/{e.id}")
        sub(entry, "title", " ".join(e.title.split()))
        stamp = _ts(e.updated or e.published)
        newest = max(newest, stamp)
        sub(entry, "updated", stamp)
        if e.published is not None:
            sub(entry, "published", _ts(e.published))
        for name in e.authors:
            sub(sub(entry, "author"), "name", name)
        for cat in e.categories:
            sub(entry, "category", term=cat, scheme="https://arxiv.org/archive/")
        sub(entry, "link", rel="alternate", type="text/html", href=e.link)
        sub(
            entry,
            "link",
            rel="related",
            type="text/html",
            href=f"https://arxiv.org/abs/{e.id}",
            title="arXiv",
        )
        sub(
            entry,
            "link",
            rel="related",
            type="application/pdf",
            href=f"https://arxiv.org/pdf/{e.id}",
            title="pdf",
        )
        sub(entry, "summary", e.summary, type="text")
    updated_el.text = newest or _ts(dt.datetime.now(dt.UTC))
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
        feed, encoding="utf-8", xml_declaration=False
    )

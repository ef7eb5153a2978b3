"""Long lists in pages of N papers (``?page=``): a day list's sections cut where the page falls.

A day list is one numbered run through its sections (new, cross-list, replacement): page k shows
papers ``(k-1)·N + 1`` … ``k·N`` of that run, numbered as on the whole list, each under its section's
heading (a section that began on an earlier page says "continued"). Without JavaScript the reader
follows "next" / "previous" links; ``lazylist.js`` fetches the next page as the reader scrolls and
appends its papers to the same sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import InputError

__all__ = ["ListPage", "PageSection", "page_number", "paginate"]


@dataclass
class PageSection:
    key: str  # "new", "cross", "replaced" (the element's id on the page where it begins)
    title: str
    papers: list[Any]
    total: int  # papers in the whole section
    continued: bool  # began on an earlier page


@dataclass
class ListPage:
    number: int  # 1-based
    pages: int
    size: int
    total: int
    start: int  # papers before this page (its first is numbered start + 1)
    sections: list[PageSection]
    first_page: dict[str, int]  # the page each section begins on

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

    @property
    def end(self) -> int:
        return self.start + sum(len(s.papers) for s in self.sections)


def page_number(text: str | None) -> int:
    """``?page=`` as a number (missing: 1); InputError when it is not a positive integer."""
    if text is None or text == "":
        return 1
    if not text.isdigit() or len(text) > 6 or int(text) < 1:
        raise InputError(f"page must be a positive number, got {text[:20]!r}")
    return int(text)


def paginate(sections: list[tuple[str, str, list[Any]]], number: int, size: int) -> ListPage:
    """Page ``number`` of ``size`` papers through ``sections`` ((key, title, papers), in order).

    A page past the end raises InputError (page 1 of an empty list is an empty page).
    """
    total = sum(len(papers) for _, _, papers in sections)
    pages = max(1, -(-total // size))
    if number > pages:
        raise InputError(f"there are {pages} page{'s' if pages != 1 else ''} of {size} papers, not {number}")
    start = (number - 1) * size
    stop = start + size
    out: list[PageSection] = []
    first_page: dict[str, int] = {}
    offset = 0
    for key, title, papers in sections:
        if papers:
            first_page[key] = offset // size + 1
        lo, hi = max(start, offset), min(stop, offset + len(papers))
        if lo < hi:
            out.append(PageSection(key, title, papers[lo - offset : hi - offset], len(papers), lo > offset))
        offset += len(papers)
    return ListPage(number, pages, size, total, start, out, first_page)

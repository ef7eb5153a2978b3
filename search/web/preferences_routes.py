"""The ❤ preferences: ``/preferences`` (list, add, re-weight, remove keywords) and its word cloud.

The keywords live in the database (``feeds.models.Preference``), shared by every browser of
this instance as the stars are. Changes are plain POST forms (no JavaScript needed), refused
cross-site by their Origin as the star forms are, and written through ``db.write``. The day
lists' ❤ order (``?sort=pref``) asks :func:`day_hearts` for each paper's score.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import InputError
from feeds.models import Preference
from search.ports import PaperDatabase
from search.preferences import (
    MAX_KEYWORDS,
    MAX_WEIGHT,
    MIN_WEIGHT,
    Match,
    Scorer,
    clean_keyword,
    clean_weight,
    keyword_key,
)
from search.web import pages
from search.web.catspec import parse_spec
from search.web.wordcloud import cloud_svg

__all__ = ["Hearts", "day_hearts", "load_keywords", "make_preferences_router"]

MAX_FORM_BYTES = 8192
SVG_TYPE = "image/svg+xml"


def load_keywords(session: Session) -> list[tuple[str, int]]:
    """Every keyword and its weight, heaviest first, then alphabetically."""
    rows = session.execute(
        select(Preference.keyword, Preference.weight).order_by(Preference.weight.desc(), Preference.keyword)
    )
    return [(k, w) for k, w in rows]


def add_keyword(session: Session, keyword: str, weight: int, now: dt.datetime | None = None) -> str:
    """Add a keyword, or re-weight the one it equals (case, accents and punctuation aside); says which."""
    key = keyword_key(keyword)
    for row in session.scalars(select(Preference)):
        if keyword_key(row.keyword) == key:
            row.weight = weight
            return f"“{row.keyword}” was there already: its weight is now {weight}"
    count = session.execute(select(func.count()).select_from(Preference)).scalar_one()
    if count >= MAX_KEYWORDS:
        raise InputError(f"at most {MAX_KEYWORDS} keywords: remove one first")
    session.add(Preference(keyword=keyword, weight=weight, added_at=now or dt.datetime.now(dt.UTC)))
    return f"added “{keyword}” (weight {weight})"


def set_weight(session: Session, keyword: str, weight: int) -> str:
    row = session.get(Preference, keyword)
    if row is None:
        raise InputError(f"there is no keyword “{keyword}”")
    row.weight = weight
    return f"“{keyword}” now weighs {weight}"


def remove_keyword(session: Session, keyword: str) -> str:
    row = session.get(Preference, keyword)
    if row is None:
        raise InputError(f"there is no keyword “{keyword}”")
    session.delete(row)
    return f"removed “{keyword}”"


@dataclass
class Hearts:
    """A list's ❤ scores: per paper id, the keywords, per keyword the papers matched, and the cloud."""

    keywords: list[tuple[str, int]]
    matches: dict[str, Match] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def scores(self) -> dict[str, int]:
        return {pid: m.score for pid, m in self.matches.items()}

    def cloud(self) -> Markup:
        """The cloud as an element for a page (each word a link to a search for it)."""
        return Markup(cloud_svg(self.keywords, self.counts, standalone=False))  # noqa: S704 (escaped inside)


def score_papers(keywords: list[tuple[str, int]], papers: Sequence[pages.PaperView]) -> Hearts:
    """Each paper's :class:`Match` against ``keywords`` and how many papers each keyword matched."""
    out = Hearts(keywords)
    scorer = Scorer(keywords)
    if not scorer:
        return out
    counts = dict.fromkeys((k for k, _ in keywords), 0)
    for p in papers:
        m = scorer.score(p.title, p.abstract, p.authors)
        out.matches[p.id] = m
        for k in m.keywords:
            counts[k] += 1
    out.counts = counts
    return out


async def day_hearts(db: PaperDatabase, papers: Sequence[pages.PaperView]) -> Hearts:
    """The keywords read from the database, scored against a list's papers."""
    keywords = await db.read(load_keywords)
    return score_papers(keywords, papers)


def _latest_day_hearts(categories: Sequence[str]) -> Callable[[Session], Hearts]:
    def read(session: Session) -> Hearts:
        keywords = load_keywords(session)
        if not keywords or not categories:
            return Hearts(keywords)
        listing = pages.day_list(session, parse_spec("+".join(categories)), None)
        return score_papers(keywords, listing.papers())

    return read


def make_preferences_router(
    db: PaperDatabase,
    render: Callable[..., HTMLResponse],
    same_origin: Callable[[Request], bool],
    categories: Sequence[str] = (),
) -> APIRouter:
    """``/preferences`` and ``/preferences/cloud.svg``; ``render(template, status, **ctx)`` draws pages."""
    router = APIRouter(include_in_schema=False)
    spec_text = "+".join(categories)

    async def page(status: int = 200, message: str | None = None, error: str | None = None,
                   typed: str = "", typed_weight: int = 3) -> HTMLResponse:
        hearts = await db.read(_latest_day_hearts(categories))
        return render(
            "preferences.html", status=status, hearts=hearts, message=message, error=error, typed=typed,
            typed_weight=typed_weight, weights=range(MIN_WEIGHT, MAX_WEIGHT + 1), max_keywords=MAX_KEYWORDS,
            spec_text=spec_text,
        )

    @router.get("/preferences", response_class=HTMLResponse)
    async def preferences_page(done: str = "") -> HTMLResponse:
        return await page(message=done[:400] or None)

    @router.post("/preferences", response_model=None)
    async def change(request: Request) -> Response:
        if not same_origin(request):
            return Response("cross-site request refused", status_code=403, media_type="text/plain")
        raw = await request.body()
        if len(raw) > MAX_FORM_BYTES:
            return await page(400, error=f"the form is larger than {MAX_FORM_BYTES} bytes")
        try:
            form = urllib.parse.parse_qs(
                raw.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=8
            )
        except (UnicodeDecodeError, ValueError):
            return await page(400, error="the form could not be read (not UTF-8, or too many fields)")

        def one(name: str, default: str = "") -> str:
            return (form.get(name) or [default])[0]

        action = one("action", "add")
        typed = one("keyword")[:1000]
        try:
            weight = clean_weight(one("weight", "3")) if action != "remove" else MIN_WEIGHT
            if action == "add":
                keyword = clean_keyword(typed)
                done = await db.write(lambda s: add_keyword(s, keyword, weight))
            elif action == "weight":
                done = await db.write(lambda s: set_weight(s, typed, weight))
            elif action == "remove":
                done = await db.write(lambda s: remove_keyword(s, typed))
            else:
                raise InputError("action must be add, weight or remove")
        except InputError as exc:
            return await page(400, error=str(exc), typed=typed if action == "add" else "")
        return RedirectResponse("/preferences?" + urllib.parse.urlencode({"done": done}), status_code=303)

    @router.get("/preferences/cloud.svg", response_model=None)
    async def cloud(request: Request) -> Response:
        hearts = await db.read(_latest_day_hearts(categories))
        body = cloud_svg(hearts.keywords, hearts.counts or None, link=False)
        return Response(body, media_type=SVG_TYPE, headers={"Cache-Control": "no-cache"})

    return router

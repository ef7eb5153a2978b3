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
from typing import Protocol

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
from search.results import SearchResult
from search.web import pages
from search.web.catspec import parse_spec
from search.web.wordcloud import cloud_svg

__all__ = ["Hearts", "day_hearts", "load_keywords", "make_preferences_router", "rerank_hits"]

MAX_FORM_BYTES = 8192
SVG_TYPE = "image/svg+xml"


def load_keywords(session: Session) -> list[tuple[str, int]]:
    """Every keyword and its weight, heaviest first, then alphabetically."""
    rows = session.execute(
        select(Preference.keyword, Preference.weight).order_by(Preference.weight.desc(), Preference.keyword)
    )
    return [(k, w) for k, w in rows]


def add_keyword(
    session: Session, keyword: str, weight: int, now: dt.datetime | None = None
) -> tuple[str, str]:
    """Add a keyword, or re-weight the one it equals (case, accents and punctuation aside): ``("added",
    keyword)`` or ``("existing", the keyword stored)``."""
    key = keyword_key(keyword)
    for row in session.scalars(select(Preference)):
        if keyword_key(row.keyword) == key:
            row.weight = weight
            return "existing", row.keyword
    count = session.execute(select(func.count()).select_from(Preference)).scalar_one()
    if count >= MAX_KEYWORDS:
        raise InputError(f"at most {MAX_KEYWORDS} keywords: remove one first")
    session.add(Preference(keyword=keyword, weight=weight, added_at=now or dt.datetime.now(dt.UTC)))
    return "added", keyword


def set_weight(session: Session, keyword: str, weight: int) -> tuple[str, str]:
    row = session.get(Preference, keyword)
    if row is None:
        raise InputError(f"there is no keyword “{keyword}”")
    row.weight = weight
    return "weight", keyword


def remove_keyword(session: Session, keyword: str) -> tuple[str, str]:
    row = session.get(Preference, keyword)
    if row is None:
        raise InputError(f"there is no keyword “{keyword}”")
    session.delete(row)
    return "removed", keyword


def _done_message(done: str, keyword: str, weights: dict[str, int]) -> str | None:
    """What the last change did, said only when it is so (a link cannot make the page say anything else)."""
    weight = weights.get(keyword)
    if done == "added" and weight is not None:
        return f"added “{keyword}” (weight {weight})"
    if done == "existing" and weight is not None:
        return f"“{keyword}” was there already: its weight is now {weight}"
    if done == "weight" and weight is not None:
        return f"“{keyword}” now weighs {weight}"
    if done == "removed" and keyword and weight is None:
        return f"removed “{keyword}”"
    return None


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


class Scorable(Protocol):
    """A paper as a day list (``PaperView``) or a search (``Hit``) has it."""

    id: str
    title: str
    abstract: str
    authors: list[str]


def score_papers(keywords: list[tuple[str, int]], papers: Sequence[Scorable]) -> Hearts:
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


async def day_hearts(db: PaperDatabase, papers: Sequence[Scorable]) -> Hearts:
    """The keywords read from the database, scored against a list's papers."""
    keywords = await db.read(load_keywords)
    return score_papers(keywords, papers)


async def rerank_hits(db: PaperDatabase, result: SearchResult, page: int, pagelen: int = 20) -> Hearts:
    """Reorder a deep first page of relevance hits by ❤ score (ties: by relevance), then cut ``page``."""
    hearts = await day_hearts(db, result.hits)
    depth = len(result.hits)
    ordered = sorted(result.hits, key=lambda h: -hearts.matches[h.id].score if h.id in hearts.matches else 0)
    for i, h in enumerate(ordered, start=1):
        h.rank = i
    result.sort, result.page, result.pagelen = "pref", page, pagelen
    result.total, result.total_exact, result.capped = depth, True, result.total > depth
    if page < 1 or (page - 1) * pagelen >= max(depth, 1):
        result.hits = []
        result.error = f"❤ reorders the best {depth} matches: pages 1 to {result.pages or 1}"
    else:
        result.hits = ordered[(page - 1) * pagelen : page * pagelen]
    return hearts


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

    async def page(status: int = 200, error: str | None = None, typed: str = "", typed_weight: int = 3,
                   done: str = "", done_keyword: str = "") -> HTMLResponse:
        hearts = await db.read(_latest_day_hearts(categories))
        message = _done_message(done, done_keyword, dict(hearts.keywords))
        return render(
            "preferences.html", status=status, hearts=hearts, message=message, error=error, typed=typed,
            typed_weight=typed_weight, weights=range(MIN_WEIGHT, MAX_WEIGHT + 1), max_keywords=MAX_KEYWORDS,
            spec_text=spec_text,
        )

    @router.get("/preferences", response_class=HTMLResponse)
    async def preferences_page(done: str = "", k: str = "") -> HTMLResponse:
        return await page(done=done, done_keyword=k)

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
        what, stored = done
        return RedirectResponse(
            "/preferences?" + urllib.parse.urlencode({"done": what, "k": stored}), status_code=303
        )

    @router.get("/preferences/cloud.svg", response_model=None)
    async def cloud(request: Request) -> Response:
        hearts = await db.read(_latest_day_hearts(categories))
        body = cloud_svg(hearts.keywords, hearts.counts or None, link=False)
        return Response(body, media_type=SVG_TYPE, headers={"Cache-Control": "no-cache"})

    return router

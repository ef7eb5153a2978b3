"""For you: the newest day of the reader's categories ranked by a model of their stars, as a page and a feed.

:mod:`search.recommend` does the learning; this module puts its scores on
papers (``because`` holds each one's top shared words), reorders search hits,
and serves ``/foryou`` and ``/foryou/feed``. With fewer than
:data:`search.recommend.MIN_STARS` stars every view says so and keeps arXiv's order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from jinja2 import Environment
from sqlalchemy.orm import Session

from core.config import Config
from core.errors import InputError
from feeds.store import announced_at
from search.ports import PaperDatabase
from search.query import QueryError, parse_date
from search.recommend import Ranking, Recommender
from search.results import SearchResult
from search.web import pages
from search.web.atom import FeedEntry, atom_feed
from search.web.catspec import CategorySpec

__all__ = ["RERANK", "make_foryou_router", "rank_papers", "rerank_hits"]

RERANK = 100  # search's For you order reorders this many of the best matches
SHOWN = 50  # papers on /foryou and in its feed, unless ?n= says otherwise
MAX_SHOWN = 200


async def rank_papers(recommender: Recommender, papers: Sequence[pages.PaperView]) -> Ranking:
    """Score ``papers`` and set each one's ``because`` (nothing is set when there is no model)."""
    ranking = await recommender.rank([(p.id, p.title, p.abstract) for p in papers])
    for p in papers:
        p.because = ranking.because.get(p.id, [])
    return ranking


async def rerank_hits(
    recommender: Recommender, result: SearchResult, page: int, pagelen: int = 20
) -> Ranking:
    """Reorder a deep first page of relevance hits by the model, then cut ``page`` out of it."""
    hits = result.hits
    ranking = await recommender.rank([(h.id, h.title, h.abstract) for h in hits if h.in_database])
    by_id = {h.id: h for h in hits}
    ordered = [by_id[pid] for pid in ranking.order([h.id for h in hits])]
    for i, h in enumerate(ordered, start=1):
        h.rank = i
        h.because = ranking.because.get(h.id, [])
    result.sort, result.page, result.pagelen = "foryou", page, pagelen
    result.total, result.total_exact, result.capped = len(ordered), True, result.total > len(ordered)
    if page < 1 or (page - 1) * pagelen >= max(len(ordered), 1):
        result.hits = []
        result.error = f"For you reorders the best {RERANK} matches: pages 1 to {result.pages or 1}"
    else:
        result.hits = ordered[(page - 1) * pagelen : page * pagelen]
    return ranking


def _args(request: Request) -> tuple[dt.date | None, int]:
    """``?date=`` and ``?n=``; InputError or QueryError when they are not a date and a count."""
    q = request.query_params
    date_text = (q.get("date") or "").strip()
    day = parse_date(date_text) if date_text else None
    n_text = q.get("n") or str(SHOWN)
    if not (n_text.isascii() and n_text.isdigit()) or not 1 <= int(n_text) <= MAX_SHOWN:  # "²" is a digit too
        raise InputError(f"n must be a number from 1 to {MAX_SHOWN}")
    return day, int(n_text)


def make_foryou_router(
    cfg: Config, db: PaperDatabase, env: Environment, recommender: Recommender
) -> APIRouter:
    """``/foryou`` and ``/foryou/feed``, rendered with the paper pages' templates."""
    router = APIRouter(include_in_schema=False)
    spec = CategorySpec(tuple(cfg.papers.categories))

    def day_with_stars(session: Session, day: dt.date | None) -> pages.DayList:
        listing = pages.day_list(session, spec, day)
        pages.mark_starred(session, listing.papers())
        return listing

    async def ranked(day: dt.date | None, n: int) -> tuple[pages.DayList, list[pages.PaperView], Ranking]:
        if not spec.include:  # no [papers] categories: nothing to rank
            return pages.DayList(spec, None, {key: [] for key, _ in pages.SECTIONS}), [], Ranking()
        listing = await db.read(lambda s: day_with_stars(s, day))
        papers = listing.papers()
        ranking = await rank_papers(recommender, papers)
        by_id = {p.id: p for p in papers}
        return listing, [by_id[pid] for pid in ranking.order(list(by_id))][:n], ranking

    @router.get("/foryou", response_model=None)
    async def foryou_page(request: Request) -> Response:
        ctx: dict[str, Any] = {"configured": cfg.papers.categories, "spec": spec}
        try:
            day, n = _args(request)
        except (InputError, QueryError) as exc:
            page = env.get_template("error.html").render(message=str(exc), **ctx)
            return HTMLResponse(page, status_code=400)
        listing, top, ranking = await ranked(day, n)
        html = env.get_template("foryou.html").render(
            listing=listing, papers=top, ranking=ranking, requested=day, n=n, **ctx
        )
        return HTMLResponse(html, status_code=200 if listing.count else 404)

    @router.get("/foryou/feed", response_model=None)
    async def foryou_feed(request: Request) -> Response:
        try:
            day, n = _args(request)
        except (InputError, QueryError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        listing, top, ranking = await ranked(day, n)
        if listing.date is None or not listing.count:
            return PlainTextResponse(f"nothing is listed in {spec.text}", status_code=404)
        base = str(request.base_url).rstrip("/")
        listed = announced_at(listing.date)
        entries = [
            FeedEntry(
                p.id,
                p.title,
                (f"because: {', '.join(p.because)}\n\n" if p.because else "") + p.abstract,
                p.authors,
                p.categories,
                p.updated or p.submitted or listed,
                p.submitted or listed,
                f"{base}/arxiv/{p.id}",
            )
            for p in top
        ]
        body = atom_feed(
            feed_id=f"{base}/foryou/feed",
            title=f"For you: {spec.text} — {listing.date:%Y-%m-%d}"
            + ("" if ranking.ready else " (arXiv's order: too few stars)"),
            self_url=str(request.url),
            html_url=f"{base}/foryou",
            entries=entries,
        )
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    return router

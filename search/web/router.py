"""The paper pages as one FastAPI router: day lists, papers, search, stars, Atom feeds, static files.

Pages are server-rendered with Jinja2 (autoescape on: every title, author and
abstract is escaped), so reading needs no JavaScript; KaTeX, star toggling
without reload and the in-page keyword filter are progressive enhancements.
Star changes are POST forms; a cross-site POST is refused by its Origin.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session

from core.config import Config
from core.errors import ArxivUnreachable, InputError
from feeds.ids import normalize_id
from feeds.store import announced_at, set_star
from search.ports import FaqService, PaperDatabase, PaperSearch
from search.query import QueryError, parse_date
from search.recommend import Recommender
from search.results import Hit
from search.web import pages, preferences_routes
from search.web.atom import FeedEntry, atom_feed
from search.web.catspec import CategorySpec, parse_spec
from search.web.cite import bibtex, citation_meta, ris
from search.web.clicks import make_click_router, mark_clicks
from search.web.faq import faq_router
from search.web.foryou import RERANK, make_foryou_router, rank_papers, rerank_hits
from search.web.origin import same_origin
from search.web.paging import page_number, paginate
from search.web.redirect import MAX_URL, local_path
from search.web.urls import safe_url

__all__ = ["STATIC_DIR", "STATIC_PREFIX", "make_router", "templates"]

_LOGGER = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static/papers"
FIRST_CHUNK = 2048
CHUNK = 64 * 1024
FETCH_WAIT_S = 4.0  # how long a paper page waits for an on-demand fetch before saying it is fetching
FETCHING_REFRESH_S = 5  # the "fetching" page reloads after this long
UNREACHABLE_REFRESH_S = 30  # arXiv unreachable: as often as the HTTP client probes it
MAX_FETCHING = 32  # different sets of ids being fetched at once for visitors; more wait for a slot

Fetch = Callable[[list[str]], Awaitable[list[str]]]


def _normalize_id(text: str) -> str:
    """The crawler's id normaliser (feeds.ids is the one authority on ids)."""
    return normalize_id(text)


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = STATIC_PREFIX
    env.globals["pdf_url"] = "https://arxiv.org/pdf/"  # make_router sets [papers] pdf_url
    env.filters["day"] = lambda d: d.strftime("%a, %d %b %Y") if d else ""
    env.filters["isoday"] = lambda d: d.isoformat()[:10] if d else ""
    env.filters["urlquote"] = lambda s: urllib.parse.quote(str(s), safe="")
    env.filters["safe_url"] = safe_url  # every URL from data passes it before it becomes an href
    env.filters["marks"] = marks
    env.globals["author_links"] = author_links
    env.globals["citation_meta"] = citation_meta
    return env


_MARK = Markup("<mark>%s</mark>")
_NO_MARKUP = Markup("")


_AUTHOR = Markup('<a class="author" href="/search?q=%s">%s</a>')
_COMMA = Markup(", ")


def author_links(authors: list[str], highlighted: list[list[tuple[str, bool]]] | None, start: int,
                 stop: int | None = None) -> Markup:
    """Authors ``start:stop`` as links to a search for each (``au:"name"``), highlighted where given.

    A filter for the same reason as :func:`marks`: a day list renders thousands of author links.
    """
    links = []
    for i, name in enumerate(authors[start:stop], start):
        query = urllib.parse.quote('au:"' + name + '"', safe="")
        text = marks(highlighted[i]) if highlighted and i < len(highlighted) else name
        links.append(_AUTHOR % (query, text))
    return _COMMA.join(links)


def marks(segments: list[tuple[str, bool]]) -> Markup:
    """Highlight segments as HTML, each text escaped, the matches in ``<mark>``.

    A filter rather than a loop in a macro: a page of 20 hits has hundreds of segments, and
    Jinja's loop over them was a visible part of the search page's rendering in a py-spy profile.
    """
    return _NO_MARKUP.join(_MARK % t if hit else t for t, hit in segments)  # join and % escape text


def _safe_next(value: str | None, default: str) -> str:
    """Only same-site paths are followed after a POST (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def make_router(
    cfg: Config, db: PaperDatabase, index: PaperSearch, fetch: Fetch | None = None,
    faq: FaqService | None = None,
) -> APIRouter:
    """The router for ``app.include_router(make_router(...))``; it mounts its own static files too.
    ``faq``: the [FAQ] button's service (None: no button)."""
    env = templates()
    env.globals["faq_languages"] = faq.languages if faq is not None else ()
    router = APIRouter(include_in_schema=False)  # HTML and Atom for browsers and feed readers, not an API
    router.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="papers-static")
    categories = cfg.papers.categories
    env.globals["pdf_url"] = cfg.papers.pdf_url  # [PDF] previews fetch from here; /go/pdf redirects here
    router.include_router(make_click_router(db, cfg.papers.pdf_url))
    page_size = cfg.papers.page_size
    recommender = Recommender(db)  # For you: one model of the stars, retrained lazily
    router.include_router(make_foryou_router(cfg, db, env, recommender))

    def render(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("configured", categories)
        ctx.setdefault("max_results", index.max_results)
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status)

    def render_stream(name: str, status: int = 200, **ctx: Any) -> StreamingResponse:
        """Stream a long page as it renders (a 500-paper day list is ~1 MB): the head arrives at once."""
        ctx.setdefault("configured", categories)
        pieces = env.get_template(name).generate(**ctx)

        async def body() -> AsyncIterator[bytes]:
            limit = FIRST_CHUNK
            while True:
                chunk = await asyncio.to_thread(_take, pieces, limit)
                if not chunk:
                    return
                yield chunk
                limit = CHUNK

        return StreamingResponse(body(), status_code=status, media_type="text/html; charset=utf-8")

    def error(status: int, message: str, **ctx: Any) -> HTMLResponse:
        return render("error.html", status=status, message=message, **ctx)

    if faq is not None:
        router.include_router(faq_router(faq, render))  # the [FAQ] pages and their event stream
    router.include_router(preferences_routes.make_preferences_router(db, render, same_origin, categories))

    # ------------------------------------------------------------ open any arXiv address here
    @router.get("/redirect", response_model=None)
    async def redirect(request: Request, url: str = "") -> Response:
        """An arXiv address or id: 303 to this instance's page for it; else a form and a bookmarklet."""
        base = str(request.base_url)
        if not url.strip():
            return render("redirect.html", url="", base=base, message=None)
        try:
            return RedirectResponse(local_path(url), status_code=303)
        except InputError as exc:
            return render("redirect.html", status=400, url=url[:MAX_URL], base=base, message=str(exc))

    @router.get("/opensearch.xml", response_model=None)
    async def opensearch(request: Request) -> Response:
        """An OpenSearch description, so a browser's address bar can search this instance."""
        return Response(opensearch_description(str(request.base_url)),
                        media_type="application/opensearchdescription+xml")

    # ------------------------------------------------------------ lists
    @router.get("/arxiv", response_class=HTMLResponse)
    async def arxiv_index() -> HTMLResponse:
        counts = await db.read(pages.category_counts)
        return render("categories.html", counts=counts)

    @router.get("/arxiv/{spec:path}", response_model=None)
    async def arxiv(
        request: Request, spec: str, date: str | None = None, kw: str | None = None, sort: str = "arxiv",
        page: str | None = None,
    ) -> Response:
        if spec.endswith("/feed"):
            return await category_feed(request, spec.removesuffix("/feed"))
        ids = _parse_ids(spec)
        if ids is not None:
            return await paper_page(request, ids)
        try:
            cats = parse_spec(spec)
            day = parse_date(date) if date else None
        except (InputError, QueryError) as exc:
            return error(
                404, f"{exc}. A list URL looks like /arxiv/cs.AI+cs.LG-cs.CY, a paper like /arxiv/2401.06769."
            )
        if sort not in pages.LIST_ORDERS:
            return error(400, f"sort must be one of: {', '.join(pages.LIST_ORDERS)}")
        listing = await db.read(lambda s: _day_with_stars(s, cats, day))
        hearts = await preferences_routes.day_hearts(db, listing.papers()) if sort == "pref" else None
        ranking = await rank_papers(recommender, listing.papers()) if sort == "foryou" else None
        scores = hearts.scores if hearts else ranking.scores if ranking else None
        pages.sort_sections(listing, sort, scores)
        try:  # one page of the list (lazylist.js appends the next ones as the reader scrolls)
            lp = paginate([(k, t, listing.sections[k]) for k, t in pages.SECTIONS], page_number(page),
                          page_size)
        except InputError as exc:
            return error(404, str(exc))
        months = await db.read(lambda s: pages.calendar(s, cats))
        status = 200 if listing.date is not None and listing.count else 404
        return render_stream(
            "day.html", status=status, listing=listing, months=months, spec=cats, requested=day, kw=kw or "",
            lp=lp,
            sort=sort, orders=pages.LIST_ORDERS, hearts=hearts,
            foryou_note=ranking.note if ranking else None,
        )

    async def category_feed(request: Request, spec_text: str) -> Response:
        try:
            cats = parse_spec(spec_text)
        except InputError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        listing = await db.read(lambda s: pages.day_list(s, cats, None))
        if listing.date is None or not listing.count:  # as the list page answers: nothing listed is a 404
            return PlainTextResponse(f"nothing is listed in {cats.text}", status_code=404)
        base = str(request.base_url).rstrip("/")
        day = listing.date
        entries = [
            _entry(base, p, _entry_instant(p.updated, p.submitted, day), p.submitted or announced_at(day))
            for p in listing.papers()
        ]
        body = atom_feed(
            feed_id=f"{base}/arxiv/{cats.text}/feed",
            title=f"arXiv {cats.text}" + (f" — {listing.date:%Y-%m-%d}" if listing.date else ""),
            self_url=_fetched_url(request),
            html_url=f"{base}/arxiv/{cats.text}",
            entries=entries,
        )
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    fetching: dict[tuple[str, ...], asyncio.Task[list[str]]] = {}

    def start_fetch(fetch: Fetch, missing: list[str]) -> asyncio.Task[list[str]] | None:
        """One background fetch per set of ids, shared by every visitor and reload; None when too many."""
        key = tuple(missing)
        task = fetching.get(key)
        if task is None:
            if len(fetching) >= MAX_FETCHING:
                return None
            task = asyncio.ensure_future(fetch(missing))
            fetching[key] = task

            def done(t: asyncio.Task[list[str]]) -> None:
                fetching.pop(key, None)
                if not t.cancelled() and t.exception() is not None:
                    _LOGGER.warning("on-demand fetch of %s failed: %s", ", ".join(key), t.exception())

            task.add_done_callback(done)
        return task

    def fetching_page(missing: list[str], exc: BaseException | None = None) -> HTMLResponse:
        if isinstance(exc, ArxivUnreachable):
            page = render("fetching.html", status=503, arxiv_ids=missing, unreachable=True, reason=str(exc),
                          refresh_s=UNREACHABLE_REFRESH_S)
            page.headers["Retry-After"] = str(UNREACHABLE_REFRESH_S)
            return page
        return render("fetching.html", status=202, arxiv_ids=missing, unreachable=False,
                      refresh_s=FETCHING_REFRESH_S)

    async def paper_page(request: Request, ids: list[str]) -> Response:
        found = await db.read(lambda s: _details_with_clicks(s, ids))
        missing = [pid for pid, view in zip(ids, found, strict=True) if view is None]
        note = None
        if missing and fetch is not None:
            task = start_fetch(fetch, missing)
            if task is None:
                return error(503, "too many papers are being fetched from arXiv right now; try again shortly")
            done, _ = await asyncio.wait({task}, timeout=FETCH_WAIT_S)
            if not done:  # arXiv's queue or arXiv itself is slow: say so now, the fetch goes on
                return fetching_page(missing)
            exc = task.exception()
            if isinstance(exc, ArxivUnreachable):
                return fetching_page(missing, exc)
            if exc is not None:
                note = f"arXiv could not be reached for {', '.join(missing)}: {exc}"
            found = await db.read(lambda s: _details_with_clicks(s, ids))
        papers = [p for p in found if p is not None]
        missing = [pid for pid, view in zip(ids, found, strict=True) if view is None]
        if not papers:
            msg = note or f"{', '.join(missing)}: not in the local database" + (
                "" if fetch is None else " and not found on arXiv"
            )
            return error(404, msg, arxiv_ids=missing)
        return render("paper.html", papers=papers, missing=missing, note=note, path=request.url.path)

    # ------------------------------------------------------------ search
    def _search_args(request: Request) -> dict[str, Any]:
        q = request.query_params
        out: dict[str, Any] = {"sort": q.get("sort", "relevance") or "relevance"}
        try:
            out["page"] = int(q.get("page", "1") or 1)
        except ValueError:
            out["page"] = 0  # reported by the index as a bad page
        cat = (q.get("cat") or "").strip()
        out["cat"] = cat
        if cat:
            spec = parse_spec(cat).expanded()  # an alias filters as its category (cs.NA is math.NA)
            out["categories"], out["exclude"] = list(spec.include), list(spec.exclude)
        for key in ("since", "until"):
            value = (q.get(key) or "").strip()
            out[key + "_text"] = value
            if value:
                out[key] = parse_date(value, end=key == "until")
        return out

    @router.get("/search", response_class=HTMLResponse)
    async def search_page(request: Request) -> HTMLResponse:
        q = request.query_params.get("q")
        rel = request.query_params.get("rel")
        form: dict[str, Any] = {
            "q": q or "",
            "cat": "",
            "since_text": "",
            "until_text": "",
            "sort": "relevance",
        }
        if rel:
            try:
                pid = _normalize_id(rel)
            except InputError as exc:
                return render("search.html", status=400, form=form, result=None, message=str(exc))
            result = await asyncio.to_thread(index.related, pid, 20, db=db)
            await db.read(lambda s: _stars_on_hits(s, result.hits))
            return render(
                "search.html", status=200 if result.ok else 404, form=form, result=result, related=pid
            )
        if q is None:
            return render("search.html", form=form, result=None)
        try:
            args = _search_args(request)
        except (InputError, QueryError) as exc:
            return render("search.html", status=400, form=form, result=None, message=str(exc))
        form.update({k: args.get(k, form.get(k)) for k in ("cat", "since_text", "until_text", "sort")})
        foryou = args["sort"] == "foryou"  # the best RERANK matches by relevance, reordered by the model
        deep = foryou or args["sort"] == "pref"  # ❤: the same matches, reordered by the preference keywords
        result = await asyncio.to_thread(
            index.search,
            q,
            categories=args.get("categories"),
            exclude=args.get("exclude"),
            since=args.get("since"),
            until=args.get("until"),
            sort="relevance" if deep else args["sort"],
            page=1 if deep else args["page"],
            pagelen=RERANK if deep else 20,
            db=db,
        )
        ranking = await rerank_hits(recommender, result, args["page"]) if foryou and result.ok else None
        hearts = (
            await preferences_routes.rerank_hits(db, result, args["page"])
            if args["sort"] == "pref" and result.ok else None
        )
        await db.read(lambda s: _stars_on_hits(s, result.hits))
        return render(
            "search.html",
            status=200 if result.ok else 400,
            form=form,
            result=result,
            page_query=_page_query(request),
            foryou_note=ranking.note if ranking else None,
            hearts=hearts,
        )

    @router.get("/search/feed", response_model=None)
    async def search_feed(request: Request) -> Response:
        q = request.query_params.get("q", "")
        try:
            args = _search_args(request)
        except (InputError, QueryError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        result = await asyncio.to_thread(
            index.search,
            q,
            categories=args.get("categories"),
            exclude=args.get("exclude"),
            since=args.get("since"),
            until=args.get("until"),
            sort="new",
            pagelen=50,
            db=db,
        )
        if not result.ok:
            return PlainTextResponse(result.error or "bad query", status_code=400)
        base = str(request.base_url).rstrip("/")
        params = {"q": q, **{k: args[k if k == "cat" else k + "_text"] for k in ("cat", "since", "until")}}
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v or k == "q"})
        entries = [
            FeedEntry(
                h.id,
                h.title,
                h.abstract,
                h.authors,
                h.categories,
                _entry_instant(h.updated, None, h.announced),
                announced_at(h.announced) if h.announced else None,
                f"{base}/arxiv/{h.id}",
            )
            for h in result.hits
            if h.in_database
        ]
        body = atom_feed(
            feed_id=f"{base}/search/feed?{query}",
            title=f"arXiv search: {q}",
            self_url=_fetched_url(request),
            html_url=f"{base}/search?{query}&sort=new",
            entries=entries,
        )
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    # ------------------------------------------------------------ stars
    @router.get("/stars", response_class=HTMLResponse)
    async def stars_page(page: str | None = None) -> Response:
        starred = await db.read(_starred_with_clicks)
        try:
            lp = paginate([("stars", "", starred)], page_number(page), page_size)
        except InputError as exc:
            return error(404, str(exc))
        return render_stream("stars.html", starred=starred, lp=lp)

    @router.get("/stars/export", response_model=None)
    async def stars_export(request: Request, format: str = "txt") -> Response:
        starred = await db.read(pages.starred_papers)
        if format == "json":
            data = [
                {
                    "id": p.id,
                    "title": p.title,
                    "authors": p.authors,
                    "starred_at": at.isoformat(),
                    "abs": p.abs_url,
                    "pdf": p.pdf_url,
                }
                for p, at in starred
            ]
            return Response(
                json.dumps(data, ensure_ascii=False, indent=1),
                media_type="application/json",
                headers={"Content-Disposition": 'attachment; filename="stars.json"'},
            )
        if format == "txt":
            lines = [f"{p.id}\t{' '.join(p.title.split())}\t{p.abs_url}" for p, _ in starred]
            return PlainTextResponse(
                "\n".join(lines) + ("\n" if lines else ""),
                headers={"Content-Disposition": 'attachment; filename="stars.txt"'},
            )
        if format in CITATION_FORMATS:
            return citation_file([p for p, _ in starred], format, "stars")
        return PlainTextResponse("format must be txt, json, bibtex or ris", status_code=400)

    @router.get("/cite", response_model=None)
    async def cite(ids: str = "", format: str = "bibtex") -> Response:
        """One paper's (or a few papers') citation as a BibTeX or RIS file."""
        if format not in CITATION_FORMATS:
            return PlainTextResponse("format must be bibtex or ris", status_code=400)
        wanted = _parse_ids(ids) if 0 < len(ids) <= 2000 else None
        if not wanted or len(wanted) > MAX_CITE:
            return PlainTextResponse(
                f"ids must be 1 to {MAX_CITE} arXiv ids, separated by commas", status_code=400
            )
        found = await db.read(lambda s: [pages.paper_details(s, pid) for pid in wanted])
        papers = [p for p in found if p is not None]
        if not papers:
            return PlainTextResponse("none of these papers is in the local database", status_code=404)
        name = papers[0].id.replace("/", "_") if len(papers) == 1 else "papers"
        return citation_file(papers, format, name)

    @router.post("/stars/{paper_id:path}", response_model=None)
    async def star(request: Request, paper_id: str) -> Response:
        if not same_origin(request):
            return PlainTextResponse("cross-site request refused", status_code=403)
        body = (await request.body())[:4096].decode("utf-8", "replace")
        form = urllib.parse.parse_qs(body)
        action = (form.get("action") or ["add"])[0]
        wants_json = "application/json" in request.headers.get("accept", "")
        try:
            pid = _normalize_id(paper_id)
            if action not in ("add", "remove"):
                raise InputError("action must be add or remove")
            starred = await db.write(lambda s: _set_star(s, pid, action == "add"))
        except InputError as exc:
            if wants_json:
                return Response(
                    json.dumps({"error": str(exc)}), status_code=404, media_type="application/json"
                )
            return error(404, str(exc))
        if wants_json:
            return Response(json.dumps({"id": pid, "starred": starred}), media_type="application/json")
        nexts = form.get("next")
        nxt = _safe_next(nexts[0] if nexts else None, f"/arxiv/{pid}")
        return RedirectResponse(nxt, status_code=303)

    return router


# ---------------------------------------------------------------- helpers


def opensearch_description(base: str) -> str:
    """The OpenSearch 1.1 document for ``base`` (this instance's URL as the browser reached it)."""
    html = quoteattr(base + "search?q={searchTerms}")
    atom = quoteattr(base + "search/feed?q={searchTerms}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/">\n'
        "  <ShortName>coolstove papers</ShortName>\n"
        "  <Description>Search the arXiv papers this coolstove holds</Description>\n"
        "  <InputEncoding>UTF-8</InputEncoding>\n"
        f'  <Url type="text/html" method="get" template={html}/>\n'
        f'  <Url type="application/atom+xml" template={atom}/>\n'
        "</OpenSearchDescription>\n"
    )


CITATION_FORMATS = {
    "bibtex": ("application/x-bibtex", "bib", bibtex),
    "ris": ("application/x-research-info-systems", "ris", ris),
}
MAX_CITE = 50


def citation_file(papers: list[pages.PaperView], format: str, name: str) -> Response:
    media, ext, write = CITATION_FORMATS[format]
    return Response(
        write(papers),
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.{ext}"'},
    )


def _take(pieces: Iterator[str], limit: int) -> bytes:
    """The next ``limit``-odd characters of a rendering template, encoded ("" when done)."""
    out: list[str] = []
    size = 0
    for piece in pieces:
        out.append(piece)
        size += len(piece)
        if size >= limit:
            break
    return "".join(out).encode("utf-8")


def _parse_ids(spec: str) -> list[str] | None:
    """``2401.06769`` or ``2401.06769,hep-th/9901001`` as ids; None if it is not a list of ids."""
    parts = [p for p in spec.split(",") if p]
    if not parts or len(parts) > 100:
        return None
    ids: list[str] = []
    for part in parts:
        try:
            pid = _normalize_id(part)
        except InputError:
            return None
        if pid not in ids:
            ids.append(pid)
    return ids


def _day_with_stars(session: Session, cats: CategorySpec, day: dt.date | None) -> pages.DayList:
    listing = pages.day_list(session, cats, day)
    pages.mark_starred(session, listing.papers())
    mark_clicks(session, listing.papers())
    return listing


def _starred_with_clicks(session: Session) -> list[tuple[pages.PaperView, dt.datetime]]:
    starred = pages.starred_papers(session)
    mark_clicks(session, [p for p, _ in starred])
    return starred


def _details_with_clicks(session: Session, ids: list[str]) -> list[pages.PaperView | None]:
    found = [pages.paper_details(session, pid) for pid in ids]
    mark_clicks(session, [p for p in found if p is not None])
    return found


def _stars_on_hits(session: Session, hits: list[Hit]) -> None:
    stars = pages.starred_ids(session, [h.id for h in hits])
    for h in hits:
        h.starred = h.id in stars


def _set_star(session: Session, paper_id: str, on: bool) -> bool:
    return set_star(session, paper_id, on)


def _entry(
    base: str, p: pages.PaperView, updated: dt.datetime | dt.date | None, published: dt.datetime | None
) -> FeedEntry:
    return FeedEntry(
        p.id, p.title, p.abstract, p.authors, p.categories, updated, published, f"{base}/arxiv/{p.id}"
    )


def _entry_instant(
    updated: dt.datetime | None, submitted: dt.datetime | None, day: dt.date | None
) -> dt.datetime | None:
    """An entry's atom:updated: its paper's latest version, else its first, else when arXiv announced ``day``.

    Never a bare day: a day would stamp every entry of it ``T00:00:00Z``, and feed readers take
    entries with one atom:updated for one change.
    """
    if updated is not None:
        return updated
    if submitted is not None:
        return submitted
    return announced_at(day) if day is not None else None


# RFC 3986: what may stand unescaped in a path or a query ("%" only as the start of an escape)
_URL_SAFE = "/?:@!$&'()*+,;=-._~%"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _fetched_url(request: Request) -> str:
    """The URL this request was fetched by (query string included), escaped for an href.

    A well-formed request URL comes back unchanged, so a feed's ``self`` link is the URL
    the reader subscribed to; characters a URL cannot hold are percent-escaped.
    """
    url = request.url
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1").partition("?")[0] if raw_path else url.path

    def escape(part: str) -> str:
        return urllib.parse.quote(_LONE_PERCENT.sub("%25", part), safe=_URL_SAFE)

    query = escape(url.query)
    return f"{url.scheme}://{url.netloc}{escape(path)}" + (f"?{query}" if query else "")


def _page_query(request: Request) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return urllib.parse.urlencode(params)

"""Click counts after [PDF] and [FAQ]: how often this instance's readers opened them (Cool Papers's
popularity figure).

Two ways in, one count:

- ``GET /go/pdf/<id>`` and ``GET /go/faq/<id>`` (the [PDF] and [FAQ] links' hrefs, so they count
  without JavaScript) count the click and 303-redirect to ``[papers] pdf_url`` + the id, or to this
  site's ``/faq/<id>``, never anywhere else (no open redirect);
- ``POST /go/<kind>/<id>`` counts a click a script saw (the inline PDF preview, or any link with
  ``data-click="pdf|faq"`` inside ``.paper[data-id]``) and answers ``{"id", "kind", "count"}``.
  A cross-site POST is refused by its Origin, as the star forms are.

Bounds: only the kinds in :data:`KINDS`, only papers in the database (a malformed id is 400, a paper not
held is 404 and gets no row), so the table holds at most two rows per paper. Clicks are added up in
memory and written together through the database's writer (``db.write``): a flood of clicks makes one
write at a time with at most :data:`MAX_PENDING` different (paper, kind) pairs waiting, never a queue
of writes; beyond that a click is refused with 503. A count stops at :data:`MAX_COUNT` (an SQL INTEGER).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InputError, StorageError
from feeds.ids import normalize_id
from feeds.models import Click, Paper
from search.ports import PaperDatabase
from search.web.origin import same_origin

__all__ = [
    "KINDS",
    "MAX_COUNT",
    "MAX_PENDING",
    "ClickCounter",
    "click_counts",
    "make_click_router",
    "mark_clicks",
]

_LOGGER = logging.getLogger(__name__)
KINDS = ("pdf", "faq")
MAX_PENDING = 1024  # different (paper, kind) pairs waiting for the next write
MAX_COUNT = 2**31 - 1

Key = tuple[str, str]  # (paper id, kind)


class ClickCounter:
    """Adds clicks up and writes them in batches: one write in flight, the next batch filling meanwhile."""

    def __init__(self, db: PaperDatabase, max_pending: int = MAX_PENDING) -> None:
        self.db = db
        self.max_pending = max_pending
        self._pending: dict[Key, int] = {}
        self._done: asyncio.Future[dict[Key, int]] | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def add(self, paper_id: str, kind: str) -> int | None:
        """Count one click; the pair's count once written (None: the paper is not held). Raises
        :class:`OverflowError` when too many different pairs are waiting."""
        key = (paper_id, kind)
        if key not in self._pending and len(self._pending) >= self.max_pending:
            raise OverflowError("too many clicks at once")
        self._pending[key] = self._pending.get(key, 0) + 1
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            task = asyncio.ensure_future(self._flush(self._done))
            self._tasks.add(task)  # at most two: the write in flight and the batch after it
            task.add_done_callback(self._tasks.discard)
        counts = await asyncio.shield(self._done)
        return counts.get(key)

    async def _flush(self, done: asyncio.Future[dict[Key, int]]) -> None:
        async with self._lock:  # the previous batch's write ends first; clicks meanwhile join this batch
            batch, self._pending, self._done = self._pending, {}, None
            try:
                counts = await self.db.write(lambda s: _add_clicks(s, batch, dt.datetime.now(dt.UTC)))
            except Exception as exc:  # the waiting requests answer with it
                done.set_exception(exc)
                return
            done.set_result(counts)


def _add_clicks(session: Session, batch: dict[Key, int], now: dt.datetime) -> dict[Key, int]:
    """Add ``batch`` to the counts of the papers that exist; their new counts."""
    held = {pid for (pid,) in session.execute(select(Paper.id).where(Paper.id.in_({p for p, _ in batch})))}
    out: dict[Key, int] = {}
    for (pid, kind), n in batch.items():
        if pid not in held:
            continue
        row = session.get(Click, (pid, kind))
        if row is None:
            row = Click(paper_id=pid, kind=kind, count=min(n, MAX_COUNT), last=now)
            session.add(row)
        else:
            row.count = min(row.count + n, MAX_COUNT)
            row.last = now
        out[(pid, kind)] = row.count
    return out


def click_counts(session: Session, ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """``{paper id: {kind: count}}`` for the papers among ``ids`` that were clicked."""
    wanted = list(dict.fromkeys(ids))
    out: dict[str, dict[str, int]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        stmt = select(Click.paper_id, Click.kind, Click.count).where(Click.paper_id.in_(chunk))
        for pid, kind, count in session.execute(stmt):
            out.setdefault(pid, {})[kind] = count
    return out


def mark_clicks(session: Session, papers: Iterable[Any]) -> None:
    """Set ``clicks`` (``{kind: count}``) on each paper view (anything with an ``id``)."""
    papers = list(papers)
    counts = click_counts(session, [p.id for p in papers])
    for p in papers:
        p.clicks = counts.get(p.id, {})


def make_click_router(db: PaperDatabase, pdf_url: str, counter: ClickCounter | None = None) -> APIRouter:
    """``/go/<kind>/<id>``: GET counts and redirects (to ``pdf_url`` + id, or ``/faq/<id>``); POST counts."""
    router = APIRouter(include_in_schema=False)
    clicks = counter or ClickCounter(db)

    def parse(kind: str, paper_id: str) -> str:
        if kind not in KINDS:
            raise InputError(f"kind must be one of: {', '.join(KINDS)}")
        return normalize_id(paper_id)

    async def held(pid: str) -> bool:
        return await db.read(lambda s: s.get(Paper, pid) is not None)

    @router.get("/go/{kind}/{paper_id:path}", response_model=None)
    async def go(kind: str, paper_id: str) -> Response:
        if kind not in KINDS:
            return PlainTextResponse("only /go/pdf/<id> and /go/faq/<id> redirect", status_code=404)
        try:
            pid = parse(kind, paper_id)
        except InputError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        if await held(pid):  # a paper not held is not counted, but its PDF is still on arXiv
            try:
                await clicks.add(pid, kind)
            except (OverflowError, StorageError) as exc:  # the reader still gets the PDF
                _LOGGER.warning("a click on %s was not counted: %s", pid, exc)
        target = pdf_url + pid if kind == "pdf" else "/faq/" + pid  # pid is a normalised arXiv id
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})

    @router.post("/go/{kind}/{paper_id:path}", response_model=None)
    async def count(request: Request, kind: str, paper_id: str) -> Response:
        if not same_origin(request):
            return PlainTextResponse("cross-site request refused", status_code=403)
        try:
            pid = parse(kind, paper_id)
        except InputError as exc:
            return _json({"error": str(exc)}, 400)
        if not await held(pid):
            return _json({"error": f"{pid} is not in the local database"}, 404)
        try:
            n = await clicks.add(pid, kind)
        except (OverflowError, StorageError) as exc:
            return _json({"error": str(exc)}, 503)
        if n is None:
            return _json({"error": f"{pid} is not in the local database"}, 404)
        return _json({"id": pid, "kind": kind, "count": n}, 200)

    return router


def _json(data: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")

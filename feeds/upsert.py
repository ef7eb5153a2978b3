"""Upserting papers, versions and announcements: idempotent, one call per batch, in the caller's transaction.

Every function takes a Session that is already in a transaction
(``db.write(fn)``), so a batch lands whole or not at all. Re-running any batch
changes nothing: papers are keyed by version-less id, versions by (paper,
n), announcements by (paper, category, date).

Every transaction that writes papers bumps the one ``generation`` row and
stamps the papers it changes with the new value (``papers.generation``), so
another process (the daemon) sees what changed since it last looked. Papers
without announcements get their ``paper_days`` (the days of their first and
latest version) rewritten in the same transaction; an announcement removes them.

Two merge rules:

- *complete* records (API, OAI, snapshot) replace the paper's metadata, but
  only when they are at least as new (``latest_version``) as what is stored,
  so an old snapshot never rolls back a paper fetched yesterday; fields the
  source may not carry (licence, report number, ...) are only ever filled in.
- *partial* records (the daily feed) insert unknown papers, update a paper
  when the feed announces a newer version (and mark it ``source='rss'`` so
  its missing fields are fetched from the API), and add categories from a
  cross-list; they never blank a field the feed does not carry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Row, Table, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.errors import StorageError
from feeds.models import Announcement, Generation, Paper, PaperDay, Version, table_of
from feeds.records import AnnouncementRecord, PaperRecord
from feeds.tex import clean_abstract, clean_title

__all__ = [
    "SOURCES",
    "PreparedBatch",
    "bump_generation",
    "chunks",
    "day_rows",
    "dialect_insert",
    "paper_row",
    "prepare",
    "upsert_announcements",
    "upsert_papers",
    "utcnow",
    "write_prepared",
]

T = TypeVar("T")
SOURCES = ("rss", "api", "oai", "snapshot")
PAPERS = table_of(Paper)
VERSIONS = table_of(Version)
ANNOUNCEMENTS = table_of(Announcement)
DAYS = table_of(PaperDay)
GENERATION = table_of(Generation)
_GENERATION_KEY = "coolstove.generation"
_OVERWRITE = (
    "title",
    "title_tex",
    "abstract",
    "abstract_tex",
    "authors",
    "authors_tex",
    "primary_category",
    "categories",
    "updated",
    "latest_version",
    "source",
    "fetched_at",
    "generation",
)
# A partial record (the daily feed) does not know when its version was made: keep ``updated``.
_PARTIAL_OVERWRITE = tuple(c for c in _OVERWRITE if c != "updated")
_FILL_ONLY = ("comments", "journal_ref", "doi", "report_no", "license", "submitted")
_IN_CHUNK = 500


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


UpsertInsert = sqlite.Insert | postgresql.Insert
"""An INSERT that knows ON CONFLICT: ``excluded``, ``on_conflict_do_update``, ``on_conflict_do_nothing``."""


def dialect_insert(session: Session, table: Table) -> UpsertInsert:
    """The dialect's INSERT that knows ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise StorageError(f"unsupported database dialect {name!r} (use SQLite or PostgreSQL)")


def bump_generation(session: Session) -> int:
    """The write generation of this transaction: the first call bumps the counter row, later calls in the
    same transaction return the same value. Concurrent writers wait on the row until this one commits."""
    tx = session.get_transaction()
    cached = session.info.get(_GENERATION_KEY)
    if cached is not None and tx is not None and cached[0] is tx:
        return int(cached[1])
    stmt = dialect_insert(session, GENERATION).values(id=1, value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[GENERATION.c.id], set_={"value": GENERATION.c.value + 1}
    )
    session.execute(stmt)
    value = int(session.execute(select(GENERATION.c.value).where(GENERATION.c.id == 1)).scalar_one())
    session.info[_GENERATION_KEY] = (tx, value)
    return value


def _utc_day(value: dt.datetime | None) -> dt.date | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.date()


def day_rows(
    paper_id: str,
    categories: str,
    submitted: dt.datetime | None,
    updated: dt.datetime | None,
    latest_version: int,
) -> list[dict[str, Any]]:
    """A paper's ``paper_days``: its categories on the (UTC) day of v1 as ``new`` (primary) or ``cross``,
    and, when it has been replaced, on the day of its latest version as ``replace``/``replace-cross``."""
    cats = list(dict.fromkeys(categories.split()))
    first, latest = _utc_day(submitted), _utc_day(updated)
    if first is None:
        first = latest
    out: dict[tuple[str, dt.date], str] = {}
    if first is not None:
        for i, cat in enumerate(cats):
            out[(cat, first)] = "new" if i == 0 else "cross"
    if latest is not None and latest_version > 1:
        for i, cat in enumerate(cats):
            out.setdefault((cat, latest), "replace" if i == 0 else "replace-cross")
    return [
        {"paper_id": paper_id, "category": cat, "date": day, "type": kind}
        for (cat, day), kind in out.items()
    ]


def chunks(seq: Sequence[T], n: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def paper_row(rec: PaperRecord, source: str, now: dt.datetime) -> dict[str, Any]:
    """The ``papers`` row for a record: cleaned text beside arXiv's original."""
    return {
        "id": rec.id,
        "title": clean_title(rec.title_tex),
        "title_tex": rec.title_tex,
        "abstract": clean_abstract(rec.abstract_tex),
        "abstract_tex": rec.abstract_tex,
        "authors": rec.authors,
        "authors_tex": rec.authors_tex,
        "comments": rec.comments,
        "journal_ref": rec.journal_ref,
        "doi": rec.doi,
        "report_no": rec.report_no,
        "primary_category": rec.primary_category,
        "categories": " ".join(rec.categories),
        "license": rec.license,
        "submitted": rec.submitted,
        "updated": rec.updated,
        "latest_version": rec.latest_version,
        "source": source,
        "fetched_at": now,
    }


def _dedupe(records: Iterable[PaperRecord]) -> list[PaperRecord]:
    """One record per id (the newest), so a statement never touches a row twice."""
    best: dict[str, PaperRecord] = {}
    for rec in records:
        old = best.get(rec.id)
        if old is None or rec.latest_version >= old.latest_version:
            best[rec.id] = rec
    return list(best.values())


@dataclass
class PreparedBatch:
    """Rows ready to write: the cleaning (regex work) is done before the transaction, not inside it."""

    source: str
    partial: bool
    ids: list[str]
    papers: list[dict[str, Any]]
    versions: list[dict[str, Any]]
    records: list[PaperRecord]


def prepare(records: Iterable[PaperRecord], source: str, *, now: dt.datetime | None = None) -> PreparedBatch:
    """Turn records into rows (pure Python, no database), e.g. on the importer's own thread."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    batch = _dedupe(records)
    now = now or utcnow()
    versions: dict[tuple[str, int], dict[str, Any]] = {}
    for rec in batch:
        for n, created, size in rec.versions:
            versions[(rec.id, n)] = {"paper_id": rec.id, "version": n, "created": created, "size": size}
    return PreparedBatch(
        source=source,
        partial=source == "rss" or any(r.partial for r in batch),
        ids=[r.id for r in batch],
        papers=[paper_row(r, source, now) for r in batch],
        versions=list(versions.values()),
        records=batch,
    )


def write_prepared(session: Session, batch: PreparedBatch) -> list[str]:
    """Write a prepared batch inside the caller's transaction; returns its paper ids."""
    if not batch.ids:
        return []
    generation = bump_generation(session)
    for row in batch.papers:
        row["generation"] = generation
    if batch.partial:
        _upsert_partial(session, batch, generation)
    else:
        _upsert_complete(session, batch.papers)
    _upsert_versions(session, batch.versions)
    _refresh_days(session, batch.ids)
    return list(batch.ids)


def _refresh_days(session: Session, ids: Sequence[str]) -> None:
    """Rewrite the ``paper_days`` of these papers from what is stored now (announced papers get none)."""
    rows: list[dict[str, Any]] = []
    for chunk in chunks(ids, _IN_CHUNK):
        session.execute(delete(DAYS).where(DAYS.c.paper_id.in_(chunk)))
        q = select(
            PAPERS.c.id, PAPERS.c.categories, PAPERS.c.submitted, PAPERS.c.updated, PAPERS.c.latest_version
        ).where(PAPERS.c.id.in_(chunk), ~exists().where(ANNOUNCEMENTS.c.paper_id == PAPERS.c.id))
        for r in session.execute(q):
            rows.extend(day_rows(r.id, r.categories, r.submitted, r.updated, r.latest_version or 1))
    if rows:
        _execute_many(session, _days_stmt, rows)


def _days_stmt(session: Session) -> UpsertInsert:
    return dialect_insert(session, DAYS).on_conflict_do_nothing()


def upsert_papers(
    session: Session, records: Iterable[PaperRecord], source: str, *, now: dt.datetime | None = None
) -> list[str]:
    """Insert or merge a batch of papers and their versions; returns the ids of the batch."""
    return write_prepared(session, prepare(records, source, now=now))


def _complete_stmt(session: Session) -> UpsertInsert:
    stmt = dialect_insert(session, PAPERS)
    ex = stmt.excluded
    set_: dict[str, Any] = {c: ex[c] for c in _OVERWRITE}
    set_.update({c: func.coalesce(ex[c], PAPERS.c[c]) for c in _FILL_ONLY})
    return stmt.on_conflict_do_update(
        index_elements=[PAPERS.c.id], set_=set_, where=PAPERS.c.latest_version <= ex.latest_version
    )


def _versions_stmt(session: Session) -> UpsertInsert:
    stmt = dialect_insert(session, VERSIONS)
    ex = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[VERSIONS.c.paper_id, VERSIONS.c.version],
        set_={
            "created": func.coalesce(ex.created, VERSIONS.c.created),
            "size": func.coalesce(ex.size, VERSIONS.c.size),
        },
    )


def _execute_many(
    session: Session, build: Callable[[Session], UpsertInsert], rows: list[dict[str, Any]]
) -> None:
    """executemany of an upsert; on SQLite straight through the driver (the bulk import's hot path).

    SQLAlchemy's per-row parameter processing costs more than SQLite's own
    insert, so for SQLite the statement is compiled once and rows are
    converted the way SQLAlchemy stores them (DateTime as ISO text in UTC,
    JSON as ``json.dumps``); reading back through the models is unchanged.
    """
    if session.get_bind().dialect.name != "sqlite":
        session.execute(build(session), rows)
        return
    key = (build, tuple(rows[0]))
    compiled = _SQLITE_SQL.get(key)
    if compiled is None:
        stmt = build(session).values({c: bindparam(c) for c in rows[0]})
        c = stmt.compile(dialect=session.get_bind().dialect)
        compiled = _SQLITE_SQL[key] = (str(c), list(c.positiontup or ()))
    sql, order = compiled
    params = [tuple(_sqlite_value(row[name]) for name in order) for row in rows]
    session.connection().exec_driver_sql(sql, params)


_SQLITE_SQL: dict[tuple[Callable[[Session], UpsertInsert], tuple[str, ...]], tuple[str, list[str]]] = {}


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.isoformat(" ", "microseconds")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return json.dumps(v)
    return v


def _upsert_complete(session: Session, rows: list[dict[str, Any]]) -> None:
    _execute_many(session, _complete_stmt, rows)


def _upsert_partial(session: Session, batch: PreparedBatch, generation: int) -> None:
    existing: dict[str, Row[Any]] = {}
    for chunk in chunks(batch.ids, _IN_CHUNK):
        q = select(PAPERS.c.id, PAPERS.c.latest_version, PAPERS.c.categories).where(PAPERS.c.id.in_(chunk))
        existing.update({row.id: row for row in session.execute(q)})
    inserts: list[dict[str, Any]] = []
    newer: list[dict[str, Any]] = []
    crosses: list[dict[str, Any]] = []
    for rec, row in zip(batch.records, batch.papers, strict=True):
        old = existing.get(rec.id)
        if old is None:
            inserts.append(row)
        elif rec.latest_version > old.latest_version:
            newer.append({**{k: v for k, v in row.items() if k != "id"}, "b_id": rec.id})
        else:
            cats = old.categories.split()
            added = [c for c in rec.categories if c not in cats]
            if added:
                crosses.append(
                    {"b_id": rec.id, "b_categories": " ".join(cats + added), "b_generation": generation}
                )
    if inserts:
        session.execute(
            dialect_insert(session, PAPERS).on_conflict_do_nothing(index_elements=[PAPERS.c.id]), inserts
        )
    if newer:
        values: dict[str, Any] = {c: bindparam(c) for c in _PARTIAL_OVERWRITE}
        values.update(
            {c: func.coalesce(bindparam(c), PAPERS.c[c]) for c in ("journal_ref", "doi", "license")}
        )
        stmt = update(PAPERS).where(PAPERS.c.id == bindparam("b_id")).values(**values)
        session.execute(stmt, [{k: r[k] for k in (*values, "b_id")} for r in newer])
    if crosses:
        stmt = (
            update(PAPERS)
            .where(PAPERS.c.id == bindparam("b_id"))
            .values(categories=bindparam("b_categories"), generation=bindparam("b_generation"))
        )
        session.execute(stmt, crosses)


def _upsert_versions(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        _execute_many(session, _versions_stmt, rows)


def upsert_announcements(session: Session, announcements: Iterable[AnnouncementRecord]) -> int:
    """Record (paper, category, date) listings; a re-run overwrites type/position with the same values."""
    rows = {
        (a.paper_id, a.category, a.date): {
            "paper_id": a.paper_id,
            "category": a.category,
            "date": a.date,
            "type": a.type,
            "position": a.position,
        }
        for a in announcements
    }
    if not rows:
        return 0
    ids = sorted({pid for pid, _, _ in rows})
    generation = bump_generation(session)  # the paper's announce date (its index document) may change
    for chunk in chunks(ids, _IN_CHUNK):
        session.execute(update(PAPERS).where(PAPERS.c.id.in_(chunk)).values(generation=generation))
        session.execute(delete(DAYS).where(DAYS.c.paper_id.in_(chunk)))  # listed by arXiv now
    stmt = dialect_insert(session, ANNOUNCEMENTS)
    ex = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[ANNOUNCEMENTS.c.paper_id, ANNOUNCEMENTS.c.category, ANNOUNCEMENTS.c.date],
        set_={"type": ex.type, "position": ex.position},
    )
    session.execute(stmt, list(rows.values()))
    return len(rows)

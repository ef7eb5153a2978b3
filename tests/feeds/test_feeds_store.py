"""The store on SQLite and on a real PostgreSQL: idempotent upserts, merges, migrations."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from arxiv_replay import FIXTURES, fixture
from sqlalchemy import MetaData, create_engine, func, inspect, select, text
from sqlalchemy.orm import Session

from core.database import Database
from core.errors import InputError, StorageError
from feeds import store
from feeds.migrate import current_revision, head_revision, upgrade
from feeds.models import Announcement, Base, Paper, PaperDay, Star, Version
from feeds.parse_api import parse_api
from feeds.parse_rss import parse_feed
from feeds.records import PaperRecord, utc
from feeds.snapshot import record_from_json

DAY1 = parse_feed(fixture("rss_cs.LG_2024-01-15.xml"), "cs.LG")
DAY2 = parse_feed(fixture("atom_cs.LG_2024-01-16.xml"), "cs.LG")
CL2 = parse_feed(fixture("atom_cs.CL_2024-01-16.xml"), "cs.CL")
DETAILS = parse_api(fixture("api_2024-01-15_details.xml")).records


def snapshot(s: Session) -> dict[str, Any]:
    """Everything the feed writes, in a comparable form."""
    papers = {
        p.id: (
            p.title,
            p.abstract,
            tuple(p.authors),
            p.categories,
            p.primary_category,
            p.latest_version,
            p.comments,
            p.doi,
            p.journal_ref,
            p.license,
            p.source,
            p.submitted and utc(p.submitted),
        )
        for p in s.scalars(select(Paper))
    }
    versions = {
        (v.paper_id, v.version, v.created and utc(v.created), v.size) for v in s.scalars(select(Version))
    }
    anns = {(a.paper_id, a.category, a.date, a.type, a.position) for a in s.scalars(select(Announcement))}
    return {"papers": papers, "versions": versions, "announcements": anns}


def write_day(db: Database, day: Any) -> list[str]:
    def fn(s: Session) -> list[str]:
        ids = store.upsert_papers(s, day.records, "rss")
        store.upsert_announcements(s, day.announcements)
        return ids

    return db.write_blocking(fn)


def test_a_day_twice_is_the_same_as_once(db: Database) -> None:
    assert sorted(write_day(db, DAY1)) == sorted(r.id for r in DAY1.records)
    once = db.read_blocking(snapshot)
    write_day(db, DAY1)
    assert db.read_blocking(snapshot) == once
    assert len(once["papers"]) == 5
    assert len(once["announcements"]) == 5


def test_cleaned_text_beside_the_original(db: Database) -> None:
    write_day(db, DAY1)
    p = db.read_blocking(lambda s: s.get(Paper, "2401.07002"))
    assert p.title == "Learning the Schrödinger Equation with Gödel Machines"
    assert p.title_tex == 'Learning the Schr\\"odinger Equation with G\\"{o}del Machines'
    assert "Schrödinger equation $i\\hbar" in p.abstract
    assert p.authors == ["Jürgen Schmidhuber", "Balázs Szegedy"]
    assert p.authors_tex == "J\\\"urgen Schmidhuber, Bal\\'azs Szegedy"
    assert p.source == "rss"


def test_api_details_fill_what_the_feed_lacks(db: Database) -> None:
    write_day(db, DAY1)
    db.write_blocking(lambda s: store.upsert_papers(s, DETAILS, "api"))
    p = db.read_blocking(lambda s: s.get(Paper, "2312.01234"))
    assert p.source == "api"
    assert p.comments == "v2: corrected Lemma 3"
    assert utc(p.submitted) == dt.datetime(2023, 12, 2, 10, 0, tzinfo=dt.UTC)
    assert p.license == "http://creativecommons.org/licenses/by/4.0/"  # the API has none: the feed's is kept
    assert [v.version for v in p.versions] == [1, 2]
    assert all(v.created is not None for v in p.versions)
    assert db.read_blocking(lambda s: store.ids_needing_details(s)) == []


def test_replacement_updates_the_paper_and_adds_an_announcement(db: Database) -> None:
    write_day(db, DAY1)
    db.write_blocking(lambda s: store.upsert_papers(s, DETAILS, "api"))
    write_day(db, DAY2)
    p = db.read_blocking(lambda s: s.get(Paper, "2401.07001"))
    assert p.latest_version == 2
    assert p.title == "Sparse Attention for Long Sequences, Revisited"
    assert p.authors == ["Ada Lovelace", "Alan Turing", "Charles Babbage"]
    assert p.comments == "12 pages, 4 figures"  # the feed has no comments: not blanked
    assert p.source == "rss"  # marked for the API to refresh
    assert sorted((a.date, a.type) for a in p.announcements) == [
        (dt.date(2024, 1, 15), "new"),
        (dt.date(2024, 1, 16), "replace"),
    ]
    n = db.read_blocking(lambda s: s.scalar(select(func.count()).select_from(Paper)))
    assert n == 7


def test_cross_list_adds_a_category_not_a_paper(db: Database) -> None:
    write_day(db, DAY1)
    write_day(db, DAY2)
    before = db.read_blocking(lambda s: s.scalar(select(func.count()).select_from(Paper)))
    write_day(db, CL2)
    p = db.read_blocking(lambda s: s.get(Paper, "2401.07001"))
    assert p.categories == "cs.LG cs.AI cs.CL"
    assert {(a.category, a.type) for a in p.announcements} >= {
        ("cs.CL", "replace-cross"),
        ("cs.LG", "replace"),
    }
    assert db.read_blocking(lambda s: s.scalar(select(func.count()).select_from(Paper))) == before


def test_an_older_source_never_rolls_a_paper_back(db: Database) -> None:
    db.write_blocking(lambda s: store.upsert_papers(s, DETAILS, "api"))  # 2312.01234 at v2
    old = dataclasses.replace(
        next(r for r in DETAILS if r.id == "2312.01234"),
        title_tex="Old v1 title",
        latest_version=1,
        versions=[(1, dt.datetime(2023, 12, 2, 10, 0, tzinfo=dt.UTC), "9kb")],
    )
    db.write_blocking(lambda s: store.upsert_papers(s, [old], "snapshot"))
    p = db.read_blocking(lambda s: s.get(Paper, "2312.01234"))
    assert p.title == "Gradient Descent Provably Finds Flat Minima"
    assert p.latest_version == 2
    assert {v.version: v.size for v in p.versions} == {1: "9kb", 2: None}  # versions still merge


def test_duplicates_in_one_batch_keep_the_newest(db: Database) -> None:
    rec = next(r for r in DETAILS if r.id == "2312.01234")
    older = dataclasses.replace(rec, latest_version=1, title_tex="older", versions=[(1, None, None)])
    db.write_blocking(lambda s: store.upsert_papers(s, [rec, older, rec], "api"))
    assert (
        db.read_blocking(lambda s: s.get(Paper, "2312.01234").title)
        == "Gradient Descent Provably Finds Flat Minima"
    )


def test_a_failing_batch_leaves_nothing_behind(db: Database) -> None:
    def boom(s: Session) -> None:
        store.upsert_papers(s, DAY1.records, "rss")
        store.upsert_announcements(s, DAY1.announcements)
        s.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(StorageError):
        db.write_blocking(boom)
    assert db.read_blocking(snapshot) == {"papers": {}, "versions": set(), "announcements": set()}


def test_http_validators_and_runs(db: Database) -> None:
    db.write_blocking(lambda s: store.save_http_cache(s, "u", '"e1"', "Mon, 15 Jan 2024 05:00:00 GMT"))
    db.write_blocking(lambda s: store.save_http_cache(s, "u", '"e2"', None))
    assert db.read_blocking(lambda s: store.get_http_cache(s, "u")) == ('"e2"', None)
    assert db.read_blocking(lambda s: store.get_http_cache(s, "other")) == (None, None)
    started = dt.datetime.now(dt.UTC)
    db.write_blocking(
        lambda s: store.record_run(
            s, "rss", "cs.LG", "empty", started=started, announce_date=dt.date(2024, 1, 20)
        )
    )
    assert db.read_blocking(lambda s: store.last_feed_date(s, "cs.LG")) == dt.date(2024, 1, 20)
    assert db.read_blocking(lambda s: store.last_announce_date(s, "cs.LG")) is None


def test_stars(db: Database) -> None:
    write_day(db, DAY1)
    assert db.write_blocking(lambda s: store.set_star(s, "2401.07001")) is True
    assert db.write_blocking(lambda s: store.set_star(s, "2401.07001")) is True  # idempotent
    assert db.read_blocking(lambda s: s.scalar(select(func.count()).select_from(Star))) == 1
    db.write_blocking(lambda s: store.set_star(s, "2401.07001", False))
    assert db.read_blocking(lambda s: s.scalar(select(func.count()).select_from(Star))) == 0
    with pytest.raises(InputError):
        db.write_blocking(lambda s: store.set_star(s, "2401.99999"))


def test_hostile_text_round_trips(db: Database) -> None:
    rec = PaperRecord(
        id="2401.00001",
        title_tex="'; DROP TABLE papers; -- \u202e ‮ emoji 🧪 " + "x" * 100_000,
        categories=["cs.LG"],
        abstract_tex="<script>alert(1)</script>",
        versions=[(1, None, None)],
    )
    db.write_blocking(lambda s: store.upsert_papers(s, [rec], "api"))
    p = db.read_blocking(lambda s: s.get(Paper, "2401.00001"))
    assert p.title_tex == rec.title_tex
    assert p.abstract == "<script>alert(1)</script>"


# ---------------------------------------------------------------- migrations


def test_migrations_match_the_models(any_db_url: str) -> None:
    upgrade(any_db_url)
    assert current_revision(any_db_url) == head_revision()
    engine = create_engine(any_db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
    finally:
        engine.dispose()
    assert diff == []


def _write_at_0001(url: str, day: Any, unannounced: list[PaperRecord]) -> None:
    """Rows as the 0001 schema holds them, written with plain inserts into its reflected tables (today's
    store writes columns 0001 does not have)."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    now = dt.datetime.now(dt.UTC)
    records = [(r, "rss") for r in day.records] + [(r, "snapshot") for r in unannounced]
    try:
        with engine.begin() as conn:
            conn.execute(meta.tables["papers"].insert(), [store.paper_row(r, src, now) for r, src in records])
            conn.execute(
                meta.tables["versions"].insert(),
                [
                    {"paper_id": r.id, "version": n, "created": c, "size": z}
                    for r, _ in records
                    for n, c, z in r.versions
                ],
            )
            conn.execute(
                meta.tables["announcements"].insert(), [dataclasses.asdict(a) for a in day.announcements]
            )
    finally:
        engine.dispose()


def _raw_rows(url: str) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of the 0001 tables, as plain tuples of the 0001 columns."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: {tuple(r) for r in conn.execute(text(f"SELECT {cols} FROM {name}"))}  # noqa: S608
                for name, cols in (
                    ("papers", "id, title, abstract, categories, latest_version, source, submitted"),
                    ("versions", "paper_id, version, created"),
                    ("announcements", "paper_id, category, date, type, position"),
                )
            }
    finally:
        engine.dispose()


def test_an_old_database_upgrades_in_place(any_db_url: str) -> None:
    upgrade(any_db_url, "0001")
    old_paper = record_from_json(json.loads((FIXTURES / "snapshot_small.jsonl").read_text().splitlines()[1]))
    _write_at_0001(any_db_url, DAY1, [old_paper])
    before = _raw_rows(any_db_url)
    upgrade(any_db_url)
    assert current_revision(any_db_url) == head_revision() != "0001"
    assert _raw_rows(any_db_url) == before
    engine = create_engine(any_db_url)
    try:
        names = {ix["name"] for ix in inspect(engine).get_indexes("papers")}
    finally:
        engine.dispose()
    assert {"ix_papers_source", "ix_papers_generation"} <= names
    with Database(any_db_url) as new:
        # 0003 lists the paper without announcements by its own day, and no announced paper
        days = new.read_blocking(
            lambda s: {(d.paper_id, d.category, d.date, d.type) for d in s.scalars(select(PaperDay))}
        )
        assert old_paper.submitted is not None
        first = old_paper.submitted.date()
        cats = old_paper.categories
        assert days == {(old_paper.id, c, first, "new" if i == 0 else "cross") for i, c in enumerate(cats)}
        write_day(new, DAY2)  # and it keeps working
        assert len(new.read_blocking(snapshot)["announcements"]) == len(before["announcements"]) + len(
            DAY2.announcements
        )


def test_a_create_all_database_is_adopted(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    assert current_revision(sqlite_url) is None
    upgrade(sqlite_url)
    assert current_revision(sqlite_url) == head_revision()


def test_unreachable_database_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match=r"coolstove@127\.0\.0\.1") as info:
        upgrade("postgresql+psycopg://coolstove:secret@127.0.0.1:9/none?connect_timeout=2")
    assert "secret" not in str(info.value)

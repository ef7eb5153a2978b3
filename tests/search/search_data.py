"""Sample papers for the search tests, and small helpers (imported by conftest and the tests)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from whoosh.filedb.filestore import FileStorage
from whoosh.index import Index

from core.config import Config
from core.database import Database
from feeds import store
from feeds.importer import import_snapshot
from feeds.models import Announcement, Base, Paper
from feeds.parse_api import parse_api
from search.analysis import PaperAnalyzer
from search.build import build_segments, id_ranges
from search.documents import load_documents, sorted_ids
from search.index import SearchIndex
from search.results import SearchResult
from search.schema import make_schema
from search.web import make_router

DAY = dt.date(2024, 3, 5)
EARLIER = dt.date(2024, 3, 4)

PAPERS: list[dict[str, Any]] = [
    {
        "id": "2403.00001",
        "title": "Graph neural networks for images",
        "abstract": "We classify images with graph neural networks and a message passing scheme "
        "$\\alpha \\leq \\beta$.",
        "authors": ["Ana Müller", "Bo Li"],
        "categories": "cs.LG cs.CV",
        "ann": [("cs.LG", DAY, "new", 1), ("cs.CV", DAY, "cross", 3)],
    },
    {
        "id": "2403.00002",
        "title": "Schrödinger bridges as diffusion models",
        "abstract": "Diffusion models are trained as Schrödinger bridges between noise and data.",
        "authors": ["Chen Wu"],
        "categories": "cs.LG stat.ML",
        "ann": [("cs.LG", DAY, "new", 2)],
    },
    {
        "id": "2403.00003",
        "title": "A survey of transformers",
        "abstract": "This survey reviews attention and transformer language models.",
        "authors": ["Dana Fox", "Bo Li"],
        "categories": "cs.CL cs.LG",
        "ann": [("cs.CL", DAY, "new", 1), ("cs.LG", DAY, "cross", 5)],
    },
    {
        "id": "2403.00004",
        "title": "<script>alert('x')</script> Fairness audits",
        "abstract": "Auditing fairness of <b>language</b> models & society.",
        "authors": ["Eve <img src=x onerror=alert(1)>"],
        "categories": "cs.CY cs.LG",
        "ann": [("cs.LG", DAY, "cross", 6), ("cs.CY", DAY, "new", 1)],
    },
    {
        "id": "2402.09999",
        "title": "Spin chains in a magnetic field",
        "abstract": "Quantum spin chains and magnetic phase transitions.",
        "authors": ["Fay Gold"],
        "categories": "quant-ph",
        "ann": [("quant-ph", EARLIER, "new", 1)],
    },
    {
        "id": "2401.00005",
        "title": "Older image segmentation with graphs",
        "abstract": "Segmentation of an image by graph cuts.",
        "authors": ["Gus Hale"],
        "categories": "cs.CV cs.LG",
        "ann": [("cs.LG", DAY, "replace", 8), ("cs.LG", EARLIER, "new", 1)],
    },
]


def make_paper(**kw: Any) -> Paper:
    when = kw.pop("when", dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC))
    kw.pop("ann", None)
    return Paper(
        title_tex=kw["title"],
        abstract_tex=kw["abstract"],
        primary_category=kw["categories"].split()[0],
        submitted=when,
        updated=when,
        fetched_at=when,
        **kw,
    )


def insert_papers(db: Database, papers: list[dict[str, Any]]) -> None:
    def add(session: Any) -> None:
        for spec in papers:
            anns = spec.get("ann", [])
            session.add(make_paper(**dict(spec)))
            for cat, day, typ, pos in anns:
                session.add(Announcement(paper_id=spec["id"], category=cat, date=day, type=typ, position=pos))

    db.write_blocking(add)


def bulk_built_index(tmp: Path, papers: list[dict[str, Any]], parts: int) -> Index:
    """``papers`` in a fresh SQLite file, indexed by the rebuild's bulk path in ``parts`` segments (the
    fast-path tests then add segments of the other kinds with ordinary writers)."""
    db = Database(f"sqlite:///{tmp / 'papers.db'}")
    Base.metadata.create_all(db.engine)
    insert_papers(db, papers)
    folder = tmp / "whoosh"
    folder.mkdir()
    ix = FileStorage(str(folder)).create_index(make_schema(), indexname="papers")
    ranges = id_ranges(db.read_blocking(sorted_ids), parts)
    assert build_segments(ix, str(folder), "papers", db.url, ranges, 1) == len(papers)
    db.close()
    return ix


def ids(result: SearchResult) -> list[str]:
    assert result.error is None, result.error
    return [h.id for h in result.hits]


def make_app(cfg: Config, db: Database, index: SearchIndex, fetch: Any = None) -> FastAPI:
    app = FastAPI()
    app.include_router(make_router(cfg, db, index, fetch))
    return app


# ------------------------------------------------------------ real arXiv records (../shared/arxiv-samples)
SNAPSHOT_LINES = Path("kaggle") / "arxiv-metadata-oai-snapshot.jsonl"  # 150 real lines, 0704.0001 …
TEXT_FIELDS = ("title", "abstract", "authors")


def load_real_papers(db: Database, samples: Path) -> int:
    """The snapshot's 150 lines (2007) and every paper in the recorded API answers (2001-2026).

    The recordings' ``body`` holds the response's UTF-8 bytes decoded as Latin-1 (``RamÃ­rez``);
    encoding it back as Latin-1 gives the bytes arXiv sent. Returns the number of papers.
    """
    import_snapshot(db, samples / SNAPSHOT_LINES)
    for path in sorted(samples.glob("api/*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        if rec["status_code"] != 200:
            continue
        records = parse_api(rec["body"].encode("latin-1")).records
        db.write_blocking(lambda s, records=records: store.upsert_papers(s, records, "api"))
    return len(db.read_blocking(sorted_ids))


@dataclass
class Doc:
    """One paper as indexed: its analysed terms per field (in position order), dates and categories."""

    id: str
    terms: dict[str, list[str]]
    announced: dt.datetime | None
    updated: dt.datetime | None
    categories: list[str]  # as indexed: each category and its archive, lower-case
    title: str
    authors: str


def analysed_documents(db: Database) -> list[Doc]:
    """Every paper's index document, analysed as the indexer analyses it: what a query should find."""
    analyzer = PaperAnalyzer()

    def read(session: Any) -> list[dict[str, Any]]:
        return load_documents(session, sorted_ids(session))

    return [
        Doc(
            id=d["id"],
            terms={f: analyzer.index_terms(d[f]) for f in TEXT_FIELDS},
            announced=d.get("announced"),
            updated=d.get("updated"),
            categories=d["categories"].split(),
            title=d["title"],
            authors=d["authors"],
        )
        for d in db.read_blocking(read)
    ]


def every_hit(index: SearchIndex, query: str, **kwargs: Any) -> tuple[list[SearchResult], list[str]]:
    """Every page of a query (200 a page) and all the ids in order; fails on an error."""
    pages: list[SearchResult] = []
    found: list[str] = []
    while True:
        result = index.search(query, pagelen=200, page=len(pages) + 1, **kwargs)
        found += ids(result)
        pages.append(result)
        if len(found) >= result.total or not result.hits:
            return pages, found

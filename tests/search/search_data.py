"""Sample papers for the search tests, and small helpers (imported by conftest and the tests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI

from core.config import Config
from core.database import Database
from feeds.models import Announcement, Paper
from search.index import SearchIndex
from search.results import SearchResult
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


def ids(result: SearchResult) -> list[str]:
    assert result.error is None, result.error
    return [h.id for h in result.hits]


def make_app(cfg: Config, db: Database, index: SearchIndex, fetch: Any = None) -> FastAPI:
    app = FastAPI()
    app.include_router(make_router(cfg, db, index, fetch))
    return app

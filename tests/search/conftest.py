"""Fixtures for search and the paper pages: a real SQLite file, a real Whoosh index, the router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from search_data import PAPERS, Doc, analysed_documents, insert_papers, load_real_papers, make_app

import search.index
from core.config import Config, PapersConfig, StorageConfig
from core.database import Database
from feeds.models import Base
from search.index import SearchIndex


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'papers.db'}")
    Base.metadata.create_all(database.engine)
    yield database
    database.close()


@pytest.fixture
def filled_db(db: Database) -> Database:
    insert_papers(db, PAPERS)
    return db


@pytest.fixture
def index(tmp_path: Path, filled_db: Database) -> Iterator[SearchIndex]:
    ix = SearchIndex(tmp_path / "index").open()
    ix.reindex(filled_db)
    yield ix
    ix.close()


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return Config(
        storage=StorageConfig(data_dir=tmp_path), papers=PapersConfig(categories=("cs.LG", "cs.CL"))
    )


@pytest.fixture
async def client(cfg: Config, filled_db: Database, index: SearchIndex) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(cfg, filled_db, index)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class RealCorpus:
    """Real arXiv records in a real database, indexed in four segments (as a full rebuild of a large
    database is), read-only: tests must not change either."""

    db: Database
    index: SearchIndex
    docs: list[Doc]  # every paper as analysed for the index, to compute what a query must find


@pytest.fixture(scope="session")
def real_corpus(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCorpus]:
    samples = shared_dir / "arxiv-samples"
    if not samples.is_dir():
        pytest.skip("../shared/arxiv-samples is absent")
    tmp = tmp_path_factory.mktemp("real")
    database = Database(f"sqlite:///{tmp / 'papers.db'}")
    Base.metadata.create_all(database.engine)
    count = load_real_papers(database, samples)
    ix = SearchIndex(tmp / "index", procs=4).open()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search.index, "PARALLEL_FROM", 10)  # one segment per worker, even for 250 papers
        assert ix.reindex(database) == count
    yield RealCorpus(database, ix, analysed_documents(database))
    ix.close()
    database.close()

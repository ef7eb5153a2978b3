"""Fixtures for search and the paper pages: a real SQLite file, a real Whoosh index, the router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from search_data import PAPERS, insert_papers, make_app

from core.config import Config
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
    from core.config import PapersConfig, StorageConfig

    return Config(
        storage=StorageConfig(data_dir=tmp_path), papers=PapersConfig(categories=("cs.LG", "cs.CL"))
    )


@pytest.fixture
async def client(cfg: Config, filled_db: Database, index: SearchIndex) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(cfg, filled_db, index)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c

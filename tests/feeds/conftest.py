"""Fixtures of the feed tests: the replay server, a config pointing at it, SQLite and PostgreSQL databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from arxiv_replay import ReplayServer
from feeds_testkit import make_config
from sqlalchemy import create_engine, text

from core.config import Config
from core.database import Database
from feeds.migrate import upgrade


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    server = ReplayServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cfg(replay: ReplayServer, tmp_path: Path) -> Config:
    return make_config(replay, tmp_path / "data", f"sqlite:///{tmp_path / 'papers.db'}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'papers.db'}"


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A fresh database of its own on the session's PostgreSQL server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'papers.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db(any_db_url: str) -> Iterator[Database]:
    upgrade(any_db_url)
    database = Database(any_db_url)
    database.start()
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    upgrade(sqlite_url)
    database = Database(sqlite_url)
    database.start()
    try:
        yield database
    finally:
        database.close()

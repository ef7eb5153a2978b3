"""Bringing a paper database to the current schema when it is opened.

Migrations are Alembic revisions shipped inside the package
(``feeds/migrations``), so an installed wheel upgrades its users' databases
in place. A database made by ``Base.metadata.create_all`` before migrations
existed (tables but no ``alembic_version``) is stamped at the first revision
and upgraded from there.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from core.database import make_engine
from core.errors import StorageError

__all__ = ["current_revision", "head_revision", "upgrade"]

_LOGGER = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASE_REVISION = "0001"


def _alembic_config(engine_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine_url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise StorageError("no migrations found in the feeds package")
    return head


def current_revision(db_url: str) -> str | None:
    """The revision a database is at (None: empty or never migrated)."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the schema revision of {_safe(db_url)}: {exc}") from exc
    finally:
        engine.dispose()


def upgrade(db_url: str, revision: str = "head") -> str:
    """Migrate the database at ``db_url`` to ``revision`` (default: the newest); returns it."""
    engine = make_engine(db_url)
    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    alembic_logger.setLevel(max(level, logging.WARNING))  # one line of ours instead of ten of Alembic's
    try:
        return _upgrade(engine, db_url, revision)
    except SQLAlchemyError as exc:
        raise StorageError(f"migrating {_safe(db_url)} failed: {exc.__class__.__name__}: {exc}") from exc
    finally:
        alembic_logger.setLevel(level)
        engine.dispose()


def _upgrade(engine: Engine, db_url: str, revision: str) -> str:
    cfg = _alembic_config(db_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None and inspect(conn).has_table("papers"):
            _LOGGER.info("paper database predates migrations; stamping it at %s", BASE_REVISION)
            command.stamp(cfg, BASE_REVISION)
            before = BASE_REVISION
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        _LOGGER.info("paper database migrated from %s to %s", before or "empty", after)
    return after or ""


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url

"""The index on disk: who owns it (an ``flock``), and opening, checking or recreating its files.

The daemon owns the index for its life: :class:`OwnerLock` holds an ``flock`` on
``index_dir/OWNER.lock`` (with the pid in it), so a second writer, such as
``coolstove papers reindex`` while the daemon runs, is refused with a message
naming the holder instead of racing. The index is derived data:
:func:`open_existing` raises for anything unusable (absent, outdated schema,
unreadable) and :func:`create_empty` replaces it by an empty one to rebuild.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

from whoosh import index as windex
from whoosh.filedb.filestore import FileStorage

from core.errors import SearchError
from search.schema import SCHEMA_VERSION, make_schema

__all__ = ["INDEX_NAME", "OWNER_LOCK", "STAMP", "NoIndex", "OwnerLock", "create_empty", "open_existing"]

INDEX_NAME = "papers"
STAMP = "coolstove-index.json"
OWNER_LOCK = "OWNER.lock"


class NoIndex(Exception):
    """There is no index in the folder yet (not an error: it is built from the database)."""


class OwnerLock:
    """The exclusive, non-blocking ``flock`` that makes one process the index's writer."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self) -> None:
        """Take the lock or raise :class:`SearchError` naming the pid that holds it."""
        fd = os.open(self.index_dir / OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise SearchError(
                f"the search index in {self.index_dir} is owned by pid {holder} (the coolstove daemon?); "
                "stop it first: it rebuilds or repairs the index itself at start"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def open_existing(index_dir: Path, whoosh_dir: Path) -> windex.Index:
    """The index in ``whoosh_dir``, every segment touched once; :class:`NoIndex` if there is none.

    Anything else unusable raises (an outdated schema as :class:`SearchError`, damaged files as
    whatever reading them raises): the caller replaces the index.
    """
    if not windex.exists_in(str(whoosh_dir), indexname=INDEX_NAME):
        raise NoIndex
    meta = json.loads((index_dir / STAMP).read_text(encoding="utf-8"))
    if meta.get("schema") != SCHEMA_VERSION:
        raise SearchError(f"index schema {meta.get('schema')} is not the current {SCHEMA_VERSION}")
    storage = FileStorage(str(whoosh_dir), supports_mmap=False)
    ix = storage.open_index(indexname=INDEX_NAME)
    with ix.searcher() as s:  # touch every segment: a truncated file fails here, not in a request
        s.doc_count()
        next(iter(s.reader().lexicon("id")), None)
    return ix


def create_empty(index_dir: Path, whoosh_dir: Path) -> windex.Index:
    """Replace whatever is in ``whoosh_dir`` by an empty index of the current schema."""
    if whoosh_dir.exists():
        shutil.rmtree(whoosh_dir)
    whoosh_dir.mkdir(parents=True)
    storage = FileStorage(str(whoosh_dir), supports_mmap=False)
    ix = storage.create_index(make_schema(), indexname=INDEX_NAME)
    (index_dir / STAMP).write_text(json.dumps({"schema": SCHEMA_VERSION}), encoding="utf-8")
    return ix

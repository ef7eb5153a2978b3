"""A read-only index that follows what the writing daemon publishes: what ``coolstove web`` searches.

:class:`ReplicaIndex` reads a folder :func:`search.publish.publish` fills (or a copy of one):
it opens the generation ``CURRENT`` names as an ordinary read-only
:class:`~search.index.SearchIndex`, and a thread looks at ``CURRENT`` every
:data:`CHECK_EVERY_S`; a newer generation is checked (its manifest, every file
at its size, the schema, every segment readable, the paper count) and opened
beside the old one, then searches go to it. The old one is closed when the
last search that was using it is done. A generation that fails a check, or a
``CURRENT`` that names none, is refused with a warning (once per cause) and
the last good generation keeps serving.

Given an index folder instead (``index_dir`` with ``whoosh/``), it opens that
read-only, as ``coolstove papers search`` does, and Whoosh follows the
owner's commits. Either way nothing is ever written into the folder: a
read-only mount works.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from search.index import SearchIndex
from search.lifecycle import STAMP, open_existing
from search.ports import PaperReader
from search.publish import CURRENT, GENERATIONS, PublishError, read_current, read_manifest
from search.results import SearchResult
from search.whoosh_internals import forget_segment_arrays

__all__ = ["CHECK_EVERY_S", "LIVE", "ReplicaIndex", "Serving", "age_s"]

_LOGGER = logging.getLogger(__name__)
CHECK_EVERY_S = 1.0
LIVE = "live"  # the name of the one "generation" of an index folder read in place


@dataclass(frozen=True)
class Serving:
    """What a replica serves: for health checks and logs."""

    name: str  # the published generation, or LIVE
    path: Path
    documents: int | None  # from the manifest (None for an index read in place)
    published: float | None  # seconds since the epoch (None for an index read in place)


@dataclass
class _Generation:
    serving: Serving
    index: SearchIndex
    users: int = 0
    retired: bool = False
    closed: bool = field(default=False, repr=False)


class ReplicaIndex:
    """Searches the newest usable generation under ``directory``; see the module docstring."""

    def __init__(
        self, directory: Path, *, max_results: int = 1000, check_every_s: float = CHECK_EVERY_S
    ) -> None:
        self.directory = Path(directory)
        self.max_results = max_results
        self.check_every_s = check_every_s
        self._current: _Generation | None = None
        self._lock = threading.Lock()  # guards _current and every generation's users
        self._refresh_lock = threading.Lock()  # one look at a time
        self._refused: str | None = None  # the last refusal logged (each cause is logged once)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def open(self, *, follow: bool = True) -> ReplicaIndex:
        """Open what is there now (nothing published yet is not an error) and, with ``follow``, start
        the thread that keeps up with ``CURRENT``."""
        self.refresh()
        with self._using() as gen:
            if gen is not None:
                gen.index.warm()  # after a reboot the side files are not in the page cache
        if follow and self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="replica-follow", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        with self._lock:
            gen, self._current = self._current, None
        if gen is not None:
            self._retire(gen)

    def __enter__(self) -> ReplicaIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def serving(self) -> Serving | None:
        gen = self._current
        return None if gen is None else gen.serving

    def _follow(self) -> None:
        while not self._stop.wait(self.check_every_s):
            try:
                self.refresh()
            except Exception:  # a bug here must not stop the following: logged, tried again
                _LOGGER.exception("following the published index in %s failed", self.directory)

    # ------------------------------------------------------------ following
    def refresh(self) -> bool:
        """Look once: switch to a newer usable generation; True if it switched. Never raises for what
        it finds in the folder (refusals are logged)."""
        with self._refresh_lock:
            try:
                target = self._target()
            except PublishError as exc:
                self._refuse(str(exc))
                return False
            current = self._current
            if target is None or (current is not None and current.serving.name == target[0]):
                return False
            name, path = target
            try:
                gen = self._open_generation(name, path)
            except Exception as exc:  # PublishError, or what Whoosh raises for files that are not whole
                self._refuse(f"generation {name} in {path.parent} is not usable ({_why(exc)}); "
                             + ("no index to serve yet" if current is None
                                else f"still serving {current.serving.name}"))
                return False
            with self._lock:
                old, self._current = self._current, gen
            self._refused = None
            _LOGGER.info(
                "serving index generation %s%s", name,
                "" if gen.serving.documents is None else f" ({gen.serving.documents:,} papers)",
            )
            if old is not None:
                self._retire(old)
            return True

    def _target(self) -> tuple[str, Path] | None:
        """(name, folder) of what should be served; None when there is nothing yet."""
        if (self.directory / CURRENT).exists() or (self.directory / GENERATIONS).is_dir():
            name = read_current(self.directory)
            return None if name is None else (name, self.directory / GENERATIONS / name)
        if (self.directory / STAMP).exists():
            return LIVE, self.directory
        return None

    def _open_generation(self, name: str, path: Path) -> _Generation:
        if name == LIVE:
            documents = published = None
        else:
            manifest = read_manifest(path)
            documents, published = manifest.documents, manifest.published
        probe = open_existing(path, path / "whoosh")  # schema, every segment: the reason, if any, is here
        probe.close()
        index = SearchIndex(path, max_results=self.max_results).open(owner=False)
        if documents is not None and index.doc_count() != documents:
            found = index.doc_count()
            index.close()
            raise PublishError(f"it holds {found} papers, its manifest says {documents}")
        return _Generation(Serving(name, path, documents, published), index)

    def _refuse(self, message: str) -> None:
        if message != self._refused:
            _LOGGER.warning("%s", message)
            self._refused = message

    @contextlib.contextmanager
    def _using(self) -> Iterator[_Generation | None]:
        """The current generation, kept open until the caller is done with it."""
        with self._lock:
            gen = self._current
            if gen is not None:
                gen.users += 1
        try:
            yield gen
        finally:
            if gen is not None:
                with self._lock:
                    gen.users -= 1
                    done = gen.retired and gen.users == 0 and not gen.closed
                    if done:
                        gen.closed = True
                if done:
                    self._close(gen)

    def _retire(self, gen: _Generation) -> None:
        with self._lock:
            gen.retired = True
            done = gen.users == 0 and not gen.closed
            if done:
                gen.closed = True
        if done:
            self._close(gen)

    @staticmethod
    def _close(gen: _Generation) -> None:
        gen.index.close()
        forget_segment_arrays()  # its side files' maps (the next search maps the current ones again)
        _LOGGER.debug("closed index generation %s", gen.serving.name)

    # ------------------------------------------------------------ reading
    def _nothing(self, result: SearchResult) -> SearchResult:
        result.error = f"no search index has been published in {self.directory} yet"
        return result

    def doc_count(self) -> int:
        with self._using() as gen:
            return 0 if gen is None else gen.index.doc_count()

    def search(
        self,
        query: str,
        *,
        categories: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        sort: str = "relevance",
        page: int = 1,
        pagelen: int = 20,
        db: PaperReader | None = None,
    ) -> SearchResult:
        """:meth:`SearchIndex.search` on the current generation (never raises)."""
        with self._using() as gen:
            if gen is None:
                return self._nothing(SearchResult(query=query if isinstance(query, str) else "",
                                                  page=page, pagelen=pagelen, sort=sort))
            return gen.index.search(query, categories=categories, exclude=exclude, since=since, until=until,
                                    sort=sort, page=page, pagelen=pagelen, db=db)

    def related(
        self, paper_id: str, limit: int = 10, *, db: PaperReader | None = None, page: int = 1
    ) -> SearchResult:
        """:meth:`SearchIndex.related` on the current generation."""
        with self._using() as gen:
            if gen is None:
                return self._nothing(SearchResult(query=f"related:{paper_id}", page=page, pagelen=limit))
            return gen.index.related(paper_id, limit, db=db, page=page)


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, PublishError) else f"{exc.__class__.__name__}: {exc}".rstrip(": ")


def age_s(serving: Serving | None, now: float | None = None) -> float | None:
    """Seconds since the served generation was published (None: nothing, or an index read in place)."""
    if serving is None or serving.published is None:
        return None
    return max(0.0, (time.time() if now is None else now) - serving.published)

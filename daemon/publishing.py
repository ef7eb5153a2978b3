"""The writing daemon's side of the web tier: every committed index generation is published.

With ``[search] publish_dir`` set, :func:`attach` makes the index publish its newest
generation there (:func:`search.publish.publish`) after each of its commits, in
the index's writer thread, and once at start, so a web tier started before the
daemon's first commit finds the index as it is. Publishing never stops the
index: a failure is logged when it starts and when it ends, and the web
processes keep serving the generation published last.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.config import Config
from core.errors import SearchError
from search.index import SearchIndex
from search.publish import publish

__all__ = ["Publisher", "attach"]

_LOGGER = logging.getLogger(__name__)


class Publisher:
    """A commit listener publishing ``index_dir``'s newest generation into ``publish_dir``."""

    def __init__(self, index_dir: Path, publish_dir: Path) -> None:
        self.index_dir = index_dir
        self.publish_dir = publish_dir
        self.published: str | None = None  # the name of the last generation published (or found published)
        self._failing = False

    def __call__(self) -> None:
        try:
            self.published = publish(self.index_dir, self.publish_dir)
        except SearchError as exc:
            if not self._failing:
                _LOGGER.error("publishing the search index for the web tier failed: %s (web processes "
                              "serve generation %s)", exc, self.published or "none")
            self._failing = True
            return
        if self._failing:
            _LOGGER.info("publishing the search index recovered: generation %s", self.published)
        self._failing = False

    def __repr__(self) -> str:
        return f"Publisher({str(self.publish_dir)!r})"


def attach(index: SearchIndex, cfg: Config) -> Publisher | None:
    """Publish after each commit of ``index`` (which this process has opened as its owner) and once now
    (blocking: call it before anything else writes the index); None when ``publish_dir`` is not set."""
    if cfg.search.publish_dir is None:
        return None
    publisher = Publisher(index.index_dir, cfg.search.publish_dir)
    index.commit_listeners.append(publisher)
    publisher()
    return publisher

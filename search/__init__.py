"""Search and the paper pages: the Whoosh index, day lists, stars and Atom feeds.

``search.index.SearchIndex`` is the index (the daemon owns it, the CLI reads it);
``search.web.make_router`` serves the pages; ``search.cli.COMMANDS`` are the
``coolstove papers search | reindex | check`` commands. What search needs of the
paper database is named in ``search.ports``. See docs/search.md.
"""

from search.index import CheckReport, SearchIndex
from search.results import Hit, SearchResult

__all__ = ["CheckReport", "Hit", "SearchIndex", "SearchResult"]

"""Whether a state-changing request (a star, a keyword, a click, an FAQ job) came from this site's pages.

Every POST of the pages goes through :func:`same_origin`: a form or script on another site makes the
reader's browser send its own Origin (or Referer), which names another host and is refused.
"""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request

__all__ = ["same_origin"]


def same_origin(request: Request) -> bool:
    """True unless the browser says the request came from elsewhere (``null`` and unparsable count)."""
    host = request.headers.get("host", "")
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value:
            try:
                netloc = urllib.parse.urlsplit(value).netloc
            except ValueError:  # "http://[" and the like: not this site
                return False
            return value != "null" and netloc == host
    return True  # no browser sent this (curl, tests): nothing to forge

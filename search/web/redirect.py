"""Any arXiv address, mapped to the page of this instance that shows the same thing (Cool Papers' redirector).

Only arXiv's own hosts are understood and the answer is always a path on this
instance, so ``/redirect`` can never send a reader elsewhere.
"""

from __future__ import annotations

import re
import urllib.parse

from core.errors import InputError
from feeds.ids import normalize_id
from search.web.catspec import parse_spec

__all__ = ["ARXIV_HOSTS", "MAX_URL", "local_path"]

ARXIV_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "export.arxiv.org"})
MAX_URL = 2000
_PAPER = re.compile(r"^/(?:abs|pdf|html|format|src)/(.+?)(?:\.pdf)?/?$")
_LISTING = re.compile(r"^/list/([^/]+)/[^/]+/?$")
_VERSION = re.compile(r"v\d+$")


def _paper(text: str) -> str:
    return "/arxiv/" + normalize_id(_VERSION.sub("", text.strip()))


def local_path(target: str) -> str:
    """The local path for an arXiv URL (abs, pdf, html, listing) or a bare id; InputError if there is none."""
    text = target.strip()
    if not text or len(text) > MAX_URL:
        raise InputError("give an arXiv address or id")
    if "://" not in text and text.split("/", 1)[0].lower() not in ARXIV_HOSTS:
        return _paper(text.removeprefix("arXiv:").removeprefix("arxiv:"))
    parts = urllib.parse.urlsplit(text if "://" in text else "https://" + text)
    if parts.scheme not in ("http", "https") or (parts.hostname or "") not in ARXIV_HOSTS:
        raise InputError("only arxiv.org addresses can be opened here")
    path = urllib.parse.unquote(parts.path)
    if m := _PAPER.match(path):
        return _paper(m[1])
    if m := _LISTING.match(path):
        spec = parse_spec(m[1])
        return "/arxiv/" + "+".join(spec.include)
    raise InputError("this arXiv address is not a paper or a listing")

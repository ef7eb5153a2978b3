"""URLs from data (imported papers) are links only when they are plain http(s) URLs.

A licence or DOI link comes from arXiv's metadata, an OAI harvest or a snapshot
import: anything else (``javascript:``, ``data:``, ``vbscript:``, a scheme hidden
behind control characters or whitespace) is shown as text, never as a link.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["SAFE_SCHEMES", "safe_url"]

SAFE_SCHEMES = ("http", "https")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\<>\"'`]")


def safe_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, else None (a Jinja filter too)."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return None
    if _UNSAFE_CHARS.search(value):  # browsers strip tabs/newlines inside schemes: "java\tscript:"
        return None
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in SAFE_SCHEMES or not parts.netloc or not parts.hostname:
        return None
    return value

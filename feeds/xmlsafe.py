"""Turning untrusted response bytes into an XML tree, or a clear ParseError.

arXiv never sends a DTD, so any ``<!DOCTYPE``/``<!ENTITY`` is refused before
expat sees it (no entity expansion, no external fetches); oversized bodies are
refused; an HTML page (a proxy's or arXiv's own error page) is named as such
instead of surfacing as an obscure syntax error.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from core.errors import ParseError

__all__ = ["MAX_XML_BYTES", "check_xml_bytes", "parse_xml"]

MAX_XML_BYTES = 64 * 1024 * 1024
_TITLE_RE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def check_xml_bytes(content: bytes, what: str) -> None:
    """Refuse what no arXiv response looks like: empty, huge, HTML, or carrying a DTD."""
    if not content or not content.strip():
        raise ParseError(f"{what}: empty response")
    if len(content) > MAX_XML_BYTES:
        raise ParseError(f"{what}: response of {len(content)} bytes exceeds {MAX_XML_BYTES}")
    head = content[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:300]:
        m = _TITLE_RE.search(content[:8192]) or re.search(
            rb"<h1[^>]*>(.*?)</h1>", content[:8192], re.I | re.S
        )
        title = m.group(1).decode("utf-8", "replace").strip()[:120] if m else "no title"
        raise ParseError(f"{what}: got an HTML page instead of XML ({title!r})")
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise ParseError(f"{what}: XML with a DOCTYPE/ENTITY declaration is refused")


def parse_xml(content: bytes, what: str) -> ET.Element:
    """The root element of ``content``; ParseError on anything malformed or hostile."""
    check_xml_bytes(content, what)
    try:
        return ET.fromstring(content)  # noqa: S314 - DTDs refused above; expat >= 2.4 limits expansion
    except ET.ParseError as exc:
        raise ParseError(f"{what}: malformed XML ({exc})") from exc

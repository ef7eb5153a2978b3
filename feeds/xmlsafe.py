"""Turning untrusted response bytes into an XML tree, or a clear ParseError.

Every XML answer is parsed by ``defusedxml`` with DTDs forbidden: arXiv never
sends one, so any ``<!DOCTYPE``/``<!ENTITY`` is refused by the parser itself,
whatever the document's encoding (a byte search for ``<!DOCTYPE`` misses it in
UTF-16), before an entity is expanded or an external one fetched. Oversized
bodies are refused; an HTML page (a proxy's or arXiv's own error page) is
named as such instead of surfacing as an obscure syntax error.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]  # no stubs installed
from defusedxml.ElementTree import fromstring as defused_fromstring  # type: ignore[import-untyped]

from core.errors import ParseError

__all__ = ["MAX_XML_BYTES", "check_xml_bytes", "parse_xml"]

MAX_XML_BYTES = 64 * 1024 * 1024
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1_RE = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _head_text(content: bytes, size: int) -> str:
    """The start of the body as text, for recognising an HTML page (UTF-16 with a BOM too)."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return content[len(bom) : len(bom) + 2 * size].decode(encoding, "replace")
    return content[:size].decode("utf-8", "replace")


def check_xml_bytes(content: bytes, what: str) -> None:
    """Refuse what no arXiv response looks like: empty, huge, or an HTML page."""
    if not content or not content.strip():
        raise ParseError(f"{what}: empty response")
    if len(content) > MAX_XML_BYTES:
        raise ParseError(f"{what}: response of {len(content)} bytes exceeds {MAX_XML_BYTES}")
    text = _head_text(content, 8192)
    head = text[:2048].lstrip().lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head[:300]:
        m = _TITLE_RE.search(text) or _H1_RE.search(text)
        title = m.group(1).strip()[:120] if m else "no title"
        raise ParseError(f"{what}: got an HTML page instead of XML ({title!r})")


def parse_xml(content: bytes, what: str) -> ET.Element:
    """The root element of ``content``; ParseError on anything malformed or hostile (any DTD at all)."""
    check_xml_bytes(content, what)
    try:
        root: ET.Element = defused_fromstring(content, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ParseError(f"{what}: XML with a DOCTYPE/ENTITY declaration is refused ({exc})") from exc
    except (ET.ParseError, ValueError) as exc:  # ValueError: expat refuses the declared encoding
        raise ParseError(f"{what}: malformed XML ({exc})") from exc
    return root

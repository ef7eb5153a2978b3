"""Hostile XML against every parser of arXiv's answers: any DTD is refused by the parser, in any encoding.

The documents are the real fixtures with a DTD added and an entity used where a
title is, so a parser that expanded it would return a record with the
expansion in its title: the test would see it. UTF-16 is the case a byte search
for ``<!DOCTYPE`` misses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from arxiv_replay import fixture

from core.errors import ParseError
from feeds.parse_api import parse_api
from feeds.parse_oai import parse_oai
from feeds.parse_rss import parse_feed

LAUGHS = (  # lol9 expands to 10**9 "lol"s
    '<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)
SECRET = "coolstove-secret-3f9a"


def _external(tmp: Path) -> str:
    target = tmp / "secret.txt"
    target.write_text(SECRET, encoding="utf-8")
    return f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "{target.as_uri()}">]>'


PARSERS: dict[str, tuple[str, Callable[[bytes], object]]] = {
    "api": ("api_2401.07002.xml", parse_api),
    "oai": ("oai_raw_page1.xml", parse_oai),
    "rss": ("rss_cs.LG_2024-01-15.xml", lambda body: parse_feed(body, "cs.LG")),
}


def hostile(name: str, dtd: str, entity: str, encoding: str) -> bytes:
    """The fixture with ``dtd`` after the declaration and ``&entity;`` as the text of its titles.

    ``encoding`` is a Python codec: ``utf-16`` writes a BOM, ``utf-16-le``/``-be`` none (the
    declaration says UTF-16 either way, as a real document would).
    """
    text = fixture(name).decode("utf-8")
    text = re.sub(r"^<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"(<(?:title|dc:title)>)[^<]*(</)", rf"\1&{entity};\2", text)
    assert f"&{entity};" in text
    declared = "UTF-16" if encoding.startswith("utf-16") else encoding
    return f"<?xml version='1.0' encoding='{declared}'?>\n{dtd}\n{text}".encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_billion_laughs_is_refused_in_any_encoding(kind: str, encoding: str) -> None:
    name, parse = PARSERS[kind]
    body = hostile(name, LAUGHS, "lol9", encoding)
    with pytest.raises(ParseError, match="DOCTYPE/ENTITY"):
        parse(body)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_an_external_entity_is_refused_and_never_read(kind: str, encoding: str, tmp_path: Path) -> None:
    name, parse = PARSERS[kind]
    with pytest.raises(ParseError, match="DOCTYPE/ENTITY") as info:
        parse(hostile(name, _external(tmp_path), "xxe", encoding))
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_a_bare_internal_entity_is_refused_too(kind: str) -> None:
    """One harmless-looking entity: arXiv never declares one, so a DTD of any size is refused."""
    name, parse = PARSERS[kind]
    with pytest.raises(ParseError, match="DOCTYPE/ENTITY"):
        parse(hostile(name, '<!DOCTYPE r [<!ENTITY who "Mallory">]>', "who", "utf-16"))


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_the_same_documents_without_a_dtd_parse_in_utf16(kind: str) -> None:
    """The refusal is about the DTD, not the encoding: the fixture re-encoded in UTF-16 still parses."""
    name, parse = PARSERS[kind]
    text = re.sub(r"^<\?xml[^>]*\?>\s*", "", fixture(name).decode("utf-8"))
    parse(f"<?xml version='1.0' encoding='utf-16'?>\n{text}".encode("utf-16"))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_an_html_error_page_is_still_named_as_such(kind: str, encoding: str) -> None:
    _, parse = PARSERS[kind]
    page = fixture("html_error.html").decode("utf-8").encode(encoding)
    with pytest.raises(ParseError, match="HTML page"):
        parse(page)

"""Citations: the paper page's ``citation_*`` meta tags, BibTeX and RIS for a paper and the star list.

The formats are parsed back (BibTeX with bibtexparser-free brace counting, RIS line by line) rather
than compared with fixed strings, and hostile metadata (unbalanced braces, newlines, a title that
tries to end an RIS record, markup) must not break a file or a page.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import httpx

from search.web.cite import bibtex, citation_meta, ris
from search.web.pages import PaperView


class _Meta(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "meta" and (a.get("name") or "").startswith("citation_"):
            self.tags.append((a["name"] or "", a.get("content") or ""))


def _meta(html: str) -> list[tuple[str, str]]:
    parser = _Meta()
    parser.feed(html)
    return parser.tags


def _ris_records(text: str) -> list[list[tuple[str, str]]]:
    records: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = re.fullmatch(r"([A-Z][A-Z0-9])  - (.*)", line)
        assert m, f"not an RIS line: {line!r}"
        current.append((m[1], m[2]))
        if m[1] == "ER":
            records.append(current)
            current = []
    assert not current, "a record without ER"
    return records


def _bib_entries(text: str) -> list[dict[str, str]]:
    """Split BibTeX entries by brace depth and read their fields (values in braces, escapes kept)."""
    entries: list[dict[str, str]] = []
    i = 0
    while (start := text.find("@misc{", i)) >= 0:
        depth, j = 0, start + len("@misc")
        while True:
            ch = text[j]
            if ch == "\\":
                j += 2
                continue
            depth += ch == "{"
            depth -= ch == "}"
            j += 1
            if depth == 0:
                break
        body = text[start + len("@misc{") : j - 1]
        key, _, rest = body.partition(",\n")
        fields = {"key": key}
        for m in re.finditer(r"^  (\w+) = \{(.*)\},?$", rest, re.M):
            fields[m[1]] = m[2]
        entries.append(fields)
        i = j
    return entries


def _paper(**kw: object) -> PaperView:
    base = {
        "id": "2403.00009",
        "title": "Plain title",
        "abstract": "Abstract.",
        "authors": ["Ana Müller", "Bo Li"],
        "categories": ["cs.LG", "stat.ML"],
        "primary_category": "cs.LG",
        "submitted": dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC),
    }
    base.update(kw)
    return PaperView(**base)  # type: ignore[arg-type]


def test_hostile_metadata_stays_inside_its_field() -> None:
    evil = _paper(
        title="Unbalanced } brace {\nand\r\nER  - \nTY  - JOUR $\\alpha$",
        authors=["Eve }, author = {Mallory", "Normal Name"],
        abstract="line one\nAU  - Injected Author\nline three",
    )
    good = _paper(id="hep-th/9901001", title="Balanced {TeX} $\\mathcal{O}(n)$ title", doi="10.1/x y")
    records = _ris_records(ris([evil, good]))
    assert len(records) == 2
    first = dict((k, v) for k, v in records[0] if k != "AU")
    assert [v for k, v in records[0] if k == "AU"] == ["Eve }, author = {Mallory", "Normal Name"]
    assert first["TI"].startswith("Unbalanced } brace { and ER - TY - JOUR")
    assert first["TY"] == "UNPB"
    assert first["DA"] == "2024/03/01"
    entries = _bib_entries(bibtex([evil, good]))
    assert [e["key"] for e in entries] == ["arXiv:2403.00009", "arXiv:hep-th/9901001"]
    assert "\n" not in entries[0]["title"]
    assert entries[0]["title"].startswith("Unbalanced \\} brace \\{")  # escaped: they did not balance
    assert entries[0]["author"] == "Eve \\}, author = \\{Mallory and Normal Name"
    assert entries[1]["title"] == "Balanced {TeX} $\\mathcal{O}(n)$ title"  # TeX kept when it balances
    assert entries[1]["eprint"] == "hep-th/9901001"
    assert entries[1]["year"] == "2024"


def test_meta_tags_name_every_author_once() -> None:
    tags = citation_meta(_paper(authors=["A One", "  ", "B\nTwo"]))
    assert [v for k, v in tags if k == "citation_author"] == ["A One", "B Two"]
    assert dict(tags)["citation_pdf_url"] == "https://arxiv.org/pdf/2403.00009"
    assert dict(tags)["citation_date"] == "2024/03/01"


async def test_the_paper_page_carries_citation_tags(client: httpx.AsyncClient) -> None:
    html = (await client.get("/arxiv/2403.00004")).text
    tags = _meta(html)
    assert ("citation_title", "<script>alert('x')</script> Fairness audits") in tags  # as text, escaped
    assert ("citation_author", "Eve <img src=x onerror=alert(1)>") in tags
    assert ("citation_arxiv_id", "2403.00004") in tags
    assert "<script>alert" not in html
    assert 'href="/cite?ids=2403.00004&amp;format=bibtex"' in html
    two = (await client.get("/arxiv/2403.00001,2403.00002")).text
    assert _meta(two) == []  # a page of several papers names none of them as the citation


async def test_cite_and_star_exports(client: httpx.AsyncClient) -> None:
    r = await client.get("/cite", params={"ids": "2403.00001,2403.00003", "format": "bibtex"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-bibtex")
    assert [e["key"] for e in _bib_entries(r.text)] == ["arXiv:2403.00001", "arXiv:2403.00003"]
    one = await client.get("/cite", params={"ids": "2403.00002", "format": "ris"})
    assert 'filename="2403.00002.ris"' in one.headers["content-disposition"]
    assert dict(_ris_records(one.text)[0])["TI"] == "Schrödinger bridges as diffusion models"
    for bad in ({"ids": "", "format": "ris"}, {"ids": "x" * 3000}, {"ids": "not-an-id"},
                {"ids": "2403.00001", "format": "docx"}, {"ids": ",".join(["2403.00001"] * 2) + ",junk"}):
        assert (await client.get("/cite", params=bad)).status_code == 400, bad
    assert (await client.get("/cite", params={"ids": "2403.99999"})).status_code == 404
    await client.post("/stars/2403.00003", data={"action": "add"})
    await client.post("/stars/2403.00001", data={"action": "add"})
    ris_text = (await client.get("/stars/export", params={"format": "ris"})).text
    assert sorted(dict(r)["M1"] for r in _ris_records(ris_text)) == ["arXiv:2403.00001", "arXiv:2403.00003"]
    bib = (await client.get("/stars/export", params={"format": "bibtex"})).text
    assert sorted(e["key"] for e in _bib_entries(bib)) == ["arXiv:2403.00001", "arXiv:2403.00003"]
    assert (await client.get("/stars/export", params={"format": "pdf"})).status_code == 400

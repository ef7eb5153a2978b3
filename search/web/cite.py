"""Citations of papers: Zotero's ``citation_*`` meta tags, BibTeX and RIS.

The text comes from arXiv's metadata, so it is untrusted: a title may hold
unbalanced braces, newlines or a line that looks like an RIS tag. BibTeX
values keep TeX (arXiv titles are TeX) but have their braces escaped when they
do not balance and every run of whitespace made one space; RIS values are one
line each, so no value can end a record or start a field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from search.web.pages import PaperView

__all__ = ["bibtex", "citation_meta", "ris"]

_SPACE = re.compile(r"\s+")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9:./_-]")


def _one_line(text: str | None) -> str:
    return _SPACE.sub(" ", text or "").strip()


def _balanced(text: str) -> bool:
    depth = 0
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not escaped


def _bib_value(text: str | None) -> str:
    """A BibTeX field value for ``{...}``: TeX kept, braces escaped unless they balance."""
    value = _one_line(text)
    if not _balanced(value):
        value = value.replace("\\", "\\textbackslash ").replace("{", "\\{").replace("}", "\\}")
    return value


def _date_parts(p: PaperView) -> tuple[str, str, str] | None:
    when = p.submitted or p.updated
    if when is None:
        return None
    return f"{when.year:04d}", f"{when.month:02d}", f"{when.day:02d}"


def bibtex(papers: Iterable[PaperView]) -> str:
    """One ``@misc`` entry per paper, with the fields arXiv's own export writes (eprint, archivePrefix)."""
    out: list[str] = []
    for p in papers:
        fields = [
            ("title", _bib_value(p.title)),
            ("author", " and ".join(_bib_value(a) for a in p.authors)),
        ]
        date = _date_parts(p)
        if date is not None:
            fields += [("year", date[0]), ("month", date[1])]
        fields += [
            ("eprint", _bib_value(p.id)),
            ("archivePrefix", "arXiv"),
            ("primaryClass", _bib_value(p.primary_category)),
            ("url", _bib_value(p.abs_url)),
        ]
        if p.doi:
            fields.append(("doi", _bib_value(p.doi)))
        if p.journal_ref:
            fields.append(("note", _bib_value(p.journal_ref)))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        out.append(f"@misc{{{_KEY_UNSAFE.sub('_', 'arXiv:' + p.id)},\n{body}\n}}\n")
    return "\n".join(out)


def ris(papers: Iterable[PaperView]) -> str:
    """One RIS record per paper (type UNPB, a preprint), every value on one line."""
    out: list[str] = []
    for p in papers:
        lines = ["TY  - UNPB", f"TI  - {_one_line(p.title)}"]
        lines += [f"AU  - {_one_line(a)}" for a in p.authors if _one_line(a)]
        date = _date_parts(p)
        if date is not None:
            lines += [f"PY  - {date[0]}", f"DA  - {date[0]}/{date[1]}/{date[2]}"]
        lines += [
            f"AB  - {_one_line(p.abstract)}",
            f"UR  - {_one_line(p.abs_url)}",
            f"L1  - {_one_line(p.pdf_url)}",
            f"M1  - arXiv:{_one_line(p.id)}",
        ]
        lines += [f"KW  - {_one_line(c)}" for c in p.categories if _one_line(c)]
        if p.doi:
            lines.append(f"DO  - {_one_line(p.doi)}")
        if p.journal_ref:
            lines.append(f"N1  - {_one_line(p.journal_ref)}")
        lines.append("ER  - ")
        out.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(out)


def citation_meta(p: PaperView) -> list[tuple[str, str]]:
    """The Highwire ``citation_*`` tags Zotero and Google Scholar read, as (name, content) pairs."""
    tags = [("citation_title", _one_line(p.title))]
    tags += [("citation_author", _one_line(a)) for a in p.authors if _one_line(a)]
    date = _date_parts(p)
    if date is not None:
        day = "/".join(date)
        tags += [("citation_date", day), ("citation_online_date", day), ("citation_publication_date", day)]
    tags += [
        ("citation_arxiv_id", _one_line(p.id)),
        ("citation_pdf_url", p.pdf_url),
        ("citation_abstract_html_url", p.abs_url),
    ]
    if p.doi:
        tags.append(("citation_doi", _one_line(p.doi)))
    return tags

"""Identifiers and TeX cleaning: every spelling lands on one id; accents become searchable letters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InputError
from feeds.ids import is_arxiv_id, normalize_id, parse_id
from feeds.tex import clean_abstract, clean_title, split_authors, tex_to_unicode


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2401.06769", "2401.06769"),
        ("arXiv:2401.06769v2", "2401.06769"),
        ("  ARXIV:2401.06769  ", "2401.06769"),
        ("https://arxiv.org/abs/2401.06769v3", "2401.06769"),
        ("https://arxiv.org/pdf/2401.06769v2.pdf", "2401.06769"),
        ("http://export.arxiv.org/abs/2401.06769", "2401.06769"),
        ("arxiv.org/html/2401.06769v1/", "2401.06769"),
        ("https://papers.cool/arxiv/2401.06769", "2401.06769"),
        ("2401.6769", "2401.06769"),  # 5-digit era, leading zero missing
        ("1406.02661", "1406.2661"),  # 4-digit era, one zero too many
        ("1301.3781", "1301.3781"),
        ("0704.0001", "0704.0001"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("hep-th/9901001v2", "hep-th/9901001"),
        ("math.CO/9901016", "math/9901016"),
        ("oai:arXiv.org:cond-mat/0102536", "cond-mat/0102536"),
        ("https://arxiv.org/abs/hep-th/9901001v1", "hep-th/9901001"),
    ],
)
def test_every_spelling_normalises_to_one_id(raw: str, expected: str) -> None:
    assert normalize_id(raw) == expected
    assert normalize_id(expected) == expected


def test_version_is_kept_apart() -> None:
    assert parse_id("arXiv:2401.06769v12") == ("2401.06769", 12)
    assert parse_id("2401.06769") == ("2401.06769", None)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "2401.067",
        "2413.00001",
        "0001.0001",
        "0703.0001",
        "1406.12345",
        "2401.06769v0",
        "hep-th/99010",
        "hep-th/2001001",
        "<script>",
        "2401.06769; DROP TABLE papers",
        "x" * 10_000,
        "https://example.com/abs/2401.06769",
        "../../etc/passwd",
    ],
)
def test_garbage_is_an_input_error(raw: str) -> None:
    with pytest.raises(InputError):
        normalize_id(raw)
    assert not is_arxiv_id(raw)


@given(st.text(max_size=60))
def test_any_text_is_an_id_or_an_input_error(text: str) -> None:
    try:
        pid = normalize_id(text)
    except InputError:
        return
    assert normalize_id(pid) == pid


@pytest.mark.parametrize(
    ("tex", "clean"),
    [
        ('Schr\\"odinger', "Schrödinger"),
        ('Schr\\"{o}dinger', "Schrödinger"),
        ('Schr{\\"o}dinger', "Schrödinger"),
        ("Bal\\'azs", "Balázs"),
        ("Erd\\H{o}s", "Erdős"),
        ("\\v{C}ech", "Čech"),
        ("Gr{\\o}nbech", "Grønbech"),
        ("Stra\\ss e", "Straße"),
        ("\\'{\\i}ndice", "índice"),
        ("Fran\\c{c}ois", "François"),
        ("Ho\\~{n}", "Hoñ"),
        ("\\L{}ukasz", "Łukasz"),
    ],
)
def test_tex_accents_become_unicode(tex: str, clean: str) -> None:
    assert tex_to_unicode(tex) == clean


def test_maths_is_left_for_mathjax() -> None:
    text = 'G\\"odel says $\\"o + \\hat{x}^{2}$ and \\(\\o\\)'
    assert tex_to_unicode(text) == 'Gödel says $\\"o + \\hat{x}^{2}$ and \\(\\o\\)'


def test_titles_join_hard_wraps() -> None:
    assert clean_title(
        "Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies"
    ) == ("Calculation of prompt diphoton production cross sections at Tevatron and LHC energies")


def test_abstracts_keep_paragraphs_and_join_lines() -> None:
    raw = "  First line\nwrapped here.\n  Second paragraph\nalso wrapped.\n"
    assert clean_abstract(raw) == "First line wrapped here.\nSecond paragraph also wrapped."


def test_authors_split_in_order_without_affiliations() -> None:
    raw = "C. Bal\\'azs, E. L. Berger (ANL), P. M. Nadolsky and C.-P. Yuan ((1) MSU, (2) SMU)"
    assert split_authors(raw) == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert split_authors("Emmy Noether and John von Neumann") == ["Emmy Noether", "John von Neumann"]
    assert split_authors("") == []

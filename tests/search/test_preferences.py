"""The ❤ score (search.preferences): whole words and phrases, case, accents, TeX, weights, the field rule,
and the keyword checks."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InputError
from search.preferences import (
    FIELD_CAP,
    MAX_KEYWORD_CHARS,
    TITLE_FACTOR,
    Match,
    Scorer,
    clean_keyword,
    clean_weight,
    keyword_key,
    words,
)


def score(
    keywords: list[tuple[str, int]], title: str = "", abstract: str = "", authors: tuple[str, ...] = ()
) -> int:
    return Scorer(keywords).score(title, abstract, authors).score


def test_phrases_match_whole_words_in_order() -> None:
    kw = [("graph neural", 1)]
    assert score(kw, abstract="We train graph neural networks.") == 1
    assert score(kw, abstract="a graph of neural networks") == 0
    assert score(kw, abstract="neural graph") == 0
    assert score(kw, abstract="graphs neural") == 0
    assert score([("graph", 1)], abstract="subgraph graphs graphical") == 0
    assert score([("graph", 1)], abstract="a graph, a Graph; GRAPH.") == 3
    assert score([("message-passing", 1)], abstract="message passing and message–passing") == 2


def test_case_and_accents_are_ignored() -> None:
    assert score([("Schrodinger", 1)], abstract="Schrödinger bridges") == 1
    assert score([("SCHRÖDINGER", 1)], abstract="schrodinger bridges") == 1
    assert score([("muller", 1)], authors=("Ana MÜLLER",)) == 1
    assert score([("Øbro", 1)], authors=("K. Obro",)) == 1


def test_tex_is_read_as_its_words() -> None:
    kw = [("graph neural", 1)]
    assert score(kw, title=r"\textbf{Graph} Neural networks") == TITLE_FACTOR
    assert score(kw, title=r"{G}raph {N}eural networks") == TITLE_FACTOR
    assert score([("alpha divergence", 1)], title=r"$\alpha$-divergence minimisation") == TITLE_FACTOR
    assert score([("Schrödinger", 1)], title=r"Schr\"odinger and Schr\"{o}dinger") == 2 * TITLE_FACTOR
    assert score([("O(n)", 1)], title=r"an $\mathcal{O}(n)$ algorithm") == TITLE_FACTOR
    assert words(r"\frac{a}{b}") == ["frac", "a", "b"]


def test_title_counts_double_weights_multiply_and_each_field_is_capped() -> None:
    assert score([("bridge", 1)], title="bridge", abstract="bridge") == TITLE_FACTOR + 1
    everywhere = score([("bridge", 4)], title="bridge", abstract="bridge", authors=("Bridge",))
    assert everywhere == 4 * (TITLE_FACTOR + 2)
    assert score([("x", 1)], abstract="x " * 10) == FIELD_CAP
    assert score([("a", 2), ("b", 3)], abstract="a b b") == 2 + 3 * 2
    assert score([], title="anything") == 0


def test_a_phrase_does_not_run_from_one_author_into_the_next() -> None:
    assert score([("li chen", 1)], authors=("Bo Li", "Chen Wu")) == 0
    assert score([("li chen", 1)], authors=("Li Chen",)) == 1


def test_the_match_names_the_keywords_largest_share_first() -> None:
    m = Scorer([("bridges", 1), ("diffusion", 2), ("absent", 9)]).score(
        "Schrödinger bridges as diffusion models", "Diffusion models are trained as bridges."
    )
    assert m == Match(2 * 3 + 1 * 3, ("diffusion", "bridges"))
    # spellings of one keyword count once, with the first one's weight
    same = Scorer([("Graph-Neural", 2), ("graph neural", 9)])
    assert same.score("graph neural", "").score == 2 * TITLE_FACTOR
    # overlapping keywords each count
    overlapping = [("graph", 1), ("graph neural", 1), ("neural networks", 1)]
    assert score(overlapping, abstract="graph neural networks") == 3


def test_keywords_are_trimmed_and_bounded() -> None:
    assert clean_keyword("  graph   neural\u00a0nets ") == "graph neural nets"
    assert clean_keyword("x" * MAX_KEYWORD_CHARS) == "x" * MAX_KEYWORD_CHARS
    for bad, why in [
        ("", "empty"),
        ("   \t ", "empty"),
        ("a\x07b", "control"),
        ("a\nb", "control"),
        ("evil\u202etxt", "control"),  # a bidi override
        ("x" * (MAX_KEYWORD_CHARS + 1), "at most"),
        ("!!! ---", "letter or digit"),
    ]:
        with pytest.raises(InputError, match=why):
            clean_keyword(bad)
    assert keyword_key("Graph-NEURAL") == keyword_key("graph neural") == "graph neural"


def test_weights_are_one_to_nine() -> None:
    assert clean_weight("1") == 1
    assert clean_weight(" 9 ") == 9
    for bad in ("0", "10", "-1", "x", "", "2.5"):
        with pytest.raises(InputError):
            clean_weight(bad)


# ------------------------------------------------------------ properties
WORD = st.text(alphabet="abcdeéüxyz", min_size=1, max_size=6)
PHRASE = st.lists(WORD, min_size=1, max_size=3).map(" ".join)
PUNCTUATION = st.sampled_from([",", "-", "$", r"\emph{", "}", "(", "Ü"])
TEXT = st.lists(st.one_of(WORD, PUNCTUATION), max_size=40).map(" ".join)


def _reference(keywords: list[tuple[str, int]], title: str, abstract: str) -> int:
    """The rule, spelled out slowly: every keyword, every field, every position."""
    total, seen = 0, set()
    for kw, weight in keywords:
        phrase = words(kw)
        if not phrase or tuple(phrase) in seen:
            continue
        seen.add(tuple(phrase))
        for factor, text in ((TITLE_FACTOR, title), (1, abstract)):
            tokens = words(text)
            n = sum(tokens[i : i + len(phrase)] == phrase for i in range(len(tokens)))
            total += weight * factor * min(n, FIELD_CAP)
    return total


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(PHRASE, st.integers(1, 9)), max_size=6), TEXT, TEXT)
def test_the_scorer_agrees_with_the_rule_spelled_out(
    keywords: list[tuple[str, int]], title: str, abstract: str
) -> None:
    m = Scorer(keywords).score(title, abstract)
    assert m.score == _reference(keywords, title, abstract)
    assert (m.score == 0) == (m.keywords == ())


@settings(max_examples=100, deadline=None)
@given(PHRASE, st.integers(1, 9), TEXT)
def test_a_keyword_always_finds_itself_in_a_title(keyword: str, weight: int, around: str) -> None:
    title = f"{around} {keyword.upper()} {around}"
    assert Scorer([(keyword, weight)]).score(title, "").score >= TITLE_FACTOR * weight


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_ascii_text_splits_as_the_unicode_rule_does(text: str) -> None:
    assert words(text) == re.findall(r"[^\W_]+", text.lower()) or "\\" in text or "{" in text

"""Any title or author name pasted as a query runs and finds its paper (real arXiv records).

Titles are full of characters Whoosh reads as syntax: ``Hilbert C^* modules``
(a boost and a wildcard), ``Nuclei: Quark-quark`` (a field), ``Kollár's`` and
``''Recipe Theory''`` (single-quoted terms), ``To Mix or Not to Mix?`` (a
wildcard). Before issue 10 a third of the recorded API titles were refused
with "unknown field 'Testing:'" and ``C^*`` with "put at least 3 letters
before a wildcard".
"""

from __future__ import annotations

import pytest
from conftest import RealCorpus
from whoosh import query as wq

from search.query import QueryError, make_parser, parse_query
from search.schema import make_schema


def test_every_real_title_and_author_finds_its_paper(real_corpus: RealCorpus) -> None:
    failures: list[str] = []
    tried = 0
    for doc in real_corpus.docs:
        for text in (doc.title, doc.authors.split(", ")[0]):
            if not doc.terms["title" if text == doc.title else "authors"]:
                continue  # nothing indexable in it (an author called "0"): nothing to find it by
            tried += 1
            result = real_corpus.index.search(text, pagelen=200)
            if result.error or doc.id not in {h.id for h in result.hits}:
                failures.append(f"{doc.id} {text!r}: {result.error or 'not found'}")
    assert tried > 450
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def parser():
    return make_parser(make_schema())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("On Equivariant Embedding of Hilbert C^* modules", {"equivari", "embedd", "hilbert", "modul"}),
        ("Multiple Parton Scattering in Nuclei: Quark-quark Scattering", {"multipl", "parton", "scatter",
                                                                          "nuclei", "quark"}),
        ("A transcendental approach to Kollár's injectivity theorem", {"transcendent", "approach", "kollar",
                                                                       "inject", "theorem"}),
        ("Compressed Hypothesis Testing: To Mix or Not to Mix?", {"compress", "hypothesi", "test", "mix"}),
        ("x^2 potential [0,1] {a} ~3 'quoted'", {"potenti", "quot"}),
        ("C* algebras", {"algebra"}),
    ],
)
def test_syntax_characters_outside_ours_are_text(parser, text: str, words: set[str]) -> None:
    q = parse_query(text, parser).query
    leaves = [leaf for leaf in q.leaves() if isinstance(leaf, wq.Term)]
    assert {leaf.text for leaf in leaves} == words
    assert not [leaf for leaf in q.leaves() if not isinstance(leaf, wq.Term)]  # no prefix, range, boost
    assert all(leaf.boost == 1.0 for leaf in leaves)


def test_our_own_syntax_still_works_next_to_neutralised_words(parser) -> None:
    q = parse_query("ti:C^*-algebra transform* -x^2 date:2024 (spin OR quark?)", parser).query
    leaves = list(q.leaves())
    assert wq.Term("title", "algebra") in leaves
    assert wq.Prefix("title", "transform") in leaves
    assert any(isinstance(leaf, wq.NumericRange) and leaf.fieldname == "announced" for leaf in leaves)
    assert wq.Term("abstract", "quark") in leaves


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("g*", "'g*' is not a prefix search: put at least 3 letters before a '*'"),
        ("x^2", "nothing left to search for"),
        ("foo:bar", "unknown field 'foo:'"),
        ("ti: graph", "'ti:' needs a term right after the colon"),
    ],
)
def test_what_is_left_refused_says_why(parser, text: str, message: str) -> None:
    with pytest.raises(QueryError) as err:
        parse_query(text, parser)
    assert message in str(err.value)


@pytest.mark.parametrize("query", ["au:Obro", "au:Øbro", "au:øbro", "Mikkel Obro"])
def test_letters_that_do_not_decompose_fold_too(real_corpus: RealCorpus, query: str) -> None:
    """0704.0049's author is ``Mikkel {\\O}bro`` in arXiv's TeX: Ø has no NFKD decomposition, so
    stripping combining marks alone left it, and ``au:Obro`` found nothing."""
    result = real_corpus.index.search(query)
    assert result.error is None
    assert "0704.0049" in {h.id for h in result.hits}

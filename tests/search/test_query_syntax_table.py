"""docs/search.md's query syntax table, row by row, on real arXiv records.

Each row's example runs against the index and must find exactly the papers
that the row's sentence describes, computed here from the papers analysed as
the indexer analyses them. (The table's own examples use words these 250
papers lack, so each row is tried with words they have.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from conftest import RealCorpus
from search_data import TEXT_FIELDS, Doc, every_hit

Pred = Callable[[Doc], bool]


def has(stem: str, *fields: str) -> Pred:
    return lambda d: any(stem in d.terms[f] for f in fields or TEXT_FIELDS)


def run_of(*stems: str) -> Pred:
    n = len(stems)
    return lambda d: any(
        tuple(d.terms[f][i : i + n]) == stems for f in TEXT_FIELDS for i in range(len(d.terms[f]))
    )


def starts(head: str) -> Pred:
    return lambda d: any(t.startswith(head) for f in TEXT_FIELDS for t in d.terms[f])


def in_one_field(*stems: str) -> Pred:
    return lambda d: any(all(s in d.terms[f] for s in stems) for f in TEXT_FIELDS)


def between(attr: str, lo: dt.date | None, hi: dt.date | None) -> Pred:
    def pred(d: Doc) -> bool:
        when = getattr(d, attr)
        return when is not None and (lo is None or when.date() >= lo) and (hi is None or when.date() <= hi)

    return pred


def both(a: Pred, b: Pred) -> Pred:
    return lambda d: a(d) and b(d)


def either(a: Pred, b: Pred) -> Pred:
    return lambda d: a(d) or b(d)


def no(a: Pred) -> Pred:
    return lambda d: not a(d)


ROWS: list[tuple[str, str, Pred]] = [
    ("all words must match, in any field, stemmed", "neural networks", both(has("neural"), has("network"))),
    ("a phrase (stop words skipped, order kept)", '"state of the art"', run_of("state", "art")),
    ("... order kept", '"art of the state"', run_of("art", "state")),
    ("either", "survey OR quark", either(has("survei"), has("quark"))),
    ("parentheses group", "(survey OR quark) model", both(either(has("survei"), has("quark")), has("model"))),
    ("exclude with NOT", "testing NOT survey", both(has("test"), no(has("survei")))),
    ("exclude with -", "testing -survey", both(has("test"), no(has("survei")))),
    ("a hyphen inside a word is not an exclusion", "state-of-the-art", in_one_field("state", "art")),
    ("prefix", "transform*", starts("transform")),
    ("ti:", "ti:testing", has("test", "title")),
    ("title:", "title:testing", has("test", "title")),
    ("au:", "au:fujino", has("fujino", "authors")),
    ("author:", "author:fujino", has("fujino", "authors")),
    ("abs:", "abs:quark", has("quark", "abstract")),
    ("abstract:", "abstract:quark", has("quark", "abstract")),
    ("cat:", "cat:hep-ph", lambda d: "hep-ph" in d.categories),
    ("category:", "category:cs.SE", lambda d: "cs.se" in d.categories),
    ("every category of an archive", "cat:cs", lambda d: "cs" in d.categories),
    ("id:", "id:0704.0073", lambda d: d.id == "0704.0073"),
    ("AND, as in the README's example", "ti:testing AND abs:software", both(has("test", "title"),
                                                                            has("softwar", "abstract"))),
    ("date:YYYY", "date:2021", between("announced", dt.date(2021, 1, 1), dt.date(2021, 12, 31))),
    ("date:from..to", "date:2021-01..2022-03",
     between("announced", dt.date(2021, 1, 1), dt.date(2022, 3, 31))),
    ("date:from..", "date:2024-05-01..", between("announced", dt.date(2024, 5, 1), None)),
    ("date:..to", "date:..2007", between("announced", None, dt.date(2007, 12, 31))),
    ("updated:YYYY", "updated:2025", between("updated", dt.date(2025, 1, 1), dt.date(2025, 12, 31))),
]


@pytest.mark.parametrize(("meaning", "query", "expected"), ROWS, ids=[q for _, q, _ in ROWS])
def test_each_row_of_the_syntax_table_means_what_it_says(
    real_corpus: RealCorpus, meaning: str, query: str, expected: Pred
) -> None:
    want = {d.id for d in real_corpus.docs if expected(d)}
    pages, found = every_hit(real_corpus.index, query)
    assert pages[0].total == len(want), meaning
    assert set(found) == want, meaning


def test_the_rows_are_not_vacuous(real_corpus: RealCorpus) -> None:
    """Every row but the reversed phrase finds something on this data, and less than everything."""
    for meaning, query, expected in ROWS:
        n = sum(1 for d in real_corpus.docs if expected(d))
        if query == '"art of the state"':
            assert n == 0
        else:
            assert 0 < n < len(real_corpus.docs), (meaning, query, n)

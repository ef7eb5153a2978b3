"""The query checker: every malformed query gets a clear message, good ones parse as meant."""

from __future__ import annotations

import datetime as dt

import pytest
from whoosh import query as wq

from search.query import MAX_QUERY_CHARS, QueryError, make_parser, parse_date, parse_query
from search.schema import make_schema


@pytest.fixture(scope="module")
def parser():
    return make_parser(make_schema())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"graph neural', "unbalanced quote"),
        ("NOT", "'NOT' needs a term after it"),
        ("graph NOT", "'NOT' needs a term after it"),
        ("OR graph", "'OR' needs a term on each side"),
        ("NOT graph", "only NOT terms"),
        ("-graph", "only NOT terms"),
        ("foo:bar", "unknown field 'foo:'"),
        ("ti: graph", "'ti:' needs a term"),
        ("graph\x00neural", "control characters"),
        ("graph\u202eneural", "control characters"),
        ("x" * (MAX_QUERY_CHARS + 1), "too long"),
        ("(graph OR tree", "unbalanced parentheses"),
        ("graph)", "unbalanced parentheses"),
        ("the of and", "stop words"),
        ("   ", "empty"),
        ("g*", "at least 3 letters"),
        ("date:2024-13", "not a valid date"),
        ("date:2024-05..2024-01", "start date is after the end date"),
        (" ".join(f"w{i}x" for i in range(40)), "too many terms"),
    ],
)
def test_bad_queries_say_why(parser, text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query(text, parser)


def test_ten_kilobytes_is_refused_quickly(parser) -> None:
    with pytest.raises(QueryError, match="too long"):
        parse_query("graph " * 2000, parser)


def test_words_are_stemmed_folded_and_all_required(parser) -> None:
    parsed = parse_query("Images Schrödinger", parser)
    assert isinstance(parsed.query, wq.And)
    assert parsed.terms == ["imag", "schroding"]
    assert parsed.matchers["abstract"].matches("image")


def test_field_prefixes_map_to_schema_fields(parser) -> None:
    q = parse_query("ti:transformers au:Müller cat:cs.LG abs:attention", parser).query
    fields = {leaf.fieldname for leaf in q.leaves()}
    assert fields == {"title", "authors", "categories", "abstract"}
    assert wq.Term("categories", "cs.lg") in q.leaves()
    assert wq.Term("authors", "muller") in q.leaves()


def test_minus_excludes_but_hyphenated_words_do_not(parser) -> None:
    assert isinstance(parse_query("graph -survey", parser).query, wq.And)
    assert "NOT" in str(parse_query("graph -survey", parser).query)
    assert "NOT" not in str(parse_query("state-of-the-art graph", parser).query)


def test_phrase_in_a_field(parser) -> None:
    q = parse_query('ti:"graph neural"', parser).query
    assert isinstance(q, wq.Phrase)
    assert q.fieldname == "title"


def test_date_ranges_become_numeric_ranges(parser) -> None:
    q = parse_query("graph date:2024-01..2024-03", parser).query
    ranges = [leaf for leaf in q.leaves() if isinstance(leaf, wq.NumericRange)]
    assert len(ranges) == 1
    assert ranges[0].fieldname == "announced"
    open_end = parse_query("date:2024-05-01..", parser).query
    assert isinstance(open_end, wq.NumericRange)
    assert open_end.end is None


def test_partial_dates() -> None:
    assert parse_date("2024") == dt.date(2024, 1, 1)
    assert parse_date("2024", end=True) == dt.date(2024, 12, 31)
    assert parse_date("2024-02", end=True) == dt.date(2024, 2, 29)
    with pytest.raises(QueryError):
        parse_date("yesterday")

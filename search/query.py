"""The query language: checked first, then handed to Whoosh's parser.

Syntax (see docs/search.md): words (all must match), ``"phrases"``, ``OR``,
``NOT``/``-word``, parentheses, ``word*`` prefixes, field prefixes ``ti:``
``au:`` ``abs:`` ``cat:`` ``id:``, and dates ``date:2024``,
``date:2024-01..2024-03``, ``updated:2024-05-01..``.

Whoosh's parser accepts anything and guesses; a guess is a wrong answer to a
typo. So the text is validated here first and every problem becomes one clear
message (:class:`QueryError`) that callers show next to an empty result.

Whoosh's syntax is larger than ours (boosts ``x^2``, ranges ``[a TO b]``,
single-quoted terms, ``?`` wildcards, ``~`` slop, ``ANDNOT`` …), and titles are
full of those characters: ``Hilbert C^* modules``, ``Nuclei: Quark-quark``,
``Kollár's``. A word that uses any of them outside our documented syntax is
passed to Whoosh in double quotes, so it is analysed exactly as the indexed
text was (``C^*`` is the one-letter ``c``, dropped; ``Nuclei:`` is ``nuclei``).
A ``*`` is a prefix search only at the end of a word of letters and digits.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from whoosh import query as wq
from whoosh.fields import Schema
from whoosh.qparser import MultifieldParser, QueryParser

from search.analysis import fold, stem
from search.highlight import TermMatcher
from search.schema import ALIASES, DATE_FIELDS, TEXT_FIELDS

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "ParsedQuery",
    "QueryError",
    "parse_date",
    "parse_query",
]

MAX_QUERY_CHARS = 512
MAX_TERMS = 32
MIN_PREFIX = 3
OPERATORS = ("AND", "OR", "NOT")
_FIELD_RE = re.compile(r"(?<![\w.\-])([A-Za-z_][\w]*):")
_DATE_RE = re.compile(r"\b(date|announced|updated):([^\s()]*)")
_DAY_RE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_MINUS_RE = re.compile(r'(?:(?<=[\s(])|^)-(?=[\w"(])')
_PLUS_RE = re.compile(r'(?:(?<=[\s(])|^)\+(?=[\w"(])')
_WORD_RE = re.compile(r'"[^"]*"|\(|\)|[^\s()"]+')
_CHUNK_RE = re.compile(r'("[^"]*")|(\s+|[()])|([^\s()"]+)')
_FIELDISH_RE = re.compile(r"^([A-Za-z_]\w*):(.*)$", re.DOTALL)
_PREFIX_RE = re.compile(r"^(\w+)\*$")
#: Whoosh's syntax characters (its default parser's plugins) that are not part of ours: a word
#: containing any of them is quoted. ``*`` is ours only as in ``_PREFIX_RE``, ``:`` only after a field.
WHOOSH_SYNTAX = frozenset("*?^~'[]{}:\u055e\u061f\u1367")
#: Whoosh's operators beyond the documented AND, OR, NOT: read as ordinary (lower-case) words.
OTHER_OPERATORS = ("ANDNOT", "ANDMAYBE", "REQUIRE")


class QueryError(ValueError):
    """The query cannot be run as typed; the message says why, in the user's terms."""


@dataclass
class ParsedQuery:
    text: str
    query: wq.Query
    matchers: dict[str, TermMatcher]  # field -> what to highlight in it
    terms: list[str]


def parse_date(text: str, *, end: bool = False) -> dt.date:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; with ``end`` a partial date means its last day."""
    m = _DAY_RE.match(text.strip())
    if not m:
        raise QueryError(f"{text!r} is not a date (use YYYY, YYYY-MM or YYYY-MM-DD)")
    year, month, day = int(m[1]), m[2], m[3]
    try:
        if month is None:
            return dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
        if day is None:
            first = dt.date(year, int(month), 1)
            if not end:
                return first
            nxt = dt.date(year + (first.month == 12), first.month % 12 + 1, 1)
            return nxt - dt.timedelta(days=1)
        return dt.date(year, int(month), int(day))
    except ValueError as exc:
        raise QueryError(f"{text!r} is not a valid date") from exc


def _check_characters(text: str) -> str:
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is too long ({len(text)} characters; at most {MAX_QUERY_CHARS})")
    bad = [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") and c not in "\t\n\r"]
    if bad:
        raise QueryError(
            f"the query contains control characters ({', '.join(sorted({f'U+{ord(c):04X}' for c in bad}))})"
        )
    text = " ".join(text.split())
    if not text:
        raise QueryError("the query is empty")
    if text.count('"') % 2:
        raise QueryError('unbalanced quote: every " needs a closing "')
    return text


def _literal(body: str, short: list[str]) -> str:
    """``body`` as typed if plain text or a prefix search, else quoted (so Whoosh only analyses it)."""
    prefix = _PREFIX_RE.match(body)
    if prefix and len(prefix[1]) >= MIN_PREFIX:
        return body
    if prefix:
        short.append(body)  # "C*" as in "C* algebras": punctuation, unless nothing else is left
    elif not any(c in WHOOSH_SYNTAX for c in body):
        return body
    return f'"{body}"'


def _neutral_word(word: str, short: list[str]) -> str:
    if word in OTHER_OPERATORS:
        return word.lower()
    sign = ""
    if len(word) > 1 and word[0] in "-+":  # exclusion ("-survey"), or a "+" that changes nothing
        sign, word = word[0], word[1:]
    field = _FIELDISH_RE.match(word)
    if field:
        name, body = field[1], field[2]
        alias = ALIASES.get(name.lower())
        if alias is not None:
            if alias in DATE_FIELDS or not body:  # dates are checked when rewritten; "ti:" alone too
                return sign + word
            return f"{sign}{name}:{_literal(body, short)}"
        if body:  # "foo:bar": an unknown field, which _rewrite_fields names
            return sign + word
    return sign + _literal(word, short)  # includes "Nuclei:", a colon ending a word


def _neutralise(text: str) -> tuple[str, list[str]]:
    """Quote the words that use Whoosh syntax outside ours (see the module docstring).

    Also returns the words read as text although they look like prefixes with fewer than
    :data:`MIN_PREFIX` letters (``C*``), to name them if nothing else is left to search for.
    """
    out: list[str] = []
    short: list[str] = []
    for m in _CHUNK_RE.finditer(text):
        word = m[3]
        out.append(_neutral_word(word, short) if word else m[0])
    return "".join(out), short


def _check_structure(words: list[str]) -> None:
    depth = 0
    for w in words:
        if w == "(":
            depth += 1
        elif w == ")":
            depth -= 1
            if depth < 0:
                raise QueryError("unbalanced parentheses: ')' without '('")
    if depth:
        raise QueryError("unbalanced parentheses: '(' without ')'")
    terms = [w for w in words if w not in ("(", ")") and w not in OPERATORS]
    if len(terms) > MAX_TERMS:
        raise QueryError(f"too many terms ({len(terms)}; at most {MAX_TERMS})")
    for i, w in enumerate(words):
        if w not in OPERATORS:
            continue
        after = words[i + 1] if i + 1 < len(words) else None
        before = words[i - 1] if i > 0 else None
        if after is None or (after in OPERATORS and after != "NOT") or after == ")":
            raise QueryError(f"'{w}' needs a term after it")
        if w != "NOT" and (before is None or before in OPERATORS or before == "("):
            raise QueryError(f"'{w}' needs a term on each side")
    positive = [
        w
        for i, w in enumerate(words)
        if w not in ("(", ")", *OPERATORS) and not w.startswith("-") and not (i and words[i - 1] == "NOT")
    ]
    if not positive:
        raise QueryError("a query of only NOT terms would match everything; add a term to look for")


def _rewrite_fields(text: str) -> str:
    """Map ``ti:``-style prefixes to schema fields, and dates to Whoosh ranges; reject unknown fields."""

    def date_range(m: re.Match[str]) -> str:
        name, value = ALIASES[m[1]], m[2]
        if not value:
            raise QueryError(f"'{m[1]}:' needs a date, e.g. {m[1]}:2024-05 or {m[1]}:2024-01-01..2024-03-31")
        lo, sep, hi = value.partition("..")
        if not sep:
            hi = lo
        if not lo and not hi:
            raise QueryError(f"'{m[0]}' has neither a start nor an end date")
        start = parse_date(lo).isoformat() if lo else ""
        stop = parse_date(hi, end=True).isoformat() if hi else ""
        if start and stop and start > stop:
            raise QueryError(f"'{m[0]}': the start date is after the end date")
        return f"{name}:[{start} TO {stop}]".replace("[ ", "[").replace(" ]", "]")

    out: list[str] = []
    parts = re.split(r'("[^"]*")', text)
    for i, part in enumerate(parts):
        if i % 2:  # inside quotes: leave as typed
            out.append(part)
            continue
        for m in _FIELD_RE.finditer(part):
            name = m[1].lower()
            if name not in ALIASES:
                known = "ti, au, abs, cat, id, date, updated"
                raise QueryError(f"unknown field '{m[1]}:' (known: {known})")
            rest = part[m.end() :] or (parts[i + 1] if i + 1 < len(parts) else "")
            if not rest or rest[0].isspace() or rest[0] == ")":
                raise QueryError(f"'{m[1]}:' needs a term right after the colon")
        part = _FIELD_RE.sub(lambda m: ALIASES[m[1].lower()] + ":", part)
        part = _DATE_RE.sub(date_range, part)
        # "-word" / "+word" at the start of a word only: "state-of-the-art" stays one phrase
        part = _MINUS_RE.sub("NOT ", part)
        part = _PLUS_RE.sub("", part)
        out.append(part)
    return "".join(out)


def _walk(q: wq.Query, matchers: dict[str, TermMatcher], terms: list[str], negated: bool = False) -> None:
    if isinstance(q, wq.Not):
        _walk(q.query, matchers, terms, True)
        return
    if isinstance(q, wq.AndNot):
        _walk(q.a, matchers, terms, negated)
        _walk(q.b, matchers, terms, True)
        return
    if isinstance(q, wq.Phrase):
        if not negated and q.fieldname in TEXT_FIELDS:
            matchers.setdefault(q.fieldname, TermMatcher()).stems.update(q.words)
            phrase = '"' + " ".join(q.words) + '"'
            if phrase not in terms:
                terms.append(phrase)
        return
    if isinstance(q, wq.Prefix | wq.Wildcard):
        if not negated and q.fieldname in TEXT_FIELDS:
            m = matchers.setdefault(q.fieldname, TermMatcher())
            text = fold(q.text)
            (m.prefixes if isinstance(q, wq.Prefix) else m.patterns).add(text)
            shown = text + ("*" if isinstance(q, wq.Prefix) else "")
            if shown not in terms:
                terms.append(shown)
        return
    if isinstance(q, wq.Term):
        if not negated and q.fieldname in TEXT_FIELDS and isinstance(q.text, str):
            matchers.setdefault(q.fieldname, TermMatcher()).stems.add(q.text)
            if q.text not in terms:
                terms.append(q.text)
        return
    if q.is_leaf():
        return
    for child in q.children():
        _walk(child, matchers, terms, negated)


def _has_positive(q: wq.Query) -> bool:
    if isinstance(q, wq.Not):
        return False
    if isinstance(q, wq.AndNot):
        return _has_positive(q.a)
    if isinstance(q, type(wq.NullQuery)):
        return False
    if q.is_leaf():
        return True
    return any(_has_positive(c) for c in q.children())


def make_parser(schema: Schema) -> QueryParser:
    """Whoosh's ``MultifieldParser`` (a function returning a ``QueryParser``) over the text fields."""
    return MultifieldParser(list(TEXT_FIELDS), schema)


def parse_query(text: str, parser: QueryParser) -> ParsedQuery:
    """Check and parse a user query; raise :class:`QueryError` with a readable message."""
    if not isinstance(text, str):
        raise QueryError("the query must be text")
    text = _check_characters(text)
    neutral, short = _neutralise(text)
    words = _WORD_RE.findall(neutral)
    _check_structure(words)
    rewritten = _rewrite_fields(neutral)
    try:
        q = parser.parse(rewritten)
    except Exception as exc:  # Whoosh raises bare Exceptions from deep inside its parser
        raise QueryError(f"the query could not be understood ({exc})") from exc
    errors = [getattr(leaf, "error", None) for leaf in _leaves(q)]
    errors = [e for e in errors if e]
    if errors:
        raise QueryError(f"the query could not be understood ({errors[0]})")
    if not _has_positive(q):
        if short:
            raise QueryError(
                f"'{short[0]}' is not a prefix search: put at least {MIN_PREFIX} letters before a '*'"
            )
        raise QueryError(
            "nothing left to search for: the query has only very common words (stop words), "
            "single letters or punctuation"
        )
    matchers: dict[str, TermMatcher] = {}
    terms: list[str] = []
    _walk(q, matchers, terms)
    return ParsedQuery(text=text, query=q, matchers=matchers, terms=terms)


def _leaves(q: wq.Query) -> list[wq.Query]:
    if q.is_leaf():
        return [q]
    out: list[wq.Query] = []
    for c in q.children():
        out.extend(_leaves(c))
    return out


def words_query(stems: list[tuple[str, float]], fields: tuple[str, ...] = ("title", "abstract")) -> wq.Query:
    """An OR of already analyzed terms over ``fields``, weighted (the [REL] query)."""
    return wq.Or([wq.Term(f, t, boost=w) for t, w in stems for f in fields])


def date_filter(field: str, since: dt.date | None, until: dt.date | None) -> wq.Query | None:
    if field not in DATE_FIELDS or (since is None and until is None):
        return None
    start = dt.datetime(since.year, since.month, since.day) if since else None
    end = dt.datetime(until.year, until.month, until.day, 23, 59, 59, 999999) if until else None
    return wq.DateRange(field, start, end)


def analyzed(word: str) -> str:
    return stem(fold(word))

"""Preference keywords: checking what a reader typed, and each paper's ❤ score against the keywords.

The scoring rule (the README quotes it):

- Text is compared as words: lower case, accents folded as the index folds them
  (:func:`search.analysis.fold`, so "schrodinger" matches "Schrödinger"), every run of
  characters that are not letters or digits is one word break (so "message-passing"
  matches "message passing"). TeX is read as its words: ``\\textbf{Graph} neural``
  and ``{G}raph`` read "graph neural" / "graph", ``$\\alpha$-divergence`` reads
  "alpha divergence", ``Schr\\"odinger`` reads "schrodinger".
- A keyword matches whole words or a whole phrase: "graph" does not match "graphs" or
  "subgraph"; "graph neural" matches "… graph neural networks" but not "graph of neural".
- A paper's score is the sum over keywords of ``weight × (2 × title + abstract + authors)``
  where each field counts a keyword's occurrences, at most :data:`FIELD_CAP` per field
  (an abstract that repeats one word ten times does not outweigh three different keywords).
  Title matches count double.

Pure functions, no I/O: the pages read the keywords from the database and hand them here.
A :class:`Scorer` is built once per request; scoring a 1,000-paper day against 200
keywords looks up each word of each paper once (a dict from a phrase's first word to its
phrases), whatever the number of keywords.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import InputError
from search.analysis import fold

__all__ = [
    "FIELD_CAP",
    "MAX_KEYWORDS",
    "MAX_KEYWORD_CHARS",
    "MAX_WEIGHT",
    "MIN_WEIGHT",
    "TITLE_FACTOR",
    "Match",
    "Scorer",
    "clean_keyword",
    "clean_weight",
    "keyword_key",
    "words",
]

MAX_KEYWORDS = 200
MAX_KEYWORD_CHARS = 200  # the column's size
MIN_WEIGHT, MAX_WEIGHT = 1, 9
TITLE_FACTOR = 2
FIELD_CAP = 3
PREFILTER_MAX = 24  # up to this many distinct first words, a text is tested for them as substrings first

_WORD = re.compile(r"[^\W_]+")
_ASCII_BREAKS = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})
# formatting commands whose argument is the text: \textbf{Graph} reads "Graph"
_FORMAT = re.compile(
    r"\\(?:text[a-z]*|math[a-z]*|emph|operatorname|mbox|hbox|rm|bf|it|sf|tt|sc|em|bm|boldsymbol|left|right)"
    r"(?![a-zA-Z])"
)
_ACCENT = re.compile(r"\\[\"'^`~=.]\s*\{?([a-zA-Z])\}?")  # \"o, \'{e}: the letter (fold drops the accent)
_LETTER_ACCENT = re.compile(r"\\[cvuHkrd]\s*\{([a-zA-Z])\}")  # \c{c}, \v{s}
_COMMAND = re.compile(r"\\([a-zA-Z]+)")  # any other command is a word of its own: \alpha reads "alpha"
_JOINED_GROUPS = re.compile(r"\}\s*\{")  # \frac{a}{b}: two words, not "ab"
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}  # control, format (bidi overrides), unassigned
_SPACES = re.compile(r"\s+")


def _untex(text: str) -> str:
    if "\\" in text:
        text = _FORMAT.sub("", text)
        text = _ACCENT.sub(r"\1", text)
        text = _LETTER_ACCENT.sub(r"\1", text)
        text = _COMMAND.sub(r" \1 ", text)
    if "{" in text:
        text = _JOINED_GROUPS.sub(" ", text).replace("{", "").replace("}", "")
    return text


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_FOLDED: dict[str, str] = {}  # a run of non-ASCII characters, folded (the same few letters recur)
_FOLDED_MAX = 100_000


def _fold_chunk(m: re.Match[str]) -> str:
    chunk = m[0]
    got = _FOLDED.get(chunk)
    if got is None:
        if len(_FOLDED) >= _FOLDED_MAX:
            _FOLDED.clear()
        got = _FOLDED[chunk] = fold(chunk)
    return got


def _folded(text: str) -> str:
    text = _untex(text).lower()
    if not text.isascii():  # fold only the runs that need it (folding is per character)
        text = _NON_ASCII.sub(_fold_chunk, text)
    return text


def _split(folded: str) -> list[str]:
    if folded.isascii():  # the words [a-z0-9]+ finds, about five times faster than re.findall
        return folded.translate(_ASCII_BREAKS).split()
    return _WORD.findall(folded)  # Greek, CJK, …: letters fold leaves as they are


def words(text: str) -> list[str]:
    """``text`` as the scorer compares it: TeX read as words, folded, split at everything but letters and
    digits."""
    return _split(_folded(text))


def keyword_key(keyword: str) -> str:
    """What a keyword matches, as one string ("Graph-Neural" and "graph neural" are the same keyword)."""
    return " ".join(words(keyword))


def clean_keyword(raw: str) -> str:
    """A keyword as stored: trimmed, inner white space as single spaces; :class:`InputError` says why not."""
    text = raw.strip()
    if not text:
        raise InputError("a keyword cannot be empty")
    bad = next((c for c in text if unicodedata.category(c) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        raise InputError(f"a keyword cannot hold control or format characters (U+{ord(bad):04X})")
    text = _SPACES.sub(" ", text)
    if len(text) > MAX_KEYWORD_CHARS:
        raise InputError(f"a keyword is at most {MAX_KEYWORD_CHARS} characters ({len(text)} given)")
    if not keyword_key(text):
        raise InputError("a keyword needs at least one letter or digit")
    return text


def clean_weight(raw: str | int) -> int:
    """A weight from 1 to 9; :class:`InputError` otherwise."""
    try:
        weight = int(str(raw).strip())
    except ValueError:
        raise InputError(f"the weight must be a whole number from {MIN_WEIGHT} to {MAX_WEIGHT}") from None
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise InputError(f"the weight must be from {MIN_WEIGHT} to {MAX_WEIGHT} ({weight} given)")
    return weight


@dataclass(frozen=True)
class Match:
    """One paper's ❤ score and the keywords that gave it, largest share first (ties: as configured)."""

    score: int
    keywords: tuple[str, ...]


NO_MATCH = Match(0, ())


def _count_phrase(tokens: list[str], phrase: list[str], starts: int) -> int:
    """How often ``phrase`` occurs in ``tokens``, whose first word occurs ``starts`` times there."""
    n, found, i = len(phrase), 0, -1
    for _ in range(starts):
        i = tokens.index(phrase[0], i + 1)  # a scan in C
        if tokens[i : i + n] == phrase:
            found += 1
    return found


class Scorer:
    """Scores papers against ``(keyword, weight)`` pairs; keywords with the same :func:`keyword_key`
    count once (the first one's weight)."""

    def __init__(self, keywords: Iterable[tuple[str, int]]) -> None:
        self.keywords: list[tuple[str, list[str], int]] = []
        seen: set[tuple[str, ...]] = set()
        for keyword, weight in keywords:
            phrase = words(keyword)
            if phrase and tuple(phrase) not in seen:
                seen.add(tuple(phrase))
                self.keywords.append((keyword, phrase, weight))
        # first word -> indexes into self.keywords of the phrases that start with it
        self._by_first: dict[str, list[int]] = {}
        for i, (_kw, phrase, _w) in enumerate(self.keywords):
            self._by_first.setdefault(phrase[0], []).append(i)
        self._firsts = frozenset(self._by_first)

    def __bool__(self) -> bool:
        return bool(self.keywords)

    def _text(self, text: str, into: dict[int, int], factor: int) -> None:
        folded = _folded(text)
        # a few keywords: substring tests (in C) rule most texts out before they are split into words
        if len(self._firsts) <= PREFILTER_MAX and not any(first in folded for first in self._firsts):
            return
        self._field(_split(folded), into, factor)

    def _field(self, tokens: list[str], into: dict[int, int], factor: int) -> None:
        present = self._firsts.intersection(tokens)
        if not present:
            return
        counts = Counter(tokens)
        for first in present:
            for k in self._by_first[first]:
                phrase = self.keywords[k][1]
                if len(phrase) == 1:
                    n = counts[first]
                elif all(w in counts for w in phrase[1:]):  # else it cannot occur: no scan
                    n = _count_phrase(tokens, phrase, counts[first])
                else:
                    continue
                if n:
                    into[k] = into.get(k, 0) + factor * min(n, FIELD_CAP)

    def score(self, title: str, abstract: str, authors: Iterable[str] = ()) -> Match:
        """One paper's :class:`Match` (``Match(0, ())`` when no keyword occurs)."""
        if not self.keywords:
            return NO_MATCH
        hits: dict[int, int] = {}
        self._text(title, hits, TITLE_FACTOR)
        self._text(abstract, hits, 1)
        names: list[str] = []
        for author in authors:  # a phrase never runs from one author into the next
            names += words(author)
            names.append("\0")
        if names:
            self._field(names, hits, 1)
        if not hits:
            return NO_MATCH
        shares = sorted(((self.keywords[k][2] * n, k) for k, n in hits.items()), key=lambda s: (-s[0], s[1]))
        return Match(sum(s for s, _ in shares), tuple(self.keywords[k][0] for _, k in shares))

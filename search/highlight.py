"""Highlighting: which words of a title or abstract matched, as segments, never inside TeX math.

Matching is by analyzed form (the same fold + stem as the index), so a search
for "images" marks "image". Words inside ``$...$`` / ``\\(...\\)`` are left
alone: a ``<mark>`` in the middle of a formula would stop KaTeX from rendering
it. Snippets are cut on word boundaries and never split a formula.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from search.analysis import TOKEN_RE, fold, stem
from search.results import Segments

__all__ = ["TermMatcher", "highlight", "highlight_both", "math_spans", "snippet"]

MATH_RE = re.compile(r"\$\$.+?\$\$|\$[^$]+?\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)


def math_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in MATH_RE.finditer(text)]


def _lead(word: str) -> str:
    """A word's first two letters, a second ``y`` read as ``i``: what Porter's stemmer never changes.

    Checked on every string of 2–4 letters, every 5-letter string of 12 letters and the 90,000
    words of the bench corpus and the arXiv samples: a stem of two or more letters has the same
    ``_lead`` as its word (``ays`` → ``ai``), and a one-letter stem is the word's first letter.
    """
    return word[:1] + ("i" if word[1:2] == "y" else word[1:2])


@dataclass
class TermMatcher:
    """Analyzed terms to mark: exact stems, prefixes (``graph*``) and wildcard patterns.

    A word is stemmed only if it could stem to one of ``stems`` (:func:`_lead`): a page of hits
    has hundreds of distinct words, and stemming each cost most of a first query's highlighting.
    """

    stems: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)
    patterns: set[str] = field(default_factory=set)
    _seen: set[str] = field(default_factory=set, repr=False, compare=False)  # words analysed...
    _hits: set[str] = field(default_factory=set, repr=False, compare=False)  # ...and those that match
    _leads: set[str] | None = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.stems or self.prefixes or self.patterns)

    def matches(self, word: str) -> bool:
        return bool(self.matching({word}))

    def _matches(self, word: str) -> bool:
        folded = fold(word)
        if len(folded) < 2:
            return False
        if folded in self.stems:
            return True
        if self._leads is None:
            self._leads = {_lead(s) for s in self.stems}
        if (_lead(folded) in self._leads or folded[:1] in self._leads) and stem(folded) in self.stems:
            return True
        if self.prefixes and any(folded.startswith(p) for p in self.prefixes):
            return True
        return bool(self.patterns) and any(fnmatch.fnmatchcase(folded, p) for p in self.patterns)

    def matching(self, words: set[str]) -> set[str]:
        """The words of ``words`` that match; each word is analysed once per matcher, and the words
        seen before (most of an abstract's, after the first hits) cost only set operations."""
        unseen = words - self._seen
        if unseen:
            self._hits.update(w for w in unseen if self._matches(w))
            self._seen |= unseen
        return words & self._hits

    def update(self, other: TermMatcher) -> None:
        self.stems |= other.stems
        self.prefixes |= other.prefixes
        self.patterns |= other.patterns
        self._seen.clear()
        self._hits.clear()
        self._leads = None


def _in_spans(start: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= start < b for a, b in spans)


def _match_ranges(text: str, matcher: TermMatcher) -> list[tuple[int, int]]:
    if not matcher or not text:
        return []
    # each distinct word is analysed once (an abstract repeats most of its words); then one pass
    # with a set lookup per token places the matches
    wanted = matcher.matching(set(TOKEN_RE.findall(text)))
    if not wanted:
        return []
    spans = math_spans(text)
    found = (m for m in TOKEN_RE.finditer(text) if m.group() in wanted)
    return [m.span() for m in found if not _in_spans(m.start(), spans)]


def _segments(text: str, ranges: Iterable[tuple[int, int]]) -> Segments:
    out: Segments = []
    pos = 0
    for start, end in ranges:
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def highlight(text: str, matcher: TermMatcher) -> Segments:
    """The whole text as segments, matched words flagged."""
    return _segments(text, _match_ranges(text, matcher))


def _boundary(text: str, index: int, spans: list[tuple[int, int]], *, forward: bool) -> int:
    """Move ``index`` out of any formula and onto whitespace."""
    for a, b in spans:
        if a < index < b:
            index = b if forward else a
    if forward:
        while index < len(text) and not text[index].isspace():
            index += 1
    else:
        while index > 0 and not text[index - 1].isspace():
            index -= 1
    return max(0, min(len(text), index))


def highlight_both(text: str, matcher: TermMatcher, *, width: int = 320) -> tuple[Segments, Segments]:
    """(whole text, snippet) from one pass over the text."""
    ranges = _match_ranges(text, matcher)
    return _segments(text, ranges), snippet(text, matcher, width=width, ranges=ranges)


def snippet(
    text: str, matcher: TermMatcher, *, width: int = 320, ranges: list[tuple[int, int]] | None = None
) -> Segments:
    """About ``width`` characters around the densest run of matches, with ellipses where cut."""
    if not text:
        return []
    if ranges is None:
        ranges = _match_ranges(text, matcher)
    if len(text) <= width:
        return _segments(text, ranges)
    best_start = 0
    if ranges:
        best_count = -1
        for i, (start, _end) in enumerate(ranges):
            count = sum(1 for a, _ in ranges[i:] if a < start + width)
            if count > best_count:
                best_count, best_start = count, start
        best_start = max(0, best_start - width // 5)
    spans = math_spans(text)
    start = _boundary(text, best_start, spans, forward=False) if best_start else 0
    end = _boundary(text, min(len(text), start + width), spans, forward=True)
    inside = [(a - start, b - start) for a, b in ranges if a >= start and b <= end]
    out = _segments(text[start:end].strip(), _shift(text[start:end], inside))
    if start > 0:
        out.insert(0, ("… ", False))
    if end < len(text):
        out.append((" …", False))
    return out


def _shift(window: str, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    lead = len(window) - len(window.lstrip())
    return [(a - lead, b - lead) for a, b in ranges]

"""Text analysis for the index: one pass that tokenizes, folds accents, drops stop words and stems.

Whoosh's stock ``StemmingAnalyzer | CharsetFilter`` chains five generators per
token; on a 200,000-paper rebuild that chain is the largest cost after posting
writes. :class:`PaperAnalyzer` does the same work in one loop with a shared
stem cache, and :class:`FastPositions` lets the indexer skip ``Token`` objects
altogether. Both keep Whoosh's on-disk encoding (``Positions.encode``), so queries, phrases and
highlighting use the ordinary code paths.

Stemming (Porter) is on because Cool Papers' lack of it ("images" does not find
"image") was a known complaint; accents are folded so "Schrodinger" finds
"Schrödinger".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from whoosh.analysis import Analyzer, Token
from whoosh.analysis.filters import STOP_WORDS
from whoosh.formats import Positions
from whoosh.lang.porter import stem as _porter_stem
from whoosh.support.charset import accent_map

__all__ = ["FastPositions", "PaperAnalyzer", "fold", "stem"]

TOKEN_RE = re.compile(r"\w+(?:\.?\w+)*", re.UNICODE)
MIN_SIZE = 2
_STEMS: dict[str, str] = {}
_STEM_CACHE_MAX = 500_000
# Whoosh's table keys code points (its annotation says str); ß, æ and œ become two letters, not one.
_FOLD: dict[int, str] = {
    **{ord(k) if isinstance(k, str) else int(k): v for k, v in accent_map.items()},
    ord("ß"): "ss", ord("æ"): "ae", ord("œ"): "oe",
}
_SINGLE: dict[int, bytes] = {}  # encoded one-position postings, shared (most postings are these)


def fold(text: str) -> str:
    """Lower-case and strip accents; ASCII passes through.

    NFKD without combining marks folds é, ü, ñ; letters that do not decompose (ø, ł, đ, þ, ı) go through
    Whoosh's accent map, and ß, æ, œ become two letters, so ``au:Obro`` finds Øbro.
    """
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.translate(_FOLD)


def stem(word: str) -> str:
    """Porter stem of an already folded word, memoised (the vocabulary is Zipfian)."""
    got = _STEMS.get(word)
    if got is None:
        if len(_STEMS) >= _STEM_CACHE_MAX:
            _STEMS.clear()
        got = _STEMS[word] = _porter_stem(word)
    return got


class _Token(Token):
    """Whoosh's ``Token``, declaring the ``original`` its tokenizers set when asked to keep it."""

    original: str


class PaperAnalyzer(Analyzer):
    """Tokenize, fold, drop stop words (positions stay consecutive) and stem, in one pass."""

    def __init__(self, stoplist: frozenset[str] = STOP_WORDS, minsize: int = MIN_SIZE) -> None:
        self.stoplist = frozenset(stoplist)
        self.minsize = minsize

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PaperAnalyzer)
            and self.stoplist == other.stoplist
            and self.minsize == other.minsize
        )

    def __hash__(self) -> int:
        return hash((PaperAnalyzer, self.minsize))

    def index_terms(self, text: str) -> list[str]:
        """The indexed terms of ``text`` in position order (the fast path for indexing)."""
        stops = self.stoplist
        minsize = self.minsize
        cache = _STEMS
        out: list[str] = []
        append = out.append
        for word in TOKEN_RE.findall(fold(text)):
            if len(word) < minsize or word in stops:
                continue
            got = cache.get(word)
            append(got if got is not None else stem(word))
        return out

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        t = _Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            words: Iterable[tuple[str, int, int]] = [(value, 0, len(value))]
        else:
            words = ((m.group(), m.start(), m.end()) for m in TOKEN_RE.finditer(value))
        pos = start_pos
        stops = self.stoplist
        for raw, start, end in words:
            word = fold(raw)
            if len(word) < self.minsize:
                continue
            stopped = word in stops
            if stopped and removestops:
                continue
            t.text = word if stopped else stem(word)
            t.stopped = stopped
            t.boost = 1.0
            if keeporiginal:
                t.original = raw
            if positions:
                t.pos = pos
            if chars:
                t.startchar = start_char + start
                t.endchar = start_char + end
            if not stopped:
                pos += 1
            yield t


class FastPositions(Positions):
    """Whoosh's ``Positions`` format, fed from :meth:`PaperAnalyzer.index_terms` when it can be.

    The same (term, frequency, weight, value) items as ``Positions.word_values``
    in the same order, values encoded by ``Positions.encode``; only the
    ``Token`` objects and the five generator layers are skipped. Single
    positions (most postings) are encoded once and shared.
    """

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Any:
        if not isinstance(analyzer, PaperAnalyzer) or not isinstance(value, str):
            yield from super().word_values(value, analyzer, **kwargs)
            return
        yield from self.postings(value, analyzer)[0]

    def postings(
        self, value: str, analyzer: PaperAnalyzer
    ) -> tuple[list[tuple[str, int, float, bytes]], int]:
        """:meth:`word_values`' items for ``value`` as a list, and the field's length (its term count)."""
        poses: dict[str, list[int]] = {}
        terms = analyzer.index_terms(value)
        for pos, term in enumerate(terms):
            got = poses.get(term)
            if got is None:
                poses[term] = [pos]
            else:
                got.append(pos)
        fb = self.field_boost
        single = _SINGLE
        encode = self.encode
        out: list[tuple[str, int, float, bytes]] = []
        append = out.append
        for term, poslist in poses.items():
            if len(poslist) == 1:
                pos = poslist[0]
                vbytes = single.get(pos)
                if vbytes is None:
                    vbytes = single[pos] = encode(poslist)
                append((term, 1, fb, vbytes))
            else:
                append((term, len(poslist), len(poslist) * fb, encode(poslist)))
        return out, len(terms)

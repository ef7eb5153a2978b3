"""Papers as tf-idf vectors in NumPy arrays (CSR: ``indptr``, ``indices``, ``data``), for recommendations.

Words, not stems: an explanation shows them ("because: diffusion, sampler"). Title
words count twice, accents are folded as the index folds them, stop words and
words of fewer than three letters are dropped. Term frequency is sublinear
(``1 + log tf``), idf is smoothed (``log((1 + n) / (1 + df)) + 1``, scikit-learn's
form) over the papers a vocabulary is built from, and each row has unit length.
No SciPy: the two products a linear model needs are a cumulative sum and a
``bincount``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from whoosh.analysis.filters import STOP_WORDS

from search.analysis import fold

__all__ = ["Bags", "Rows", "Vocabulary", "paper_terms"]

WORD_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MIN_LETTERS = 3
# Whoosh's English stop words plus what nearly every abstract says (they only blur a reader's profile)
STOP = frozenset(STOP_WORDS) | frozenset(
    """also although among based can could does each et however into its many may more most new
    our over paper propose proposed show shows shown such than their them then there these they those
    through thus two use used using via well what when where which while who whose within without
    would yet present presents results result method methods approach work study data first one
    both between further only other all any some very""".split()
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def paper_terms(title: str, abstract: str) -> Counter[str]:
    """A paper's words and their counts (title words twice)."""
    counts = Counter(WORD_RE.findall(fold(abstract or "")))
    for word in WORD_RE.findall(fold(title or "")):
        counts[word] += 2
    for word in [w for w in counts if len(w) < MIN_LETTERS or w in STOP]:
        del counts[word]
    return counts


@dataclass
class Rows:
    """Sparse rows: row ``i`` is ``indices[indptr[i]:indptr[i+1]]`` with ``data`` the same slice."""

    indptr: Ints
    indices: Ints
    data: Floats
    _row_of: Ints | None = field(default=None, repr=False, compare=False)

    @property
    def count(self) -> int:
        return len(self.indptr) - 1

    def row_of(self) -> Ints:
        """The row of each stored value (computed once per ``Rows``)."""
        if self._row_of is None:
            self._row_of = np.repeat(np.arange(self.count, dtype=np.int64), np.diff(self.indptr))
        return self._row_of

    def dot(self, w: Floats) -> Floats:
        """Each row times ``w`` (one score per row; an empty row scores 0)."""
        sums = np.bincount(self.row_of(), weights=self.data * w[self.indices], minlength=self.count)
        return sums.astype(np.float64, copy=False)

    def tdot(self, r: Floats, size: int) -> Floats:
        """``Xᵀ r``: the rows weighted by ``r`` and summed (a vector of ``size`` terms)."""
        sums = np.bincount(self.indices, weights=self.data * r[self.row_of()], minlength=size)
        return sums.astype(np.float64, copy=False)


class Bags:
    """Papers' words as flat arrays of word ids and counts, fed one paper at a time.

    A few thousand ``Counter`` objects held at once cost tens of MiB of Python heap that
    the allocator keeps after they are freed; these arrays cost a few bytes a word.
    """

    def __init__(self) -> None:
        self.words: dict[str, int] = {}
        self._ids: list[npt.NDArray[np.int32]] = []
        self._counts: list[npt.NDArray[np.float32]] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, doc: Counter[str]) -> None:
        words = self.words
        self._ids.append(np.fromiter((words.setdefault(t, len(words)) for t in doc), np.int32, len(doc)))
        self._counts.append(np.fromiter(doc.values(), np.float32, len(doc)))

    def arrays(self) -> tuple[Ints, Ints, Floats]:
        """(row of each value, word id, count), rows in the order the papers were added."""
        sizes = [len(a) for a in self._ids]
        row = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        ids = np.concatenate(self._ids).astype(np.int64) if sizes else np.zeros(0, np.int64)
        counts = np.concatenate(self._counts).astype(np.float64) if sizes else np.zeros(0)
        return row, ids, counts


def _tfidf(n: int, row: Ints, idx: Ints, counts: Floats, idf: Floats) -> Rows:
    """Unit-length rows of ``(1 + log tf) * idf`` from values sorted by row."""
    indptr = np.concatenate(([0], np.cumsum(np.bincount(row, minlength=n)))).astype(np.int64)
    values = (1.0 + np.log(counts)) * idf[idx]
    squares = np.concatenate(([0.0], np.cumsum(values**2)))
    lengths = np.sqrt(np.maximum(squares[indptr[1:]] - squares[indptr[:-1]], 0.0))
    values /= np.repeat(np.where(lengths > 0, lengths, 1.0), np.diff(indptr))
    return Rows(indptr, idx, values)


class Vocabulary:
    """Terms and their idf, built from a sample of papers; turns papers into unit-length tf-idf rows."""

    def __init__(self, terms: list[str], idf: Floats) -> None:
        self.terms = terms
        self.idf = idf
        self.index = {t: i for i, t in enumerate(terms)}

    def __len__(self) -> int:
        return len(self.terms)

    @classmethod
    def build(cls, bags: Bags, *, min_df: int = 2, max_df: float = 0.5) -> tuple[Vocabulary, Rows]:
        """Terms in at least ``min_df`` papers and at most ``max_df`` of them (the ubiquitous say nothing),
        and the papers' rows over them."""
        row, ids, counts = bags.arrays()
        n = len(bags)
        df = np.bincount(ids, minlength=len(bags.words))  # a paper's words are distinct: df, not tf
        cap = max(min_df, int(max_df * n))
        kept = (df >= min_df) & (df <= cap)
        words = np.array(list(bags.words), dtype=object)
        order = np.argsort(words[kept])  # sorted terms: the same sample gives the same vocabulary
        terms = [str(t) for t in words[kept][order]]
        remap = np.full(len(words), -1, dtype=np.int64)
        remap[np.flatnonzero(kept)[order]] = np.arange(len(terms))
        idf = np.log((1.0 + n) / (1.0 + df[kept][order].astype(np.float64))) + 1.0
        new = remap[ids]
        keep = new >= 0
        return cls(terms, idf), _tfidf(n, row[keep], new[keep], counts[keep], idf)

    def rows(self, docs: Sequence[Counter[str]]) -> Rows:
        terms: list[str] = []
        counts: list[int] = []
        for doc in docs:
            terms.extend(doc)
            counts.extend(doc.values())
        get = self.index.get
        found = np.fromiter((get(t, -1) for t in terms), dtype=np.int64, count=len(terms))
        keep = found >= 0
        row = np.repeat(np.arange(len(docs), dtype=np.int64), [len(doc) for doc in docs])[keep]
        return _tfidf(len(docs), row, found[keep], np.asarray(counts, dtype=np.float64)[keep], self.idf)

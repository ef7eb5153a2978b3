"""BM25F over whole posting lists with NumPy, for the common shapes of query (terms, AND/OR/NOT, dates).

Whoosh scores one posting at a time in Python; a word found in half of
200,000 abstracts costs about a second that way, because BM25's block-max
bounds are too loose to skip blocks of such a word. Here each posting list is
read whole as arrays and scored in vectorised BM25F expressions; an AND starts
from its rarest part and scores the others only where it matched (a binary
search per candidate, not a pass over a common word's million postings), and
the result is cut to the top N with a partial sort.

The arrays come from the side files :class:`search.whoosh_internals.FastCodec`
writes beside each segment, one ``pread`` per list: the first query on a word costs
what the hundredth does. A segment written by another codec (an index writer
that was not given it) has its posting blocks decoded instead, and the hot
lists are kept decoded in a small LRU cache.

What is modelled, exactly as Whoosh's matchers do it (a property test compares
the two on generated query trees over a multi-segment index):

* ``Term`` (its boost; a missing field or term matches nothing), scored by the
  searcher's weighting, which must be Whoosh's ``BM25F``: B (per field), K1,
  idf and average field length are taken from the scorer it makes for each
  term. Field boosts are in the weights themselves (Whoosh multiplies them in
  at indexing). Fields that are not scorable score their weight.
* ``And``, ``Or`` (sum of the parts' scores, times the boost when there are
  two parts or more; no ``minmatch`` or ``scale``), ``Not`` (everything else,
  scoring 1.0 wherever it matches, as Whoosh's ``InverseMatcher`` does),
  ``AndNot`` (the left side's scores), ``NullQuery``.
* ``NumericRange`` and ``DateRange`` with constant scores on a sortable
  ``DATETIME`` field, from its column.

Anything else (phrases, prefixes, wildcards, other weightings, ...) makes
:func:`fast_search` raise :class:`Unsupported` before any work; the caller
then runs Whoosh's own matchers. It also raises :class:`Unsupported` while
:func:`search.whoosh_internals.self_test` fails.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.fields import DATETIME
from whoosh.scoring import BM25F, BM25FScorer, WeightScorer
from whoosh.searching import Searcher

from search import whoosh_internals as wi
from search.impact import impact_top
from search.lru import ByteLRU

__all__ = ["RESULTS", "FastResult", "Unsupported", "clear_caches", "fast_search", "set_cache_budget", "warm"]

_LOGGER = logging.getLogger(__name__)
CACHE_BYTES = 48 * 2**20  # decoded posting lists of segments without side files
CACHE_MIN_POSTINGS = 2000
_LENGTHS = wi.LENGTH_TABLE
_NULL_QUERY = type(wq.NullQuery)  # Whoosh's NullQuery is the one instance of its class


class Unsupported(Exception):
    """The query has a node this module does not evaluate; use Whoosh's matchers."""


@dataclass
class FastResult:
    total: int
    docnums: list[int]  # top-level docnums, best first
    scores: list[float]


_POSTINGS = ByteLRU(CACHE_BYTES)
_COLUMNS = ByteLRU(16 * 2**20)
RESULTS = ByteLRU(4 * 2**20)  # ranked lists of recent searches (search.index)
_NONE = (None,)


def set_cache_budget(total: int) -> None:
    """Share ``total`` bytes (``[search] cache_mb``) between the caches of this process.

    With side files a query reads its lists and columns from the files and keeps
    nothing per document; what is worth keeping is the ranking of recent
    searches (:data:`RESULTS`, 40%). The rest is for segments without side files
    (written by a stock Whoosh writer): their decoded lists (40%) and columns (20%).
    """
    columns, results = total // 5, total * 2 // 5
    for cache, budget in ((_COLUMNS, columns), (RESULTS, results), (_POSTINGS, total - columns - results)):
        cache.resize(budget)


def clear_caches() -> None:
    """Forget every decoded array and opened side file (benchmarks measure the cold path with it)."""
    for cache in (_POSTINGS, _COLUMNS, RESULTS):
        cache.clear()
    wi.forget_segment_arrays()


# ---------------------------------------------------------------- what is modelled


def _check(q: Any, schema: Any) -> None:
    """Raise :class:`Unsupported` unless every node of ``q`` is one this module evaluates as Whoosh does."""
    kind = type(q)
    if kind is wq.Term:
        if q.minquality:
            raise Unsupported("Term with minquality")
        if (
            q.fieldname in schema
            and not isinstance(q.text, str | bytes)
            and not isinstance(schema[q.fieldname], DATETIME)
        ):
            raise Unsupported(f"Term text of type {type(q.text).__name__}")
        return
    if kind is wq.And or kind is wq.Or:
        if kind is wq.Or and (q.minmatch or q.scale is not None):
            raise Unsupported("Or with minmatch or scale")
        if not q.subqueries:  # Whoosh matches nothing, or fails (And.estimate_size) inside an And
            raise Unsupported(f"empty {kind.__name__}")
        for sub in q.subqueries:
            _check(sub, schema)
        return
    if kind is wq.Not:
        _check(q.query, schema)
        return
    if kind is wq.AndNot:
        _check(q.a, schema)
        _check(q.b, schema)
        return
    if kind is wq.NumericRange or kind is wq.DateRange:
        fieldobj = schema[q.fieldname] if q.fieldname in schema else None
        if not isinstance(fieldobj, DATETIME) or fieldobj.column_type is None:
            raise Unsupported(f"range on {q.fieldname!r}, not a sortable DATETIME field")
        if not q.constantscore:
            raise Unsupported("range without constant scores")
        for bound in (q.start, q.end):
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
                raise Unsupported(f"range bound {bound!r}")
        return
    if kind is _NULL_QUERY:
        return
    raise Unsupported(kind.__name__)


# ---------------------------------------------------------------- evaluation
# Within a segment a query node evaluates to a sorted array of the documents it matches and their
# scores (float64, as Whoosh's Python floats), see _Segment.sparse.

Sparse = tuple[np.ndarray, np.ndarray]
_EMPTY: Sparse = (np.empty(0, np.int64), np.empty(0))
_EMPTY_DOCS, _EMPTY_WEIGHTS = np.empty(0, np.int32), np.empty(0, np.float32)


_NORM_TABLES: dict[tuple[float, float, float], np.ndarray] = {}


def _norm_table(B: float, K1: float, avgfl: float) -> np.ndarray:
    """BM25's length norm for each of the 256 length bytes (see ``_Segment.norm``)."""
    key = (B, K1, avgfl)
    got = _NORM_TABLES.get(key)
    if got is None:
        if len(_NORM_TABLES) > 1024:  # one per field and index generation: a commit changes avgfl
            _NORM_TABLES.clear()
        got = _NORM_TABLES[key] = K1 * ((1 - B) + B * _LENGTHS / avgfl)
    return got


def _member(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each of the sorted unique ``a``, whether the sorted unique ``b`` holds it."""
    if not len(b) or not len(a):
        return np.zeros(len(a), dtype=bool)
    pos = np.searchsorted(b, a)
    pos[pos == len(b)] = 0
    return b[pos] == a


_FIELD_PARAMS: weakref.WeakKeyDictionary[Any, dict[str, tuple[float, float] | None]] = (
    weakref.WeakKeyDictionary()
)
_FIELD_PARAMS_LOCK = threading.Lock()


class _Query:
    """Per-query state shared by the segments: the top searcher and each term's BM25F parameters."""

    def __init__(self, top: Searcher) -> None:
        self.top = top
        self.schema = top.schema
        self.weighting = top.weighting
        self.params: dict[tuple[str, bytes], tuple[float, ...] | None] = {}
        with _FIELD_PARAMS_LOCK:
            fields = _FIELD_PARAMS.get(self.weighting)
            if fields is None:
                fields = _FIELD_PARAMS[self.weighting] = {}
        self.fields = fields

    def field_params(self, field: str, btext: bytes) -> tuple[float, float] | None:
        """(B, K1) the weighting uses for a field, None where it scores the weight (not scorable).

        Read from the scorer the weighting makes (for the first term met in the
        field), so per-field B and any other parameters come from the weighting
        object itself; kept per weighting object, as they do not change.
        """
        if field in self.fields:
            return self.fields[field]
        scorer = self.weighting.scorer(self.top, field, btext)
        got: tuple[float, float] | None
        if type(scorer) is BM25FScorer:
            got = (float(scorer.B), float(scorer.K1))
        elif type(scorer) is WeightScorer:
            got = None
        else:
            raise Unsupported(f"scorer {type(scorer).__name__}")
        self.fields[field] = got
        return got

    def scoring(self, field: str, btext: bytes) -> tuple[float, ...] | None:
        """(idf, avgfl, B, K1) of a scorable field's term, None where the score is the weight.

        idf and the average field length are what ``BM25FScorer`` takes: the
        top searcher's ``idf()`` (cached by the searcher) and ``avg_field_length() or 1``.
        """
        key = (field, btext)
        if key in self.params:
            return self.params[key]
        bk = self.field_params(field, btext)
        got = None
        if bk is not None:
            top = self.top
            got = (float(top.idf(field, btext)), float(top.avg_field_length(field) or 1), *bk)
        self.params[key] = got
        return got


class _Segment:
    def __init__(self, query: _Query, reader: Any) -> None:
        self.query = query
        self.reader = reader
        self.size = reader.doc_count_all()
        self.arrays = wi.segment_arrays(reader)
        self.key = (reader.segment().segment_id(),)
        self.read: dict[tuple[str, bytes], tuple[np.ndarray, np.ndarray]] = {}  # this query's lists

    # -- data
    def postings(self, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
        if self.arrays is not None:
            return self.arrays.postings(field, btext)
        return _decoded(self.reader, self.key, field, btext)

    def lengths(self, field: str) -> np.ndarray | None:
        if self.arrays is not None:
            return self.arrays.length_bytes(field)
        key = ("len", *self.key, field)
        got = _COLUMNS.get(key)
        if got is None:
            lb = wi.length_bytes(self.reader, field)
            got = (lb,) if lb is not None else _NONE
            _COLUMNS.put(key, got)
        return got[0]

    def column(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        if self.arrays is not None and self.arrays.has_column(field):
            return self.arrays.column(field)
        key = ("col", *self.key, field)
        got = _COLUMNS.get(key)
        if got is None:
            col = wi.column_values(self.reader, field)
            if col is None:
                raise Unsupported(f"column of {field!r}")
            got = col
            _COLUMNS.put(key, got)
        return got[0], got[1]

    def sort_keys(self, field: str, docs: np.ndarray) -> np.ndarray:
        """The column values Whoosh sorts ``docs`` by (its column default where a document has none)."""
        values, present = self.column(field)
        default = np.uint64(self.query.schema[field].column_type.default_value())
        return np.where(present[docs], values[docs], default)

    # -- nodes, evaluated as sorted lists: (docnums, scores), restricted to candidates when given.
    # An AND starts from its rarest part and looks the others up only at those documents, so a
    # query with one rare word costs what that word costs, whatever else it holds; only unions
    # as large as a fair part of the segment are summed in dense arrays.
    def postings_of(self, q: Any) -> tuple[np.ndarray, np.ndarray, bytes] | None:
        """A ``Term``'s (docnums, weights, term bytes) in this segment, None where it matches nothing."""
        schema = self.query.schema
        field = q.fieldname
        if field not in schema:
            return None
        try:
            btext = schema[field].to_bytes(q.text)
        except ValueError:  # Whoosh's Term matches nothing then
            return None
        key = (field, btext)
        got = self.read.get(key)
        if got is None:
            if self.arrays is not None:  # the side file lists every term of the segment
                docs, weights = self.arrays.postings(field, btext)
            elif key in self.reader:
                docs, weights = _decoded(self.reader, self.key, field, btext)
            else:
                docs, weights = _EMPTY_DOCS, _EMPTY_WEIGHTS
            got = self.read[key] = (docs, weights)
        if not len(got[0]):
            return None
        return got[0], got[1], btext

    def btext(self, q: Any) -> bytes | None:
        """A ``Term``'s bytes, None where it can match nothing (no such field, text it cannot hold)."""
        schema = self.query.schema
        if q.fieldname not in schema:
            return None
        try:
            return bytes(schema[q.fieldname].to_bytes(q.text))
        except ValueError:
            return None

    def frequency(self, q: Any) -> int:
        """A ``Term``'s postings here (deleted documents included), read from the term table only."""
        if self.arrays is None:
            got = self.postings_of(q)
            return 0 if got is None else len(got[0])
        btext = self.btext(q)
        return 0 if btext is None else self.arrays.doc_frequency(q.fieldname, btext)

    def estimate(self, q: Any) -> int:
        """How many documents ``q`` may match here (an upper bound), to order an AND's parts."""
        kind = type(q)
        if kind is wq.Term:
            return self.frequency(q)
        if kind is wq.Or:
            return min(self.size, sum(self.estimate(c) for c in q.subqueries))
        if kind is wq.And:
            return min((self.estimate(c) for c in q.subqueries), default=0)
        if kind is wq.AndNot:
            return self.estimate(q.a)
        if kind is _NULL_QUERY:
            return 0
        return self.size  # Not, ranges: anything

    def term(self, q: Any, cand: np.ndarray | None) -> Sparse:
        arrays = self.arrays
        btext = self.btext(q) if arrays is not None else None
        if (
            cand is not None
            and arrays is not None
            and btext is not None
            and (q.fieldname, btext) not in self.read
            and len(cand) * 16 < arrays.doc_frequency(q.fieldname, btext)
        ):  # a few candidates in a common word's list: look them up where it lies, read nothing whole
            hit, weights = arrays.lookup(q.fieldname, btext, cand)
            return self.scored(q, btext, cand[hit], weights)
        got = self.postings_of(q)
        if got is None:
            return _EMPTY
        docs, weights, btext = got
        if cand is not None:  # only the candidates
            if len(cand) * 16 < len(docs):  # few: a binary search each
                pos = np.searchsorted(docs, cand)
                pos[pos == len(docs)] = 0
                hit = docs[pos] == cand
            else:  # many (two common words): where each document sits in the list, one pass
                where = np.full(self.size, -1, dtype=np.int32)
                where[docs] = np.arange(len(docs), dtype=np.int32)
                pos = where[cand]
                hit = pos >= 0
            docs, weights = cand[hit], weights[pos[hit]]
        return self.scored(q, btext, docs, weights)

    def scored(self, q: Any, btext: bytes, docs: np.ndarray, weights: np.ndarray) -> Sparse:
        """A ``Term``'s scores at ``docs`` (with their ``weights``), as Whoosh computes them."""
        if not len(docs):
            return _EMPTY
        lb = self.lengths(q.fieldname)
        scores = self.bm25(q, btext, weights, None if lb is None else lb[docs])
        return docs.astype(np.int64, copy=False), scores

    def bm25(self, q: Any, btext: bytes, weights: np.ndarray, lbytes: np.ndarray | None) -> np.ndarray:
        """Scores of postings with these weights and length bytes (None: the field keeps no lengths).

        A field length is stored as one byte, so there are only 256 length
        norms: they are computed once (with Whoosh's operations in Whoosh's
        order, so each is the float Whoosh gets per posting) and looked up by
        byte; nothing per document is kept. This also scores an impact list's
        classes: the same operations give each class exactly the float of each
        of its postings.
        """
        params = self.query.scoring(q.fieldname, btext)
        tf = weights.astype(np.float64)
        boost = float(q.boost)
        if params is None:  # not scorable: Whoosh's WeightScorer scores the weight
            return tf * boost if boost != 1.0 else tf
        idf, avgfl, B, K1 = params
        if lbytes is None:  # Whoosh takes the length as 1
            length_norm: np.ndarray | float = K1 * ((1 - B) + B * 1 / avgfl)
        else:
            length_norm = _norm_table(B, K1, avgfl)[lbytes]
        scores = idf * ((tf * (K1 + 1)) / (tf + length_norm))  # whoosh.scoring.bm25, in its order
        if boost != 1.0:
            scores = scores * boost
        return scores

    def sparse(self, q: Any, cand: np.ndarray | None = None) -> Sparse:
        """The documents ``q`` matches here (only among ``cand`` when given) and their scores."""
        kind = type(q)
        if kind is wq.Term:
            return self.term(q, cand)
        if kind is wq.NumericRange or kind is wq.DateRange:
            present = self.range(q)
            docs = np.flatnonzero(present) if cand is None else cand[present[cand]]
            return docs, np.full(len(docs), float(q.boost))
        if kind is wq.Not:  # Whoosh's InverseMatcher: what the query does not match, scoring 1.0
            base = np.arange(self.size, dtype=np.int64) if cand is None else cand
            inner, _ = self.sparse(q.query, base)
            docs = base[~_member(base, inner)]
            return docs, np.ones(len(docs))
        if kind is wq.Or or kind is wq.And:
            subs = q.subqueries
            if not subs:
                return _EMPTY
            if len(subs) == 1:  # CompoundQuery.matcher: the only part's matcher, without this boost
                return self.sparse(subs[0], cand)
            docs, scores = self.union(subs, cand) if kind is wq.Or else self.intersection(subs, cand)
            return docs, (scores * q.boost if q.boost != 1.0 else scores)
        if kind is wq.AndNot:  # the left side's scores
            docs, scores = self.sparse(q.a, cand)
            if not len(docs):
                return _EMPTY
            excluded, _ = self.sparse(q.b, docs)
            keep = ~_member(docs, excluded)
            return docs[keep], scores[keep]
        if kind is _NULL_QUERY:
            return _EMPTY
        raise Unsupported(kind.__name__)  # _check let it through: a bug, but never a wrong answer

    def union(self, subs: list[Any], cand: np.ndarray | None) -> Sparse:
        """Whoosh's union: the sum of the parts' scores (in the parts' order) where each matches."""
        parts = [p for p in (self.sparse(c, cand) for c in subs) if len(p[0])]
        if not parts:
            return _EMPTY
        if len(parts) == 1:
            return parts[0]
        total = sum(len(d) for d, _ in parts)
        if total * 4 > self.size:  # a fair part of the segment: dense sums cost less than sorting
            acc, present = np.zeros(self.size), np.zeros(self.size, dtype=bool)
            for d, sc in parts:
                acc[d] += sc
                present[d] = True
            docs = np.flatnonzero(present)
            return docs, acc[docs]
        alldocs = np.concatenate([d for d, _ in parts])
        order = np.argsort(alldocs, kind="stable")  # equal documents keep the parts' order
        sdocs, sscores = alldocs[order], np.concatenate([sc for _, sc in parts])[order]
        starts = np.flatnonzero(np.r_[True, sdocs[1:] != sdocs[:-1]])
        return sdocs[starts], np.add.reduceat(sscores, starts)

    def intersection(self, subs: list[Any], cand: np.ndarray | None) -> Sparse:
        """Whoosh's intersection: the sum of the parts' scores (a ``Not``, an InverseMatcher, adds 1.0).

        The parts are looked up rarest first, each only at the documents all rarer parts matched.
        """
        order = sorted(range(len(subs)), key=lambda i: self.estimate(subs[i]))
        found: dict[int, Sparse] = {}
        for i in order:
            docs, scores = self.sparse(subs[i], cand)
            found[i] = (docs, scores)
            cand = docs
            if not len(cand):
                return _EMPTY
        assert cand is not None
        total = np.zeros(len(cand))
        for i in range(len(subs)):  # summed in the query's order, as Whoosh adds them
            docs, scores = found[i]
            total += scores if len(docs) == len(cand) else scores[np.searchsorted(docs, cand)]
        return cand, total

    def range(self, q: Any) -> np.ndarray:
        """Which documents a date range matches, from the field's column (those without one do not)."""
        values, has = self.column(q.fieldname)
        present = has.copy()
        if q.start is not None:
            start = max(int(q.start), 0)
            if start >= 2**64:
                present[:] = False
            else:
                present &= (values > np.uint64(start)) if q.startexcl else (values >= np.uint64(start))
        if q.end is not None:
            end = int(q.end)
            if end < 0:
                present[:] = False
            else:
                end = min(end, 2**64 - 1)
                present &= (values < np.uint64(end)) if q.endexcl else (values <= np.uint64(end))
        return present


def _decoded(reader: Any, segkey: tuple[Any, ...], field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
    key = ("post", *segkey, field, btext)
    got = _POSTINGS.get(key)
    if got is not None:
        return got[0], got[1]
    docs, weights = wi.decode_postings(reader, field, btext)
    if len(docs) >= CACHE_MIN_POSTINGS:
        _POSTINGS.put(key, (docs, weights))
    return docs, weights


def _ready(searcher: Searcher, queries: list[wq.Query]) -> None:
    if not wi.self_test().ok:
        raise Unsupported("Whoosh's internals changed (see the log); the fast path is off")
    if type(searcher.weighting) is not BM25F:
        raise Unsupported(f"weighting {type(searcher.weighting).__name__}")
    for q in queries:
        _check(q, searcher.schema)


def fast_search(
    searcher: Searcher,
    q: wq.Query,
    *,
    limit: int,
    filter_q: wq.Query | None = None,
    mask_q: wq.Query | None = None,
    sort_new: bool = False,
) -> FastResult:
    """Top ``limit`` (docnum, score) of ``q``, as ``searcher.search`` ranks them.

    Raises :class:`Unsupported`, before any work, for a query (or filter, or
    mask) with a node this module does not model.
    """
    _ready(searcher, [x for x in (q, filter_q, mask_q) if x is not None])
    query = _Query(searcher)
    # each segment keeps only its own top ``limit`` (by the same order, in docnum order): the global
    # top is among them, and a common word's million matches are dropped segment by segment
    all_docs: list[np.ndarray] = []
    all_scores: list[np.ndarray] = []
    all_keys: list[np.ndarray] = []
    total = 0
    for sub, offset in searcher.leaf_searchers():
        reader = sub.reader()
        if not reader.doc_count_all():  # an empty index has a reader without postings
            continue
        seg = _Segment(query, reader)
        plain = filter_q is None and mask_q is None and not sort_new
        best = impact_top(seg, q, limit) if plain else None
        if best is not None:  # common words: read best classes first, stop when the top is certain
            docs, scores = best.docs, best.scores
            total += best.total
        else:
            docs, scores = seg.sparse(q)
            if filter_q is not None and len(docs):
                keep = _member(docs, seg.sparse(filter_q, docs)[0])
                docs, scores = docs[keep], scores[keep]
            if mask_q is not None and len(docs):
                keep = ~_member(docs, seg.sparse(mask_q, docs)[0])
                docs, scores = docs[keep], scores[keep]
            deleted = reader.deleted_docs_set
            if deleted and len(docs):
                keep = ~_member(docs, np.array(sorted(deleted), dtype=np.int64))
                docs, scores = docs[keep], scores[keep]
            total += len(docs)
        if seg.arrays is not None:
            seg.arrays.release()  # the term tables and lists this query touched stay in the page cache only
        if not len(docs):
            continue
        if sort_new:
            newest_first = np.iinfo(np.uint64).max - seg.sort_keys("announced", docs)
            pick = np.sort(np.lexsort((docs, newest_first))[:limit])  # ties by docnum
            all_keys.append(newest_first[pick])
        else:
            pick = np.sort(_top(scores, limit)) if len(docs) > limit else np.arange(len(docs))
        all_docs.append(docs[pick].astype(np.int64) + offset)
        all_scores.append(np.asarray(scores[pick], dtype=np.float64))
    if not total:
        return FastResult(0, [], [])
    docs = np.concatenate(all_docs)
    scores = np.concatenate(all_scores)
    if sort_new:
        order = np.lexsort((docs, np.concatenate(all_keys)))  # ties by docnum
        chosen = order[:limit]
    else:
        top = _top(scores, limit) if len(docs) > limit else np.arange(len(docs))
        chosen = top[np.lexsort((docs[top], -scores[top]))]  # best first; ties by docnum
    return FastResult(total, [int(d) for d in docs[chosen]], [float(s) for s in scores[chosen]])


def _top(scores: np.ndarray, limit: int) -> np.ndarray:
    """Indexes of the ``limit`` best scores; of equal scores at the cut, the first (lowest docnums).

    That is what Whoosh's top-N collector keeps. ``scores`` is in docnum order.
    """
    threshold = -np.partition(-scores, limit - 1)[limit - 1]
    above = np.flatnonzero(scores > threshold)
    ties = np.flatnonzero(scores == threshold)[: limit - len(above)]
    return np.concatenate((above, ties))


# ---------------------------------------------------------------- warm-up


def warm(searcher: Searcher, fields: tuple[str, ...], *, fill: float = 0.75, pause_s: float = 0.0005) -> int:
    """Make posting lists ready before anyone searches for them; returns how many segments or lists.

    With side files that is one ``posix_fadvise(WILLNEED)`` per segment: the
    kernel reads the files in ahead (after a reboot they are not in the page
    cache) and the process spends no CPU on it, so the first queries after a
    start never compete with a warm-up. Without side files, the most frequent
    terms are decoded into the cache until it is ``fill`` full, by document
    frequency, interleaving fields; ``pause_s`` between terms lets the event
    loop's thread have the GIL, so a warm-up at start never delays a stove command.
    """
    if not wi.self_test().ok:
        return 0
    done = 0
    budget = int(_POSTINGS.budget * fill)
    for sub, _offset in searcher.leaf_searchers():
        reader = sub.reader()
        if not reader.doc_count_all():
            continue
        seg = _Segment(_Query(searcher), reader)
        if seg.arrays is not None:
            seg.arrays.advise_willneed()
            done += 1
            continue
        lists: list[list[tuple[str, bytes]]] = []
        for field in fields:
            if field in reader.schema:
                seg.lengths(field)
                lists.append([(field, text) for _f, text in reader.most_frequent_terms(field, number=500)])
        for rank in range(max((len(x) for x in lists), default=0)):
            for terms in lists:
                if rank >= len(terms):
                    continue
                if _POSTINGS.used >= budget:
                    return done
                field, text = terms[rank]
                seg.postings(field, text)
                done += 1
                time.sleep(pause_s)
    return done

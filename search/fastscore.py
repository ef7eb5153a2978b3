"""BM25F over whole posting lists with NumPy, for the common shape of query (terms, AND/OR/NOT).

Whoosh scores one posting at a time in Python; a word found in half of
200,000 abstracts costs about a second that way, because BM25's block-max
bounds are too loose to skip blocks of such a word. Here each posting list is
decoded block by block into arrays, scored in one vectorised BM25F expression
(the same formula, statistics and field weights as Whoosh's ``BM25F``),
combined with set operations and cut to the top N with a partial sort. Hot
posting lists stay decoded in a small LRU cache.

Anything else (phrases, prefixes, wildcards) returns ``None`` and runs through
Whoosh's own matchers; a test checks that both paths rank alike.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

__all__ = ["FastResult", "Unsupported", "fast_search"]

_LOGGER = logging.getLogger(__name__)
B, K1 = 0.75, 1.2  # Whoosh's BM25F defaults, used by the index's searchers
CACHE_BYTES = 48 * 2**20
CACHE_MIN_POSTINGS = 2000
_LENGTH_TABLE = np.array([byte_to_length(i) or 0 for i in range(256)], dtype=np.float32)


class Unsupported(Exception):
    """The query has a node this module does not evaluate; use Whoosh's matchers."""


@dataclass
class FastResult:
    total: int
    docnums: list[int]  # top-level docnums, best first
    scores: list[float]


class _Cache:
    """Decoded arrays keyed by (segment, what), least recently used dropped past a byte budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.items: OrderedDict[tuple[Any, ...], tuple[Any, ...]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self.lock:
            got = self.items.get(key)
            if got is not None:
                self.items.move_to_end(key)
            return got

    def put(self, key: tuple[Any, ...], value: tuple[Any, ...]) -> None:
        size = sum(a.nbytes for a in value if isinstance(a, np.ndarray))
        if size > self.budget // 4:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.used += size
            while self.used > self.budget and self.items:
                _k, old = self.items.popitem(last=False)
                self.used -= sum(a.nbytes for a in old if isinstance(a, np.ndarray))


_POSTINGS = _Cache(CACHE_BYTES)
_COLUMNS = _Cache(16 * 2**20)


def _segid(reader: Any) -> Any:
    seg = reader.segment()
    return seg.segid if seg is not None else id(reader)


def _raw_column(reader: Any, colreader: Any, dtype: str, count: int, default: bytes) -> np.ndarray:
    inner = colreader.raw_column() if hasattr(colreader, "raw_column") else colreader
    width = inner._fixedlen
    written = min(inner._count, count)
    raw = inner._dbfile.get(inner._basepos, written * width) if written else b""
    if written < count:
        raw += default * (count - written)
    return np.frombuffer(raw, dtype=dtype)


def _lengths(reader: Any, field: str) -> np.ndarray:
    key = ("len", _segid(reader), field)
    got = _COLUMNS.get(key)
    if got is None:
        count = reader.doc_count_all()
        col = reader._perdoc.column_reader(_lenfield(field), LENGTHS_COLUMN)
        got = (_LENGTH_TABLE[_raw_column(reader, col, "u1", count, b"\0")],)
        _COLUMNS.put(key, got)
    return got[0]


def _dates(reader: Any, field: str) -> np.ndarray:
    key = ("date", _segid(reader), field)
    got = _COLUMNS.get(key)
    if got is None:
        count = reader.doc_count_all()
        if not reader.has_column(field):
            return np.zeros(count, dtype=np.int64)
        col = reader.column_reader(field, translate=False)
        got = (_raw_column(reader, col, ">i8", count, b"\0" * 8).astype(np.int64),)
        _COLUMNS.put(key, got)
    return got[0]


def _postings(reader: Any, field: str, text: Any) -> tuple[np.ndarray, np.ndarray]:
    """(docnums, weights) of one term in one segment, deleted documents included."""
    btext = reader._text_to_bytes(field, text)
    key = ("post", _segid(reader), field, btext)
    got = _POSTINGS.get(key)
    if got is not None:
        return got[0], got[1]
    if (field, btext) not in reader:
        empty = (np.empty(0, np.int32), np.empty(0, np.float32))
        return empty
    m = reader._terms.matcher(field, btext, reader.schema[field].format)
    ids_parts: list[Any] = []
    w_parts: list[Any] = []
    if hasattr(m, "_read_data") and hasattr(m, "_next_block"):
        while not m._atend and m.is_active():
            if m._data is None:
                m._read_data()
            m._read_weights()
            ids_parts.append(
                np.cumsum(np.asarray(m._data[0], dtype=np.int32), dtype=np.int32)
            )  # ids are delta-coded
            w_parts.append(
                np.frombuffer(m._weights, dtype=np.float32)
                if hasattr(m._weights, "typecode")
                else np.asarray(m._weights, dtype=np.float32)
            )
            m._next_block()
    else:  # inlined postings (a term in very few documents)
        ids, weights = [], []
        while m.is_active():
            ids.append(m.id())
            weights.append(m.weight())
            m.next()
        ids_parts.append(np.asarray(ids, dtype=np.int32))
        w_parts.append(np.asarray(weights, dtype=np.float32))
    docs = np.concatenate(ids_parts) if ids_parts else np.empty(0, np.int32)
    weights_arr = np.concatenate(w_parts) if w_parts else np.empty(0, np.float32)
    if len(docs) >= CACHE_MIN_POSTINGS:
        _POSTINGS.put(key, (docs, weights_arr))
    return docs, weights_arr


def clear_caches() -> None:
    """Forget every decoded array (benchmarks measure the cold path with it)."""
    for cache in (_POSTINGS, _COLUMNS):
        with cache.lock:
            cache.items.clear()
            cache.used = 0


def warm(searcher: Searcher, fields: tuple[str, ...], *, fill: float = 0.75, pause_s: float = 0.0005) -> int:
    """Decode the most frequent terms' postings before anyone searches for them.

    The first query on a common word otherwise pays for decoding its whole
    posting list. Terms go in by document frequency, interleaving fields, until
    the cache is ``fill`` full; ``pause_s`` between terms lets the event loop's
    thread have the GIL, so a warm-up at start never delays a stove command.
    Returns the number of terms decoded.
    """
    done = 0
    for sub, _offset in searcher.leaf_searchers():
        reader = sub.reader()
        if not reader.doc_count_all():
            continue
        lists = []
        for field in fields:
            if field in reader.schema:
                _lengths(reader, field)
                lists.append([(field, text) for _f, text in reader.most_frequent_terms(field, number=500)])
        for rank in range(max((len(x) for x in lists), default=0)):
            for terms in lists:
                if rank >= len(terms):
                    continue
                if _POSTINGS.used >= _POSTINGS.budget * fill:
                    return done
                field, text = terms[rank]
                _postings(reader, field, text)
                done += 1
                time.sleep(pause_s)
    return done


# ---------------------------------------------------------------- evaluation
# A partial result is (docnums sorted ascending, scores) within one segment.

Part = tuple[np.ndarray, np.ndarray]


class _Segment:
    def __init__(self, top: Searcher, reader: Any) -> None:
        self.top = top
        self.reader = reader
        self.size = reader.doc_count_all()

    def term(self, q: wq.Term) -> Part:
        field, text = q.fieldname, q.text
        if field not in self.reader.schema:
            raise Unsupported(field)
        docs, weights = _postings(self.reader, field, text)
        if not len(docs):
            return docs, weights
        fieldobj = self.reader.schema[field]
        if not fieldobj.scorable:
            return docs, weights * q.boost
        idf = self.top.idf(field, text)  # log(N / (df + 1)) + 1, cached by the searcher
        avgfl = self.top.avg_field_length(field) or 1
        fl = _lengths(self.reader, field)[docs]
        tf = weights.astype(np.float64)
        scores = idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
        return docs, scores * q.boost

    def range(self, q: wq.NumericRange) -> Part:
        if q.fieldname not in ("announced", "updated"):
            raise Unsupported(q.fieldname)
        col = _dates(self.reader, q.fieldname)
        mask = np.ones(len(col), dtype=bool)
        if q.start is not None:
            mask &= col >= q.start
        if q.end is not None:
            mask &= col <= q.end
        docs = np.nonzero(mask)[0].astype(np.int32)
        return docs, np.full(len(docs), float(q.boost))

    def eval(self, q: wq.Query) -> Part:
        if isinstance(q, wq.Term):
            return self.term(q)
        if isinstance(q, wq.NumericRange):
            return self.range(q)
        if isinstance(q, wq.Or):
            parts = [self.eval(c) for c in q.subqueries]
            return _union(parts, q.boost, self.size)
        if isinstance(q, wq.And):
            pos = [c for c in q.subqueries if not isinstance(c, wq.Not)]
            neg = [c for c in q.subqueries if isinstance(c, wq.Not)]
            if not pos:
                raise Unsupported("only negative clauses")
            docs, scores = _intersection([self.eval(c) for c in pos], 1.0, self.size)
            for n in neg:
                docs, scores = _minus((docs, scores), self.eval(n.query)[0], self.size)
                scores = scores + n.boost  # Whoosh's inverse matcher scores its boost
            return docs, scores * q.boost
        if isinstance(q, wq.AndNot):
            return _minus(self.eval(q.a), self.eval(q.b)[0], self.size)
        raise Unsupported(type(q).__name__)


def _union(parts: list[Part], boost: float, size: int) -> Part:
    """Sum of scores over the union, with dense arrays (sorting 400,000 ids costs more)."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.empty(0, np.int32), np.empty(0)
    if len(parts) == 1:
        return parts[0][0], parts[0][1] * boost
    acc = np.zeros(size)
    present = np.zeros(size, dtype=bool)
    for docs, scores in parts:
        acc[docs] += scores  # each part's docnums are unique
        present[docs] = True
    docs = np.flatnonzero(present).astype(np.int32)
    return docs, acc[docs] * boost


def _intersection(parts: list[Part], boost: float, size: int) -> Part:
    parts = sorted(parts, key=lambda p: len(p[0]))
    docs, scores = parts[0]
    for other_docs, other_scores in parts[1:]:
        if not len(docs):
            break
        dense = np.zeros(size)
        present = np.zeros(size, dtype=bool)
        dense[other_docs] = other_scores
        present[other_docs] = True
        keep = present[docs]
        docs = docs[keep]
        scores = scores[keep] + dense[docs]
    return docs, scores * boost


def _minus(part: Part, remove: np.ndarray, size: int) -> Part:
    if not len(remove) or not len(part[0]):
        return part
    present = np.zeros(size, dtype=bool)
    present[remove] = True
    keep = ~present[part[0]]
    return part[0][keep], part[1][keep]


def fast_search(
    searcher: Searcher,
    q: wq.Query,
    *,
    limit: int,
    filter_q: wq.Query | None = None,
    mask_q: wq.Query | None = None,
    sort_new: bool = False,
) -> FastResult:
    """Top ``limit`` (docnum, score) of ``q``; raises :class:`Unsupported` for other query shapes."""
    all_docs: list[np.ndarray] = []
    all_scores: list[np.ndarray] = []
    all_keys: list[np.ndarray] = []
    for sub, offset in searcher.leaf_searchers():
        reader = sub.reader()
        if not reader.doc_count_all():  # an empty index has a reader without postings
            continue
        seg = _Segment(searcher, reader)
        docs, scores = seg.eval(q)
        if filter_q is not None and len(docs):
            allowed = np.zeros(seg.size, dtype=bool)
            allowed[seg.eval(filter_q)[0]] = True
            keep = allowed[docs]
            docs, scores = docs[keep], scores[keep]
        if mask_q is not None and len(docs):
            docs, scores = _minus((docs, scores), seg.eval(mask_q)[0], seg.size)
        deleted = reader.deleted_docs_set if hasattr(reader, "deleted_docs_set") else None
        if deleted and len(docs):
            docs, scores = _minus((docs, scores), np.fromiter(deleted, dtype=np.int32), seg.size)
        if sort_new and len(docs):
            all_keys.append(_dates(reader, "announced")[docs])
        all_docs.append(docs.astype(np.int64) + offset)
        all_scores.append(np.asarray(scores, dtype=np.float64))
    docs = np.concatenate(all_docs) if all_docs else np.empty(0, np.int64)
    scores = np.concatenate(all_scores) if all_scores else np.empty(0)
    total = len(docs)
    if not total:
        return FastResult(0, [], [])
    primary = np.concatenate(all_keys) if sort_new else scores
    if total > limit:
        top = np.argpartition(-primary, limit - 1)[:limit]
    else:
        top = np.arange(total)
    order = np.lexsort((docs[top], -primary[top]))  # best first; ties by docnum
    chosen = top[order]
    return FastResult(total, [int(d) for d in docs[chosen]], [float(s) for s in scores[chosen]])

"""The top N of a query over common words without scoring all their postings (Fagin's threshold algorithm).

A word in most of 2.7 million abstracts has about 450,000 postings in each
segment; scoring them all is what made such queries take 100-400 ms. The side
files keep a common word's postings in classes of equal (weight, length byte)
(:class:`search.whoosh_internals.ImpactList`): every posting of a class has the
same BM25 score, so the classes are scored (a few hundred floats), sorted, and
read best first. After each round the documents read so far are scored exactly
by the ordinary evaluation restricted to them, and the bound of everything not
yet read is the query's shape summed over each word's next unread class. Once
the N-th best exact score is above that bound (strictly: an unread document
with an equal score might sort before it by docnum), the top N is final.
Otherwise every word reads twice as deep, and past :data:`MAX_SHARE` of the
query's postings the caller falls back to scoring everything.

Scores are sums of non-negative parts (Whoosh's idf is positive, boosts are
required to be), and float addition and multiplication by a positive boost are
monotone, so a bound computed with the same operations in the same order is
never below the score of a document it bounds. The number of matches, which
the ranking no longer needs, comes from the bitsets of the common words and the
docnums of the rare ones, combined as the query combines them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from whoosh import query as wq

from search.whoosh_internals import ImpactList

__all__ = ["MAX_AND_PARTS", "MAX_SHARE", "MIN_POSTINGS", "SMALL_MATCH", "START", "ImpactTop", "impact_top"]

#: A query whose cheapest AND part has fewer postings than this in a segment is scored whole.
MIN_POSTINGS = 20_000
#: Postings read from each common word in the first round (at least 4 times the N asked for).
START = 2048
#: Past this share of the query's postings read, scoring everything costs less.
MAX_SHARE = 0.25
#: An AND of more common parts than this is scored whole (measured at 2.7 million papers: with three
#: or four common words the rarest-first evaluation was faster, with two the rounds were).
MAX_AND_PARTS = 2
#: When no more documents than this match (an AND of common words that rarely meet), score them all.
SMALL_MATCH = 8192
_NULL_QUERY = type(wq.NullQuery)


@dataclass
class _Leaf:
    """One ``Term`` of the query in one segment, and how far its impact list has been read."""

    q: Any
    btext: bytes
    impact: ImpactList | None  # None: a rarer word, read whole in the first round
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per class
    order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # classes, best first
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per class
    taken: int = 0  # classes read, in ``order``
    read: int = 0  # postings read

    @property
    def done(self) -> bool:
        return self.impact is None or self.taken >= len(self.order)

    def bound(self) -> float:
        """The best score a document not read yet can have from this word."""
        return 0.0 if self.done else float(self.scores[self.order[self.taken]])


@dataclass
class ImpactTop:
    docs: np.ndarray  # the segment's top N docnums (deleted ones excluded), in docnum order
    scores: np.ndarray
    total: int  # documents the query matches in the segment, deleted ones excluded


def _leaves(q: Any, out: list[Any]) -> bool:
    """Collect the ``Term`` nodes of ``q``; False if it has a node or boost this module does not bound."""
    kind = type(q)
    if kind is wq.Term:
        out.append(q)
        return float(q.boost) > 0
    if kind is wq.And or kind is wq.Or:
        return float(q.boost) > 0 and all(_leaves(c, out) for c in q.subqueries)
    return kind is _NULL_QUERY


def _bound(q: Any, leaves: dict[int, _Leaf]) -> float:
    """The query's score with each word at its bound, built as ``_Segment.sparse`` builds a score."""
    kind = type(q)
    if kind is wq.Term:
        leaf = leaves.get(id(q))
        return 0.0 if leaf is None else leaf.bound()
    if kind is _NULL_QUERY:
        return 0.0
    subs = q.subqueries
    if len(subs) == 1:
        return _bound(subs[0], leaves)
    total = np.zeros(1)  # float64 sums in the parts' order, as the evaluation adds them
    for c in subs:
        total += _bound(c, leaves)
    return float(total[0] * q.boost if q.boost != 1.0 else total[0])


def _bits(seg: Any, q: Any, leaves: dict[int, _Leaf], nbytes: int) -> np.ndarray:
    """The documents ``q`` matches in the segment as packed bits (deleted ones included)."""
    kind = type(q)
    if kind is wq.Term:
        leaf = leaves.get(id(q))
        if leaf is None:
            return np.zeros(nbytes, dtype=np.uint8)
        got = leaf.impact.bits(seg.size) if leaf.impact is not None else None
        if got is not None:
            return got
        docs = leaf.impact.docs(0, leaf.impact.size) if leaf.impact is not None else seg.postings_of(q)[0]
        mask = np.zeros(nbytes * 8, dtype=bool)
        mask[docs] = True
        return np.packbits(mask, bitorder="little")
    if kind is _NULL_QUERY:
        return np.zeros(nbytes, dtype=np.uint8)
    parts = [_bits(seg, c, leaves, nbytes) for c in q.subqueries]
    combine = np.bitwise_and if kind is wq.And else np.bitwise_or
    out = parts[0].copy()
    for p in parts[1:]:
        combine(out, p, out=out)
    return out


def _take(seg: Any, leaf: _Leaf, want: int) -> list[np.ndarray]:
    """Read whole classes, best first, until ``want`` postings of the word have been read."""
    assert leaf.impact is not None
    got = []
    ends = leaf.impact.ends
    while not leaf.done and leaf.read < want:
        c = int(leaf.order[leaf.taken])
        lo, hi = int(leaf.starts[c]), int(ends[c])
        got.append(leaf.impact.docs(lo, hi))
        leaf.taken += 1
        leaf.read += hi - lo
    return got


def _mark(seen: np.ndarray, arrays: list[np.ndarray]) -> np.ndarray:
    """The documents of ``arrays`` not yet ``seen`` (each array free of repeats), now marked seen."""
    out = []
    for docs in arrays:
        new = docs[~seen[docs]]
        seen[new] = True
        out.append(new)
    return np.concatenate(out).astype(np.int64, copy=False) if out else np.zeros(0, np.int64)


def impact_top(seg: Any, q: Any, limit: int) -> ImpactTop | None:
    """The top ``limit`` of ``q`` in segment ``seg`` (a ``fastscore._Segment``), or None to score it whole.

    None where the query has a node other than ``Term``/``And``/``Or``, a
    boost that is not positive, a common word without an impact list (a segment
    written before them), an AND of more than :data:`MAX_AND_PARTS` common
    parts, or where the rounds would read too much.
    """
    arrays = seg.arrays
    terms: list[Any] = []
    if arrays is None or limit < 1 or not _leaves(q, terms):
        return None
    if seg.estimate(q) < MIN_POSTINGS:
        return None
    if type(q) is wq.And and sum(seg.estimate(c) >= MIN_POSTINGS for c in q.subqueries) > MAX_AND_PARTS:
        return None  # the bound, a sum over every part, is too loose: reading would go deep
    leaves: dict[int, _Leaf] = {}
    postings = 0
    first: list[np.ndarray] = []
    for t in terms:
        if id(t) in leaves:
            continue
        btext = seg.btext(t)
        if btext is None:
            continue
        df = arrays.doc_frequency(t.fieldname, btext)
        if not df:
            continue
        postings += df
        impact = arrays.impact(t.fieldname, btext)
        leaf = leaves[id(t)] = _Leaf(t, btext, impact)
        if impact is None:
            if df >= MIN_POSTINGS:
                return None  # a common word without an impact list: nothing to gain
            got = seg.postings_of(t)
            if got is not None:
                first.append(got[0])
            continue
        lengths = seg.lengths(t.fieldname)
        leaf.scores = seg.bm25(t, btext, impact.weights, None if lengths is None else impact.lbytes)
        leaf.order = np.argsort(-leaf.scores, kind="stable")
        leaf.starts = np.concatenate(([0], impact.ends[:-1])).astype(np.int64)
    if not leaves:
        return None
    nbytes = (seg.size + 7) // 8
    matched = _bits(seg, q, leaves, nbytes)
    deleted = seg.reader.deleted_docs_set
    if deleted:
        gone = np.zeros(nbytes * 8, dtype=bool)
        gone[np.fromiter(deleted, dtype=np.int64, count=len(deleted))] = True
        matched = matched & np.invert(np.packbits(gone, bitorder="little"))
    total = int(np.bitwise_count(matched).sum())
    if total <= SMALL_MATCH:  # few documents match all the AND's parts: score just them
        docs = np.flatnonzero(np.unpackbits(matched, bitorder="little")[: seg.size])
        docs, scores = seg.sparse(q, docs) if len(docs) else (docs, np.zeros(0))
        return ImpactTop(docs, scores, total)
    want = max(START, 4 * limit)
    seen = np.zeros(seg.size, dtype=bool)  # documents read in some word's list (one byte each)
    fresh = _mark(seen, first)
    count = len(fresh)
    docs_parts: list[np.ndarray] = []
    score_parts: list[np.ndarray] = []
    found = 0
    rounds = 0
    while True:
        if len(fresh):  # score only what this round read, and only where the query matches
            fresh = fresh[(matched[fresh >> 3] >> (fresh & 7)) & 1 == 1]
            if len(fresh):
                d, sc = seg.sparse(q, np.sort(fresh).astype(np.int64, copy=False))
                docs_parts.append(d)
                score_parts.append(sc)
                found += len(d)
        exhausted = all(leaf.done for leaf in leaves.values())
        if found >= limit or exhausted:
            scores = np.concatenate(score_parts) if score_parts else np.zeros(0)
            kth = -np.partition(-scores, limit - 1)[limit - 1] if found >= limit else -np.inf
            if exhausted or kth > _bound(q, leaves):
                break
        if rounds:
            want *= 2
        rounds += 1
        fresh = _mark(seen, [d for leaf in leaves.values() if leaf.impact for d in _take(seg, leaf, want)])
        count += len(fresh)
        if count > MAX_SHARE * postings:
            return None
    if not docs_parts:
        return ImpactTop(np.zeros(0, np.int64), np.zeros(0), total)
    docs = np.concatenate(docs_parts)
    order = np.argsort(docs, kind="stable")  # the caller picks ties at the cut by docnum
    return ImpactTop(docs[order], np.concatenate(score_parts)[order], total)

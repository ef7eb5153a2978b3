"""A4. Unigram segmentation: candidate tokens, Viterbi decoding, the segmentation log-partition function,
brute-force enumeration and the n best segmentations.

Articles: https://kexue.fm/archives/9768, https://kexue.fm/archives/9811.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from algorithms.tokenization._common import (
    Order,
    Segmentation,
    Text,
    _alpha,
    _backtrack,
    _forward,
    _no_segmentation,
    _table,
    _tokens,
)

__all__ = [
    "candidates",
    "enumerate_segmentations",
    "nbest_segmentations",
    "segmentation_log_partition",
    "viterbi_decode",
]


def candidates(
    text: Text, vocab: Mapping[Any, float], max_len: int | None = None, order: Order = "long_first"
) -> Iterator[tuple[int, int, float]]:
    """Yield ``(end, start, score)`` for every token ``text[start:end]`` in ``vocab``, by increasing end.

    Within an end, ``order='long_first'`` (BytePiece's automaton) or ``'short_first'``. At most
    l·m − m(m−1)/2 candidates for max token length m ≤ l (https://kexue.fm/archives/9811).
    """
    for e, (st, sc) in enumerate(_table(text, vocab, order, max_len)):
        for s, v in zip(st.tolist(), sc.tolist(), strict=True):
            yield e, s, v


def viterbi_decode(text: Text, vocab: Mapping[Any, float]) -> tuple[list[Text], float]:
    """S*(c_1..c_l) = max_j [S*(c_1..c_j) + s(c_{j+1}..c_l)]: the max-score segmentation (https://kexue.fm/archives/9768).

    Ties go to the candidate arriving first in long-first order (the longer last token).
    Returns ``(tokens, best_score)``; raises ``ValueError`` if no segmentation exists.
    """
    table = _table(text, vocab)
    L = len(text)
    S = np.full(L + 1, -np.inf)
    S[0] = 0.0
    back = np.zeros(L + 1, dtype=int)
    for e in range(1, L + 1):
        st, sc = table[e]
        if st.size:
            x = S[st] + sc
            j = int(np.argmax(x))
            S[e], back[e] = x[j], st[j]
    if not np.isfinite(S[L]):
        raise _no_segmentation(text)
    return list(_tokens(text, _backtrack(back, L))), float(S[L])


def segmentation_log_partition(text: Text, vocab: Mapping[Any, float], alpha: float = 1.0) -> float:
    """log Z with Z(c_1..c_l) = Σ_j Z(c_1..c_j)·exp(α s(c_{j+1}..c_l)), Z(∅) = 1 (https://kexue.fm/archives/9811).

    α = 0 gives log(#segmentations). Raises ``ValueError`` if no segmentation exists.
    """
    Z = _forward(_table(text, vocab), _alpha(alpha))
    if not np.isfinite(Z[-1]):
        raise _no_segmentation(text)
    return float(Z[-1])


def enumerate_segmentations(
    text: Text, vocab: Mapping[Any, float], max_count: int = 1_000_000
) -> list[tuple[Segmentation, float]]:
    """Brute force: every segmentation of ``text`` into vocabulary tokens, with its score Σ log p."""
    table = _table(text, vocab)
    L = len(text)
    n_log = _forward(table, 0.0)[L]
    if not np.isfinite(n_log):
        raise _no_segmentation(text)
    if n_log > math.log(max_count):
        raise ValueError(f"{text!r} has more than max_count={max_count} segmentations")
    ends_at: list[list[tuple[int, float]]] = [[] for _ in range(L + 1)]  # ends_at[s] = [(e, score)]
    for e in range(1, L + 1):
        for s, v in zip(*table[e], strict=True):
            ends_at[int(s)].append((e, float(v)))
    out: list[tuple[Segmentation, float]] = []

    def walk(s: int, cuts: list[int], score: float) -> None:
        if s == L:
            out.append((_tokens(text, cuts), score))
            return
        for e, v in ends_at[s]:
            walk(e, [*cuts, e], score + v)

    walk(0, [0], 0.0)
    return out


def nbest_segmentations(
    text: Text, vocab: Mapping[Any, float], nbest: int
) -> list[tuple[Segmentation, float]]:
    """The ``nbest`` highest-scoring segmentations (k-best Viterbi), best first."""
    if isinstance(nbest, bool) or not isinstance(nbest, (int, np.integer)) or nbest < 1:
        raise ValueError(f"nbest must be a positive integer, got {nbest!r}")
    table = _table(text, vocab)
    L = len(text)
    score = [np.zeros(1)] + [np.zeros(0)] * L  # per end: scores of its kept partial paths
    prev = [np.zeros(1, dtype=int)] + [np.zeros(0, dtype=int)] * L  # start of the last token
    rank = [np.zeros(1, dtype=int)] + [np.zeros(0, dtype=int)] * L  # rank of the path at that start
    for e in range(1, L + 1):
        st, sc = table[e]
        parts = [
            (score[s] + v, np.full(score[s].size, s), np.arange(score[s].size))
            for s, v in zip(st, sc, strict=True)
        ]
        if not parts:
            continue
        sc_all = np.concatenate([p[0] for p in parts])
        top = np.argsort(-sc_all, kind="stable")[:nbest]
        score[e] = sc_all[top]
        prev[e] = np.concatenate([p[1] for p in parts])[top]
        rank[e] = np.concatenate([p[2] for p in parts])[top]
    if score[L].size == 0:
        raise _no_segmentation(text)
    out = []
    for r in range(score[L].size):
        cuts, e, rr = [L], L, r
        while e > 0:
            e, rr = int(prev[e][rr]), int(rank[e][rr])
            cuts.append(e)
        out.append((_tokens(text, cuts[::-1]), float(score[L][r])))
    return out

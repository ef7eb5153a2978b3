"""A4. Random tokenization: perfect Viterbi sampling (reservoir / FFBS) and the biased rule of the first
article, the exact laws of the samplers, and subword regularization for comparison.

Articles: https://kexue.fm/archives/9768, https://kexue.fm/archives/9811.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from scipy import special

from algorithms._checks import RngLike, _n_samples, _rng
from algorithms.tokenization._common import (
    Array,
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
from algorithms.tokenization.segmentation import nbest_segmentations, viterbi_decode

__all__ = [
    "subword_regularization_sample",
    "viterbi_sample",
    "viterbi_sample_distribution",
]


def _reservoir_accept(x: Array) -> tuple[Array, Array]:
    """Running Zlog after each arrival and the acceptance probabilities exp(x_j − Zrun_j) (first = 1)."""
    Zrun = np.logaddexp.accumulate(x)
    return np.exp(x - Zrun), Zrun


def _old_rule_final_probs(x: Array, alpha: float) -> Array:
    """Exact law of the candidate held at the end under the 9768 rule (accept if ε < σ(α(x − x_held)))."""
    h = np.zeros(x.size)
    h[0] = 1.0
    for j in range(1, x.size):
        acc = special.expit(alpha * (x[j] - x[:j]))
        h[j] = h[:j] @ acc
        h[:j] *= 1.0 - acc
    return h


def _sample_cuts(
    text: Text,
    vocab: Mapping[Any, float],
    alpha: float,
    rng: np.random.Generator,
    method: str,
    order: str,
    size: int,
) -> Array:
    """Boolean cut masks (size, L+1) of ``size`` sampled segmentations."""
    table = _table(text, vocab, order)
    L = len(text)
    rows = np.arange(size)
    route = np.full((size, L + 1), -1, dtype=int)
    route[:, 0] = 0
    if method == "reservoir":  # one forward pass: Zlog and the routes together (9811)
        Z = np.full(L + 1, -np.inf)
        Z[0] = 0.0
        for e in range(1, L + 1):
            st, sc = table[e]
            live = np.isfinite(Z[st])  # skip unreachable starts
            st, x = st[live], Z[st[live]] + alpha * sc[live]
            if not st.size:
                continue
            a, Zrun = _reservoir_accept(x)
            Z[e] = Zrun[-1]
            acc = rng.random((size, st.size)) < a
            route[:, e] = st[st.size - 1 - np.argmax(acc[:, ::-1], axis=1)]  # last accepted
    elif method == "old":  # 9768: chain of pairwise choices against the held candidate
        Z = _forward(table, 0.0)  # reachability only
        S = np.full((size, L + 1), -np.inf)
        S[:, 0] = 0.0
        for e in range(1, L + 1):
            st, sc = table[e]
            live = np.isfinite(Z[st])
            st, sc = st[live], sc[live]
            if not st.size:
                continue
            x = S[:, st] + sc
            u = rng.random((size, st.size))
            held, hidx = x[:, 0].copy(), np.zeros(size, dtype=int)
            for j in range(1, st.size):  # sequential by construction; vectorised over samples
                acc = u[:, j] < special.expit(alpha * (x[:, j] - held))
                held = np.where(acc, x[:, j], held)
                hidx = np.where(acc, j, hidx)
            S[:, e] = held
            route[:, e] = st[hidx]
    elif method == "ffbs":  # forward filtering, backward sampling
        Z = _forward(table, alpha)
        if not np.isfinite(Z[L]):
            raise _no_segmentation(text)
        width = max(1, max(t[0].size for t in table))
        cum = np.ones((L + 1, width))
        starts = np.zeros((L + 1, width), dtype=int)
        for e in range(1, L + 1):
            st, sc = table[e]
            if st.size and np.isfinite(Z[e]):
                cum[e, : st.size] = np.cumsum(np.exp(Z[st] + alpha * sc - Z[e]))
                starts[e, : st.size] = st
                starts[e, st.size :] = st[-1]
        pos = np.full(size, L)
        cuts = np.zeros((size, L + 1), dtype=bool)
        cuts[:, L] = True
        while (pos > 0).any():
            u = rng.random(size)
            j = np.minimum((u[:, None] >= cum[pos]).sum(axis=1), width - 1)
            pos = np.where(pos > 0, starts[pos, j], 0)
            cuts[rows, pos] = True
        return cuts
    else:
        raise ValueError(f"method must be 'reservoir', 'ffbs' or 'old', got {method!r}")
    if (route[:, L] < 0).any():
        raise _no_segmentation(text)
    pos = np.full(size, L)
    cuts = np.zeros((size, L + 1), dtype=bool)
    cuts[:, L] = True
    while (pos > 0).any():
        pos = route[rows, pos]
        cuts[rows, pos] = True
    return cuts


def viterbi_sample(
    text: Text,
    vocab: Mapping[Any, float],
    alpha: float,
    rng: RngLike = None,
    method: Literal["reservoir", "ffbs", "old"] = "reservoir",
    order: Order = "long_first",
    n_samples: int | None = None,
    *,
    size: int | None = None,
) -> list[Text] | list[Segmentation]:
    """Sample a segmentation w with P(w) = exp(α s(w))/Z (perfect sampling, https://kexue.fm/archives/9811).

    ``reservoir`` (9811): for each candidate, x = Zlog[s] + α·score, Zlog[e] ← logaddexp(Zlog[e], x),
    route[e] ← s with probability exp(x − Zlog[e]); backtrack from the end. ``ffbs``: forward
    Zlog, then sample starts backwards ∝ exp(Zlog[s] + α·score). ``old``: the biased 9768 rule
    (accept if ε < σ(α(x − x_held))), kept for comparison. BytePiece semantics: α < 0 is
    deterministic (Viterbi), α = 0 is uniform over segmentations. ``n_samples=None`` returns one token
    list, otherwise a list of ``n_samples`` token tuples (drawn vectorised over samples); ``size`` is
    the deprecated old name of ``n_samples``. ``rng``: an int seed, None or a ``Generator``.
    """
    a = _alpha(alpha)
    if method not in ("reservoir", "ffbs", "old"):
        raise ValueError(f"method must be 'reservoir', 'ffbs' or 'old', got {method!r}")
    n_samples = _n_samples(n_samples, optional=True, size=size)
    n = 1 if n_samples is None else n_samples
    if a < 0:
        toks = tuple(viterbi_decode(text, vocab)[0])
        return list(toks) if n_samples is None else [toks] * n
    rng = _rng(rng)
    cuts = _sample_cuts(text, vocab, a, rng, method, order, n)
    packed = np.ascontiguousarray(np.packbits(cuts, axis=1))
    _, first, inv = np.unique(
        packed.view(np.dtype((np.void, packed.shape[1]))).ravel(), return_index=True, return_inverse=True
    )
    segs = [_tokens(text, np.flatnonzero(cuts[i]).tolist()) for i in first]
    out = [segs[i] for i in inv.ravel()]
    return list(out[0]) if n_samples is None else out


def _paths(route_probs: list[dict[int, float]], text: Text) -> dict[Segmentation, float]:
    """All paths from len(text) back to 0 through independent per-end route laws, with their probabilities."""
    out: dict[Segmentation, float] = {}

    def walk(e: int, cuts: list[int], p: float) -> None:
        if e == 0:
            out[_tokens(text, cuts[::-1])] = out.get(_tokens(text, cuts[::-1]), 0.0) + p
            return
        for s, q in route_probs[e].items():
            if q > 0:
                walk(s, [*cuts, s], p * q)

    walk(len(text), [len(text)], 1.0)
    return out


def viterbi_sample_distribution(
    text: Text,
    vocab: Mapping[Any, float],
    alpha: float,
    method: Literal["reservoir", "ffbs", "old"] = "reservoir",
    order: Order = "long_first",
    max_branches: int = 1_000_000,
) -> dict[Segmentation, float]:
    """Exact output law of ``viterbi_sample``, by propagating its random choices exactly (for tests).

    ``reservoir``: route[e] = s_j with probability a_j Π_{l>j}(1 − a_l), a_j = exp(x_j − Zrun_j);
    ``ffbs``: exp(Zlog[s] + α·score − Zlog[e]); both independent across ends. ``old``: the held
    scores are random, so the joint law of all routes is enumerated (≤ ``max_branches`` branches).
    Exponential in the text length in general; meant for short strings.
    """
    a = _alpha(alpha)
    if a < 0:
        return {tuple(viterbi_decode(text, vocab)[0]): 1.0}
    table = _table(text, vocab, order)
    L = len(text)
    Z = _forward(table, a)
    if not np.isfinite(Z[L]):
        raise _no_segmentation(text)
    if method in ("reservoir", "ffbs"):
        laws: list[dict[int, float]] = [{}]
        for e in range(1, L + 1):
            st, sc = table[e]
            live = np.isfinite(Z[st])
            st, x = st[live], Z[st[live]] + a * sc[live]
            if not st.size:
                laws.append({})
                continue
            if method == "reservoir":
                acc, _ = _reservoir_accept(x)
                later_reject = np.concatenate([np.cumprod((1.0 - acc)[::-1])[::-1][1:], [1.0]])
                r = acc * later_reject
            else:
                r = np.exp(x - Z[e])
            laws.append(dict(zip(st.tolist(), r.tolist(), strict=True)))
        return _paths(laws, text)
    if method != "old":
        raise ValueError(f"method must be 'reservoir', 'ffbs' or 'old', got {method!r}")
    branches: list[tuple[Array, Array, float]] = [
        (np.r_[0.0, np.full(L, -np.inf)], np.zeros(L + 1, dtype=int), 1.0)
    ]
    for e in range(1, L + 1):
        st, sc = table[e]
        live = np.isfinite(Z[st])
        st, sc = st[live], sc[live]
        if not st.size:
            continue
        nxt = []
        for S, route, p in branches:
            x = S[st] + sc
            for j, h in enumerate(_old_rule_final_probs(x, a)):
                if h > 0:
                    S2, r2 = S.copy(), route.copy()
                    S2[e], r2[e] = x[j], st[j]
                    nxt.append((S2, r2, p * float(h)))
        if len(nxt) > max_branches:
            raise ValueError(f"more than {max_branches} branches: text too long for the exact 'old' law")
        branches = nxt
    out: dict[Segmentation, float] = {}
    for _, route, p in branches:
        seg = _tokens(text, _backtrack(route, L))
        out[seg] = out.get(seg, 0.0) + p
    return out


def subword_regularization_sample(
    text: Text,
    vocab: Mapping[Any, float],
    alpha: float,
    nbest: int,
    rng: RngLike = None,
    n_samples: int | None = None,
    *,
    size: int | None = None,
) -> list[Text] | list[Segmentation]:
    """Subword regularization (Kudo 2018): sample from the n-best list with p_i ∝ P(w_i)^α (https://kexue.fm/archives/9768).

    ``n_samples=None`` returns one token list, otherwise a list of ``n_samples`` token tuples (``size``
    is its deprecated old name). ``rng``: an int seed, None or a ``Generator``.
    """
    a = _alpha(alpha)
    if a < 0:
        raise ValueError("alpha must be >= 0 for subword regularization")
    n_samples = _n_samples(n_samples, optional=True, size=size)
    n = 1 if n_samples is None else n_samples
    nb = nbest_segmentations(text, vocab, nbest)
    logits = a * np.array([s for _, s in nb])
    p = np.exp(logits - np.logaddexp.reduce(logits))
    rng = _rng(rng)
    idx = np.minimum(np.searchsorted(np.cumsum(p), rng.random(n) * p.sum(), side="right"), len(nb) - 1)
    out = [nb[i][0] for i in idx]
    return list(out[0]) if n_samples is None else out

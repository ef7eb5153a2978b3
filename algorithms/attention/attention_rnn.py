"""B6. Causal attention as a quadratic-time RNN with O(1) state (online softmax, both reading orders),
cache-free multi-layer evaluation by recomputation, its score count and the RNN state size.

Article: https://kexue.fm/archives/10017.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from algorithms._checks import _array, _count
from algorithms.attention._common import Array, _masked_softmax, _ndim

__all__ = [
    "attention_rnn_state_size",
    "causal_attention_rnn",
    "causal_attention_stack",
    "multilayer_recompute",
    "recompute_score_count",
]


def causal_attention_rnn(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    stable: bool = True,
    order: Literal["backward", "forward"] = "backward",
) -> Array:
    """o_i = Σ_{j≤i} e^{q_i·k_j} v_j / Σ_{j≤i} e^{q_i·k_j}, computed as an RNN over the history.

    https://kexue.fm/archives/10017 . q, k (L, d), v (L, d_v) -> (L, d_v); no 1/sqrt(d) is applied.
    Each query i keeps only the state (m, y, z) while it reads j = i, i−1, …, 0 ("backward", as in the
    article) or j = 0, …, i ("forward"). The queries are processed together (one state per query), so
    the Python loop runs over the reading step, which *is* the recurrence. ``stable=True`` uses the
    online softmax (m' = max(m, s); y ← y·e^{m−m'} + e^{s−m'} v); ``stable=False`` is the literal
    recurrence y += e^s v, z += e^s, which overflows (NumPy warns, the output holds inf/nan) once a
    score passes ~709 in float64.
    """
    Q, K, V = _array(q, "q"), _array(k, "k"), _array(v, "v")
    _ndim(Q, "q", 2)
    _ndim(K, "k", 2)
    _ndim(V, "v", 2)
    if Q.shape != K.shape:
        raise ValueError(f"q and k must have the same shape (L, d), got {Q.shape} and {K.shape}")
    if V.shape[0] != Q.shape[0]:
        raise ValueError(f"v must have L = {Q.shape[0]} rows, got {V.shape}")
    if order not in ("backward", "forward"):
        raise ValueError(f"order must be 'backward' or 'forward', got {order!r}")
    L = Q.shape[0]
    dtype = np.result_type(Q, K, V)
    y = np.zeros((L, V.shape[1]), dtype)
    z = np.zeros(L, dtype)
    m = np.full(L, -np.inf, dtype)
    for t in range(L):
        # queries i = t..L-1 read key j = i - t (backward) or j = t (forward)
        if order == "backward":
            s = np.einsum("ij,ij->i", Q[t:], K[: L - t])
            vals = V[: L - t]
        else:
            s = Q[t:] @ K[t]
            vals = np.broadcast_to(V[t], (L - t, V.shape[1]))
        if stable:
            m_new = np.maximum(m[t:], s)
            decay = np.exp(m[t:] - m_new)
            w = np.exp(s - m_new)
            y[t:] = y[t:] * decay[:, None] + w[:, None] * vals
            z[t:] = z[t:] * decay + w
            m[t:] = m_new
        else:
            w = np.exp(s)
            y[t:] += w[:, None] * vals
            z[t:] += w
    return y / z[:, None]


def _check_layers(
    embed: Array, layers: Sequence[Sequence[npt.ArrayLike]]
) -> list[tuple[Array, Array, Array]]:
    d = embed.shape[1]
    out = []
    for n, layer in enumerate(layers):
        if len(layer) != 3:
            raise ValueError(f"layer {n} must be a (W_q, W_k, W_v) triple")
        wq, wk, wv = (_array(w, f"layer {n} weight") for w in layer)
        if wq.ndim != 2 or wq.shape[0] != d or wk.shape != wq.shape:
            raise ValueError(f"layer {n}: W_q and W_k must both have shape ({d}, d_k)")
        if wv.shape != (d, d):
            raise ValueError(f"layer {n}: W_v must have shape ({d}, {d}), got {wv.shape}")
        out.append((wq, wk, wv))
    return out


def _check_tokens(tokens: npt.ArrayLike, vocab: int) -> Array:
    t = np.asarray(tokens)
    if t.ndim != 1 or t.size == 0 or t.dtype.kind not in "iu":
        raise ValueError("tokens must be a non-empty 1-D integer array")
    if np.any(t < 0) or np.any(t >= vocab):
        raise ValueError(f"token ids must lie in [0, {vocab})")
    return t


def causal_attention_stack(
    tokens: npt.ArrayLike, embed: npt.ArrayLike, layers: Sequence[Sequence[npt.ArrayLike]]
) -> Array:
    """Batched forward of a causal attention stack h ← h + softmax(mask(h W_q (h W_k)ᵀ/√d_k)) h W_v.

    https://kexue.fm/archives/10017 (the cached reference for ``multilayer_recompute``).
    tokens (L,) ints, embed (vocab, d), layers = [(W_q (d, d_k), W_k (d, d_k), W_v (d, d)), …] -> (L, d).
    """
    E = _array(embed, "embed")
    _ndim(E, "embed", 2)
    tok = _check_tokens(tokens, E.shape[0])
    h = E[tok]
    L = h.shape[0]
    causal = np.tril(np.ones((L, L), dtype=bool))
    for wq, wk, wv in _check_layers(E, layers):
        logits = (h @ wq) @ (h @ wk).T / math.sqrt(wq.shape[1])
        h = h + _masked_softmax(logits, causal) @ (h @ wv)
    return h


def multilayer_recompute(
    tokens: npt.ArrayLike, embed: npt.ArrayLike, layers: Sequence[Sequence[npt.ArrayLike]], pos: int
) -> tuple[Array, int]:
    """Top-layer output h_pos^{(L)} with no cache: every key/value h_j^{(l−1)} is recomputed recursively.

    https://kexue.fm/archives/10017 . Same model as ``causal_attention_stack``; returns
    ``(h (d,), n_scores)`` where n_scores counts query·key evaluations and obeys
    N_l(i) = N_{l−1}(i) + Σ_{j≤i} N_{l−1}(j) + i (1-based i). Working state: (m, y, z) per active
    recursion level (depth ≤ number of layers), never a length-L array. Exponential time: tiny L only.
    """
    E = _array(embed, "embed")
    _ndim(E, "embed", 2)
    tok = _check_tokens(tokens, E.shape[0])
    ws = _check_layers(E, layers)
    if isinstance(pos, bool) or not isinstance(pos, int | np.integer) or not 0 <= pos < tok.size:
        raise ValueError(f"pos must be an integer in [0, {tok.size}), got {pos!r}")
    counter = 0

    def hidden(level: int, i: int) -> Array:
        nonlocal counter
        if level == 0:
            return E[tok[i]]
        wq, wk, wv = ws[level - 1]
        h_i = hidden(level - 1, i)
        q = h_i @ wq / math.sqrt(wq.shape[1])
        m, z = -math.inf, 0.0
        y = np.zeros_like(h_i)
        for j in range(i, -1, -1):  # read the history backwards, recomputing each h_j
            h_j = hidden(level - 1, j)
            s = float(q @ (h_j @ wk))
            counter += 1
            m_new = max(m, s)
            decay, w = math.exp(m - m_new), math.exp(s - m_new)
            y = y * decay + w * (h_j @ wv)
            z = z * decay + w
            m = m_new
        return h_i + y / z

    h = hidden(len(ws), int(pos))
    return h, counter


def recompute_score_count(L: int, num_layers: int) -> int:
    """Σ_{i=1..L} N_top(i) with N_1(i) = i, N_l(i) = N_{l−1}(i) + Σ_{j≤i} N_{l−1}(j) + i.

    https://kexue.fm/archives/10017 (score evaluations of ``multilayer_recompute`` over all positions).
    """
    L = _count(L, "L")
    num_layers = _count(num_layers, "num_layers")
    i = np.arange(1, L + 1, dtype=np.float64)
    N = np.zeros(L)
    for _ in range(num_layers):
        N = N + np.cumsum(N) + i
    total = float(N.sum())
    if total >= 2.0**53:
        raise ValueError("score count exceeds 2**53; not representable exactly")
    return int(total)


def attention_rnn_state_size(num_layers: int, hidden_size: int) -> int:
    """Fixed working state of cache-free attention decoding: 2 · num_layers · hidden_size numbers.

    https://kexue.fm/archives/10017 (LLaMA2-70B: 2·80·8192 = 1,310,720 ≈ 1M).
    """
    return 2 * _count(num_layers, "num_layers") * _count(hidden_size, "hidden_size")

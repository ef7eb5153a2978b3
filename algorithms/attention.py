"""Attention: entropy-invariant scaling, attention as an RNN, ReRoPE/HWFA and the completeness of RoPE.

Sections of the library's specification, with the articles they implement:

* A1  entropy-invariant attention scale (https://kexue.fm/archives/8823, /9034, /9588);
* B6  causal attention as a quadratic-time RNN with O(1) state (https://kexue.fm/archives/10017);
* B11 ReRoPE, Leaky ReRoPE and HWFA (https://kexue.fm/archives/9731, /9708, /9603);
* B12 completeness of RoPE (https://kexue.fm/archives/9403).

Conventions: results are float64 whatever the input dtype; positions are 0-based; the causal part of a
logit matrix is ``j <= i`` and masked entries are ``-inf``. Invalid input raises ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.linalg

from algorithms._checks import RngLike, _array, _count, _rng

__all__ = [
    "HWFA",
    "attention_entropy",
    "attention_rnn_state_size",
    "causal_attention_rnn",
    "causal_attention_stack",
    "check_relative_property",
    "entropy_invariant_attention",
    "entropy_invariant_scale",
    "hwfa_layer_types",
    "hwfa_receptive_field",
    "multilayer_recompute",
    "recompute_score_count",
    "relative_position",
    "relative_position_matrix",
    "rerope_attention",
    "rerope_decode_logits",
    "rerope_logits",
    "rope_general",
    "rope_matrix",
    "rope_multidim",
    "rope_rotate",
    "rope_thetas",
    "skew_to_block_diag",
    "window_mask",
]

Array = npt.NDArray[Any]


# --------------------------------------------------------------------------------------------------
# validation helpers (private)


def _ndim(a: Array, name: str, ndim: int | tuple[int, ...]) -> None:
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {a.shape}")


def _positive(x: float, name: str, *, minimum: float = 0.0, strict: bool = True) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {x!r}") from None
    if not math.isfinite(v) or (v <= minimum if strict else v < minimum):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} {minimum}, got {x!r}")
    return v


def _masked_softmax(logits: Array, allowed: Array | None = None) -> Array:
    """Row softmax over the last axis with a stable max shift; ``allowed`` False -> probability 0."""
    if allowed is not None:
        allowed = np.broadcast_to(allowed, logits.shape)
        if not np.all(np.any(allowed, axis=-1)):
            raise ValueError("mask leaves a query row with no visible key")
        logits = np.where(allowed, logits, -np.inf)
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)  # type: ignore[no-any-return]


def _qkv(q: npt.ArrayLike, k: npt.ArrayLike, v: npt.ArrayLike) -> tuple[Array, Array, Array]:
    Q, K, V = _array(q, "Q"), _array(k, "K"), _array(v, "V")
    for name, a in (("Q", Q), ("K", K), ("V", V)):
        if a.ndim < 2:
            raise ValueError(f"{name} must have shape (..., n, d), got {a.shape}")
    if Q.shape[-1] != K.shape[-1]:
        raise ValueError(f"Q and K must share the last dimension d, got {Q.shape} and {K.shape}")
    if K.shape[-2] != V.shape[-2]:
        raise ValueError(f"K and V must have the same number of keys, got {K.shape} and {V.shape}")
    try:
        np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    except ValueError:
        raise ValueError(f"batch shapes of Q {Q.shape}, K {K.shape}, V {V.shape} do not broadcast") from None
    return Q, K, V


# --------------------------------------------------------------------------------------------------
# A1. Entropy-invariant attention scale


def entropy_invariant_scale(n: npt.ArrayLike, d: int, base: float = 512.0) -> float | Array:
    """Logit scale log_base(n)/sqrt(d) (= 1/sqrt(d) at n = base).

    https://kexue.fm/archives/8823 ; ``n`` (>= 1) may be an array and broadcasts.
    """
    n_arr = _array(n, "n")
    if np.any(n_arr < 1):
        raise ValueError("n (number of keys) must be >= 1")
    d = _count(d, "d")
    b = _positive(base, "base", minimum=1.0)
    s = np.log(n_arr) / math.log(b) / math.sqrt(d)
    return float(s) if s.ndim == 0 else s


def entropy_invariant_attention(
    Q: npt.ArrayLike,
    K: npt.ArrayLike,
    V: npt.ArrayLike,
    base: float = 512.0,
    mask: npt.ArrayLike | None = None,
    n: npt.ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Attention_E = softmax(log_base(n)/sqrt(d) · Q Kᵀ) V; returns ``(out, probs)``.

    https://kexue.fm/archives/8823 . Shapes: Q (..., n_q, d), K (..., n_k, d), V (..., n_k, d_v) ->
    out (..., n_q, d_v), probs (..., n_q, n_k). ``mask`` (bool, broadcastable to (..., n_q, n_k)) is
    True where a query may attend. ``n`` defaults to n_k. *Extension, not in the articles:* ``n`` may be
    a per-query array broadcastable to (..., n_q), e.g. ``arange(1, n_q + 1)`` for causal attention.
    """
    Qa, Ka, Va = _qkv(Q, K, V)
    d, n_k = Qa.shape[-1], Ka.shape[-2]
    n_eff = n_k if n is None else n
    scale = np.asarray(entropy_invariant_scale(n_eff, d, base))
    logits = Qa @ np.swapaxes(Ka, -1, -2)
    if scale.ndim:
        try:
            scale = np.broadcast_to(scale, logits.shape[:-1])
        except ValueError:
            raise ValueError(
                f"n of shape {scale.shape} does not broadcast to (..., n_q) = {logits.shape[:-1]}"
            ) from None
        logits = logits * scale[..., None]
    else:
        logits = logits * scale
    allowed = None
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype != np.bool_:
            raise ValueError(f"mask must be boolean (True = attend), got {m.dtype}")
        try:
            np.broadcast_shapes(m.shape, logits.shape)
        except ValueError:
            raise ValueError(f"mask of shape {m.shape} does not broadcast to {logits.shape}") from None
        logits = np.broadcast_to(logits, np.broadcast_shapes(m.shape, logits.shape))
        allowed = m
    probs = _masked_softmax(logits, allowed)
    return probs @ Va, probs


def attention_entropy(probs: npt.ArrayLike) -> Array:
    """Row entropy H = −Σ_j p_j log p_j (0·log 0 = 0) of attention probabilities (..., n_q, n_k).

    https://kexue.fm/archives/8823
    """
    p = _array(probs, "probs")
    if p.ndim < 1:
        raise ValueError("probs must have at least one dimension")
    if np.any(p < 0) or not np.allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-8):
        raise ValueError("probs rows must be non-negative and sum to 1")
    safe = np.where(p > 0, p, 1.0)
    return -np.sum(p * np.log(safe), axis=-1)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# B6. Causal attention as an RNN


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
            return E[tok[i]]  # type: ignore[no-any-return]
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


# --------------------------------------------------------------------------------------------------
# B11. RoPE, ReRoPE, Leaky ReRoPE, HWFA


def rope_thetas(d: int, base: float = 10000.0) -> Array:
    """RoPE frequencies θ_i = base^{−2i/d}, i = 0 … d/2 − 1.

    https://kexue.fm/archives/9403
    """
    d = _count(d, "d")
    if d % 2:
        raise ValueError(f"d must be even, got {d}")
    b = _positive(base, "base", minimum=1.0)
    return b ** (-2.0 * np.arange(d // 2) / d)


def rope_rotate(x: npt.ArrayLike, pos: npt.ArrayLike, base: float = 10000.0) -> Array:
    """R^p x: rotate each pair (x_{2i}, x_{2i+1}) by the angle p·θ_i, θ_i = base^{−2i/d}.

    https://kexue.fm/archives/9708 . x (..., d) with d even; ``pos`` (real, fractional allowed)
    broadcasts against x.shape[:-1]. (R^i q)ᵀ(R^j k) = qᵀ R^{j−i} k.
    """
    X = _array(x, "x")
    if X.ndim < 1 or X.shape[-1] % 2 or X.shape[-1] == 0:
        raise ValueError(f"x must have a non-zero even last dimension, got shape {X.shape}")
    P = _array(pos, "pos")
    try:
        np.broadcast_shapes(P.shape, X.shape[:-1])
    except ValueError:
        raise ValueError(f"pos of shape {P.shape} does not broadcast to {X.shape[:-1]}") from None
    ang = P[..., None] * rope_thetas(X.shape[-1], base)
    c, s = np.cos(ang), np.sin(ang)
    xe, xo = X[..., 0::2], X[..., 1::2]
    even, odd = c * xe - s * xo, s * xe + c * xo
    out = np.empty((*even.shape[:-1], X.shape[-1]), dtype=even.dtype)
    out[..., 0::2], out[..., 1::2] = even, odd
    return out


def _leaky_k(k_leaky: float | None) -> float | None:
    return None if k_leaky is None else _positive(k_leaky, "k_leaky", minimum=1.0, strict=False)


def relative_position(
    r: npt.ArrayLike,
    mode: Literal["rope", "pi", "rerope", "leaky"],
    w: float | None = None,
    k: float | None = None,
) -> Array:
    """ρ(r) for causal distances r ≥ 0: rope r; pi r/k; rerope min(r, w); leaky r if r < w else w + (r − w)/k.

    https://kexue.fm/archives/9708 (k → ∞ turns Leaky ReRoPE into ReRoPE).
    """
    ra = _array(r, "r")
    if np.any(ra < 0):
        raise ValueError("relative positions r = i - j must be >= 0 (causal)")
    if mode not in ("rope", "pi", "rerope", "leaky"):
        raise ValueError(f"mode must be 'rope', 'pi', 'rerope' or 'leaky', got {mode!r}")
    if mode in ("rerope", "leaky"):
        if w is None:
            raise ValueError(f"mode {mode!r} needs the window w")
        wv = _positive(w, "w")
    if mode in ("pi", "leaky"):
        if k is None:
            raise ValueError(f"mode {mode!r} needs the factor k")
        kv = _positive(k, "k", minimum=1.0, strict=False)
    if mode == "pi":
        return ra / kv
    if mode == "rerope":
        return np.minimum(ra, wv)
    if mode == "leaky":
        return np.where(ra < wv, ra, wv + (ra - wv) / kv)
    return ra * 1.0


def relative_position_matrix(
    L: int, mode: Literal["rope", "pi", "rerope", "leaky"], w: float | None = None, k: float | None = None
) -> Array:
    """(L, L) matrix ρ(i − j) of ``relative_position`` for i ≥ j; j > i (causally masked) gives NaN.

    https://kexue.fm/archives/9708
    """
    L = _count(L, "L")
    r = np.subtract.outer(np.arange(L), np.arange(L)).astype(np.float64)
    rho = relative_position(np.maximum(r, 0.0), mode, w, k)
    return np.where(r >= 0, rho, np.nan)


def _logn_factor(pos: Array, train_len: float | None) -> Array:
    """max(1, log(i+1)/log N_train) per 0-based position (the author's log n scaling)."""
    if train_len is None:
        return np.ones_like(pos, dtype=np.float64)
    n = _positive(train_len, "logn_train_len", minimum=1.0)
    return np.maximum(1.0, np.log(pos + 1.0) / math.log(n))


def _rope_logits(q: Array, k: Array, base: float) -> Array:
    pos = np.arange(q.shape[-2], dtype=np.float64)
    return rope_rotate(q, pos, base) @ np.swapaxes(rope_rotate(k, pos, base), -1, -2)


def rerope_logits(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    w: float,
    k_leaky: float | None = None,
    logn_train_len: float | None = None,
    base: float = 10000.0,
) -> Array:
    """a_ij = q_iᵀ R^{−ρ(i−j)} k_j with ρ = ReRoPE min(r, w) or Leaky ReRoPE, via two logit matrices.

    https://kexue.fm/archives/9708 . q, k (..., L, d) -> (..., L, L) raw logits (no 1/sqrt(d)); j > i is
    −inf. a⁽¹⁾ = (R^i q_i)ᵀ(R^j k_j) is used where i − j < w, else a⁽²⁾ = (R^w q_i)ᵀ k_j (ReRoPE) or
    (R^{(i−w)/k + w} q_i)ᵀ(R^{j/k} k_j) (Leaky, ``k_leaky`` = k ≥ 1). ``logn_train_len`` = N scales
    q_i by max(1, log(i+1)/log N).
    """
    Q, K = _array(q, "q"), _array(k, "k")
    if Q.ndim < 2 or Q.shape[-2:] != K.shape[-2:]:
        raise ValueError(f"q and k must both have shape (..., L, d), got {Q.shape} and {K.shape}")
    wv = _positive(w, "w")
    kl = _leaky_k(k_leaky)
    L = Q.shape[-2]
    pos = np.arange(L, dtype=np.float64)
    Q = Q * _logn_factor(pos, logn_train_len)[:, None]
    a1 = _rope_logits(Q, K, base)
    if kl is None:
        a2 = rope_rotate(Q, wv, base) @ np.swapaxes(K, -1, -2)
    else:
        a2 = rope_rotate(Q, (pos - wv) / kl + wv, base) @ np.swapaxes(rope_rotate(K, pos / kl, base), -1, -2)
    r = np.subtract.outer(pos, pos)
    return np.where(r < 0, -np.inf, np.where(r < wv, a1, a2))


def rerope_decode_logits(
    q_i: npt.ArrayLike,
    K: npt.ArrayLike,
    i: int,
    w: float,
    k_leaky: float | None = None,
    logn_train_len: float | None = None,
    base: float = 10000.0,
) -> Array:
    """One decoding row a_ij = q_iᵀ R^{max(j−i, −w)} k_j (Leaky: R^{max(j−i, (j−i+w)/k − w)}).

    https://kexue.fm/archives/9708 . q_i (d,) is the un-rotated query at position i, K (n, d) the
    un-rotated cached keys at positions 0 … n−1 (n ≤ i + 1); returns (n,) logits (no 1/sqrt(d)).
    """
    qv, Kv = _array(q_i, "q_i"), _array(K, "K")
    _ndim(qv, "q_i", 1)
    _ndim(Kv, "K", 2)
    if Kv.shape[1] != qv.shape[0] or Kv.shape[0] == 0:
        raise ValueError(f"K must have shape (n >= 1, {qv.shape[0]}), got {Kv.shape}")
    if isinstance(i, bool) or not isinstance(i, int | np.integer) or i < Kv.shape[0] - 1:
        raise ValueError(f"i must be an integer position >= n - 1 = {Kv.shape[0] - 1}, got {i!r}")
    wv = _positive(w, "w")
    kl = _leaky_k(k_leaky)
    rel = np.arange(Kv.shape[0], dtype=np.float64) - float(i)  # j − i ≤ 0
    p = np.maximum(rel, -wv) if kl is None else np.maximum(rel, (rel + wv) / kl - wv)
    qv = qv * _logn_factor(np.asarray(float(i)), logn_train_len)
    return rope_rotate(Kv, p, base) @ qv


def rerope_attention(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    w: float,
    k_leaky: float | None = None,
    logn_train_len: float | None = None,
    base: float = 10000.0,
) -> Array:
    """Causal attention softmax(rerope_logits/√d) V with ReRoPE or Leaky ReRoPE positions.

    https://kexue.fm/archives/9708 . q, k (..., L, d), v (..., L, d_v) -> (..., L, d_v).
    """
    Q, K, V = _qkv(q, k, v)
    logits = rerope_logits(Q, K, w, k_leaky, logn_train_len, base) / math.sqrt(Q.shape[-1])
    return _masked_softmax(logits) @ V


def window_mask(L: int, w: int) -> Array:
    """Boolean (L, L) mask of causal window attention: True where 0 ≤ i − j < w.

    https://kexue.fm/archives/9603
    """
    L, w = _count(L, "L"), _count(w, "w")
    r = np.subtract.outer(np.arange(L), np.arange(L))
    return (r >= 0) & (r < w)


def hwfa_layer_types(
    num_layers: int, n_full: int, placement: Literal["middle", "last"] = "middle"
) -> list[str]:
    """Layer kinds ("window" / "full") of an HWFA stack; "middle" puts full layers at ⌊k·L/(n_full+1)⌋.

    https://kexue.fm/archives/9731 . 0-based indices: one full layer at L//2, two at L//3 and 2L//3.
    "last" makes the last ``n_full`` layers full (original HWFA, https://kexue.fm/archives/9603).
    """
    num_layers = _count(num_layers, "num_layers")
    n_full = _count(n_full, "n_full", minimum=0)
    if n_full > num_layers:
        raise ValueError(f"n_full ({n_full}) cannot exceed num_layers ({num_layers})")
    if placement == "middle":
        full = {k * num_layers // (n_full + 1) for k in range(1, n_full + 1)}
        if len(full) != n_full:
            raise ValueError(f"cannot place {n_full} distinct full layers among {num_layers}")
    elif placement == "last":
        full = set(range(num_layers - n_full, num_layers))
    else:
        raise ValueError(f"placement must be 'middle' or 'last', got {placement!r}")
    return ["full" if n in full else "window" for n in range(num_layers)]


def hwfa_receptive_field(window: int, n_window_layers: int) -> int:
    """Receptive field (w̃ − 1)·L + 1 of L stacked causal window layers of width w̃.

    https://kexue.fm/archives/9603 (w̃ = 16, 23 layers: 346 ≤ 512).
    """
    return (_count(window, "window") - 1) * _count(n_window_layers, "n_window_layers", minimum=0) + 1


class HWFA:
    """Hybrid Window-Full Attention: window layers with RoPE plus full causal layers (NumPy forward).

    https://kexue.fm/archives/9731 (HWFA2), https://kexue.fm/archives/9603 (HWFA). Each layer is
    h ← h + softmax(a/√d_k) h W_v, single head, random weights ~ N(0, 1/d_model). Window layers: RoPE
    logits restricted to 0 ≤ i − j < ``window``. Full layers: causal, with log n scaling of q
    (max(1, log(i+1)/log ``train_len``)); ``full_position="nope"`` uses no position encoding (original
    HWFA); ``"rope"`` uses RoPE, replaced by ReRoPE with window ``rerope_w`` when ``inference=True``
    (HWFA2).
    """

    def __init__(
        self,
        d_model: int,
        num_layers: int,
        window: int,
        *,
        n_full: int = 1,
        placement: Literal["middle", "last"] = "last",
        full_position: Literal["nope", "rope"] = "nope",
        train_len: int = 512,
        rerope_w: int = 256,
        d_head: int | None = None,
        base: float = 10000.0,
        rng: RngLike = None,
    ) -> None:
        self.d_model = _count(d_model, "d_model")
        self.window = _count(window, "window")
        self.layer_types = hwfa_layer_types(num_layers, n_full, placement)
        if full_position not in ("nope", "rope"):
            raise ValueError(f"full_position must be 'nope' or 'rope', got {full_position!r}")
        self.full_position = full_position
        self.train_len = _count(train_len, "train_len", minimum=2)
        self.rerope_w = _count(rerope_w, "rerope_w")
        d_head = self.d_model if d_head is None else _count(d_head, "d_head")
        if d_head % 2:
            raise ValueError(f"d_head must be even for RoPE, got {d_head}")
        self.base = _positive(base, "base", minimum=1.0)
        gen = _rng(rng)
        sd = 1.0 / math.sqrt(self.d_model)
        self.weights = [
            (
                gen.normal(0, sd, (self.d_model, d_head)),
                gen.normal(0, sd, (self.d_model, d_head)),
                gen.normal(0, sd, (self.d_model, self.d_model)),
            )
            for _ in self.layer_types
        ]

    def __call__(self, x: npt.ArrayLike, inference: bool = False) -> Array:
        """Forward pass of x (L, d_model) -> (L, d_model); ``inference`` switches RoPE→ReRoPE (HWFA2)."""
        h = _array(x, "x")
        if h.ndim != 2 or h.shape[1] != self.d_model:
            raise ValueError(f"x must have shape (L, {self.d_model}), got {h.shape}")
        L = h.shape[0]
        pos = np.arange(L, dtype=np.float64)
        wmask = window_mask(L, self.window)
        causal = np.tril(np.ones((L, L), dtype=bool))
        for kind, (wq, wk, wv) in zip(self.layer_types, self.weights, strict=True):
            q, k = h @ wq, h @ wk
            if kind == "window":
                logits, allowed = _rope_logits(q, k, self.base), wmask
            else:
                q = q * _logn_factor(pos, self.train_len)[:, None]
                if self.full_position == "nope":
                    logits = q @ k.T
                elif inference:
                    logits = rerope_logits(q, k, self.rerope_w, base=self.base)
                else:
                    logits = _rope_logits(q, k, self.base)
                allowed = causal
            h = h + _masked_softmax(logits / math.sqrt(wq.shape[1]), allowed) @ (h @ wv)
        return h


# --------------------------------------------------------------------------------------------------
# B12. Completeness of RoPE


def _square(B: npt.ArrayLike, name: str = "B") -> Array:
    M = _array(B, name)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {M.shape}")
    return M


def _skew_error(M: Array) -> float:
    return float(np.max(np.abs(M + M.T)) / max(1.0, float(np.max(np.abs(M)))))


def rope_matrix(n: float, thetas: npt.ArrayLike) -> Array:
    """R_n = blockdiag(R_{nθ_0}, …), R_φ = [[cos φ, −sin φ], [sin φ, cos φ]]; (d, d) with d = 2·len(thetas).

    https://kexue.fm/archives/9403
    """
    th = _array(thetas, "thetas")
    _ndim(th, "thetas", 1)
    if th.size == 0:
        raise ValueError("thetas must not be empty")
    n_arr = _array(n, "n")
    if n_arr.ndim:
        raise ValueError("n must be a real scalar position")
    nv = float(n_arr)
    c, s = np.cos(nv * th), np.sin(nv * th)
    d = 2 * th.size
    R = np.zeros((d, d))
    e = np.arange(0, d, 2)
    R[e, e], R[e, e + 1], R[e + 1, e], R[e + 1, e + 1] = c, -s, s, c
    return R


def skew_to_block_diag(B: npt.ArrayLike) -> tuple[Array, Array]:
    """Real Schur form of a skew-symmetric B: B = P blockdiag(J_θ) Pᵀ, J_θ = [[0, −θ], [θ, 0]], θ ≥ 0.

    https://kexue.fm/archives/9403 . B (d, d), d even -> (P orthogonal (d, d), thetas (d/2,)).
    Zero eigenvalues (1×1 Schur blocks) are paired into J_0 blocks; a negative θ is made positive by
    swapping the pair's columns.
    """
    M = _square(B)
    d = M.shape[0]
    if d % 2:
        raise ValueError(f"B must have even order, got {d}")
    if _skew_error(M) > 1e-10:
        raise ValueError("B must be skew-symmetric (B^T = -B)")
    T, Z = scipy.linalg.schur(M, output="real")
    tol = 1e-12 * max(1.0, float(np.max(np.abs(M))))
    sub = np.abs(np.diag(T, -1)) > tol
    starts = np.flatnonzero(sub)  # first index of each 2x2 block
    covered = np.zeros(d, dtype=bool)
    covered[starts], covered[starts + 1] = True, True
    singles = np.flatnonzero(~covered)  # zero eigenvalues; an even number of them
    th = (T[starts + 1, starts] - T[starts, starts + 1]) / 2.0
    first = np.where(th >= 0, starts, starts + 1)
    second = np.where(th >= 0, starts + 1, starts)
    order = np.empty(d, dtype=np.intp)
    order[0 : 2 * starts.size : 2], order[1 : 2 * starts.size : 2] = first, second
    order[2 * starts.size :] = singles
    thetas = np.concatenate([np.abs(th), np.zeros(singles.size // 2)])
    return Z[:, order], thetas


def rope_general(
    B: npt.ArrayLike, n: float, method: Literal["expm", "schur"] = "expm", check: bool = True
) -> Array:
    """General RoPE R_n = exp(n·B) for a skew-symmetric generator B (then R_mᵀ R_n = R_{n−m}).

    https://kexue.fm/archives/9403 . ``method="schur"`` evaluates P·blockdiag(R_{nθ})·Pᵀ (exact trig,
    better for large n‖B‖). ``check=False`` accepts a non-skew B, for which the relative property fails.
    """
    M = _square(B)
    nv = _array(n, "n")
    if nv.ndim:
        raise ValueError("n must be a real scalar position")
    if check and _skew_error(M) > 1e-10:
        raise ValueError(
            "B must be skew-symmetric for R_n = exp(nB) to be a RoPE (pass check=False to override)"
        )
    if method == "expm":
        return scipy.linalg.expm(float(nv) * M)  # type: ignore[no-any-return]
    if method == "schur":
        P, thetas = skew_to_block_diag(M)
        return P @ rope_matrix(float(nv), thetas) @ P.T
    raise ValueError(f"method must be 'expm' or 'schur', got {method!r}")


def rope_multidim(generators: npt.ArrayLike, pos: npt.ArrayLike, check: bool = True) -> Array:
    """Multi-dimensional RoPE R_pos = exp(Σ_k pos_k B_k), e.g. R_{(x,y)} = exp(x B_1 + y B_2).

    https://kexue.fm/archives/9403 . generators (K, d, d), pos (K,). The relative property needs skew,
    pairwise commuting B_k; ``check`` (default) enforces both, ``check=False`` skips it.
    """
    G = _array(generators, "generators")
    if G.ndim != 3 or G.shape[1] != G.shape[2] or G.shape[0] == 0:
        raise ValueError(f"generators must have shape (K, d, d), got {G.shape}")
    p = _array(pos, "pos")
    if p.shape != (G.shape[0],):
        raise ValueError(f"pos must have shape ({G.shape[0]},), got {p.shape}")
    if check:
        if max(_skew_error(g) for g in G) > 1e-10:
            raise ValueError("every generator must be skew-symmetric")
        comm = np.einsum("aij,bjk->abik", G, G)
        comm = comm - np.swapaxes(comm, 0, 1)
        if np.max(np.abs(comm)) > 1e-10 * max(1.0, float(np.max(np.abs(G))) ** 2):
            raise ValueError("generators must commute pairwise (pass check=False to override)")
    return scipy.linalg.expm(np.tensordot(p, G, axes=1))  # type: ignore[no-any-return]


def check_relative_property(
    R_fn: Callable[[Any], npt.ArrayLike], m: npt.ArrayLike, n: npt.ArrayLike
) -> float:
    """Max-abs error of R_mᵀ R_n − R_{n−m} for a position-to-matrix map R_fn (0 for a valid RoPE).

    https://kexue.fm/archives/9403 . m, n are scalars or equal-length tuples (multi-dim positions).
    """
    ma, na = _array(m, "m"), _array(n, "n")
    if ma.shape != na.shape or ma.ndim > 1:
        raise ValueError("m and n must be scalars or 1-D positions of the same length")

    def as_pos(a: Array) -> Any:
        return float(a) if a.ndim == 0 else tuple(float(x) for x in a)

    Rm, Rn, Rd = (_square(R_fn(as_pos(p)), "R_fn(pos)") for p in (ma, na, na - ma))
    if not Rm.shape == Rn.shape == Rd.shape:
        raise ValueError("R_fn must return matrices of one shape")
    return float(np.max(np.abs(Rm.T @ Rn - Rd)))

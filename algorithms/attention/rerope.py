"""B11. RoPE rotation, ReRoPE and Leaky ReRoPE logits (two-matrix prefill, decode row, log n scaling) and
HWFA (window attention layers with full attention on top).

Articles: https://kexue.fm/archives/9731, https://kexue.fm/archives/9708, https://kexue.fm/archives/9603.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from algorithms._checks import RngLike, _array, _count, _rng
from algorithms.attention._common import Array, _masked_softmax, _ndim, _positive, _qkv

__all__ = [
    "HWFA",
    "hwfa_layer_types",
    "hwfa_receptive_field",
    "relative_position",
    "relative_position_matrix",
    "rerope_attention",
    "rerope_decode_logits",
    "rerope_logits",
    "rope_rotate",
    "rope_thetas",
    "window_mask",
]


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

"""A1. Entropy-invariant attention: the logit scale log_512(n)/√d, attention with that scale (per-query n
as a labelled extension) and the row entropy of an attention matrix.

Articles: https://kexue.fm/archives/8823, https://kexue.fm/archives/9034, https://kexue.fm/archives/9588.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from algorithms._checks import _array, _count
from algorithms.attention._common import Array, _masked_softmax, _positive, _qkv

__all__ = [
    "attention_entropy",
    "entropy_invariant_attention",
    "entropy_invariant_scale",
]


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
    return -np.sum(p * np.log(safe), axis=-1)

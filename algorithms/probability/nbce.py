"""A2. NBCE, naive-Bayes context extension: the naive-Bayes merge of per-context next-token
distributions (min-entropy pooling, top-p truncation, −∞ handling, switch penalty).

Articles: https://kexue.fm/archives/9617, https://kexue.fm/archives/9632.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from algorithms._checks import _array, _int_in
from algorithms.probability._common import Array, _log_softmax, _positive

__all__ = [
    "nbce_combine_logits",
    "top_p_truncate",
]


def _entropy_of_logp(logp: Array) -> Array:
    """-Σ p log p over the last axis with 0·log 0 = 0 (non-finite log-probs are masked)."""
    fin = np.isfinite(logp)
    lp = np.where(fin, logp, 0.0)
    return -np.sum(np.where(fin, np.exp(lp) * lp, 0.0), axis=-1)


def top_p_truncate(logprobs: npt.ArrayLike, top_p: float) -> Array:
    """Nucleus truncation of normalised log-probs (last axis), HF ``TopPLogitsWarper`` semantics.

    Sort ascending, drop every token whose ascending cumulative probability is ``<= 1 - top_p``
    (the most likely token always survives); dropped tokens become -inf, no renormalisation.
    https://kexue.fm/archives/9632
    """
    lp = _array(logprobs, "logprobs", min_ndim=1, neg_inf_ok=True)
    top_p = float(top_p)
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    order = np.argsort(lp, axis=-1, kind="stable")
    cum = np.cumsum(np.exp(np.take_along_axis(lp, order, axis=-1)), axis=-1)
    drop_sorted = cum <= 1.0 - top_p
    drop_sorted[..., -1] = False
    drop = np.empty_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=-1)
    return np.where(drop, -np.inf, lp)


def nbce_combine_logits(
    logits: npt.ArrayLike,
    beta: float = 0.25,
    pooling: Literal["min_entropy", "mean", "max"] = "min_entropy",
    top_p: float | None = None,
    prev_k: int | None = None,
    eta: float = 0.0,
) -> tuple[Array, int | None]:
    """NBCE: log p(T|S) = (β+1)·𝒫[log p(T|S_k)] − β·log p(T), renormalised (https://kexue.fm/archives/9617).

    ``logits`` is ``(n+1, V)``: row 0 the run without context, rows 1..n one context each.
    Rows are log-softmaxed, optionally top-p truncated; ``min_entropy`` pooling picks the row
    k* = argmin_k H_k (ties -> lowest k), with the context-switch penalty of /9632: H_{prev_k} − η.
    Where log p(T) = −inf the pooled value is used alone (/9632); where the pooled value is −inf the
    token stays excluded. Returns ``(log_softmax(merged), k*)`` (k* is 1-based; ``None`` for mean/max).
    """
    z = _array(logits, "logits", neg_inf_ok=True)
    if z.ndim != 2 or z.shape[0] < 2 or z.shape[1] < 1:
        raise ValueError(f"logits must have shape (n+1, V) with n >= 1, V >= 1; got {z.shape}")
    if not np.isfinite(z).any(axis=1).all():
        raise ValueError("every row of logits needs at least one finite entry")
    beta = float(beta)
    if not math.isfinite(beta) or beta < -1.0:
        raise ValueError(f"beta must be finite and >= -1, got {beta}")
    eta = _positive(eta, "eta", allow_zero=True)
    n = z.shape[0] - 1
    lp = _log_softmax(z)
    if top_p is not None:
        lp = top_p_truncate(lp, top_p)
    ctx = lp[1:]
    k: int | None = None
    if pooling == "min_entropy":
        H = _entropy_of_logp(ctx)
        if prev_k is not None:
            prev_k = _int_in(prev_k, "prev_k", 1, n)
            H[prev_k - 1] -= eta
        k = int(np.argmin(H)) + 1
        if prev_k is not None and H[prev_k - 1] <= H[k - 1]:
            k = prev_k  # switch only if some H_k < H_{k'} − η strictly
        pooled = ctx[k - 1]
    elif pooling == "mean":
        pooled = ctx.mean(axis=0)
    elif pooling == "max":
        pooled = ctx.max(axis=0)
    else:
        raise ValueError(f"pooling must be 'min_entropy', 'mean' or 'max', got {pooling!r}")
    l0 = lp[0]
    ok = np.isfinite(pooled) & np.isfinite(l0)
    merged = np.where(ok, (beta + 1.0) * np.where(ok, pooled, 0.0) - beta * np.where(ok, l0, 0.0), pooled)
    if not np.isfinite(merged).any():
        raise ValueError("every token was truncated away: the merged distribution is empty")
    return _log_softmax(merged), k

"""A7. CAN, classification with alternating normalisation: top-k uncertainty, the correction of
uncertain predictions against a class prior, and the prior's estimate from labels.

Article: https://kexue.fm/archives/8728.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from algorithms._checks import _int_in
from algorithms.probability._common import Array, _positive, _prob_rows

__all__ = [
    "can_correct_one",
    "can_postprocess",
    "estimate_prior",
    "topk_uncertainty",
]


def topk_uncertainty(P: npt.ArrayLike, k: int = 3, variant: Literal["su", "paper"] = "su") -> Array:
    """Top-k uncertainty U = −Σ_{i≤k} p̃_i log p̃_i / log k, p̃ = top-k renormalised (https://kexue.fm/archives/8728).

    ``variant='paper'``: −(1/log m) Σ_{i≤k} p_i log p_i without renormalisation (m = #classes).
    A ``k`` above the number of classes m is clamped to m, so the default k = 3 works for binary
    problems (the spec's multi-label CAN treats each label as a binary problem); both variants need
    m ≥ 2.
    """
    p = _prob_rows(P, "P")
    m = p.shape[-1]
    top = -np.sort(-p, axis=-1)
    if variant in ("su", "paper") and m < 2:
        raise ValueError(f"the top-k uncertainty needs at least 2 classes, got {m}")
    if variant == "su":
        k = min(_int_in(k, "k", 2), m)
        top = top[..., :k]
        q = top / top.sum(axis=-1, keepdims=True)
        return -special.xlogy(q, q).sum(axis=-1) / math.log(k)
    if variant == "paper":
        k = min(_int_in(k, "k", 1), m)
        top = top[..., :k]
        return -special.xlogy(top, top).sum(axis=-1) / math.log(m)
    raise ValueError(f"variant must be 'su' or 'paper', got {variant!r}")


def _can_prior(prior: npt.ArrayLike, m: int) -> Array:
    pr = _prob_rows(prior, "prior")
    if pr.shape != (m,):
        raise ValueError(f"prior must have shape ({m},), got {pr.shape}")
    if (pr <= 0).any():
        raise ValueError("prior must be strictly positive (smooth it, e.g. estimate_prior(..., smoothing=1))")
    return pr


def _can_iterate(Y: Array, prior: Array, alpha: float, iters: int) -> Array:
    """Alternate Y ← Y^α, column scaling to mean = prior (over axis -2), row normalisation."""
    for _ in range(iters):
        Y = Y**alpha
        col = Y.mean(axis=-2, keepdims=True)
        Y = Y / np.where(col > 0, col, 1.0) * prior
        Y = Y / Y.sum(axis=-1, keepdims=True)
    return Y


def _can_params(alpha: float, iters: int) -> tuple[float, int]:
    return _positive(alpha, "alpha"), _int_in(iters, "iters", 1)


def can_correct_one(
    P_conf: npt.ArrayLike,
    p: npt.ArrayLike,
    prior: npt.ArrayLike,
    alpha: float = 1.0,
    iters: int = 1,
    return_stack: bool = False,
) -> Array | tuple[Array, Array]:
    """CAN for one sample: stack [P_conf; p], repeat Y←Y^α, Y←Y/mean_rows(Y)·p̃, Y←Y/rowsum(Y) (https://kexue.fm/archives/8728).

    Returns the last row (and the whole final stack if ``return_stack``).
    """
    y = _prob_rows(p, "p")
    if y.ndim != 1:
        raise ValueError(f"p must be 1-D, got shape {y.shape}")
    m = y.size
    C = np.asarray(P_conf, dtype=float)
    C = np.zeros((0, m)) if C.size == 0 else _prob_rows(C, "P_conf", min_ndim=2)
    if C.ndim != 2 or C.shape[1] != m:
        raise ValueError(f"P_conf must have shape (n, {m}), got {C.shape}")
    pr = _can_prior(prior, m)
    alpha, iters = _can_params(alpha, iters)
    Y = _can_iterate(np.vstack([C, y]), pr, alpha, iters)
    return (Y[-1], Y) if return_stack else Y[-1]


def can_postprocess(
    P: npt.ArrayLike,
    prior: npt.ArrayLike,
    k: int = 3,
    tau: float = 0.9,
    alpha: float = 1.0,
    iters: int = 1,
    mode: Literal["per_sample", "batch"] = "per_sample",
) -> tuple[Array, Array]:
    """CAN post-processing: rows with U ≥ τ are corrected against the confident rows (https://kexue.fm/archives/8728).

    ``per_sample`` (default) corrects each uncertain row separately, always from the original
    confident rows; ``batch`` stacks all uncertain rows at once. Returns ``(P_new, uncertain_mask)``;
    confident rows are returned unchanged. ``k`` is clamped to the number of classes (binary
    problems work with the default k = 3).
    """
    Pm = _prob_rows(P, "P", min_ndim=2, renormalize=False)
    if Pm.ndim != 2:
        raise ValueError(f"P must have shape (N, m), got {Pm.shape}")
    m = Pm.shape[1]
    pr = _can_prior(prior, m)
    alpha, iters = _can_params(alpha, iters)
    tau = float(tau)
    if not math.isfinite(tau):
        raise ValueError("tau must be finite")
    unc = topk_uncertainty(Pm, k) >= tau
    out = Pm.copy()
    conf = Pm[~unc]
    idx = np.flatnonzero(unc)
    if idx.size == 0:
        return out, unc
    if mode == "batch":
        out[idx] = _can_iterate(np.vstack([conf, Pm[idx]]), pr, alpha, iters)[conf.shape[0] :]
    elif mode == "per_sample":
        chunk = max(1, 2**22 // ((conf.shape[0] + 1) * m))
        for s in range(0, idx.size, chunk):
            sel = idx[s : s + chunk]
            Y = np.concatenate([np.broadcast_to(conf, (sel.size, *conf.shape)), Pm[sel][:, None, :]], axis=1)
            out[sel] = _can_iterate(Y, pr, alpha, iters)[:, -1]
    else:
        raise ValueError(f"mode must be 'per_sample' or 'batch', got {mode!r}")
    return out, unc


def estimate_prior(labels: npt.ArrayLike, m: int, smoothing: float = 0.0) -> Array:
    """Class prior p̃_c = (count_c + s) / (N + m·s) from integer labels in [0, m)."""
    m = _int_in(m, "m", 1)
    lab = np.asarray(labels)
    if lab.size == 0:
        lab = lab.astype(int)
    if lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError("labels must be a 1-D integer array")
    if lab.size and (lab.min() < 0 or lab.max() >= m):
        raise ValueError(f"labels must lie in [0, {m})")
    s = _positive(smoothing, "smoothing", allow_zero=True)
    counts = np.bincount(lab, minlength=m) + s
    if counts.sum() <= 0:
        raise ValueError("no labels and no smoothing: the prior is undefined")
    return counts / counts.sum()

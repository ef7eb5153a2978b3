"""Probability: NBCE, CAN, entropy normalisation, noise-argmax distributions, smooth Top-k, Fourier densities.

Sections of the library's specification, with the articles they implement:

* A2  NBCE, naive-Bayes context extension (https://kexue.fm/archives/9617, /9632);
* A7  CAN, classification with alternating normalisation (https://kexue.fm/archives/8728);
* A8  entropy normalisation by a power transform (https://kexue.fm/archives/8829);
* A10 discrete distributions from reparameterisation (https://kexue.fm/archives/9085);
* A11 smooth approximations of Top-k (https://kexue.fm/archives/10373);
* B5  the Fourier basis density model (https://kexue.fm/archives/10007).

Conventions: float64; the category axis is the last one and leading axes are batch axes unless a
function says otherwise; ``log`` is natural. Invalid input raises ``ValueError``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from algorithms._checks import RngLike, _array, _int_in, _n_samples, _rng

__all__ = [
    "FourierBasisDensity",
    "can_correct_one",
    "can_postprocess",
    "entropy_normalize",
    "estimate_prior",
    "hard_topk",
    "nbce_combine_logits",
    "noise_argmax_probs",
    "noise_argmax_probs_mc",
    "power_entropy",
    "power_entropy_slope",
    "soft_topk_grad",
    "soft_topk_iterative",
    "soft_topk_sigmoid_jacobian",
    "soft_topk_threshold",
    "soft_topk_weighted_softmax",
    "top_p_truncate",
    "topk_uncertainty",
]

Array = npt.NDArray[Any]

# --------------------------------------------------------------------------------------------------
# validation and numerical helpers (private)


def _positive(v: Any, name: str, *, allow_zero: bool = False) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real number") from exc
    if not math.isfinite(f) or f < 0 or (f == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {v!r}")
    return f


def _prob_rows(
    p: npt.ArrayLike, name: str, *, min_ndim: int = 1, atol: float = 1e-6, renormalize: bool = True
) -> Array:
    """Probability vectors on the last axis: finite, non-negative, summing to 1 (then renormalised)."""
    a = _array(p, name, min_ndim=min_ndim)
    if a.shape[-1] == 0:
        raise ValueError(f"{name} has an empty last axis (no categories)")
    if (a < 0).any():
        raise ValueError(f"{name} has negative probabilities")
    s = a.sum(axis=-1, keepdims=True)
    if not np.allclose(s, 1.0, rtol=0, atol=atol):
        raise ValueError(f"{name} rows must sum to 1 (within {atol})")
    return a / s if renormalize else a


def _log_softmax(z: Array) -> Array:
    """log_softmax over the last axis; rows must contain a finite entry."""
    return z - special.logsumexp(z, axis=-1, keepdims=True)


def _softmax(z: Array) -> Array:
    return np.exp(_log_softmax(z))


def _entropy_of_logp(logp: Array) -> Array:
    """-Σ p log p over the last axis with 0·log 0 = 0 (non-finite log-probs are masked)."""
    fin = np.isfinite(logp)
    lp = np.where(fin, logp, 0.0)
    return -np.sum(np.where(fin, np.exp(lp) * lp, 0.0), axis=-1)


# --------------------------------------------------------------------------------------------------
# A2. NBCE


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


# --------------------------------------------------------------------------------------------------
# A7. CAN


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


# --------------------------------------------------------------------------------------------------
# A8. Entropy normalisation


def _power_family(logp: Array, G: Array) -> tuple[Array, Array, Array]:
    """For q ∝ p^Γ on the support: (q, H(q), Var_q[log p]); ``logp`` is -inf off the support."""
    sup = np.isfinite(logp)
    lpf = np.where(sup, logp - np.max(logp, axis=-1, keepdims=True), 0.0)  # shift first: Γ·lp stays O(ΓΔ)
    z = np.where(sup, G[..., None] * lpf, -np.inf)
    lq = _log_softmax(z)
    q = np.exp(lq)
    H = -np.sum(np.where(sup, q * np.where(sup, lq, 0.0), 0.0), axis=-1)
    mean = np.sum(q * lpf, axis=-1)
    var = np.maximum(np.sum(q * (lpf - mean[..., None]) ** 2, axis=-1), 0.0)
    return q, H, var


def _log_support(p: Array) -> Array:
    with np.errstate(divide="ignore"):
        return np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -np.inf)


def power_entropy(p: npt.ArrayLike, gamma: npt.ArrayLike) -> Array:
    """H_γ = log Σ p_i^γ − γ Σ p_i^γ log p_i / Σ p_i^γ, the entropy of p^γ/Σp^γ (https://kexue.fm/archives/8829)."""
    pp = _prob_rows(p, "p")
    g = _array(gamma, "gamma")
    g = np.broadcast_to(g, pp.shape[:-1]).astype(float)
    return _power_family(_log_support(pp), g)[1]


def power_entropy_slope(p: npt.ArrayLike, gamma: npt.ArrayLike) -> Array:
    """dH_γ/dγ = −γ·Var_{p^γ}[log p]; at γ = 1 it is H² − Σ p (log p)² (https://kexue.fm/archives/8829)."""
    pp = _prob_rows(p, "p")
    g = np.broadcast_to(_array(gamma, "gamma"), pp.shape[:-1]).astype(float)
    return -g * _power_family(_log_support(pp), g)[2]


def entropy_normalize(
    p: npt.ArrayLike,
    target_H: npt.ArrayLike,
    max_iter: int = 50,
    tol: float = 1e-10,
    method: Literal["newton_safe", "newton_plain", "bisect"] = "newton_safe",
) -> tuple[Array, Any, Any]:
    """p̃ = p^Γ / Σ p^Γ with Γ chosen so that H(p̃) = H* (https://kexue.fm/archives/8829).

    ``newton_safe`` (default): Newton on the cumulative exponent Γ, falling back to bisection on a
    bracket [lo, hi] whenever the step leaves the bracket or does not reduce |H − H*| (⚠ the
    article's plain Newton can step to γ ≤ 0, reverse the order and diverge). ``newton_plain`` is
    the article's literal iteration γ = 1 + (H*−H)/(H² − Σ p log²p), p ← p^γ/Σp^γ, kept for
    comparison (it can return NaN). ``bisect``: bisection only.
    Zeros stay zero; H* must lie in (log #argmax, log #support]; H* = log #support gives Γ = 0.
    Returns ``(p_new, Gamma, n_iter)`` (scalars for a 1-D ``p``, arrays over the batch otherwise).
    Safe methods raise ``RuntimeError`` if |H − H*| ≥ tol after ``max_iter`` steps.
    """
    pp = _prob_rows(p, "p")
    batch = pp.shape[:-1]
    t = _array(target_H, "target_H")
    try:
        t = np.broadcast_to(t, batch).astype(float)
    except ValueError as exc:
        raise ValueError(f"target_H of shape {t.shape} does not broadcast to {batch}") from exc
    max_iter = _int_in(max_iter, "max_iter", 1)
    tol = _positive(tol, "tol")
    if method not in ("newton_safe", "newton_plain", "bisect"):
        raise ValueError(f"method must be 'newton_safe', 'newton_plain' or 'bisect', got {method!r}")
    logp = _log_support(pp)
    h_max = np.log(np.sum(pp > 0, axis=-1))
    h_min = np.log(np.sum(pp == pp.max(axis=-1, keepdims=True), axis=-1))
    at_max = np.abs(t - h_max) <= tol
    if (t > h_max + tol).any():
        raise ValueError("target_H exceeds log(#support), the largest attainable entropy")
    if ((t <= h_min) & ~at_max).any():
        raise ValueError(
            "target_H must exceed log(#entries equal to the max) (0 for a unique max): "
            "the power transform cannot go below it (a uniform p cannot be changed at all)"
        )
    G = np.ones(batch)
    n_iter = np.zeros(batch, dtype=int)
    if method == "newton_plain":
        q = pp.copy()
        with np.errstate(all="ignore"):
            for _ in range(max_iter):
                lq = np.where(q > 0, np.log(np.where(q > 0, q, 1.0)), 0.0)
                H = -np.sum(q * lq, axis=-1)
                act = ~(np.abs(H - t) < tol) & ~at_max
                if not act.any():
                    break
                gam = 1.0 + (t - H) / (H**2 - np.sum(q * lq**2, axis=-1))
                gam = np.where(act, gam, 1.0)
                qg = np.where(q > 0, q ** gam[..., None], 0.0)
                q = np.where(act[..., None], qg / qg.sum(axis=-1, keepdims=True), q)
                G = G * gam
                n_iter += act
        p_new = q
    else:
        _, H, var = _power_family(logp, G)
        lo = np.zeros(batch)
        hi = np.ones(batch)
        for _ in range(2100):  # grow hi until H(hi) < H*; terminates because H(∞) = log #argmax < H*
            grow = (_power_family(logp, hi)[1] >= t) & ~at_max
            if not grow.any():
                break
            hi = np.where(grow, 2.0 * hi, hi)
        lo = np.where(H > t, G, lo)
        hi = np.where(H > t, hi, G)
        for _ in range(max_iter):
            err = H - t
            act = (np.abs(err) >= tol) & ~at_max
            if not act.any():
                break
            ok = np.zeros(batch, dtype=bool)
            if method == "newton_safe":
                with np.errstate(divide="ignore", invalid="ignore"):
                    G_new = G + err / (G * var)
                ok = act & np.isfinite(G_new) & (G_new > lo) & (G_new < hi)
                G_new = np.where(ok, G_new, G)
                H_new = _power_family(logp, G_new)[1]
                ok &= np.abs(H_new - t) < np.abs(err)
            G_next = np.where(ok, G_new if method == "newton_safe" else G, 0.5 * (lo + hi))
            G_next = np.where(act, G_next, G)
            _, H_next, var_next = _power_family(logp, G_next)
            lo = np.where(act & (H_next > t), G_next, lo)
            hi = np.where(act & (H_next <= t), G_next, hi)
            G, H, var = G_next, H_next, var_next
            n_iter += act
        if ((np.abs(H - t) >= tol) & ~at_max).any():
            raise RuntimeError(f"entropy_normalize did not reach tol={tol} in {max_iter} iterations")
        p_new = _power_family(logp, G)[0]
    G = np.where(at_max, 0.0, G)
    p_new = np.where(at_max[..., None], _power_family(logp, np.zeros(batch))[0], p_new)
    if pp.ndim == 1:
        return p_new, float(G), int(n_iter)
    return p_new, G, n_iter


# --------------------------------------------------------------------------------------------------
# A10. Discrete distributions from reparameterisation


def _gumbel_logcdf(x: Array) -> Array:
    return -np.exp(-x)


def _logistic_logcdf(x: Array) -> Array:
    return -np.logaddexp(0.0, -x)


def _uniform_logcdf(x: Array) -> Array:
    c = np.clip(x, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return np.log(c)


def _gumbel_ppf(t: Array) -> Array:
    return -np.log(-np.log(t))


_NOISES: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "gumbel": (_gumbel_logcdf, _gumbel_ppf),
    "normal": (special.log_ndtr, special.ndtri),
    "logistic": (_logistic_logcdf, special.logit),
    "uniform": (_uniform_logcdf, lambda t: np.asarray(t, dtype=float)),
}


def _noise(noise: Any) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
    if isinstance(noise, str):
        if noise not in _NOISES:
            raise ValueError(f"noise must be one of {sorted(_NOISES)} or a (cdf, ppf) pair, got {noise!r}")
        return _NOISES[noise]
    if isinstance(noise, tuple) and len(noise) == 2 and all(callable(f) for f in noise):
        cdf, ppf = noise

        def logcdf(x: Array) -> Array:
            c = np.asarray(cdf(x), dtype=float)
            if np.isnan(c).any() or (c < 0).any() or (c > 1).any():
                raise ValueError("the noise cdf returned values outside [0, 1]")
            with np.errstate(divide="ignore"):
                return np.log(c)

        return logcdf, ppf
    raise ValueError("noise must be a name or a (cdf, ppf) pair of callables")


def noise_argmax_probs(
    mu: npt.ArrayLike,
    noise: Any = "gumbel",
    K: int = 1000,
    renormalize: bool = False,
) -> Array:
    """p_i = P[argmax(μ+ε) = i] ≈ (1/K) Σ_k Π_{j≠i} Φ(μ_i − μ_j + Φ⁻¹(k/(K+1))) (https://kexue.fm/archives/9085).

    ``noise``: 'gumbel' (exactly softmax in the limit), 'normal', 'logistic', 'uniform' (U[0,1]) or a
    ``(cdf, ppf)`` pair. The product is taken in log space; K is chunked to bound memory.
    The equispaced rule misses O(1/K) tail mass (the sum is ≈ 1 − (n−2)/(2K)); ``renormalize=True``
    rescales to sum 1 (the per-entry error stays O(1/K)).
    """
    m = _array(mu, "mu", min_ndim=1)
    n = m.shape[-1]
    if n == 0:
        raise ValueError("mu has an empty last axis")
    K = _int_in(K, "K", 1)
    logcdf, ppf = _noise(noise)
    q = np.asarray(ppf(np.arange(1, K + 1) / (K + 1)), dtype=float)
    if q.shape != (K,) or not np.isfinite(q).all():
        raise ValueError("the noise ppf must return finite quantiles in (0, 1)")
    diff = m[..., :, None] - m[..., None, :]
    eye = np.eye(n, dtype=bool)[..., None]
    total = np.zeros(m.shape)
    batch = max(1, m.size // n)
    chunk = max(1, 2**22 // (batch * n * n))
    for s in range(0, K, chunk):
        lf = np.where(eye, 0.0, logcdf(diff[..., None] + q[s : s + chunk]))
        total += np.exp(lf.sum(axis=-2)).sum(axis=-1)
    p = total / K
    if renormalize:
        p = p / p.sum(axis=-1, keepdims=True)
    return p


def noise_argmax_probs_mc(
    mu: npt.ArrayLike, noise: Any = "gumbel", n_samples: int = 100_000, rng: RngLike = None
) -> Array:
    """Monte-Carlo estimate of P[argmax(μ+ε) = i] with ε drawn i.i.d. (https://kexue.fm/archives/9085)."""
    m = _array(mu, "mu", min_ndim=1)
    n = m.shape[-1]
    if n == 0:
        raise ValueError("mu has an empty last axis")
    n_samples = _n_samples(n_samples)
    rng = _rng(rng)
    draw: Callable[[tuple[int, ...]], Array]
    if noise == "gumbel":
        draw = lambda shape: rng.gumbel(size=shape)  # noqa: E731
    elif noise == "normal":
        draw = lambda shape: rng.standard_normal(shape)  # noqa: E731
    elif noise == "logistic":
        draw = lambda shape: rng.logistic(size=shape)  # noqa: E731
    elif noise == "uniform":
        draw = lambda shape: rng.random(shape)  # noqa: E731
    else:
        _, ppf = _noise(noise)
        draw = lambda shape: np.asarray(ppf(rng.random(shape)), dtype=float)  # noqa: E731
    counts = np.zeros(m.shape)
    chunk = max(1, 2**21 // m.size)
    for s in range(0, n_samples, chunk):
        b = min(chunk, n_samples - s)
        win = np.argmax(m + draw((b, *m.shape)), axis=-1)
        counts += (win[..., None] == np.arange(n)).sum(axis=0)
    return counts / n_samples


# --------------------------------------------------------------------------------------------------
# A11. Smooth approximations of Top-k


def _topk_input(x: npt.ArrayLike, k: int, tau: float) -> tuple[Array, int]:
    a = _array(x, "x", min_ndim=1)
    n = a.shape[-1]
    if n == 0:
        raise ValueError("x has an empty last axis")
    k = _int_in(k, "k", 0, n)
    return a / _positive(tau, "tau"), k


def hard_topk(x: npt.ArrayLike, k: int) -> Array:
    """Multi-hot 𝒯_k(x) of the k largest entries (ties -> lower index), e.g. 𝒯_2([3,2,1,4]) = [1,0,0,1] (https://kexue.fm/archives/10373)."""
    a, k = _topk_input(x, k, 1.0)
    order = np.argsort(-a, axis=-1, kind="stable")
    out = np.zeros_like(a)
    np.put_along_axis(out, order[..., :k], 1.0, axis=-1)
    return out


def soft_topk_iterative(x: npt.ArrayLike, k: int, tau: float = 1.0) -> Array:
    """Su's iterative soft-k-max: x ← x − min x; k times p ← p + softmax((1−p)⊙x) (https://kexue.fm/archives/10373).

    Σp = k exactly; k = n returns all ones directly (the iteration itself does not).
    """
    a, k = _topk_input(x, k, tau)
    if k == a.shape[-1]:
        return np.ones_like(a)
    a = a - a.min(axis=-1, keepdims=True)
    p = np.zeros_like(a)
    for _ in range(k):
        p = p + _softmax((1.0 - p) * a)
    return p


def soft_topk_weighted_softmax(x: npt.ArrayLike, k: int, tau: float = 1.0) -> Array:
    """NEGATIVE EXAMPLE: k times p ← p + (1−p)e^x / Σ(1−p)e^x; wrong τ→0 limit (1.5, 0.5 for k=2) (https://kexue.fm/archives/10373).

    Kept only to document the failure; for k ≥ 3 the weights 1 − p can even turn negative.
    """
    a, k = _topk_input(x, k, tau)
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    p = np.zeros_like(a)
    for _ in range(k):
        w = (1.0 - p) * e
        p = p + w / w.sum(axis=-1, keepdims=True)
    return p


def _log_esp_table(x: Array, kmax: int) -> Array:
    """T[..., i, j] = log e_j(x_0..x_{i−1}) for i = 0..n, j = 0..kmax (log-space DP, no cancellation)."""
    n = x.shape[-1]
    T = np.full((*x.shape[:-1], n + 1, kmax + 1), -np.inf)
    T[..., :, 0] = 0.0
    for i in range(n):  # recurrence over elements; vectorised over batch and degree
        T[..., i + 1, 1:] = np.logaddexp(T[..., i, 1:], T[..., i, :-1] + x[..., i, None])
    return T


def _soft_topk_esp(a: Array, k: int) -> Array:
    n = a.shape[-1]
    pre = _log_esp_table(a, k)  # pre[i, j] = log e_j(x_<i)
    suf = _log_esp_table(a[..., ::-1], k)[..., ::-1, :]  # suf[i, j] = log e_j(x_≥i)
    # log e_{k−1}(x_{−i}) = logsumexp_j pre[i, j] + suf[i+1, k−1−j]
    loo = special.logsumexp(pre[..., :n, :k] + suf[..., 1:, :k][..., ::-1], axis=-1)
    return np.exp(a + loo - pre[..., n, k, None])


def _soft_topk_recursion(a: Array, k: int) -> Array:
    logZi = a.copy()
    logZ = special.logsumexp(a, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for t in range(2, k + 1):
            diff = np.exp(logZ)[..., None] - np.exp(logZi)  # article: Z_{k−1} − Z_{k−1,i}, cancels
            logZi = a + np.log(np.maximum(diff, 0.0))
            logZ = special.logsumexp(logZi, axis=-1) - math.log(t)
        return np.exp(logZi - logZ[..., None])


def _soft_topk_bruteforce(a: Array, k: int) -> Array:
    n = a.shape[-1]
    if math.comb(n, k) > 2_000_000:
        raise ValueError(f"bruteforce would enumerate C({n},{k}) > 2e6 subsets")
    combos = np.array(list(itertools.combinations(range(n), k)), dtype=int).reshape(-1, k)
    member = np.zeros((combos.shape[0], n))
    np.put_along_axis(member, combos, 1.0, axis=1)
    s = a[..., combos].sum(axis=-1)
    w = np.exp(s - special.logsumexp(s, axis=-1, keepdims=True))
    return w @ member


def soft_topk_grad(
    x: npt.ArrayLike, k: int, tau: float = 1.0, method: Literal["esp", "recursion", "bruteforce"] = "esp"
) -> Array:
    """GradTopK: ST_k(x)_i = e^{x_i} e_{k−1}(e^{x_{−i}}) / e_k(e^x) = ∂ log e_k(e^x)/∂x_i (https://kexue.fm/archives/10373).

    ``esp`` (default): log-space prefix/suffix DPs of the elementary symmetric polynomials, O(nk).
    ``recursion``: the article's Z_{k,i} = e^{x_i}(Z_{k−1} − Z_{k−1,i}) (⚠ cancels catastrophically
    for large-variance x or large k). ``bruteforce``: all C(n,k) subsets, for tests.
    """
    a, k = _topk_input(x, k, tau)
    n = a.shape[-1]
    if k == 0:
        return np.zeros_like(a)
    if k == n:
        return np.ones_like(a)
    if method == "esp":
        return _soft_topk_esp(a, k)
    if method == "recursion":
        return _soft_topk_recursion(a, k)
    if method == "bruteforce":
        return _soft_topk_bruteforce(a, k)
    raise ValueError(f"method must be 'esp', 'recursion' or 'bruteforce', got {method!r}")


def _thre_exp(a: Array, k: int) -> Array:
    s = -np.sort(-a, axis=-1)
    tail = np.logaddexp.accumulate(s[..., ::-1], axis=-1)[..., ::-1]  # log Σ_{i≥m} e^{s_i}
    ms = np.arange(k)
    lam = tail[..., :k] - np.log(k - ms)
    tol = 1e-12 * np.maximum(1.0, np.abs(lam))
    upper = np.where(ms == 0, np.inf, s[..., np.maximum(ms - 1, 0)])
    valid = (upper >= lam - tol) & (lam >= s[..., ms] - tol)
    return np.take_along_axis(lam, np.argmax(valid, axis=-1)[..., None], axis=-1)[..., 0]


def _thre_smooth_exp(a: Array, k: int) -> Array:
    n = a.shape[-1]
    s = -np.sort(-a, axis=-1)
    ninf = np.full((*a.shape[:-1], 1), -np.inf)
    logB = np.concatenate([np.logaddexp.accumulate(s[..., ::-1], axis=-1)[..., ::-1], ninf], axis=-1)
    logA = np.concatenate([ninf, np.logaddexp.accumulate(-s, axis=-1)], axis=-1)
    ms = np.arange(n + 1)
    c = k - ms
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(np.abs(c).astype(float))
        logAB = logA + logB
        D = 0.5 * np.logaddexp(2.0 * logc, logAB)  # log √(c² + AB)
        logden = np.where(c >= 0, np.logaddexp(logc, D), logAB - np.logaddexp(logc, D))
        lam = logB - logden
        lam[..., n] = math.log(2.0 * (n - k)) - logA[..., n]  # every entry above λ (B = 0)
    tol = 1e-12 * np.maximum(1.0, np.abs(lam))
    upper = np.where(ms == 0, np.inf, s[..., np.maximum(ms - 1, 0)])
    lower = np.where(ms == n, -np.inf, s[..., np.minimum(ms, n - 1)])
    valid = (upper >= lam - tol) & (lam >= lower - tol) & np.isfinite(lam)
    return np.take_along_axis(lam, np.argmax(valid, axis=-1)[..., None], axis=-1)[..., 0]


def _thre_sigmoid(a: Array, k: int) -> Array:
    n = a.shape[-1]
    c = math.log(k / (n - k))
    lo = a.min(axis=-1) - c
    hi = a.max(axis=-1) - c
    lo0, hi0 = lo.copy(), hi.copy()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        above = special.expit(a - mid[..., None]).sum(axis=-1) > k
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
        if np.all(hi - lo <= 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(mid))):
            break
    lam = 0.5 * (lo + hi)
    for _ in range(2):  # Newton polish, kept inside the original bracket
        f = special.expit(a - lam[..., None])
        F = f.sum(axis=-1) - k
        new = lam + F / (f * (1 - f)).sum(axis=-1)
        f_new = special.expit(a - new[..., None]).sum(axis=-1) - k
        good = (new >= lo0) & (new <= hi0) & (np.abs(f_new) < np.abs(F))
        lam = np.where(good, new, lam)
    return lam


def _f_apply(a: Array, lam: Array, f: str) -> Array:
    z = a - lam[..., None]
    if f == "exp":
        return np.exp(np.minimum(z, 0.0))
    if f == "sigmoid":
        return special.expit(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 - 0.5 * e, 0.5 * e)


def soft_topk_threshold(
    x: npt.ArrayLike,
    k: int,
    tau: float = 1.0,
    f: Literal["exp", "sigmoid", "smooth_exp"] = "exp",
    return_lambda: bool = False,
) -> Array | tuple[Array, Array]:
    """ThreTopK: ST_k(x) = f(x − λ(x)) with λ solving Σ_i f(x_i − λ) = k (https://kexue.fm/archives/10373).

    ``f='exp'``: f = min(1, e^z), closed form λ_m = log Σ_{i>m} e^{x_(i)} − log(k−m) (k=1: softmax).
    ``f='sigmoid'``: bisection plus a guarded Newton polish (no closed form; not softmax at k=1).
    ``f='smooth_exp'``: f = e^z/2 (z<0), 1 − e^{−z}/2 (z≥0), closed form
    λ_m = log B_m − log(√((k−m)² + A_m B_m) + k − m); ⚠ equals softmax at k = 1 only if max softmax ≤ 1/2.
    λ is in units of x/τ; k = 0 gives zeros (λ = +inf), k = n ones (λ = −inf).
    """
    a, k = _topk_input(x, k, tau)
    n = a.shape[-1]
    if f not in ("exp", "sigmoid", "smooth_exp"):
        raise ValueError(f"f must be 'exp', 'sigmoid' or 'smooth_exp', got {f!r}")
    if k in (0, n):
        lam = np.full(a.shape[:-1], np.inf if k == 0 else -np.inf)
        p = np.full_like(a, 0.0 if k == 0 else 1.0)
    else:
        lam = {"exp": _thre_exp, "sigmoid": _thre_sigmoid, "smooth_exp": _thre_smooth_exp}[f](a, k)
        p = _f_apply(a, lam, f)
    return (p, lam) if return_lambda else p


def soft_topk_sigmoid_jacobian(x: npt.ArrayLike, k: int, tau: float = 1.0) -> tuple[Array, Array]:
    """σ-ThreTopK derivatives: ∂λ/∂x = s/Σs, J = ∂p/∂x = diag(s) − s sᵀ/Σs, s = σ'(x−λ) (https://kexue.fm/archives/10373).

    Returns ``(J[..., n, n], dlambda_dx[..., n])`` with respect to the unscaled x (both carry 1/τ;
    for τ = 1 the rows of ∂λ/∂x sum to 1). Requires 0 < k < n.
    """
    a, k = _topk_input(x, k, tau)
    n = a.shape[-1]
    if not 0 < k < n:
        raise ValueError(f"the sigmoid Jacobian needs 0 < k < n, got k={k}, n={n}")
    tau = float(tau)
    p, _lam = soft_topk_threshold(a, k, f="sigmoid", return_lambda=True)
    s = p * (1.0 - p)
    S = s.sum(axis=-1, keepdims=True)
    J = (np.einsum("...i,ij->...ij", s, np.eye(n)) - s[..., :, None] * s[..., None, :] / S[..., None]) / tau
    return J, s / S / tau


# --------------------------------------------------------------------------------------------------
# B5. Fourier basis density model


def _log_sech2(z: Array) -> Array:
    az = np.abs(z)
    return 2.0 * (math.log(2.0) - az - np.log1p(np.exp(-2.0 * az)))


class FourierBasisDensity:
    """Fourier basis density: p(x) = |Σ_k a_k e^{−iπkx}|² / (2Σ|a_k|²) on [−1,1], y = μ + σ·artanh x (https://kexue.fm/archives/10007).

    Equivalently p = Re[½ + Σ_{n=1}^N (c_n/c_0) e^{iπnx}] with c_n = Σ_k a_k conj(a_{k+n}) (an
    autocorrelation, so p ≥ 0 and ∫p = 1). ``*_unit`` methods work on x ∈ [−1,1]; ``logpdf``,
    ``pdf``, ``cdf`` and ``sample`` work on y ∈ ℝ through x = tanh((y−μ)/σ).
    """

    def __init__(self, a: npt.ArrayLike = (1.0,), mu: float = 0.0, sigma: float = 1.0) -> None:
        arr = np.asarray(a)
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
            raise ValueError("a must be a non-empty 1-D numeric array of N+1 coefficients")
        arr = arr.astype(complex)
        if not np.isfinite(arr).all():
            raise ValueError("a must be finite")
        if not np.any(arr != 0):
            raise ValueError("a must not be all zero")
        mu_f = float(mu)
        if not math.isfinite(mu_f):
            raise ValueError("mu must be finite")
        self.a: Array = arr
        self.mu = mu_f
        self.sigma = _positive(sigma, "sigma")

    @property
    def N(self) -> int:
        return self.a.size - 1

    @staticmethod
    def autocorrelation(a: npt.ArrayLike) -> Array:
        """c_n = Σ_{k=0}^{N−n} a_k conj(a_{k+n}) for n = 0..N."""
        a = np.asarray(a, dtype=complex)
        M = a.size
        padded = np.concatenate([a, np.zeros(M, dtype=complex)])
        win = np.lib.stride_tricks.sliding_window_view(np.conj(padded), M)[:M]  # win[n, k] = conj(a_{n+k})
        return win @ a

    @property
    def c(self) -> Array:
        return self.autocorrelation(self.a)

    def _unit(self, x: npt.ArrayLike) -> Array:
        xx = _array(x, "x")
        if (np.abs(xx) > 1).any():
            raise ValueError("x must lie in [-1, 1]")
        return xx

    def _g(self, x: Array) -> Array:
        return np.einsum("...k,k->...", np.exp(-1j * np.pi * x[..., None] * np.arange(self.N + 1)), self.a)

    def pdf_unit(self, x: npt.ArrayLike, form: Literal["modulus", "series"] = "modulus") -> Array:
        """p(x) on [−1,1]; ``form='series'`` evaluates Re[½ + Σ (c_n/c_0) e^{iπnx}] instead of |g|²/(2c_0)."""
        xx = self._unit(x)
        c = self.c
        if form == "modulus":
            return np.abs(self._g(xx)) ** 2 / (2.0 * c[0].real)
        if form == "series":
            n = np.arange(1, self.N + 1)
            return 0.5 + np.real(
                np.einsum("...n,n->...", np.exp(1j * np.pi * xx[..., None] * n), c[1:] / c[0].real)
            )
        raise ValueError(f"form must be 'modulus' or 'series', got {form!r}")

    def logpdf_unit(self, x: npt.ArrayLike) -> Array:
        """log p(x) = log|Σ_k a_k e^{−iπkx}|² − log(2Σ|a_k|²) (1e-300 guards the log)."""
        xx = self._unit(x)
        return np.log(np.abs(self._g(xx)) ** 2 + 1e-300) - math.log(2.0 * float(np.sum(np.abs(self.a) ** 2)))

    def cdf_unit(self, x: npt.ArrayLike) -> Array:
        """Φ(x) = (x+1)/2 + Re Σ_n (c_n/c_0)(e^{iπnx} − (−1)ⁿ)/(iπn).

        ⚠ Corrected form; the article prints a leading term (x²−1)/2, which is not a CDF.
        """
        xx = self._unit(x)
        c = self.c
        n = np.arange(1, self.N + 1)
        terms = (np.exp(1j * np.pi * xx[..., None] * n) - (-1.0) ** n) / (1j * np.pi * n)
        return np.clip(
            (xx + 1.0) / 2.0 + np.real(np.einsum("...n,n->...", terms, c[1:] / c[0].real)), 0.0, 1.0
        )

    def roughness(self, of: Literal["p", "f"] = "p") -> float:
        """∫|p'|² = π² Σ_{n≥1} n²|c_n/c_0|² (``of='p'``) or the article's ∫|f'|² = 4π² Σ_{n≥1} n²|c_n|²."""
        c = self.c
        n = np.arange(1, self.N + 1)
        if of == "p":
            return float(np.pi**2 * np.sum(n**2 * np.abs(c[1:] / c[0].real) ** 2))
        if of == "f":
            return float(4 * np.pi**2 * np.sum(n**2 * np.abs(c[1:]) ** 2))
        raise ValueError(f"of must be 'p' or 'f', got {of!r}")

    # ----- y-space ---------------------------------------------------------------------------------

    def logpdf(self, y: npt.ArrayLike) -> Array:
        """log q(y) = log p(tanh z) + log sech² z − log σ, z = (y−μ)/σ."""
        z = (_array(y, "y") - self.mu) / self.sigma
        return self.logpdf_unit(np.tanh(z)) + _log_sech2(z) - math.log(self.sigma)

    def pdf(self, y: npt.ArrayLike) -> Array:
        return np.exp(self.logpdf(y))

    def cdf(self, y: npt.ArrayLike) -> Array:
        return self.cdf_unit(np.tanh((_array(y, "y") - self.mu) / self.sigma))

    def sample(self, n_samples: int | None = None, rng: RngLike = None, *, size: int | None = None) -> Array:
        """``n_samples`` draws y = μ + σ·artanh(Φ⁻¹(U)), Φ⁻¹ by vectorised bisection on the monotone CDF.

        ``size`` is the deprecated old name of ``n_samples``; ``rng``: an int seed, None or a ``Generator``.
        """
        size = _n_samples(n_samples, minimum=0, size=size)
        rng = _rng(rng)
        u = rng.random(size)
        lo, hi = -np.ones(size), np.ones(size)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = self.cdf_unit(mid) < u
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        x = np.clip(0.5 * (lo + hi), -1 + 1e-16, 1 - 1e-16)
        return self.mu + self.sigma * np.arctanh(x)

    # ----- fitting ---------------------------------------------------------------------------------

    @staticmethod
    def _objective(theta: Array, C: Array, S: Array, reg: float) -> tuple[float, Array]:
        """NLL(a) = −mean log|Σ_k a_k e^{−iπkx}|² + log(2Σ|a|²) + reg·π²Σ n²|c_n/c_0|², and its gradient.

        The gradient is with respect to (Re a, Im a).

        ``C``, ``S`` = cos(πkx_i), sin(πkx_i); real arithmetic with einsum keeps it off threaded BLAS.
        """
        M = C.shape[1]
        u, v = theta[:M], theta[M:]
        gr = np.einsum("ij,j->i", C, u) + np.einsum("ij,j->i", S, v)  # g = (C − iS)(u + iv)
        gi = np.einsum("ij,j->i", C, v) - np.einsum("ij,j->i", S, u)
        g2 = gr * gr + gi * gi + 1e-300
        c0 = float(u @ u + v @ v)
        val = -float(np.mean(np.log(g2))) + math.log(2.0 * c0)
        hr, hi = gr / g2, gi / g2
        n_obs = C.shape[0]
        # W = ∂NLL/∂conj(a) = −mean_i g_i conj(E_ik)/|g_i|² + a/c0, conj(E) = C + iS
        Wr = -(np.einsum("i,ij->j", hr, C) - np.einsum("i,ij->j", hi, S)) / n_obs + u / c0
        Wi = -(np.einsum("i,ij->j", hr, S) + np.einsum("i,ij->j", hi, C)) / n_obs + v / c0
        W = Wr + 1j * Wi
        if reg > 0 and M > 1:
            a = u + 1j * v
            c = FourierBasisDensity.autocorrelation(a)
            n = np.arange(1, M)
            w = n**2 * np.abs(c[1:]) ** 2
            val += reg * np.pi**2 * float(w.sum()) / c0**2
            idx = np.arange(M)[None, :]
            minus = idx - n[:, None]
            plus = idx + n[:, None]
            a_minus = np.where(minus >= 0, a[np.clip(minus, 0, M - 1)], 0)
            a_plus = np.where(plus < M, a[np.clip(plus, 0, M - 1)], 0)
            d = (n**2)[:, None] * (np.conj(c[1:])[:, None] * a_minus + c[1:, None] * a_plus)
            W = W + reg * np.pi**2 * (d.sum(axis=0) / c0**2 - 2.0 * w.sum() * a / c0**3)
        return val, np.concatenate([2.0 * W.real, 2.0 * W.imag])

    def fit(
        self,
        y: npt.ArrayLike,
        N: int,
        reg: float = 0.0,
        n_init: int = 3,
        rng: RngLike = None,
        maxiter: int = 5000,
        method: str = "BFGS",
    ) -> FourierBasisDensity:
        """Maximum likelihood by quasi-Newton (analytic gradient), best of ``n_init`` starts.

        μ, σ = mean, std of y.

        Start: a_0 = 1, other a_k small complex noise. ``reg`` weights the scale-free ∫|p'|².
        ``method`` is any gradient-based ``scipy.optimize.minimize`` method ("L-BFGS-B" for large N).
        """
        yy = _array(y, "y", min_ndim=1)
        if yy.ndim != 1 or yy.size < 2:
            raise ValueError("y must be 1-D with at least 2 points")
        N = _int_in(N, "N", 0)
        reg = _positive(reg, "reg", allow_zero=True)
        n_init = _int_in(n_init, "n_init", 1)
        rng = _rng(0 if rng is None else rng)  # None: a fixed seed, so fits are reproducible
        mu, sigma = float(yy.mean()), float(yy.std())
        if sigma == 0:
            raise ValueError("y has zero spread")
        x = np.tanh((yy - mu) / sigma)
        phase = np.pi * x[:, None] * np.arange(N + 1)
        C, S = np.cos(phase), np.sin(phase)
        best: tuple[float, Array] | None = None
        for _ in range(n_init):
            a0 = np.zeros(N + 1, dtype=complex)
            a0[0] = 1.0
            a0[1:] = 0.1 * (rng.standard_normal(N) + 1j * rng.standard_normal(N))
            res = optimize.minimize(
                self._objective,
                np.concatenate([a0.real, a0.imag]),
                args=(C, S, reg),
                jac=True,
                method=method,
                options={"maxiter": maxiter},
            )
            if best is None or res.fun < best[0]:
                best = (float(res.fun), res.x)
        assert best is not None
        a = best[1][: N + 1] + 1j * best[1][N + 1 :]
        a = a / np.linalg.norm(a)
        if a[0] != 0:
            a = a * np.exp(-1j * np.angle(a[0]))  # fix the redundant global phase
        self.a, self.mu, self.sigma = a, mu, sigma
        return self

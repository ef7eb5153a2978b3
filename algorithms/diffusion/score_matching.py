"""B1. Score matching vs conditional score matching: the conditional score −(x_t − αx0)/β², the exact
score of a point-mass mixture, the biased self-normalised ratio estimator and the SM / CSM losses.

Article: https://kexue.fm/archives/9509.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import logsumexp

from algorithms._checks import _array
from algorithms.diffusion._common import _callable, _scalar, _weights

__all__ = [
    "conditional_score_gaussian",
    "csm_loss",
    "discrete_marginal_score",
    "ratio_score_estimate",
    "sm_loss",
]


def conditional_score_gaussian(x_t: Any, x0: Any, alpha: float, beta: float) -> np.ndarray:
    """Conditional score of the Gaussian kernel: ∇log p_t(x_t|x0) = −(x_t − αx0)/β².

    https://kexue.fm/archives/9509
    """
    xt = _array(x_t, "x_t")
    x0a = _array(x0, "x0")
    try:
        np.broadcast_shapes(xt.shape, x0a.shape)
    except ValueError as exc:
        raise ValueError(f"x_t {xt.shape} and x0 {x0a.shape} do not broadcast") from exc
    a = _scalar(alpha, "alpha")
    b = _scalar(beta, "beta", lo=0.0, lo_open=True)
    return -(xt - a * x0a) / b**2


def discrete_marginal_score(
    x_t: Any, support: Any, alpha: float, beta: float, probs: Any = None
) -> np.ndarray:
    """Score of p_t = Σ_k π_k N(α·x0_k, β²I): ∇log p_t(x_t) = −(x_t − α·E[x0|x_t])/β².

    The posterior weights softmax_k(log π_k − ‖x_t − αx0_k‖²/2β²) are computed in log space.
    Shapes: x_t (..., d), support (..., K, d), probs (..., K) or None (uniform); returns (..., d).
    https://kexue.fm/archives/9509
    """
    xt = _array(x_t, "x_t", min_ndim=1)
    sup = _array(support, "support", min_ndim=2)
    if sup.shape[-1] != xt.shape[-1]:
        raise ValueError(f"support dimension {sup.shape[-1]} != x_t dimension {xt.shape[-1]}")
    if sup.shape[-2] < 1:
        raise ValueError("support must contain at least one point (K >= 1)")
    a = _scalar(alpha, "alpha")
    b = _scalar(beta, "beta", lo=0.0, lo_open=True)
    try:
        diff = xt[..., None, :] - a * sup  # (..., K, d)
    except ValueError as exc:
        raise ValueError(f"x_t {xt.shape} and support {sup.shape} batch dims do not broadcast") from exc
    logw = -0.5 * np.sum(diff**2, axis=-1) / b**2  # (..., K)
    if probs is not None:
        p = _array(probs, "probs", min_ndim=1)
        if p.shape[-1] != sup.shape[-2]:
            raise ValueError(f"probs has {p.shape[-1]} entries, support has {sup.shape[-2]} points")
        if np.any(p < 0):
            raise ValueError("probs must be non-negative")
        if np.any(p.sum(axis=-1) <= 0):
            raise ValueError("probs must have a positive sum")
        with np.errstate(divide="ignore"):
            logp = np.log(p)
        try:
            logw = logw + logp
        except ValueError as exc:
            raise ValueError(f"probs {p.shape} does not broadcast with the weights {logw.shape}") from exc
    w = np.exp(logw - logsumexp(logw, axis=-1, keepdims=True))
    x0_mean = np.einsum("...k,...kd->...d", w, np.broadcast_to(sup, diff.shape))
    return -(xt - a * x0_mean) / b**2


def ratio_score_estimate(x_t: Any, x0_samples: Any, alpha: float, beta: float) -> np.ndarray:
    """Monte-Carlo ratio-form score: ∇log p_t(x_t) ≈ Σ_k softmax(log w)_k·(−(x_t − αx0_k)/β²).

    w_k = N(x_t; αx0_k, β²I), x0_k ~ p0. Self-normalised, hence biased for finite K.
    Shapes: x_t (..., d), x0_samples (..., K, d); returns (..., d). https://kexue.fm/archives/9509
    """
    return discrete_marginal_score(x_t, x0_samples, alpha, beta)


def _score_values(fn: Callable[[np.ndarray], Any], x: np.ndarray, name: str) -> np.ndarray:
    out = _array(fn(x), f"{name}(x)")
    if out.shape != x.shape:
        raise ValueError(f"{name} must return an array of shape {x.shape}, got {out.shape}")
    return out


def sm_loss(
    score_fn_true: Callable[[np.ndarray], Any],
    s_theta: Callable[[np.ndarray], Any],
    xt_samples: Any,
    weights: Any = None,
) -> float:
    """Score-matching loss L_SM = E_{x_t~p_t}‖∇log p_t(x_t) − s_θ(x_t)‖² (Monte-Carlo mean).

    ``xt_samples`` is (N, d); ``weights`` (N,) turns the mean into a weighted sum (quadrature).
    https://kexue.fm/archives/9509
    """
    _callable(score_fn_true, "score_fn_true")
    _callable(s_theta, "s_theta")
    x = _array(xt_samples, "xt_samples", ndim=2)
    if x.shape[0] == 0:
        raise ValueError("xt_samples must contain at least one sample")
    w = _weights(weights, x.shape[0])
    r = _score_values(score_fn_true, x, "score_fn_true") - _score_values(s_theta, x, "s_theta")
    return float(w @ np.sum(r**2, axis=1))


def csm_loss(
    s_theta: Callable[[np.ndarray], Any],
    x0: Any,
    eps: Any,
    alpha: float,
    beta: float,
    weights: Any = None,
) -> float:
    """Conditional score matching L_CSM = E‖−ε/β − s_θ(αx0 + βε)‖² (Monte-Carlo mean).

    ``x0`` and ``eps`` are (N, d) pairs; ``weights`` (N,) optional quadrature weights.
    https://kexue.fm/archives/9509
    """
    _callable(s_theta, "s_theta")
    x0a = _array(x0, "x0", ndim=2)
    e = _array(eps, "eps", ndim=2)
    if x0a.shape != e.shape:
        raise ValueError(f"x0 {x0a.shape} and eps {e.shape} must have the same shape")
    if x0a.shape[0] == 0:
        raise ValueError("x0 must contain at least one sample")
    a = _scalar(alpha, "alpha")
    b = _scalar(beta, "beta", lo=0.0, lo_open=True)
    w = _weights(weights, x0a.shape[0])
    xt = a * x0a + b * e
    r = -e / b - _score_values(s_theta, xt, "s_theta")
    return float(w @ np.sum(r**2, axis=1))

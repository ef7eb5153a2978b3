"""A8. Entropy normalisation p ↦ p^Γ/Σp^Γ with entropy H = H* (safeguarded Newton, bisection, the
article's plain Newton), with the power family's entropy and its slope.

Article: https://kexue.fm/archives/8829.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from algorithms._checks import _array, _int_in
from algorithms.probability._common import Array, _log_softmax, _positive, _prob_rows

__all__ = [
    "entropy_normalize",
    "power_entropy",
    "power_entropy_slope",
]


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

"""B10. Self-consuming generative models ("MAD"): the Gaussian loop simulated exactly through its
sufficient statistics, and the drift of E[log σ²] per generation.

Article: https://kexue.fm/archives/9687.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from algorithms._checks import RngLike, _array, _int, _rng
from algorithms.diffusion._common import _scalar

__all__ = [
    "SelfConsumingRun",
    "self_consuming_gaussian",
    "self_consuming_log_var_drift",
]


class SelfConsumingRun(NamedTuple):
    """Result of ``self_consuming_gaussian``; index 0 of the first axis is generation 0 (truth).

    mus (G+1, runs, d); covs (G+1, runs, d, d) model covariances Σ̃_t = λΣ_t (may underflow to
    0 on very long runs); log_vars (G+1, runs, d) = log diag Σ̃_t, computed without underflow.
    """

    mus: np.ndarray
    covs: np.ndarray
    log_vars: np.ndarray


def _wishart_identity(rng: np.random.Generator, runs: int, d: int, df: int) -> np.ndarray:
    """(runs, d, d) draws of the scatter matrix of df+1 N(0, I_d) samples (Wishart(df, I))."""
    if df >= d:  # Bartlett decomposition
        A = np.zeros((runs, d, d))
        i = np.arange(d)
        A[:, i, i] = np.sqrt(rng.chisquare(df - i, size=(runs, d)))
        lo = np.tril_indices(d, -1)
        A[:, lo[0], lo[1]] = rng.standard_normal((runs, lo[0].size))
    else:  # singular Wishart: sum of df outer products
        A = rng.standard_normal((runs, d, df))
    return A @ np.swapaxes(A, -1, -2)


def self_consuming_log_var_drift(n: int, lam: float = 1.0) -> float:
    """Per-generation drift of E[log σ_t²] in 1-D: log λ + ψ((n−1)/2) + log 2 − log(n−1).

    https://kexue.fm/archives/9687
    """
    from scipy.special import digamma

    n = _int(n, "n", lo=2)
    lam = _scalar(lam, "lam", lo=0.0, hi=1.0, lo_open=True)
    return float(np.log(lam) + digamma((n - 1) / 2) + np.log(2.0) - np.log(n - 1))


def self_consuming_gaussian(
    n: int,
    generations: int,
    runs: int,
    lam: float = 1.0,
    mu0: Any = 0.0,
    sigma0: float = 1.0,
    d: int = 1,
    real_fixed: int = 0,
    real_fresh: int = 0,
    rng: RngLike = None,
    cov0: Any = None,
) -> SelfConsumingRun:
    """Fully synthetic loop: fit N(μ_t, λΣ_t) to n samples of generation t−1 (unbiased Σ_t).

    μ_t | past ~ N(μ_{t−1}, Σ̃_{t−1}/n), Σ_t ~ Wishart(n−1, Σ̃_{t−1})/(n−1) (drawn exactly via
    sufficient statistics). ``real_fixed`` real samples drawn once per run, and/or ``real_fresh``
    new real samples per generation, are pooled with the n synthetic ones. Generation 0 is
    N(mu0, sigma0²·I) (or N(mu0, cov0)). https://kexue.fm/archives/9687
    """
    n = _int(n, "n", lo=1)
    G = _int(generations, "generations", lo=0)
    runs = _int(runs, "runs", lo=1)
    lam = _scalar(lam, "lam", lo=0.0, hi=1.0, lo_open=True)
    d = _int(d, "d", lo=1)
    nf = _int(real_fixed, "real_fixed", lo=0)
    nr = _int(real_fresh, "real_fresh", lo=0)
    if n + nf + nr - 1 < d:
        raise ValueError(f"need n + real_fixed + real_fresh >= d + 1 = {d + 1} for a full-rank covariance")
    rng = _rng(rng)
    m0 = _array(mu0, "mu0")
    if m0.ndim == 0:
        m0 = np.full(d, float(m0))
    if m0.shape != (d,):
        raise ValueError(f"mu0 must be a scalar or shape ({d},), got {m0.shape}")
    if cov0 is None:
        s0 = _scalar(sigma0, "sigma0", lo=0.0, lo_open=True)
        C0 = s0**2 * np.eye(d)
    else:
        C0 = _array(cov0, "cov0", ndim=2)
        if C0.shape != (d, d) or not np.allclose(C0, C0.T):
            raise ValueError(f"cov0 must be a symmetric ({d}, {d}) matrix")
    try:
        L0 = np.linalg.cholesky(C0)
    except np.linalg.LinAlgError as exc:
        raise ValueError("cov0 must be positive definite") from exc

    def real_stats(k: int) -> tuple[np.ndarray, np.ndarray]:
        mean = m0 + rng.standard_normal((runs, d)) @ L0.T / np.sqrt(k)
        scatter = L0 @ _wishart_identity(rng, runs, d, k - 1) @ L0.T
        return mean, scatter

    fixed = real_stats(nf) if nf > 0 else None

    # state: Σ̃ = exp(s)·R with trace(R) = d, so long synthetic runs never underflow
    tr0 = np.trace(C0) / d
    s = np.full(runs, np.log(tr0))
    R = np.broadcast_to(C0 / tr0, (runs, d, d)).copy()
    mu = np.broadcast_to(m0, (runs, d)).copy()

    mus = np.empty((G + 1, runs, d))
    covs = np.empty((G + 1, runs, d, d))
    log_vars = np.empty((G + 1, runs, d))
    diag = np.arange(d)

    def record(g: int) -> None:
        mus[g] = mu
        with np.errstate(under="ignore"):
            covs[g] = np.exp(s)[:, None, None] * R
        log_vars[g] = s[:, None] + np.log(R[:, diag, diag])

    record(0)
    total = n + nf + nr
    for g in range(1, G + 1):
        L = np.linalg.cholesky(R)
        with np.errstate(under="ignore"):
            half = np.exp(0.5 * s)[:, None]
            m_syn = mu + half * np.einsum("rij,rj->ri", L, rng.standard_normal((runs, d))) / np.sqrt(n)
        W_syn = L @ _wishart_identity(rng, runs, d, n - 1) @ np.swapaxes(L, -1, -2)  # scaled by e^{-s}
        if nf == 0 and nr == 0:
            mu = m_syn
            S = W_syn
            log_ref = s
        else:
            groups = [(n, m_syn, np.exp(s)[:, None, None] * W_syn)]
            if fixed is not None:
                groups.append((nf, *fixed))
            if nr > 0:
                groups.append((nr, *real_stats(nr)))
            mu = sum(c * m for c, m, _ in groups) / total
            S = sum(sc for _, _, sc in groups)
            for c, m, _ in groups:
                dm = m - mu
                S = S + c * dm[:, :, None] * dm[:, None, :]
            log_ref = np.zeros(runs)
        tr = np.trace(S, axis1=1, axis2=2) / d
        R = S / tr[:, None, None]
        R = 0.5 * (R + np.swapaxes(R, -1, -2))
        s = log_ref + np.log(tr) + np.log(lam) - np.log(total - 1)
        record(g)
    return SelfConsumingRun(mus, covs, log_vars)

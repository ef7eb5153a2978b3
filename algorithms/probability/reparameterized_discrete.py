"""A10. Discrete distributions from reparameterisation: P[argmax(μ + ε) = i] for a noise law (Gumbel →
softmax, normal, logistic, uniform, custom), by quadrature or Monte Carlo.

Article: https://kexue.fm/archives/9085.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from algorithms._checks import RngLike, _array, _int_in, _n_samples, _rng
from algorithms.probability._common import Array

__all__ = [
    "noise_argmax_probs",
    "noise_argmax_probs_mc",
]


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

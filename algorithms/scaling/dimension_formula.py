"""A6. The dimension formula n > 8.33 log N: the skip-gram entropy term h_n (Bessel closed form or
quadrature), the minimum embedding dimension and the Laplace constants.

Articles: https://kexue.fm/archives/8711, https://kexue.fm/archives/7695.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from algorithms._checks import _array
from algorithms.scaling._common import _out

__all__ = [
    "entropy_h_n",
    "laplace_constants",
    "min_embedding_dim",
    "skipgram_entropy_estimate",
]


URL_A6 = "https://kexue.fm/archives/8711"

_PHI = (1.0 + np.sqrt(5.0)) / 2.0


def _dims(n: Any) -> np.ndarray:
    a = _array(n, "n")
    if np.any(a < 2) or np.any(a != np.floor(a)):
        raise ValueError(f"n must be integers >= 2, got {n!r}")
    return a


def entropy_h_n(n: Any, method: str = "bessel") -> Any:
    """h_n = log E[e^(n cos t)] - n E[e^(n cos t) cos t] / E[e^(n cos t)], t ~ sin^(n-2) t on [0, pi].

    'bessel' is the closed form with nu = n/2 - 1: E[e^(n cos t)] = Gamma(n/2) (2/n)^nu I_nu(n) and the
    ratio equals I_{nu+1}(n)/I_nu(n) (computed with the scaled ``ive``); 'quadrature' integrates the
    log-shifted integrand on a 2e5-point trapezoid grid. Sources: https://kexue.fm/archives/7695 ,
    https://kexue.fm/archives/8711
    """
    nn = _dims(n)
    if method == "bessel":
        nu = nn / 2.0 - 1.0
        i0, i1 = special.ive(nu, nn), special.ive(nu + 1.0, nn)
        ok = np.minimum(i0, i1) > 1e-280  # ive underflows for n >~ 5000: use quadrature there
        with np.errstate(divide="ignore", invalid="ignore"):
            log_e = special.gammaln(nn / 2.0) + nu * np.log(2.0 / nn) + np.log(i0) + nn
            h = log_e - nn * i1 / i0
        if not np.all(ok):
            h = np.where(ok, h, np.vectorize(_h_n_quadrature, otypes=[np.float64])(nn))
        return _out(h)
    if method == "quadrature":
        return _out(np.vectorize(_h_n_quadrature, otypes=[np.float64])(nn))
    raise ValueError(f"unknown method {method!r}; use 'bessel' or 'quadrature'")


def _h_n_quadrature(n: float, points: int = 200_001) -> float:
    t = np.linspace(0.0, np.pi, points)
    logw = n * np.cos(t)
    if n > 2:  # sin^(n-2) vanishes at the endpoints: they get weight 0 (log sin is taken inside only)
        logw[1:-1] += (n - 2.0) * np.log(np.sin(t[1:-1]))
        logw[[0, -1]] = -np.inf
    shift = logw.max()
    w = np.exp(logw - shift)
    log_num = np.log(np.trapezoid(w, t)) + shift
    log_den = special.gammaln((n - 1.0) / 2.0) - special.gammaln(n / 2.0) + 0.5 * np.log(np.pi)
    mean_cos = np.trapezoid(w * np.cos(t), t) / np.trapezoid(w, t)
    return float(log_num - log_den - n * mean_cos)


def min_embedding_dim(N: Any, coef: float | str = 8.33) -> Any:
    """n_min = coef * ln N (article: coef = 8.33 ~ 2/0.24; coef='exact' gives 2/(ln(phi)/2) = 8.3123).

    Sources: https://kexue.fm/archives/8711 , https://kexue.fm/archives/7695
    """
    NN = _array(N, "N")
    if np.any(NN < 1):
        raise ValueError(f"N must be >= 1, got {N!r}")
    if isinstance(coef, str):
        if coef != "exact":
            raise ValueError(f"coef must be a positive number or 'exact', got {coef!r}")
        c = 4.0 / np.log(_PHI)
    else:
        cc = _array(coef, "coef")
        if cc.ndim or cc <= 0:
            raise ValueError(f"coef must be a positive scalar, got {coef!r}")
        c = float(cc)
    return _out(c * np.log(NN))


def skipgram_entropy_estimate(N: Any, n: Any) -> Any:
    """H ~ log N^2 + h_n (negative means n dimensions are more than enough for N items).

    Source: https://kexue.fm/archives/7695
    """
    NN = _array(N, "N")
    if np.any(NN < 1):
        raise ValueError(f"N must be >= 1, got {N!r}")
    return _out(np.asarray(2.0 * np.log(NN) + np.asarray(entropy_h_n(n))))


def laplace_constants() -> dict[str, float]:
    """Laplace approximation of f(t) = log sin t + cos t at t* = arctan sqrt(phi): h_n ~ -(ln phi / 2) n.

    Keys: theta_star, f_star, cos_star (1/phi), curvature (-f''/2 = sqrt5/2), prefactor
    (sqrt(pi/curvature)), coef (cos* - f* = ln(phi)/2), dim_coef (2/coef = 8.3123).
    Source: https://kexue.fm/archives/7695
    """
    t = float(np.arctan(np.sqrt(_PHI)))
    f = float(np.log(np.sin(t)) + np.cos(t))
    half_curv = float((1.0 / np.sin(t) ** 2 + np.cos(t)) / 2.0)
    coef = float(np.cos(t)) - f
    return {
        "theta_star": t,
        "f_star": f,
        "cos_star": float(np.cos(t)),
        "curvature": half_curv,
        "prefactor": float(np.sqrt(np.pi / half_curv)),
        "coef": coef,
        "dim_coef": 2.0 / coef,
    }

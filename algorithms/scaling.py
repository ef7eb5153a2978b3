"""Scaling laws and counting problems: quanta scaling laws, the n > 8.33 log N formula, min a+b+c.

Sections of the library's specification, with the articles they implement:

* A3  scaling laws from the quantization hypothesis (https://kexue.fm/archives/9607);
* A6  the dimension formula n > 8.33 log N (https://kexue.fm/archives/8711);
* A12 the minimum of a + b + c subject to N = ab + c (https://kexue.fm/archives/9775).

NumPy/SciPy only; float64 results; ``min_ab_plus_c`` uses exact
Python-int arithmetic (``math.isqrt``) for arbitrarily large N.
"""

from __future__ import annotations

from math import isqrt
from typing import Any

import numpy as np
from scipy import special

from algorithms._checks import _array

__all__ = [
    "entropy_h_n",
    "laplace_constants",
    "min_ab_plus_c",
    "min_ab_plus_c_bruteforce",
    "min_ab_plus_c_sqrt",
    "min_embedding_dim",
    "quanta_learned_from_data",
    "quanta_loss",
    "quanta_scaling_exponents",
    "skipgram_entropy_estimate",
    "zipf_quanta_probs",
]

URL_A3 = "https://kexue.fm/archives/9607"
URL_A6 = "https://kexue.fm/archives/8711"
URL_A12 = "https://kexue.fm/archives/9775"

_PHI = (1.0 + np.sqrt(5.0)) / 2.0


def _gamma(gamma: Any) -> float:
    g = _array(gamma, "gamma")
    if g.ndim != 0 or g <= 0:
        raise ValueError(f"gamma must be a positive scalar, got {gamma!r}")
    return float(g)


def _out(a: np.ndarray) -> Any:
    return a.item() if a.ndim == 0 else a


# ============================================================================ A3 quanta scaling laws


def zipf_quanta_probs(gamma: float, K: int) -> np.ndarray:
    """p_k = k^(-gamma-1) / zeta(gamma+1), k = 1..K (the truncated vector sums to < 1).

    Source: https://kexue.fm/archives/9607
    """
    g = _gamma(gamma)
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    k = np.arange(1, int(K) + 1, dtype=np.float64)
    return k ** (-g - 1.0) / special.zeta(g + 1.0)


def _counts(n: Any, name: str) -> np.ndarray:
    a = _array(n, name)
    if np.any(a < 0) or np.any(a != np.floor(a)):
        raise ValueError(f"{name} must be non-negative integers, got {n!r}")
    return a


def quanta_loss(n: Any, gamma: float, a: float = 0.0, b: float = 1.0, exact: bool = True) -> Any:
    """L(n) = a + (b - a) sum_{k>n} p_k, tail = zeta(gamma+1, n+1)/zeta(gamma+1) (Hurwitz zeta, exact).

    exact=False uses the asymptotic tail n^-gamma / (gamma zeta(gamma+1)). n may be an array of
    non-negative integers; n = 0 gives L = b. Source: https://kexue.fm/archives/9607
    """
    g = _gamma(gamma)
    nn = _counts(n, "n")
    a_, b_ = _array(a, "a"), _array(b, "b")
    if a_.ndim or b_.ndim:
        raise ValueError("a and b must be scalars")
    z = special.zeta(g + 1.0)
    if exact:
        tail = special.zeta(g + 1.0, nn + 1.0) / z
    else:
        safe = np.where(nn > 0, nn, 1.0)
        tail = np.where(nn > 0, safe ** (-g) / (g * z), 1.0)
    return _out(np.asarray(float(a_) + (float(b_) - float(a_)) * tail))


def quanta_learned_from_data(D: Any, gamma: float, tau: float) -> Any:
    """n = max{k : D p_k >= tau} = floor((D / (tau zeta(gamma+1)))^(1/(gamma+1))); use D = S B for steps.

    Source: https://kexue.fm/archives/9607
    """
    g = _gamma(gamma)
    DD = _array(D, "D")
    t = _array(tau, "tau")
    if np.any(DD < 0) or t.ndim or t <= 0:
        raise ValueError("D must be non-negative and tau a positive scalar")
    z = special.zeta(g + 1.0)
    k = np.floor((DD / (float(t) * z)) ** (1.0 / (g + 1.0)))

    def enough(kk: np.ndarray) -> np.ndarray:  # D p_k >= tau, evaluated as D >= tau z k^(g+1)
        return DD >= float(t) * z * kk ** (g + 1.0)

    k = k + enough(k + 1)  # repair floating-point floor at exact boundaries
    k = k - ((k > 0) & ~enough(k))
    return _out(k.astype(np.int64))


def quanta_scaling_exponents(gamma: float) -> dict[str, float]:
    """Loss exponents: L ~ N^-gamma (params), D^-gamma/(gamma+1) (data), S^-gamma/(gamma+1) (steps).

    Source: https://kexue.fm/archives/9607
    """
    g = _gamma(gamma)
    return {"params": g, "data": g / (g + 1.0), "steps": g / (g + 1.0)}


# ======================================================================== A6 dimension formula


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


# ================================================================= A12 min a + b + c with N = ab + c


def _natural(N: Any) -> int:
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)):
        raise ValueError(f"N must be a non-negative integer (int), got {N!r}")
    N = int(N)
    if N < 0:
        raise ValueError(f"N must be a non-negative integer, got {N}")
    return N


def _pq_search(N: int) -> tuple[tuple[int, int, int, int], int]:
    """The article's p, q algorithm, literally (no small-N fix): ((S, a, b, c), loop iterations)."""
    r = isqrt(N)
    if r * r == N:
        return (2 * r, r, r, 0), 0
    p0 = isqrt(4 * N)  # floor(2 sqrt N) < 2 sqrt N since 4N is not a square
    q0 = p0 & 1
    a, b = (p0 - q0) // 2, (p0 + q0) // 2
    best = (a + b + N - a * b, a, b, N - a * b)
    p_hi = p0 + 3 + isqrt(1 + 4 * r + 4)  # integer-safe >= 2 sqrt N + 2 + sqrt(1 + 4 sqrt N)
    iters = 0
    for p in range(p0 + 1, p_hi + 1):
        if p >= best[0]:  # S = p + c >= p: no later p can do better
            break
        iters += 1
        d = p * p - 4 * N  # > 0
        q = isqrt(d)
        q += q * q < d  # ceil(sqrt d)
        q += (q - p) & 1  # same parity as p; q <= p since d < p^2
        a, b = (p - q) // 2, (p + q) // 2
        c = N - a * b
        if p + c < best[0]:
            best = (p + c, a, b, c)
    return best, iters


def min_ab_plus_c(N: int, *, return_iterations: bool = False) -> Any:
    """min a + b + c over naturals a <= b, c with ab + c = N; p = a+b, q = b-a: 4S = 4N + q^2 + 4 - (p-2)^2.

    Scans p in (2 sqrt N, 2 sqrt N + 2 + sqrt(1 + 4 sqrt N)] -- O(N^(1/4)) exact-integer steps -- and
    stops early once p >= best S. N <= 3 returns (N, 0, 0, N) (the p, q scan alone gives N + 1).
    Returns (S, a, b, c), or ((S, a, b, c), iterations). Source: https://kexue.fm/archives/9775
    """
    N = _natural(N)
    if N <= 3:
        res, iters = (N, 0, 0, N), 0
    else:
        res, iters = _pq_search(N)
    return (res, iters) if return_iterations else res


_INT64_SAFE = 2**62


def _scan(N: int, lo: int, hi: int) -> tuple[int, int, int, int]:
    """Best of (0, 0, N) and a in [lo, hi] with b = N // a, c = N % a (vectorised in int64)."""
    best = (N, 0, 0, N)
    if lo > hi:
        return best
    a = np.arange(lo, hi + 1, dtype=np.int64)
    b, c = np.divmod(np.int64(N), a)
    S = a + b + c
    i = int(np.argmin(S))
    if int(S[i]) < best[0]:
        best = (int(S[i]), int(a[i]), int(b[i]), int(c[i]))
    return best


def min_ab_plus_c_sqrt(N: int, *, return_iterations: bool = False) -> Any:
    """O(sqrt N) scan S(a) = a + floor(N/a) + (N mod a) over a in [max(2, floor(sqrt(N/2))), floor(sqrt N)].

    The article's open interval (sqrt(N/2), sqrt N] misses optima with b = 2a (e.g. N = 18); the closed
    lower end fixes it (spec A12 ⚠). Also compares with (0, 0, N). N < 2^62.
    Source: https://kexue.fm/archives/9775
    """
    N = _natural(N)
    if N >= _INT64_SAFE:
        raise ValueError(f"N = {N} is too large for the O(sqrt N) scan; use min_ab_plus_c")
    lo, hi = max(2, isqrt(N // 2)), isqrt(N)
    res = _scan(N, lo, hi)
    return (res, max(0, hi - lo + 1)) if return_iterations else res


def min_ab_plus_c_bruteforce(N: int) -> tuple[int, int, int, int]:
    """Reference: best of a = b = 0 (S = N) and a = 2..floor(sqrt N) with b = floor(N/a), c = N - ab.

    Vectorised; N < 2^62. Source: https://kexue.fm/archives/9775
    """
    N = _natural(N)
    if N >= _INT64_SAFE:
        raise ValueError(f"N = {N} is too large for brute force")
    return _scan(N, 2, isqrt(N))

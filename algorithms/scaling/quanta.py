"""A3. Scaling laws from the quantization hypothesis: Zipf quanta, the loss L(n) with its exact Hurwitz
tail, quanta learned from data and the scaling exponents.

Article: https://kexue.fm/archives/9607.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from algorithms._checks import _array
from algorithms.scaling._common import _out

__all__ = [
    "quanta_learned_from_data",
    "quanta_loss",
    "quanta_scaling_exponents",
    "zipf_quanta_probs",
]


URL_A3 = "https://kexue.fm/archives/9607"


def _gamma(gamma: Any) -> float:
    g = _array(gamma, "gamma")
    if g.ndim != 0 or g <= 0:
        raise ValueError(f"gamma must be a positive scalar, got {gamma!r}")
    return float(g)


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

"""B14b. W₂ distance ≤ score matching: the ODE-flow bound, its score-matching form, the one-sided
Lipschitz constant and 1-D Gaussian / empirical W₂ distances.

Article: https://kexue.fm/archives/9467.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from algorithms._checks import _array, _int
from algorithms.diffusion._common import _callable, _scalar, _weights

__all__ = [
    "one_sided_lipschitz",
    "w2_empirical_1d",
    "w2_gaussian_1d",
    "w2_ode_bound",
    "w2_score_bound",
]


def w2_gaussian_1d(m1: float, s1: float, m2: float, s2: float) -> float:
    """W₂ between 1-D Gaussians: W₂[N(m1,s1²), N(m2,s2²)] = √((m1−m2)² + (s1−s2)²).

    https://kexue.fm/archives/9467
    """
    m1 = _scalar(m1, "m1")
    m2 = _scalar(m2, "m2")
    s1 = _scalar(s1, "s1", lo=0.0)
    s2 = _scalar(s2, "s2", lo=0.0)
    return float(np.hypot(m1 - m2, s1 - s2))


def w2_empirical_1d(x: Any, y: Any) -> float:
    """W₂ between two equal-size 1-D samples: √(mean((sort x − sort y)²)) (monotone coupling).

    https://kexue.fm/archives/9467
    """
    a = _array(x, "x", ndim=1)
    b = _array(y, "y", ndim=1)
    if a.shape != b.shape or a.shape[0] == 0:
        raise ValueError(f"x and y must be non-empty with the same length, got {a.shape}, {b.shape}")
    return float(np.sqrt(np.mean((np.sort(a) - np.sort(b)) ** 2)))


def one_sided_lipschitz(
    g: Callable[[np.ndarray, float], Any],
    t: float,
    x: Any,
    y: Any,
    convention: str = "backward",
) -> float:
    """Empirical one-sided Lipschitz constant of g_t over pairs (x_i, y_i), shapes (N, d).

    backward (correct for the bound): L = max −(g(x)−g(y))·(x−y)/‖x−y‖²;
    "article" (literal text, ⚠ wrong sign): max (g(x)−g(y))·(x−y)/‖x−y‖².
    https://kexue.fm/archives/9467
    """
    _callable(g, "g")
    t = _scalar(t, "t")
    xa = _array(x, "x", ndim=2)
    ya = _array(y, "y", ndim=2)
    if xa.shape != ya.shape or xa.shape[0] == 0:
        raise ValueError("x and y must be non-empty (N, d) arrays of the same shape")
    if convention not in ("backward", "article"):
        raise ValueError("convention must be 'backward' or 'article'")
    dx = xa - ya
    nrm = np.sum(dx**2, axis=1)
    if np.any(nrm == 0):
        raise ValueError("pairs must be distinct (x_i != y_i)")
    gx = _array(g(xa, t), "g(x, t)")
    gy = _array(g(ya, t), "g(y, t)")
    if gx.shape != xa.shape or gy.shape != xa.shape:
        raise ValueError(f"g must return shape {xa.shape}")
    q = np.sum((gx - gy) * dx, axis=1) / nrm
    return float(np.max(-q if convention == "backward" else q))


def _gauss_legendre(T: float, n_quad: int) -> tuple[np.ndarray, np.ndarray]:
    u, w = np.polynomial.legendre.leggauss(n_quad)
    return 0.5 * T * (u + 1.0), 0.5 * T * w


def _growth_factors(L_fn: Any, T: float, t_nodes: np.ndarray, n_quad: int) -> tuple[np.ndarray, float]:
    """I_t = exp(∫_0^t L_s ds) at the nodes and at T (Gauss–Legendre on each [0, t])."""
    if callable(L_fn):
        u, w = np.polynomial.legendre.leggauss(n_quad)
        pts = np.append(t_nodes, T)
        s = 0.5 * pts[:, None] * (u[None, :] + 1.0)
        vals = _array(L_fn(s), "L_fn(t)")
        if vals.ndim == 0:
            vals = np.full(s.shape, float(vals))
        if vals.shape != s.shape:
            raise ValueError("L_fn must be vectorised: given an array of times return the same shape")
        integral = 0.5 * pts * (vals @ w)
    else:
        L = _scalar(L_fn, "L_fn")
        integral = L * np.append(t_nodes, T)
    growth = np.exp(integral)
    return growth[:-1], float(growth[-1])


def _expect_sq(samples: Any, h: Callable[[np.ndarray], np.ndarray], name: str) -> float:
    if isinstance(samples, tuple):
        if len(samples) != 2:
            raise ValueError(f"{name} must return samples or a (points, weights) pair")
        pts = _array(samples[0], f"{name} points")
        w = _weights(samples[1], pts.shape[0] if pts.ndim else 0)
    else:
        pts = _array(samples, f"{name} samples")
        if pts.ndim == 0 or pts.shape[0] == 0:
            raise ValueError(f"{name} must return a non-empty array of samples")
        w = _weights(None, pts.shape[0])
    diff = h(pts)
    sq = diff**2 if diff.ndim == 1 else np.sum(diff.reshape(diff.shape[0], -1) ** 2, axis=1)
    return float(w @ sq)


def w2_ode_bound(
    f: Callable[[np.ndarray, float], Any],
    g: Callable[[np.ndarray, float], Any],
    L_fn: Callable[[np.ndarray], Any] | float,
    sample_x_t: Callable[[float], Any],
    T: float,
    n_quad: int = 64,
    w2_T: float = 0.0,
) -> float:
    """W₂[p₀,q₀] ≤ ∫₀ᵀ I_t (E_{x~p_t}‖f_t(x) − g_t(x)‖²)^½ dt + I_T·W₂[p_T,q_T], I_t = e^{∫₀ᵗL}.

    Flows dx/dt = f_t(x), dy/dt = g_t(y) integrated from T down to 0; L_t is g's one-sided
    Lipschitz constant in the backward sense −(g(x)−g(y))·(x−y) ≤ L_t‖x−y‖² (⚠ the article's
    literal sign is wrong). ``sample_x_t(t)`` returns samples of p_t, (N,) or (N, d), or a
    (points, weights) pair; ``L_fn`` is a constant or a vectorised function of t.
    Gauss–Legendre quadrature in t with ``n_quad`` nodes. https://kexue.fm/archives/9467
    """
    _callable(f, "f")
    _callable(g, "g")
    _callable(sample_x_t, "sample_x_t")
    T = _scalar(T, "T", lo=0.0, lo_open=True)
    n_quad = _int(n_quad, "n_quad", lo=1)
    w2_T = _scalar(w2_T, "w2_T", lo=0.0)
    t_nodes, t_w = _gauss_legendre(T, n_quad)
    growth, growth_T = _growth_factors(L_fn, T, t_nodes, n_quad)
    rms = np.empty(n_quad)
    for i, t in enumerate(t_nodes):  # loop over time nodes, vectorised over samples

        def h(x: np.ndarray, t: float = float(t)) -> np.ndarray:
            fx = _array(f(x, t), "f(x, t)")
            gx = _array(g(x, t), "g(x, t)")
            if fx.shape != x.shape or gx.shape != x.shape:
                raise ValueError(f"f and g must return the shape of x, {x.shape}")
            return fx - gx

        rms[i] = np.sqrt(_expect_sq(sample_x_t(float(t)), h, "sample_x_t"))
    return float(t_w @ (growth * rms) + growth_T * w2_T)


def w2_score_bound(
    loss_fn: Callable[[np.ndarray], Any],
    g2_fn: Callable[[np.ndarray], Any],
    L_fn: Callable[[np.ndarray], Any] | float,
    T: float,
    n_quad: int = 64,
    w2_T: float = 0.0,
) -> float:
    """Probability-flow-ODE form: W₂[p₀,q₀] ≤ ∫₀ᵀ ½g_t² I_t √(loss_t) dt + I_T·W₂[p_T,q_T].

    loss_t is the score-matching loss at time t (or the conditional one, CSM ≥ SM, giving a
    looser valid bound); ``loss_fn`` and ``g2_fn`` are vectorised functions of t. L_t is the
    backward one-sided Lipschitz constant of the model drift f_t − ½g_t²s_θ.
    https://kexue.fm/archives/9467
    """
    _callable(loss_fn, "loss_fn")
    _callable(g2_fn, "g2_fn")
    T = _scalar(T, "T", lo=0.0, lo_open=True)
    n_quad = _int(n_quad, "n_quad", lo=1)
    w2_T = _scalar(w2_T, "w2_T", lo=0.0)
    t_nodes, t_w = _gauss_legendre(T, n_quad)
    growth, growth_T = _growth_factors(L_fn, T, t_nodes, n_quad)
    loss = _array(loss_fn(t_nodes), "loss_fn(t)")
    g2 = _array(g2_fn(t_nodes), "g2_fn(t)")
    if loss.shape != t_nodes.shape or g2.shape != t_nodes.shape:
        raise ValueError("loss_fn and g2_fn must be vectorised: array of times -> same shape")
    if np.any(loss < 0) or np.any(g2 < 0):
        raise ValueError("loss_fn and g2_fn must be non-negative")
    return float(t_w @ (0.5 * g2 * growth * np.sqrt(loss)) + growth_T * w2_T)

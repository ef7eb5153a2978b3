"""A9. Main/auxiliary multi-task gradients: u* = g₀ + Σλᵢgᵢ with λ from a non-negative least-squares
problem, and L2 regularisation as an auxiliary task.

Article: https://kexue.fm/archives/8907.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import nnls as _scipy_nnls

from algorithms._checks import _array, _int_in
from algorithms.matrices._common import _pos

__all__ = [
    "l2_reg_gradient",
    "primary_auxiliary_direction",
]


URL_A9 = "https://kexue.fm/archives/8907"


def _grad_matrix(G: Any, d: int) -> np.ndarray:
    if isinstance(G, (list, tuple)):
        rows = [_array(g, f"G[{i}]").ravel() for i, g in enumerate(G)]
        G = np.stack(rows) if rows else np.zeros((0, d))
    else:
        G = _array(G, "G", ndim=2)
    if G.ndim != 2 or G.shape[1] != d:
        raise ValueError(f"G must have shape (n, {d}), got {G.shape}")
    return G


def primary_auxiliary_direction(
    g0: Any,
    G: Any,
    method: str = "kkt_greedy",
    tol: float = 1e-12,
    max_iter: int = 10000,
) -> tuple[np.ndarray, np.ndarray]:
    """u* = g0 + sum_i lam_i g_i, lam = argmin_{lam>=0} |g0 + G^T lam|^2 (update: theta -= eta u*).

    Maximises <u, g0> - |u|^2/2 subject to <u, g_i> >= 0 (no auxiliary loss rises to first order).
    Methods: 'kkt_greedy' (exact coordinate update on the max KKT violation), 'cyclic' (sweeps),
    both with a periodic exact step on the current support; 'nnls' (scipy); and 'article' -- the
    article's literal rule tau = argmin_i <g_i, u>, which can stall at a feasible, non-optimal point
    (spec A9 ⚠). Stops when the max KKT violation <= tol * |g0| max_i |g_i|.
    g0 and the rows of G may be NumPy arrays or PyTorch tensors (flattened).
    Source: https://kexue.fm/archives/8907
    """
    g0 = _array(g0, "g0").ravel()
    if g0.size == 0:
        raise ValueError("g0 must be non-empty")
    G = _grad_matrix(G, g0.size)
    if method not in ("kkt_greedy", "cyclic", "article", "nnls"):
        raise ValueError(f"unknown method {method!r}; use 'kkt_greedy', 'cyclic', 'article' or 'nnls'")
    tol = _pos(tol, "tol")
    max_iter = _int_in(max_iter, "max_iter", 1)

    n = G.shape[0]
    lam = np.zeros(n)
    sq = np.einsum("ij,ij->i", G, G)
    active = np.flatnonzero(sq > 0)  # zero gradients: <u, 0> >= 0 always holds, lam_i = 0
    scale = np.linalg.norm(g0) * np.sqrt(sq.max()) if n else 0.0
    if active.size == 0 or scale == 0.0:
        return g0 + lam @ G, lam
    Ga = G[active]

    if method == "nnls":
        lam_a, _ = _scipy_nnls(Ga.T, -g0)
    else:
        lam_a = _coordinate_nnls(Ga @ Ga.T, Ga @ g0, method, tol * scale, max_iter)
    lam[active] = lam_a
    return g0 + lam @ G, lam


def _coordinate_nnls(K: np.ndarray, c: np.ndarray, method: str, tol: float, max_iter: int) -> np.ndarray:
    """Exact coordinate minimisation of |g0 + G^T lam|^2 / 2 over lam >= 0, via the Gram matrix K.

    dots = G u = c + K lam; the one-coordinate optimum is lam_i <- max(0, lam_i - dots_i / K_ii),
    i.e. the article's n = 1 formula relu(-<r, g_i>)/|g_i|^2 with r = u - lam_i g_i.
    """
    n = c.size
    lam = np.zeros(n)
    dots = c.copy()
    diag = np.diag(K).copy()

    def violation() -> np.ndarray:
        return np.where(lam > 0, np.abs(dots), np.maximum(0.0, -dots))

    def update(i: int) -> None:
        new = max(0.0, lam[i] - dots[i] / diag[i])
        delta = new - lam[i]
        if delta != 0.0:
            lam[i] = new
            dots[:] += delta * K[:, i]

    def polish() -> None:
        """Exact minimisation on the face {lam_i > 0}: a Newton step, shortened at the boundary.

        Coordinate descent alone crawls when K is singular or ill-conditioned (e.g. n > d). As in
        Lawson-Hanson's inner loop, step towards the face minimiser as far as lam >= 0 allows,
        drop the coordinates that hit 0 and repeat; every step lowers the objective.
        """
        for _ in range(n):
            dots[:] = c + K @ lam  # also refreshes the incrementally updated dots
            P = np.flatnonzero(lam > 0)
            if P.size == 0:
                return
            step = np.linalg.lstsq(K[np.ix_(P, P)], -dots[P], rcond=None)[0]
            ratio = np.full(P.size, np.inf)  # how far each coordinate can go before hitting 0
            neg = step < 0
            ratio[neg] = -lam[P][neg] / step[neg]
            k = int(np.argmin(ratio))
            alpha = min(1.0, float(ratio[k]))
            new = lam[P] + alpha * step
            if alpha < 1.0:
                new[k] = 0.0
            lam[P] = np.maximum(new, 0.0)
            if alpha == 1.0:
                break
        dots[:] = c + K @ lam

    for it in range(1, max_iter + 1):
        if method == "cyclic":
            for i in range(n):
                update(i)
            polish()
            if violation().max() <= tol:
                return lam
            continue
        if method == "kkt_greedy":
            if it % n == 0:
                polish()
            i = int(np.argmax(violation()))
        else:  # 'article': the literal selection rule, no polishing
            i = int(np.argmin(dots))
        if violation()[i] <= tol:
            return lam
        update(i)
    raise RuntimeError(f"{method!r} did not converge in {max_iter} iterations; try method='nnls'")


def l2_reg_gradient(g: Any, theta: Any) -> np.ndarray:
    """g' = g + relu(-<g, theta>) / |theta|^2 * theta: L2 regularisation as an auxiliary task.

    The article's displayed formula omits the trailing theta (spec A9 ⚠); this is the n = 1
    closed form with g_1 = theta. Source: https://kexue.fm/archives/8907
    """
    g = _array(g, "g").ravel()
    theta = _array(theta, "theta").ravel()
    if g.shape != theta.shape:
        raise ValueError(f"g and theta must have the same size, got {g.size} and {theta.size}")
    tt = float(theta @ theta)
    if tt == 0.0:
        return g.copy()
    return g + max(0.0, -float(g @ theta)) / tt * theta

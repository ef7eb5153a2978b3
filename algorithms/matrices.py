"""Matrix algorithms: blockwise cosine, main/auxiliary gradients, Monarch, SVD/pseudo-inverse, LoRA.

Sections of the library's specification, with the articles they implement:

* A5   local vs global cosine similarity (https://kexue.fm/archives/9931);
* A9   main/auxiliary multi-task gradients (https://kexue.fm/archives/8907);
* B7   Monarch matrices (https://kexue.fm/archives/10249);
* B8   SVD low-rank approximation and the pseudo-inverse (https://kexue.fm/archives/10407, /10366);
* B14a LoRA from the gradient point of view (https://kexue.fm/archives/9590).

NumPy (and ``scipy.optimize.nnls``) only; float64 throughout. Every function validates its inputs and
raises ``ValueError`` on wrong shapes, NaN/inf or out-of-range integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isqrt
from typing import Any

import numpy as np
from scipy.optimize import nnls as _scipy_nnls

from algorithms._checks import RngLike, _array, _int_in, _n_samples, _rng

__all__ = [
    "LoRAOptimizerView",
    "Monarch",
    "additive_lora_delta",
    "additive_lora_grads",
    "best_rank_r",
    "blockwise_cosine",
    "cosine",
    "global_cosine_from_blocks",
    "l2_reg_gradient",
    "lora_forward",
    "lora_grads",
    "lora_sgd_increment",
    "monarch_dense",
    "monarch_matvec",
    "monarch_permutation",
    "monarch_project",
    "monarch_solve",
    "pearson_as_cosine",
    "pinv",
    "pinv_ridge",
    "primary_auxiliary_direction",
    "random_projection_update",
    "simpson_example",
    "solve_left_factor",
    "solve_right_factor",
    "svd_via_eig",
]

_EPS = np.finfo(np.float64).eps

URL_A5 = "https://kexue.fm/archives/9931"
URL_A9 = "https://kexue.fm/archives/8907"
URL_B7 = "https://kexue.fm/archives/10249"
URL_B8 = "https://kexue.fm/archives/10407"
URL_B14A = "https://kexue.fm/archives/9590"


# --------------------------------------------------------------------------------------------- helpers


def _pos(x: Any, name: str, allow_zero: bool = False) -> float:
    """``x`` as a finite positive (or non-negative) float."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {x!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a finite {kind} number, got {x!r}")
    return v


# ========================================================================================= A5 cosine


def _unit_scale(x: np.ndarray, axis: int | None = -1) -> tuple[np.ndarray, np.ndarray]:
    """``(x / s, s)`` with s the largest |entry| along ``axis`` (all axes if None); a zero vector keeps s = 1.

    Norms and dot products of the rescaled vectors neither underflow nor overflow.
    """
    s = np.max(np.abs(x), axis=axis, keepdims=True) if x.size else np.ones((1,) * x.ndim)
    s = np.where(s > 0, s, 1.0)
    return x / s, s


def cosine(x: Any, y: Any, eps: float = 0.0) -> float | np.ndarray:
    """cos(x, y) = <x, y> / (|x| |y| + eps) along the last axis; defined as 0 when |x||y| + eps = 0.

    Each vector is first divided by its largest absolute entry, so the result is right at any scale
    (entries of 1e-170 or 1e200 neither underflow to 0 nor overflow to NaN); ``eps`` keeps its meaning
    in the original units. Source: https://kexue.fm/archives/9931
    """
    x, y = _array(x, "x"), _array(y, "y")
    if x.shape != y.shape or x.ndim == 0:
        raise ValueError(f"x and y must have the same non-scalar shape, got {x.shape} and {y.shape}")
    eps = _pos(eps, "eps", allow_zero=True)
    (xs, sx), (ys, sy) = _unit_scale(x), _unit_scale(y)
    den = np.linalg.norm(xs, axis=-1) * np.linalg.norm(ys, axis=-1)
    if eps > 0:
        with np.errstate(over="ignore", divide="ignore"):
            den = den + eps / sx[..., 0] / sy[..., 0]  # eps/(sx·sy) in the rescaled units (may be inf: cos 0)
    num = np.einsum("...i,...i->...", xs, ys)
    out = np.divide(num, den, out=np.zeros_like(num), where=(den > 0) & np.isfinite(den))
    return float(out) if out.ndim == 0 else out


def global_cosine_from_blocks(local_cos: Any, x_norms: Any, y_norms: Any) -> float:
    """cos(x, y) = sum_i c_i a_i b_i / (|a| |b|) with c_i local cosines, a_i = |x_i|, b_i = |y_i|.

    Source: https://kexue.fm/archives/9931
    """
    c = _array(local_cos, "local_cos", ndim=1)
    a = _array(x_norms, "x_norms", ndim=1)
    b = _array(y_norms, "y_norms", ndim=1)
    if not (c.shape == a.shape == b.shape):
        raise ValueError(f"shapes differ: {c.shape}, {a.shape}, {b.shape}")
    if np.any(a < 0) or np.any(b < 0):
        raise ValueError("block norms must be non-negative")
    if np.any(np.abs(c) > 1 + 1e-12):
        raise ValueError("local cosines must lie in [-1, 1]")
    a, b = _unit_scale(a, None)[0], _unit_scale(b, None)[0]  # scale-free: avoid under/overflow
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(np.sum(c * a * b) / den) if den > 0 else 0.0


def blockwise_cosine(
    x_blocks: Sequence[Any], y_blocks: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Local cosines c_i, weights w_i = a_i b_i / (|a||b|) and global cos(x, y) = sum_i w_i c_i.

    Blocks may have any shapes (each is flattened); x_i and y_i must match. A zero-norm block gets
    c_i = 0 and w_i = 0; the global cosine of a zero vector is 0. The identity is checked
    against the directly computed global cosine. Source: https://kexue.fm/archives/9931
    """
    if isinstance(x_blocks, np.ndarray) or isinstance(y_blocks, np.ndarray):
        raise ValueError("pass the blocks as sequences of arrays, not a single array")
    xs = [_array(b, f"x_blocks[{i}]").ravel() for i, b in enumerate(x_blocks)]
    ys = [_array(b, f"y_blocks[{i}]").ravel() for i, b in enumerate(y_blocks)]
    if len(xs) != len(ys) or not xs:
        raise ValueError(f"need the same positive number of blocks, got {len(xs)} and {len(ys)}")
    for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
        if xi.shape != yi.shape or xi.size == 0:
            raise ValueError(f"block {i}: sizes {xi.size} and {yi.size} differ or are empty")
    # one common scale per side (the largest |entry| of all blocks): local cosines and weights are
    # scale-free, and the rescaled norms and dot products neither underflow nor overflow
    sx = max(float(np.max(np.abs(v))) for v in xs) or 1.0
    sy = max(float(np.max(np.abs(v))) for v in ys) or 1.0
    xs, ys = [v / sx for v in xs], [v / sy for v in ys]
    a = np.array([np.linalg.norm(v) for v in xs])
    b = np.array([np.linalg.norm(v) for v in ys])
    dots = np.array([xi @ yi for xi, yi in zip(xs, ys, strict=True)])
    ab = a * b
    local = np.divide(dots, ab, out=np.zeros_like(dots), where=ab > 0)
    den = np.linalg.norm(a) * np.linalg.norm(b)
    weights = ab / den if den > 0 else np.zeros_like(ab)
    glob = float(weights @ local)
    direct = cosine(np.concatenate(xs), np.concatenate(ys))
    if not np.isclose(glob, direct, rtol=1e-9, atol=1e-12):  # pragma: no cover - identity is exact
        raise ArithmeticError(f"blockwise identity violated: {glob} != {direct}")
    return local, weights, glob


def pearson_as_cosine(x: Any, y: Any) -> float:
    """Pearson r = cos(x - mean(x), y - mean(y)) (0 for a constant sample).

    Source: https://kexue.fm/archives/9931
    """
    x, y = _array(x, "x", ndim=1), _array(y, "y", ndim=1)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"x and y must be 1-D of equal length >= 2, got {x.shape} and {y.shape}")
    return float(cosine(x - x.mean(), y - y.mean()))


def simpson_example() -> tuple[float, float, float]:
    """Simpson's paradox: two groups with Pearson r = 1 each whose pooled r = -73/77.

    group1 = {(0,10), (1,11), (2,12)}, group2 = {(10,0), (11,1), (12,2)}.
    Source: https://kexue.fm/archives/9931
    """
    g1 = np.array([[0, 10], [1, 11], [2, 12]], dtype=np.float64)
    g2 = np.array([[10, 0], [11, 1], [12, 2]], dtype=np.float64)
    pooled = np.vstack([g1, g2])
    return (
        pearson_as_cosine(g1[:, 0], g1[:, 1]),
        pearson_as_cosine(g2[:, 0], g2[:, 1]),
        pearson_as_cosine(pooled[:, 0], pooled[:, 1]),
    )


# ============================================================================= A9 main/auxiliary tasks


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


# ====================================================================================== B7 Monarch


def _monarch_blocks(Lb: Any, Rb: Any) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Validate Lb (b, c, c) and Rb (c, b, b); return them with (b, c)."""
    Lb, Rb = _array(Lb, "Lb", ndim=3), _array(Rb, "Rb", ndim=3)
    c, b, b2 = Rb.shape
    if b != b2 or c == 0 or b == 0:
        raise ValueError(f"Rb must have shape (c, b, b), got {Rb.shape}")
    if Lb.shape != (b, c, c):
        raise ValueError(f"Lb must have shape (b, c, c) = {(b, c, c)} to match Rb {Rb.shape}, got {Lb.shape}")
    return Lb, Rb, b, c


def monarch_permutation(n: int, b: int | None = None) -> np.ndarray:
    """Index array perm with P_(c,b) x = x[perm], where P_(p,q) x = x.reshape(p, q).T.ravel(), c = n/b.

    For n = m^2 and b = m, P is an involution (P^2 = I). Source: https://kexue.fm/archives/10249
    """
    n = _int_in(n, "n", 1)
    b = _default_b(n, b)
    return np.arange(n).reshape(n // b, b).T.ravel()


def _default_b(n: int, b: Any) -> int:
    if b is None:
        m = isqrt(n)
        if m * m != n:
            raise ValueError(f"n = {n} is not a perfect square; pass a block size b dividing n")
        return m
    b = _int_in(b, "b", 1, n)
    if n % b:
        raise ValueError(f"block size b = {b} must divide n = {n}")
    return b


def monarch_matvec(Lb: Any, Rb: Any, x: Any) -> np.ndarray:
    """M x = P_(b,c) L P_(c,b) R x in O(n (b + c)) with block-diagonal R (c blocks b×b), L (b blocks c×c).

    x has shape (n,) or (n, batch). Source: https://kexue.fm/archives/10249
    """
    Lb, Rb, b, c = _monarch_blocks(Lb, Rb)
    return _matvec(Lb, Rb, b, c, x)


def _matvec(Lb: np.ndarray, Rb: np.ndarray, b: int, c: int, x: Any) -> np.ndarray:
    n = b * c
    x = _array(x, "x")
    if x.ndim not in (1, 2) or x.shape[0] != n:
        raise ValueError(f"x must have shape ({n},) or ({n}, batch), got {x.shape}")
    X = x.reshape(c, b, -1)
    Y = np.matmul(Rb, X)  # (c, b, z): block k of R on block k of x
    Z = np.matmul(Lb, Y.transpose(1, 0, 2))  # (b, c, z): P_(c,b), then block j of L
    return Z.transpose(1, 0, 2).reshape(x.shape)  # P_(b,c)


def monarch_dense(Lb: Any, Rb: Any) -> np.ndarray:
    """Dense M with M.reshape(c, b, c, b)[i, j, k, l] = Lb[j, i, k] * Rb[k, j, l].

    Source: https://kexue.fm/archives/10249
    """
    Lb, Rb, b, c = _monarch_blocks(Lb, Rb)
    n = b * c
    return np.einsum("jik,kjl->ijkl", Lb, Rb).reshape(n, n)


def monarch_project(A: Any, b: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """argmin_{M Monarch} |A - M|_F^2: top singular triple of each slice S_jk = A4[:, j, k, :].

    A4 = A.reshape(c, b, c, b); Lb[j, :, k] = sqrt(s1) u1, Rb[k, j, :] = sqrt(s1) v1; the returned
    err = sum_jk sum_{r>=2} s_r(S_jk)^2 is the optimal squared Frobenius error. b defaults to sqrt(n).
    Source: https://kexue.fm/archives/10249
    """
    A = _array(A, "A", ndim=2)
    n = A.shape[0]
    if n == 0 or A.shape != (n, n):
        raise ValueError(f"A must be square and non-empty, got shape {A.shape}")
    b = _default_b(n, b)
    c = n // b
    T = A.reshape(c, b, c, b).transpose(1, 2, 0, 3)  # (b, c, c, b): slices [j, k] indexed [i, l]
    U, s, Vt = np.linalg.svd(T, full_matrices=False)
    r0 = np.sqrt(s[..., :1])
    Lb = (U[..., :, 0] * r0).transpose(0, 2, 1)  # (b, c, c) = [j, i, k]
    Rb = (Vt[..., 0, :] * r0).transpose(1, 0, 2)  # (c, b, b) = [k, j, l]
    err = float(np.sum(s[..., 1:] ** 2))
    return np.ascontiguousarray(Lb), np.ascontiguousarray(Rb), err


def monarch_solve(Lb: Any, Rb: Any, y: Any) -> np.ndarray:
    """M^{-1} y = R^{-1} P_(b,c) L^{-1} P_(c,b) y with 2 sqrt(n)-ish small block solves.

    Raises ``numpy.linalg.LinAlgError`` (a ValueError) if a block is singular.
    Source: https://kexue.fm/archives/10249
    """
    Lb, Rb, b, c = _monarch_blocks(Lb, Rb)
    n = b * c
    y = _array(y, "y")
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) or ({n}, batch), got {y.shape}")
    Y = y.reshape(c, b, -1).transpose(1, 0, 2)  # undo the outer P_(b,c): (b, c, z)
    Z = np.linalg.solve(Lb, Y)  # (b, c, z)
    X = np.linalg.solve(Rb, np.ascontiguousarray(Z.transpose(1, 0, 2)))  # (c, b, z)
    return X.reshape(y.shape)


class Monarch:
    """Monarch matrix M = P_(b,c) L P_(c,b) R, n = b c, with n^2/b + n b parameters (2 n^1.5 at b = sqrt n).

    ``Lb`` has shape (b, c, c) (b blocks of L), ``Rb`` shape (c, b, b) (c blocks of R).
    Source: https://kexue.fm/archives/10249
    """

    def __init__(self, Lb: Any, Rb: Any) -> None:
        self.Lb, self.Rb, self.b, self.c = _monarch_blocks(Lb, Rb)
        self.n = self.b * self.c

    @classmethod
    def from_dense(cls, A: Any, b: int | None = None) -> Monarch:
        """The Frobenius-optimal Monarch approximation of A (see ``monarch_project``)."""
        Lb, Rb, _ = monarch_project(A, b)
        return cls(Lb, Rb)

    @classmethod
    def random(cls, n: int, b: int | None = None, rng: RngLike = None) -> Monarch:
        """Blocks with i.i.d. N(0, 1) entries."""
        n = _int_in(n, "n", 1)
        b = _default_b(n, b)
        c = n // b
        g = _rng(rng)
        return cls(g.standard_normal((b, c, c)), g.standard_normal((c, b, b)))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def num_params(self) -> int:
        return self.Lb.size + self.Rb.size

    def matvec(self, x: Any) -> np.ndarray:
        """M x for x of shape (n,) or (n, batch); the blocks were validated once, at construction."""
        return _matvec(self.Lb, self.Rb, self.b, self.c, x)

    __matmul__ = matvec

    def dense(self) -> np.ndarray:
        return monarch_dense(self.Lb, self.Rb)

    def solve(self, y: Any) -> np.ndarray:
        return monarch_solve(self.Lb, self.Rb, y)


# ================================================================================ B8 SVD and pinv


def _default_rtol(A: np.ndarray, rtol: Any) -> float:
    if rtol is None:
        return max(A.shape) * _EPS
    return _pos(rtol, "rtol", allow_zero=True)


def pinv(A: Any, rtol: float | None = None, method: str = "svd") -> np.ndarray:
    """A^+ = V Sigma^+ U^T ('svd') or U Lambda^+ U^T A^T with A^T A = U Lambda U^T ('eig').

    Singular values s <= rtol * s_max count as zero (default rtol = max(n, m) * eps, as NumPy). The
    'eig' form squares the condition number, so its eigenvalue cutoff is
    max(rtol^2, 10 max(n, m) eps) * lambda_max. Sources: https://kexue.fm/archives/10366 ,
    https://kexue.fm/archives/10407
    """
    A = _array(A, "A", ndim=2)
    rtol = _default_rtol(A, rtol)
    if method == "svd":
        U, s, Vt = np.linalg.svd(A, full_matrices=False)
        cut = rtol * (s[0] if s.size else 0.0)
        s_inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > cut)
        return (Vt.T * s_inv) @ U.T
    if method == "eig":
        lam, V = np.linalg.eigh(A.T @ A)
        lmax = lam.max() if lam.size else 0.0
        cut = max(rtol**2, 10 * max(A.shape) * _EPS) * lmax
        l_inv = np.divide(1.0, lam, out=np.zeros_like(lam), where=lam > cut)
        return (V * l_inv) @ V.T @ A.T
    raise ValueError(f"unknown method {method!r}; use 'svd' or 'eig'")


def pinv_ridge(A: Any, eps: float) -> np.ndarray:
    """A^+_eps = (A^T A + eps I)^{-1} A^T, which tends to A^+ as eps -> 0+ (do not use tiny eps).

    Source: https://kexue.fm/archives/10366
    """
    A = _array(A, "A", ndim=2)
    eps = _pos(eps, "eps")
    m = A.shape[1]
    return np.linalg.solve(A.T @ A + eps * np.eye(m), A.T)


def solve_right_factor(A: Any, M: Any) -> np.ndarray:
    """argmin_B |A B - M|_F^2 = A^+ M. Source: https://kexue.fm/archives/10366"""
    A, M = _array(A, "A", ndim=2), _array(M, "M", ndim=2)
    if A.shape[0] != M.shape[0]:
        raise ValueError(f"A {A.shape} and M {M.shape} need the same number of rows")
    return pinv(A) @ M


def solve_left_factor(B: Any, M: Any) -> np.ndarray:
    """argmin_A |A B - M|_F^2 = M B^+. Source: https://kexue.fm/archives/10366"""
    B, M = _array(B, "B", ndim=2), _array(M, "M", ndim=2)
    if B.shape[1] != M.shape[1]:
        raise ValueError(f"B {B.shape} and M {M.shape} need the same number of columns")
    return M @ pinv(B)


def svd_via_eig(M: Any, rtol: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compact SVD from M^T M = V Lambda V^T: s = sqrt(lambda), U_r = M V_r / s, M = U_r diag(s) V_r^T.

    Keeps eigenvalues above the 'eig' cutoff of ``pinv``; squares the condition number (for
    illustration, not production). Source: https://kexue.fm/archives/10407
    """
    M = _array(M, "M", ndim=2)
    rtol = _default_rtol(M, rtol)
    lam, V = np.linalg.eigh(M.T @ M)
    order = np.argsort(lam)[::-1]
    lam, V = lam[order], V[:, order]
    cut = max(rtol**2, 10 * max(M.shape) * _EPS) * (lam[0] if lam.size else 0.0)
    keep = lam > cut
    s = np.sqrt(lam[keep])
    Vr = V[:, keep]
    return (M @ Vr) / s, s, Vr.T


def best_rank_r(M: Any, r: int) -> tuple[np.ndarray, np.ndarray, float]:
    """argmin_{A (n×r), B (r×m)} |A B - M|_F^2 = (U_r Sigma_r, V_r^T), error sum_{i>r} sigma_i^2.

    Eckart–Young–Mirsky (also optimal in the spectral norm). Source: https://kexue.fm/archives/10407
    """
    M = _array(M, "M", ndim=2)
    r = _int_in(r, "r", 0, min(M.shape))
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    return U[:, :r] * s[:r], Vt[:r].copy(), float(np.sum(s[r:] ** 2))


# ============================================================================================ B14a LoRA


def _lora_shapes(A: np.ndarray, B: np.ndarray, n: int | None = None, m: int | None = None) -> None:
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"A {A.shape} and B {B.shape} disagree on the rank r")
    if n is not None and A.shape[0] != n:
        raise ValueError(f"A must have {n} rows, got shape {A.shape}")
    if m is not None and B.shape[1] != m:
        raise ValueError(f"B must have {m} columns, got shape {B.shape}")


def lora_forward(X: Any, W0: Any, A: Any, B: Any) -> np.ndarray:
    """Y = X W0 + (X A) B (the rank-r path never forms A B). Source: https://kexue.fm/archives/9590"""
    X, W0 = _array(X, "X", ndim=2), _array(W0, "W0", ndim=2)
    A, B = _array(A, "A", ndim=2), _array(B, "B", ndim=2)
    if X.shape[1] != W0.shape[0]:
        raise ValueError(f"X {X.shape} and W0 {W0.shape} are incompatible")
    _lora_shapes(A, B, *W0.shape)
    return X @ W0 + (X @ A) @ B


def lora_grads(X: Any, dY: Any, A: Any, B: Any, impl: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """dL/dA = G B^T, dL/dB = A^T G with G = X^T dL/dY.

    impl=1 forms the full n×m gradient G; impl=2 uses X^T ((dL/dY) B^T) and (X A)^T dL/dY and stays
    at rank r. Source: https://kexue.fm/archives/9590
    """
    X, dY = _array(X, "X", ndim=2), _array(dY, "dY", ndim=2)
    A, B = _array(A, "A", ndim=2), _array(B, "B", ndim=2)
    if X.shape[0] != dY.shape[0]:
        raise ValueError(f"X {X.shape} and dY {dY.shape} need the same batch size")
    _lora_shapes(A, B, X.shape[1], dY.shape[1])
    if impl == 1:
        G = X.T @ dY
        return G @ B.T, A.T @ G
    if impl == 2:
        return X.T @ (dY @ B.T), (X @ A).T @ dY
    raise ValueError(f"impl must be 1 or 2, got {impl!r}")


def lora_sgd_increment(A: Any, B: Any, G: Any, lr: float) -> np.ndarray:
    """A'B' - AB = -lr (G B^T B + A A^T G) + lr^2 G B^T A^T G for one SGD step on (A, B).

    Source: https://kexue.fm/archives/9590
    """
    A, B, G = _array(A, "A", ndim=2), _array(B, "B", ndim=2), _array(G, "G", ndim=2)
    _lora_shapes(A, B, *G.shape)
    lr = _pos(lr, "lr")
    return -lr * (G @ B.T @ B + A @ (A.T @ G)) + lr**2 * (G @ B.T) @ (A.T @ G)


class LoRAOptimizerView:
    """LoRA as an optimizer of W = W0 + A B: from a full gradient G, A -= lr G B^T, B -= lr A^T G.

    init='zero_B' (A ~ N(0, scale^2), B = 0), 'zero_A', or 'symmetric' (both random,
    W = W0 - A0 B0 + A B, exactly W0 at the start). Source: https://kexue.fm/archives/9590
    """

    def __init__(
        self,
        W0: Any,
        r: int,
        lr: float,
        init: str = "zero_B",
        rng: RngLike = None,
        scale: float | None = None,
    ) -> None:
        self.W0 = _array(W0, "W0", ndim=2)
        n, m = self.W0.shape
        self.r = _int_in(r, "r", 1, min(n, m))
        self.lr = _pos(lr, "lr")
        if init not in ("zero_B", "zero_A", "symmetric"):
            raise ValueError(f"init must be 'zero_B', 'zero_A' or 'symmetric', got {init!r}")
        scale = 1.0 / np.sqrt(n) if scale is None else _pos(scale, "scale")
        g = _rng(rng)
        A = scale * g.standard_normal((n, self.r))
        B = scale * g.standard_normal((self.r, m))
        if init == "zero_B":
            B[:] = 0.0
        elif init == "zero_A":
            A[:] = 0.0
        self.init = init
        self.A, self.B = A, B
        self._offset = A @ B if init == "symmetric" else None  # A0 B0

    @property
    def W(self) -> np.ndarray:
        """W0 + (A B - A0 B0) for 'symmetric', W0 + A B otherwise."""
        AB = self.A @ self.B
        return self.W0 + (AB - self._offset if self._offset is not None else AB)

    def project(self, G: Any) -> tuple[np.ndarray, np.ndarray]:
        """(dL/dA, dL/dB) = (G B^T, A^T G) for the full gradient G = dL/dW."""
        G = _array(G, "G", ndim=2)
        if G.shape != self.W0.shape:
            raise ValueError(f"G must have shape {self.W0.shape}, got {G.shape}")
        return G @ self.B.T, self.A.T @ G

    def step(self, G: Any) -> np.ndarray:
        """One SGD step from the full gradient G; returns the increment A'B' - AB of W."""
        gA, gB = self.project(G)
        old = self.A @ self.B
        self.A = self.A - self.lr * gA
        self.B = self.B - self.lr * gB
        return self.A @ self.B - old


def random_projection_update(
    G: Any, rng: RngLike = None, n_samples: int | None = None, *, num_samples: int | None = None
) -> np.ndarray:
    """D = G v^T v + u u^T G with u ~ N(0, I_n) (n×1), v ~ N(0, I_m) (1×m); E[D] = 2 G.

    The LoRA-SGD update with fresh rank-1 random projections is -lr D. Returns the mean of
    ``n_samples`` (default 1) independent draws (vectorised; ``num_samples`` is its deprecated old name).
    Source: https://kexue.fm/archives/9590
    """
    G = _array(G, "G", ndim=2)
    k = _n_samples(n_samples, optional=True, num_samples=num_samples)
    k = 1 if k is None else k
    g = _rng(rng)
    n, m = G.shape
    u = g.standard_normal((k, n))
    v = g.standard_normal((k, m))
    return G @ (v.T @ v / k) + (u.T @ u / k) @ G


def _tile_check(n: int, m: int, r: Any) -> int:
    r = _int_in(r, "r", 1)
    if n % r or m % r:
        raise ValueError(f"r = {r} must divide both n = {n} and m = {m}")
    return r


def additive_lora_delta(A: Any, B: Any) -> np.ndarray:
    """Delta W = A [I_r ... I_r] + [I_r; ...; I_r] B, A (n×r), B (r×m); for r = 1, A 1^T + 1 B.

    Source: https://kexue.fm/archives/9590
    """
    A, B = _array(A, "A", ndim=2), _array(B, "B", ndim=2)
    _lora_shapes(A, B)
    n, r = A.shape
    m = B.shape[1]
    _tile_check(n, m, r)
    return np.tile(A, (1, m // r)) + np.tile(B, (n // r, 1))


def additive_lora_grads(G: Any, r: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """dL/dA = G [I_r ... I_r]^T (summed column groups), dL/dB = [I_r; ...]^T G (summed row groups).

    For r = 1: the row sums G 1 (n×1) and the column sums 1^T G (1×m).
    Source: https://kexue.fm/archives/9590
    """
    G = _array(G, "G", ndim=2)
    n, m = G.shape
    r = _tile_check(n, m, r)
    return G.reshape(n, m // r, r).sum(axis=1), G.reshape(n // r, r, m).sum(axis=0)

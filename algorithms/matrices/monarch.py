"""B7. Monarch matrices M = P L P R: mat-vec, dense form, block solve and the Frobenius-optimal
projection, as functions and as the ``Monarch`` class.

Article: https://kexue.fm/archives/10249.
"""

from __future__ import annotations

from math import isqrt
from typing import Any

import numpy as np

from algorithms._checks import RngLike, _array, _int_in, _rng

__all__ = [
    "Monarch",
    "monarch_dense",
    "monarch_matvec",
    "monarch_permutation",
    "monarch_project",
    "monarch_solve",
]


URL_B7 = "https://kexue.fm/archives/10249"


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

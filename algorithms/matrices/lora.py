"""B14a. LoRA from the gradient point of view: rank-r gradients, the exact SGD increment, LoRA as a
gradient-projecting optimizer, unbiased random projections and the additive variant.

Article: https://kexue.fm/archives/9590.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms._checks import RngLike, _array, _int_in, _n_samples, _rng
from algorithms.matrices._common import _pos

__all__ = [
    "LoRAOptimizerView",
    "additive_lora_delta",
    "additive_lora_grads",
    "lora_forward",
    "lora_grads",
    "lora_sgd_increment",
    "random_projection_update",
]


URL_B14A = "https://kexue.fm/archives/9590"


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

"""B4. A nonlinear RNN x_t = tanh(A x_{t−1} + u_t) parallelised by iterated linear RNNs (Jacobi,
diagonal Jacobian, Newton), with the matrix affine scan and the sequential reference.

Article: https://kexue.fm/archives/9783 (arXiv 2309.12252).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from algorithms._checks import _array, _count

__all__ = [
    "ParallelRNNResult",
    "linear_scan_affine",
    "nonlinear_rnn_sequential",
    "parallel_nonlinear_rnn",
]


Array = npt.NDArray[Any]


def _check_rnn(A: npt.ArrayLike, u: npt.ArrayLike, x0: npt.ArrayLike | None) -> tuple[Array, Array, Array]:
    Aa = _array(A, "A")
    ua = _array(u, "u")
    if Aa.ndim != 2 or Aa.shape[0] != Aa.shape[1] or Aa.shape[0] == 0:
        raise ValueError(f"A must be a non-empty square matrix, got shape {Aa.shape}")
    d = Aa.shape[0]
    if ua.ndim != 2 or ua.shape[1] != d or ua.shape[0] == 0:
        raise ValueError(f"u must have shape (T >= 1, {d}), got {ua.shape}")
    x0a = np.zeros(d) if x0 is None else _array(x0, "x0")
    if x0a.shape != (d,):
        raise ValueError(f"x0 must have shape ({d},), got {x0a.shape}")
    return Aa, ua, x0a


def nonlinear_rnn_sequential(A: npt.ArrayLike, u: npt.ArrayLike, x0: npt.ArrayLike | None = None) -> Array:
    """Reference loop x_t = tanh(A x_{t−1} + u_t), t = 1..T: A (d, d), u (T, d), x0 (d,) -> X (T, d).

    https://kexue.fm/archives/9783
    """
    Aa, ua, x = _check_rnn(A, u, x0)
    X = np.empty_like(ua)
    for t in range(ua.shape[0]):
        x = np.tanh(Aa @ x + ua[t])
        X[t] = x
    return X


def linear_scan_affine(A: npt.ArrayLike, b: npt.ArrayLike, x0: npt.ArrayLike | None = None) -> Array:
    """x_t = A_t x_{t−1} + b_t by the associative scan (A₂, b₂)∘(A₁, b₁) = (A₂A₁, A₂b₁ + b₂).

    https://kexue.fm/archives/9783 . A (d, d) or (T, d, d), b (T, d), x0 (d,) (default 0) -> X (T, d).
    log2(T) levels, each a batched matrix product (O(d³) per combine; O(d²) per step for constant A).
    """
    Aa = _array(A, "A", complex_ok=True, keep_float=True)
    ba = _array(b, "b", complex_ok=True, keep_float=True)
    if ba.ndim != 2 or 0 in ba.shape:
        raise ValueError(f"b must have shape (T, d), got {ba.shape}")
    T, d = ba.shape
    if Aa.shape not in ((d, d), (T, d, d)):
        raise ValueError(f"A must have shape ({d}, {d}) or ({T}, {d}, {d}), got {Aa.shape}")
    dtype = np.result_type(Aa, ba)
    if x0 is not None:
        x0a = _array(x0, "x0", complex_ok=True, keep_float=True)
        if x0a.shape != (d,):
            raise ValueError(f"x0 must have shape ({d},), got {x0a.shape}")
        dtype = np.result_type(dtype, x0a)
    x = ba.astype(dtype, copy=True)
    if x0 is not None:
        x[0] += (Aa if Aa.ndim == 2 else Aa[0]) @ x0a
    # Accumulated products can decay towards the subnormal range, where arithmetic is ~100x slower;
    # entries below sqrt(tiny) ≈ 1e-154 are flushed to zero (their contribution is < 1e-154·|x|).
    flush = math.sqrt(float(np.finfo(dtype).tiny))
    shift = 1
    if Aa.ndim == 2:  # constant A: the multiplier at shift s is A^s, one d×d matrix per level
        P = Aa.astype(dtype)
        while shift < T:
            x[shift:] += x[:-shift] @ P.T
            P = P @ P
            P[np.abs(P) < flush] = 0
            shift *= 2
        return x
    M = Aa.astype(dtype, copy=True)
    while shift < T:
        x[shift:] += np.einsum("tij,tj->ti", M[shift:], x[:-shift])
        if 2 * shift < T:
            M[shift:] = M[shift:] @ M[:-shift]
            M[np.abs(M) < flush] = 0
        shift *= 2
    return x


class ParallelRNNResult(NamedTuple):
    """Output of ``parallel_nonlinear_rnn``.

    x: final iterate (T, d); deltas[n−1] = max|X⁽ⁿ⁾ − X⁽ⁿ⁻¹⁾|; residuals[n−1] = max_t|x_t⁽ⁿ⁾ −
    tanh(A x_{t−1}⁽ⁿ⁾ + u_t)| (zero iff X⁽ⁿ⁾ solves the RNN).
    """

    x: Array
    deltas: Array
    residuals: Array

    @property
    def n_iter(self) -> int:
        """Number of iterations performed."""
        return int(self.deltas.size)


def parallel_nonlinear_rnn(
    A: npt.ArrayLike,
    u: npt.ArrayLike,
    x0: npt.ArrayLike | None = None,
    *,
    mode: Literal["jacobi", "diag_jacobian", "newton"] = "newton",
    n_iter: int | None = None,
    tol: float | None = None,
    callback: Callable[[int, Array], bool | None] | None = None,
) -> ParallelRNNResult:
    """x_t = tanh(A x_{t−1} + u_t) solved by linear RNNs: x⁽ⁿ⁾_t − A_t x⁽ⁿ⁾_{t−1} = f⁽ⁿ⁾_t − A_t x⁽ⁿ⁻¹⁾_{t−1}.

    https://kexue.fm/archives/9783 . f⁽ⁿ⁾_t = tanh(A x⁽ⁿ⁻¹⁾_{t−1} + u_t), X⁽⁰⁾ = 0, and A_t = A
    ("jacobi"), diag(sech² u_t) A ("diag_jacobian") or diag(sech²(A x⁽ⁿ⁻¹⁾_{t−1} + u_t)) A ("newton",
    quadratic convergence). Each iteration is one ``linear_scan_affine``, run on the correction
    X⁽ⁿ⁾ − X⁽ⁿ⁻¹⁾ (the same iterates in exact arithmetic, but converged positions stay bit-exact).
    After n iterations the first n steps are exact, so ``n_iter`` = T (default) reproduces the
    sequential RNN whatever the convergence. ``tol`` stops early once max|X⁽ⁿ⁾ − X⁽ⁿ⁻¹⁾| ≤ tol;
    ``callback(n, X⁽ⁿ⁾)`` returning True stops too. Raises FloatingPointError if an iterate
    overflows (possible for Jacobi with large ‖A‖). Returns a ``ParallelRNNResult``.
    """
    Aa, ua, x0a = _check_rnn(A, u, x0)
    T = ua.shape[0]
    n_max = T if n_iter is None else _count(n_iter, "n_iter")
    if tol is not None and not (math.isfinite(float(tol)) and float(tol) >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if mode not in ("jacobi", "diag_jacobian", "newton"):
        raise ValueError(f"mode must be 'jacobi', 'diag_jacobian' or 'newton', got {mode!r}")
    sech2_u = 1.0 - np.tanh(ua) ** 2
    X = np.zeros_like(ua)
    deltas: list[float] = []
    residuals: list[float] = []
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(1, n_max + 1):
            Xprev = np.vstack([x0a[None], X[:-1]])
            f = np.tanh(Xprev @ Aa.T + ua)
            if n > 1:
                residuals.append(float(np.max(np.abs(X - f))))
            # Solve for the correction δ = X⁽ⁿ⁾ − X⁽ⁿ⁻¹⁾: δ_t = A_t δ_{t−1} + (f_t − x_t⁽ⁿ⁻¹⁾), δ_0 = 0, then
            # x_t⁽ⁿ⁾ = f_t + A_t δ_{t−1}. Where X⁽ⁿ⁻¹⁾ is already a fixed point the residual is exactly 0,
            # so those positions stay bit-exact (the literal scan of b_t = f_t − A_t x_{t−1} does not).
            if mode == "jacobi":
                At: Array = Aa
            else:
                At = (sech2_u if mode == "diag_jacobian" else 1.0 - f**2)[:, :, None] * Aa
            delta = linear_scan_affine(At, f - X)
            shifted = np.vstack([np.zeros((1, X.shape[1])), delta[:-1]])
            if At.ndim == 2:
                X_new = f + shifted @ At.T
            else:
                X_new = f + np.einsum("tij,tj->ti", At, shifted)
            if not np.all(np.isfinite(X_new)):
                raise FloatingPointError(f"{mode} iterate {n} overflowed; the iteration diverges for this A")
            deltas.append(float(np.max(np.abs(X_new - X))))
            X = X_new
            stop = callback(n, X) if callback is not None else None
            if stop or (tol is not None and deltas[-1] <= tol):
                break
        Xprev = np.vstack([x0a[None], X[:-1]])
        residuals.append(float(np.max(np.abs(X - np.tanh(Xprev @ Aa.T + ua)))))
    return ParallelRNNResult(X, np.array(deltas), np.array(residuals))

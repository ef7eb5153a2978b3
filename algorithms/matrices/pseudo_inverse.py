"""B8. The pseudo-inverse (SVD / eigen forms, ridge limit), least-squares factors, the SVD from an
eigendecomposition and the best rank-r approximation (Eckart–Young–Mirsky).

Articles: https://kexue.fm/archives/10407, https://kexue.fm/archives/10366.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms._checks import _array, _int_in
from algorithms.matrices._common import _pos

__all__ = [
    "best_rank_r",
    "pinv",
    "pinv_ridge",
    "solve_left_factor",
    "solve_right_factor",
    "svd_via_eig",
]


_EPS = np.finfo(np.float64).eps

URL_B8 = "https://kexue.fm/archives/10407"


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

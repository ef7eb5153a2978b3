"""B12. Completeness of RoPE: R_n = exp(nB) for a skew-symmetric B, the real-Schur reduction to
block-diagonal RoPE, multi-dimensional RoPE with commuting generators and the relative property check.

Article: https://kexue.fm/archives/9403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.linalg

from algorithms._checks import _array
from algorithms.attention._common import Array, _ndim

__all__ = [
    "check_relative_property",
    "rope_general",
    "rope_matrix",
    "rope_multidim",
    "skew_to_block_diag",
]


def _square(B: npt.ArrayLike, name: str = "B") -> Array:
    M = _array(B, name)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {M.shape}")
    return M


def _skew_error(M: Array) -> float:
    return float(np.max(np.abs(M + M.T)) / max(1.0, float(np.max(np.abs(M)))))


def rope_matrix(n: float, thetas: npt.ArrayLike) -> Array:
    """R_n = blockdiag(R_{nθ_0}, …), R_φ = [[cos φ, −sin φ], [sin φ, cos φ]]; (d, d) with d = 2·len(thetas).

    https://kexue.fm/archives/9403
    """
    th = _array(thetas, "thetas")
    _ndim(th, "thetas", 1)
    if th.size == 0:
        raise ValueError("thetas must not be empty")
    n_arr = _array(n, "n")
    if n_arr.ndim:
        raise ValueError("n must be a real scalar position")
    nv = float(n_arr)
    c, s = np.cos(nv * th), np.sin(nv * th)
    d = 2 * th.size
    R = np.zeros((d, d))
    e = np.arange(0, d, 2)
    R[e, e], R[e, e + 1], R[e + 1, e], R[e + 1, e + 1] = c, -s, s, c
    return R


def skew_to_block_diag(B: npt.ArrayLike) -> tuple[Array, Array]:
    """Real Schur form of a skew-symmetric B: B = P blockdiag(J_θ) Pᵀ, J_θ = [[0, −θ], [θ, 0]], θ ≥ 0.

    https://kexue.fm/archives/9403 . B (d, d), d even -> (P orthogonal (d, d), thetas (d/2,)).
    Zero eigenvalues (1×1 Schur blocks) are paired into J_0 blocks; a negative θ is made positive by
    swapping the pair's columns.
    """
    M = _square(B)
    d = M.shape[0]
    if d % 2:
        raise ValueError(f"B must have even order, got {d}")
    if _skew_error(M) > 1e-10:
        raise ValueError("B must be skew-symmetric (B^T = -B)")
    T, Z = scipy.linalg.schur(M, output="real")
    tol = 1e-12 * max(1.0, float(np.max(np.abs(M))))
    sub = np.abs(np.diag(T, -1)) > tol
    starts = np.flatnonzero(sub)  # first index of each 2x2 block
    covered = np.zeros(d, dtype=bool)
    covered[starts], covered[starts + 1] = True, True
    singles = np.flatnonzero(~covered)  # zero eigenvalues; an even number of them
    th = (T[starts + 1, starts] - T[starts, starts + 1]) / 2.0
    first = np.where(th >= 0, starts, starts + 1)
    second = np.where(th >= 0, starts + 1, starts)
    order = np.empty(d, dtype=np.intp)
    order[0 : 2 * starts.size : 2], order[1 : 2 * starts.size : 2] = first, second
    order[2 * starts.size :] = singles
    thetas = np.concatenate([np.abs(th), np.zeros(singles.size // 2)])
    return Z[:, order], thetas


def rope_general(
    B: npt.ArrayLike, n: float, method: Literal["expm", "schur"] = "expm", check: bool = True
) -> Array:
    """General RoPE R_n = exp(n·B) for a skew-symmetric generator B (then R_mᵀ R_n = R_{n−m}).

    https://kexue.fm/archives/9403 . ``method="schur"`` evaluates P·blockdiag(R_{nθ})·Pᵀ (exact trig,
    better for large n‖B‖). ``check=False`` accepts a non-skew B, for which the relative property fails.
    """
    M = _square(B)
    nv = _array(n, "n")
    if nv.ndim:
        raise ValueError("n must be a real scalar position")
    if check and _skew_error(M) > 1e-10:
        raise ValueError(
            "B must be skew-symmetric for R_n = exp(nB) to be a RoPE (pass check=False to override)"
        )
    if method == "expm":
        return scipy.linalg.expm(float(nv) * M)
    if method == "schur":
        P, thetas = skew_to_block_diag(M)
        return P @ rope_matrix(float(nv), thetas) @ P.T
    raise ValueError(f"method must be 'expm' or 'schur', got {method!r}")


def rope_multidim(generators: npt.ArrayLike, pos: npt.ArrayLike, check: bool = True) -> Array:
    """Multi-dimensional RoPE R_pos = exp(Σ_k pos_k B_k), e.g. R_{(x,y)} = exp(x B_1 + y B_2).

    https://kexue.fm/archives/9403 . generators (K, d, d), pos (K,). The relative property needs skew,
    pairwise commuting B_k; ``check`` (default) enforces both, ``check=False`` skips it.
    """
    G = _array(generators, "generators")
    if G.ndim != 3 or G.shape[1] != G.shape[2] or G.shape[0] == 0:
        raise ValueError(f"generators must have shape (K, d, d), got {G.shape}")
    p = _array(pos, "pos")
    if p.shape != (G.shape[0],):
        raise ValueError(f"pos must have shape ({G.shape[0]},), got {p.shape}")
    if check:
        if max(_skew_error(g) for g in G) > 1e-10:
            raise ValueError("every generator must be skew-symmetric")
        comm = np.einsum("aij,bjk->abik", G, G)
        comm = comm - np.swapaxes(comm, 0, 1)
        if np.max(np.abs(comm)) > 1e-10 * max(1.0, float(np.max(np.abs(G))) ** 2):
            raise ValueError("generators must commute pairwise (pass check=False to override)")
    return scipy.linalg.expm(np.tensordot(p, G, axes=1))


def check_relative_property(
    R_fn: Callable[[Any], npt.ArrayLike], m: npt.ArrayLike, n: npt.ArrayLike
) -> float:
    """Max-abs error of R_mᵀ R_n − R_{n−m} for a position-to-matrix map R_fn (0 for a valid RoPE).

    https://kexue.fm/archives/9403 . m, n are scalars or equal-length tuples (multi-dim positions).
    """
    ma, na = _array(m, "m"), _array(n, "n")
    if ma.shape != na.shape or ma.ndim > 1:
        raise ValueError("m and n must be scalars or 1-D positions of the same length")

    def as_pos(a: Array) -> Any:
        return float(a) if a.ndim == 0 else tuple(float(x) for x in a)

    Rm, Rn, Rd = (_square(R_fn(as_pos(p)), "R_fn(pos)") for p in (ma, na, na - ma))
    if not Rm.shape == Rn.shape == Rd.shape:
        raise ValueError("R_fn must return matrices of one shape")
    return float(np.max(np.abs(Rm.T @ Rn - Rd)))

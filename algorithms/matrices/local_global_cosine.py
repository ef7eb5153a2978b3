"""A5. Local vs global cosine similarity: cos(x, y) = Σ wᵢcᵢ over blocks, no lower bound from the local
cosines, Pearson r as a cosine and Simpson's paradox.

Article: https://kexue.fm/archives/9931.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from algorithms._checks import _array
from algorithms.matrices._common import _pos

__all__ = [
    "blockwise_cosine",
    "cosine",
    "global_cosine_from_blocks",
    "pearson_as_cosine",
    "simpson_example",
]


URL_A5 = "https://kexue.fm/archives/9931"


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

"""Private validation helpers shared by the diffusion modules: bounded scalars, callables and
quadrature weights (used by B1, B2, B9, B10 and B14b).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms._checks import _array


def _scalar(
    x: Any,
    name: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    if isinstance(x, bool):
        raise ValueError(f"{name} must be a real number, got a bool")
    try:
        v = float(np.asarray(x, dtype=np.float64).reshape(()))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real scalar") from exc
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"{name} must be {'<' if hi_open else '<='} {hi}, got {v}")
    return v


def _callable(f: Any, name: str) -> None:
    if not callable(f):
        raise ValueError(f"{name} must be callable")


def _weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = _array(weights, "weights", ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"weights must have length {n}, got {w.shape[0]}")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    total = w.sum()
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    return w / total

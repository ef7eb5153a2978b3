"""Private helpers shared by the probability modules: the ``Array`` alias, a positive-scalar check,
probability-row validation and a stable log-softmax (used by A2, A7, A8, A10, A11 and B5).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from algorithms._checks import _array

Array = npt.NDArray[Any]


def _positive(v: Any, name: str, *, allow_zero: bool = False) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real number") from exc
    if not math.isfinite(f) or f < 0 or (f == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {v!r}")
    return f


def _prob_rows(
    p: npt.ArrayLike, name: str, *, min_ndim: int = 1, atol: float = 1e-6, renormalize: bool = True
) -> Array:
    """Probability vectors on the last axis: finite, non-negative, summing to 1 (then renormalised)."""
    a = _array(p, name, min_ndim=min_ndim)
    if a.shape[-1] == 0:
        raise ValueError(f"{name} has an empty last axis (no categories)")
    if (a < 0).any():
        raise ValueError(f"{name} has negative probabilities")
    s = a.sum(axis=-1, keepdims=True)
    if not np.allclose(s, 1.0, rtol=0, atol=atol):
        raise ValueError(f"{name} rows must sum to 1 (within {atol})")
    return a / s if renormalize else a


def _log_softmax(z: Array) -> Array:
    """log_softmax over the last axis; rows must contain a finite entry."""
    return z - special.logsumexp(z, axis=-1, keepdims=True)

"""Private helpers shared by the attention modules: the ``Array`` alias, dimension and positivity
checks, the masked row softmax and the Q/K/V validator (used by A1, B6 and B11).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from algorithms._checks import _array

Array = npt.NDArray[Any]


def _ndim(a: Array, name: str, ndim: int | tuple[int, ...]) -> None:
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {a.shape}")


def _positive(x: float, name: str, *, minimum: float = 0.0, strict: bool = True) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {x!r}") from None
    if not math.isfinite(v) or (v <= minimum if strict else v < minimum):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} {minimum}, got {x!r}")
    return v


def _masked_softmax(logits: Array, allowed: Array | None = None) -> Array:
    """Row softmax over the last axis with a stable max shift; ``allowed`` False -> probability 0."""
    if allowed is not None:
        allowed = np.broadcast_to(allowed, logits.shape)
        if not np.all(np.any(allowed, axis=-1)):
            raise ValueError("mask leaves a query row with no visible key")
        logits = np.where(allowed, logits, -np.inf)
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def _qkv(q: npt.ArrayLike, k: npt.ArrayLike, v: npt.ArrayLike) -> tuple[Array, Array, Array]:
    Q, K, V = _array(q, "Q"), _array(k, "K"), _array(v, "V")
    for name, a in (("Q", Q), ("K", K), ("V", V)):
        if a.ndim < 2:
            raise ValueError(f"{name} must have shape (..., n, d), got {a.shape}")
    if Q.shape[-1] != K.shape[-1]:
        raise ValueError(f"Q and K must share the last dimension d, got {Q.shape} and {K.shape}")
    if K.shape[-2] != V.shape[-2]:
        raise ValueError(f"K and V must have the same number of keys, got {K.shape} and {V.shape}")
    try:
        np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    except ValueError:
        raise ValueError(f"batch shapes of Q {Q.shape}, K {K.shape}, V {V.shape} do not broadcast") from None
    return Q, K, V

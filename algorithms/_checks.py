"""Private input checks shared by the ``algorithms`` modules.

Only checks whose logic and error messages were identical in several modules live here, so that
each rule is written once; checks whose messages or defaults differ stay in their own module.
Every failure raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def _array(x: npt.ArrayLike, name: str, *, complex_ok: bool = False) -> npt.NDArray[Any]:
    """A finite real (or, with ``complex_ok``, complex) array; integers and booleans become float64."""
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged input
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    kinds = "biufc" if complex_ok else "biuf"
    if a.dtype.kind not in kinds:
        raise ValueError(f"{name} must be a {'numeric' if complex_ok else 'real'} array, got {a.dtype}")
    if a.dtype.kind in "biu":
        a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _int(x: Any, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """``x`` as a Python int (bools refused) with optional bounds, each reported on its own."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {x!r}")
    v = int(x)
    if lo is not None and v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}, got {v}")
    return v


def _count(x: Any, name: str, *, minimum: int = 1) -> int:
    """A count: an integer >= ``minimum`` (1 unless told)."""
    return _int(x, name, lo=minimum)


def _int_in(x: Any, name: str, lo: int, hi: int | None = None) -> int:
    """``x`` as a Python int in ``[lo, hi]``; the message names the whole interval."""
    v = _int(x, name)
    if v < lo or (hi is not None and v > hi):
        bounds = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be in {bounds}, got {v}")
    return v


def _rng(rng: Any) -> np.random.Generator:
    """A Generator passes through; a seed or None seeds a new one."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

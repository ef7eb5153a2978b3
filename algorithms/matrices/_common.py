"""Private helper shared by the matrix modules: a finite positive (or non-negative) scalar check (used
by A5, A9, B8 and B14a).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _pos(x: Any, name: str, allow_zero: bool = False) -> float:
    """``x`` as a finite positive (or non-negative) float."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {x!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a finite {kind} number, got {x!r}")
    return v

"""Private helper shared by the scaling modules: a 0-d result as a Python scalar (used by A3 and A6)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _out(a: np.ndarray) -> Any:
    return a.item() if a.ndim == 0 else a

"""B9. Skip Tuning: skip coefficients ρ_i, a wrapper scaling a UNet's skip tensors, a toy NumPy UNet and
the paper's reported FIDs.

Article: https://kexue.fm/archives/10077.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from algorithms._checks import RngLike, _array, _int, _rng
from algorithms.diffusion._common import _callable, _scalar

__all__ = [
    "SKIP_TUNING_REPORTED",
    "ToyUNet",
    "apply_skip_tuning",
    "skip_coefficients",
]


#: Numbers from the Skip-Tuning paper abstract (arXiv 2402.15170) quoted by the article:
#: FID of EDM on ImageNet-64 with skip tuning at 19 / 39 NFEs, and EDM-2's best FID.
SKIP_TUNING_REPORTED: dict[str, Any] = {"EDM-ImageNet64": {19: 1.75, 39: 1.57}, "EDM2_best": 1.58}


def skip_coefficients(num_skips: int, rho_bottom: float, rho_top: float = 1.0) -> np.ndarray:
    """Skip-tuning coefficients ρ_i = ρ_top + (ρ_bottom − ρ_top)·i/k, i = 0 (top) .. k (deepest).

    num_skips = k+1; a single skip returns [ρ_top]. https://kexue.fm/archives/10077
    """
    k1 = _int(num_skips, "num_skips", lo=1)
    rb = _scalar(rho_bottom, "rho_bottom", lo=0.0)
    rt = _scalar(rho_top, "rho_top", lo=0.0)
    if k1 == 1:
        return np.array([rt])
    return np.linspace(rt, rb, k1)


def apply_skip_tuning(unet_forward: Callable[..., Any], coeffs: Any) -> Callable[..., Any]:
    """Wrap a UNet so the decoder consumes ρ_i·h_i instead of each skip tensor h_i.

    ``unet_forward(x, ..., skip_hook=None)`` must call ``skip_hook(skips) -> skips`` on its
    list of skip tensors (top first). A hook passed to the wrapper runs before the scaling.
    https://kexue.fm/archives/10077
    """
    _callable(unet_forward, "unet_forward")
    c = _array(coeffs, "coeffs", ndim=1)
    if c.shape[0] == 0:
        raise ValueError("coeffs must contain at least one coefficient")

    def tuned(x: Any, *args: Any, skip_hook: Callable[[list], list] | None = None, **kwargs: Any) -> Any:
        def hook(skips: list) -> list:
            if skip_hook is not None:
                skips = list(skip_hook(skips))
            if len(skips) != c.shape[0]:
                raise ValueError(f"network has {len(skips)} skips but {c.shape[0]} coefficients")
            return [ci * s for ci, s in zip(c, skips, strict=True)]

        return unet_forward(x, *args, skip_hook=hook, **kwargs)

    return tuned


class ToyUNet:
    """Tiny NumPy UNet: ``depth`` tanh down blocks, a bottleneck, ``depth`` up blocks, added skips.

    down: h_{i+1} = tanh(h_i W_i + b_i), skip s_i = h_{i+1}; up (i = depth−1..0):
    u = tanh((u + s_i) U_i + c_i); output u·W_out. https://kexue.fm/archives/10077
    """

    def __init__(self, dim: int, hidden: int = 16, depth: int = 3, rng: RngLike = None):
        self.dim = _int(dim, "dim", lo=1)
        self.hidden = _int(hidden, "hidden", lo=1)
        self.depth = _int(depth, "depth", lo=1)
        rng = _rng(0 if rng is None else rng)  # None: a fixed seed, so the toy net is reproducible
        h = self.hidden
        ins = [self.dim, *([h] * (self.depth - 1))]
        self.down = [(rng.standard_normal((i, h)) / np.sqrt(i), 0.1 * rng.standard_normal(h)) for i in ins]
        self.mid = (rng.standard_normal((h, h)) / np.sqrt(h), 0.1 * rng.standard_normal(h))
        self.up = [(rng.standard_normal((h, h)) / np.sqrt(h), 0.1 * rng.standard_normal(h)) for _ in ins]
        self.out = rng.standard_normal((h, self.dim)) / np.sqrt(h)

    def __call__(self, x: Any, skip_hook: Callable[[list], list] | None = None) -> np.ndarray:
        """Forward pass on x of shape (N, dim); ``skip_hook`` may rewrite the skip list."""
        u = _array(x, "x", ndim=2)
        if u.shape[1] != self.dim:
            raise ValueError(f"x must have shape (N, {self.dim}), got {u.shape}")
        skips = []
        for W, b in self.down:
            u = np.tanh(u @ W + b)
            skips.append(u)
        if skip_hook is not None:
            skips = list(skip_hook(skips))
            if len(skips) != self.depth:
                raise ValueError(f"skip_hook must return {self.depth} skip tensors")
        u = np.tanh(u @ self.mid[0] + self.mid[1])
        for i in range(self.depth - 1, -1, -1):
            U, c = self.up[i]
            u = np.tanh((u + skips[i]) @ U + c)
        return u @ self.out

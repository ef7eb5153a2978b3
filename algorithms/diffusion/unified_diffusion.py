"""B2. Unified Diffusion Model, continuous part: hot diffusion (forward, x̂0 from ε̂, the reverse step with
DDIM σ = 0 or DDPM σ, the σ̃ noise-inversion form, full sampling) and cold diffusion (naive / improved).

Article: https://kexue.fm/archives/9271 (theory: https://kexue.fm/archives/9262).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from algorithms._checks import RngLike, _array, _int, _rng
from algorithms.diffusion._common import _callable, _scalar

__all__ = [
    "cold_sample",
    "ddpm_sigmas",
    "hot_forward",
    "hot_predict_x0",
    "hot_reverse_step",
    "hot_sample",
    "udm_sigma_tilde_step",
]


def _noise(rng: Any, noise: Any, shape: tuple[int, ...], need: bool) -> np.ndarray:
    gen = _rng(rng)  # validated even when no draw is needed
    if noise is not None:
        z = _array(noise, "noise")
        if z.shape != shape:
            raise ValueError(f"noise must have shape {shape}, got {z.shape}")
        return z
    if not need:
        return np.zeros(shape)
    return gen.standard_normal(shape)


def hot_forward(x0: Any, abar_t: float, bbar_t: float, eps: Any) -> np.ndarray:
    """Hot-diffusion forward map x_t = ᾱ_t·x0 + β̄_t·ε.  https://kexue.fm/archives/9271"""
    x = _array(x0, "x0")
    e = _array(eps, "eps")
    if x.shape != e.shape:
        raise ValueError(f"x0 {x.shape} and eps {e.shape} must have the same shape")
    a = _scalar(abar_t, "abar_t")
    b = _scalar(bbar_t, "bbar_t", lo=0.0)
    return a * x + b * e


def hot_predict_x0(x_t: Any, eps_hat: Any, abar_t: float, bbar_t: float) -> np.ndarray:
    """UDM predictor for hot diffusion: x̂0 = (x_t − β̄_t·ε_θ(x_t, t))/ᾱ_t.

    https://kexue.fm/archives/9271
    """
    xt = _array(x_t, "x_t")
    e = _array(eps_hat, "eps_hat")
    if xt.shape != e.shape:
        raise ValueError(f"x_t {xt.shape} and eps_hat {e.shape} must have the same shape")
    a = _scalar(abar_t, "abar_t")
    if a == 0.0:
        raise ValueError("abar_t must be non-zero to invert x_t = abar_t x0 + bbar_t eps")
    b = _scalar(bbar_t, "bbar_t", lo=0.0)
    return (xt - b * e) / a


def _step_inputs(
    x_t: Any, x0_hat: Any, abar_t: float, bbar_t: float, abar_prev: float, bbar_prev: float
) -> tuple[np.ndarray, np.ndarray, float, float, float, float]:
    """The checks both UDM reverse steps make: x_t and x̂0 alike in shape, β̄_t > 0, β̄_{t−1} ≥ 0."""
    xt = _array(x_t, "x_t")
    x0 = _array(x0_hat, "x0_hat")
    if xt.shape != x0.shape:
        raise ValueError(f"x_t {xt.shape} and x0_hat {x0.shape} must have the same shape")
    at = _scalar(abar_t, "abar_t")
    bt = _scalar(bbar_t, "bbar_t", lo=0.0, lo_open=True)
    ap = _scalar(abar_prev, "abar_prev")
    bp = _scalar(bbar_prev, "bbar_prev", lo=0.0)
    return xt, x0, at, bt, ap, bp


def hot_reverse_step(
    x_t: Any,
    x0_hat: Any,
    abar_t: float,
    bbar_t: float,
    abar_prev: float,
    bbar_prev: float,
    sigma_t: float = 0.0,
    rng: RngLike = None,
    noise: Any = None,
) -> np.ndarray:
    """UDM corrector: x_{t−1} = ᾱ_{t−1}x̂0 + √(β̄_{t−1}² − σ_t²)·(x_t − ᾱ_t x̂0)/β̄_t + σ_t ε.

    σ_t = 0 is DDIM, σ_t = β̄_{t−1}β_t/β̄_t is DDPM (see ``ddpm_sigmas``); requires
    0 ≤ σ_t ≤ β̄_{t−1} and β̄_t > 0. ε comes from ``noise`` if given, else from ``rng``.
    https://kexue.fm/archives/9271
    """
    xt, x0, at, bt, ap, bp = _step_inputs(x_t, x0_hat, abar_t, bbar_t, abar_prev, bbar_prev)
    s = _scalar(sigma_t, "sigma_t", lo=0.0, hi=bp)
    z = _noise(rng, noise, xt.shape, s > 0)
    eps_hat = (xt - at * x0) / bt
    return ap * x0 + np.sqrt(max(bp**2 - s**2, 0.0)) * eps_hat + s * z


def udm_sigma_tilde_step(
    x_t: Any,
    x0_hat: Any,
    abar_t: float,
    bbar_t: float,
    abar_prev: float,
    bbar_prev: float,
    sigma_tilde: float,
    rng: RngLike = None,
    noise: Any = None,
) -> np.ndarray:
    """UDM noise-invertible step x_{t−1} = F_{t−1}(x̂0, √(1−σ̃²)·F_t⁻¹(x̂0, x_t) + σ̃ε).

    For F_t(x0, ε) = ᾱ_t x0 + β̄_t ε; equals ``hot_reverse_step`` with σ_t = β̄_{t−1}σ̃,
    σ̃ ∈ [0, 1].  https://kexue.fm/archives/9271
    """
    xt, x0, at, bt, ap, bp = _step_inputs(x_t, x0_hat, abar_t, bbar_t, abar_prev, bbar_prev)
    st = _scalar(sigma_tilde, "sigma_tilde", lo=0.0, hi=1.0)
    z = _noise(rng, noise, xt.shape, st > 0)
    eps_inv = (xt - at * x0) / bt  # F_t^{-1}(x0, x_t)
    return ap * x0 + bp * (np.sqrt(1.0 - st**2) * eps_inv + st * z)


def _schedule(abar: Any, bbar: Any) -> tuple[np.ndarray, np.ndarray]:
    a = _array(abar, "abar", ndim=1)
    b = _array(bbar, "bbar", ndim=1)
    if a.shape != b.shape or a.shape[0] < 2:
        raise ValueError("abar and bbar must be 1-D of the same length T+1 >= 2 (index 0 = data)")
    if np.any(b < 0) or np.any(b[1:] <= 0):
        raise ValueError("bbar must be >= 0 and strictly positive for t >= 1")
    if np.any(a[1:] == 0):
        raise ValueError("abar must be non-zero for t >= 1")
    return a, b


def ddpm_sigmas(abar: Any, bbar: Any) -> np.ndarray:
    """DDPM corrector noise σ_t = β̄_{t−1}β_t/β̄_t, β_t² = β̄_t² − (ᾱ_t/ᾱ_{t−1})²β̄_{t−1}².

    ``abar``, ``bbar``: (T+1,) schedules with index 0 = data (ᾱ_0 = 1, β̄_0 = 0 usually);
    returns σ_1..σ_T as a (T,) array.  https://kexue.fm/archives/9271
    """
    a, b = _schedule(abar, bbar)
    if np.any(a[:-1] == 0):
        raise ValueError("abar must be non-zero everywhere for DDPM sigmas")
    alpha = a[1:] / a[:-1]
    beta_sq = b[1:] ** 2 - alpha**2 * b[:-1] ** 2
    if np.any(beta_sq < -1e-12):
        raise ValueError("schedule is not a valid forward process (bbar_t^2 < alpha_t^2 bbar_{t-1}^2)")
    return b[:-1] * np.sqrt(np.clip(beta_sq, 0.0, None)) / b[1:]


def hot_sample(
    x_T: Any,
    x0_predictor: Callable[[np.ndarray, int], Any],
    abar: Any,
    bbar: Any,
    sigmas: Any = None,
    rng: RngLike = None,
) -> np.ndarray:
    """UDM ancestral sampler: for t = T..1, x̂0 = predictor(x_t, t), x_{t−1} = corrector(x_t, x̂0).

    ``sigmas`` (T,) are σ_1..σ_T (None = DDIM, all zero). https://kexue.fm/archives/9271
    """
    x = _array(x_T, "x_T")
    _callable(x0_predictor, "x0_predictor")
    a, b = _schedule(abar, bbar)
    T = a.shape[0] - 1
    s = np.zeros(T) if sigmas is None else _array(sigmas, "sigmas", ndim=1)
    if s.shape[0] != T:
        raise ValueError(f"sigmas must have length T={T}, got {s.shape[0]}")
    if np.any(s < 0) or np.any(s > b[:-1] * (1 + 1e-12)):
        raise ValueError("sigmas must satisfy 0 <= sigma_t <= bbar_{t-1}")
    rng = _rng(rng)  # once: an int seed must not restart the stream at every step
    for t in range(T, 0, -1):
        x0_hat = _array(x0_predictor(x, t), "x0_predictor output")
        if x0_hat.shape != x.shape:
            raise ValueError(f"x0_predictor must return shape {x.shape}, got {x0_hat.shape}")
        x = hot_reverse_step(x, x0_hat, a[t], b[t], a[t - 1], b[t - 1], min(s[t - 1], b[t - 1]), rng)
    return x


def cold_sample(
    x_T: Any,
    F: Callable[[np.ndarray, int], Any],
    G: Callable[[np.ndarray, int], Any],
    T: int,
    improved: bool = True,
    return_trajectory: bool = False,
) -> np.ndarray:
    """Cold-diffusion sampling with degradation F(x0, t) and restorer G(x_t, t) ≈ x0.

    naive: x_{t−1} = F(G(x_t), t−1);  improved: x_{t−1} = x_t + F(x̂0, t−1) − F(x̂0, t).
    F(x, 0) must be the identity. Returns x_0, or the (T+1, ...) trajectory x_T..x_0.
    https://kexue.fm/archives/9271
    """
    x = _array(x_T, "x_T")
    _callable(F, "F")
    _callable(G, "G")
    T = _int(T, "T", lo=1)
    traj = [x]
    for t in range(T, 0, -1):
        x0_hat = _array(G(x, t), "G output")
        if x0_hat.shape != x.shape:
            raise ValueError(f"G must return shape {x.shape}, got {x0_hat.shape}")
        f_prev = _array(F(x0_hat, t - 1), "F output")
        if f_prev.shape != x.shape:
            raise ValueError(f"F must return shape {x.shape}, got {f_prev.shape}")
        if improved:
            f_cur = _array(F(x0_hat, t), "F output")
            if f_cur.shape != x.shape:
                raise ValueError(f"F must return shape {x.shape}, got {f_cur.shape}")
            x = x + f_prev - f_cur
        else:
            x = f_prev
        traj.append(x)
    return np.stack(traj) if return_trajectory else x

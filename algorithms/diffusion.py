"""Diffusion-model algorithms from Scientific Spaces (kexue.fm), in NumPy.

Sections of the library's specification, with the articles they implement:

* B1  score matching vs conditional score matching   (https://kexue.fm/archives/9509)
* B2  Unified Diffusion Model, applications           (https://kexue.fm/archives/9271)
* B9  Skip Tuning for UNet sampling                   (https://kexue.fm/archives/10077)
* B10 self-consuming generative models ("MAD")        (https://kexue.fm/archives/9687)
* B14b Wasserstein distance <= score matching         (https://kexue.fm/archives/9467)

Conventions: float64 arrays, samples on the first axis; ``rng`` is an int seed, None or a
``numpy.random.Generator`` (see ``algorithms/README.md``).
Every public function validates its inputs and raises ``ValueError`` on bad shapes, NaN/inf or
out-of-range parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from scipy.special import logsumexp

from algorithms._checks import RngLike, _array, _int, _n_samples, _rng

__all__ = [  # B1, B2, B9, B10, B14b public names (sorted)
    "SKIP_TUNING_REPORTED",
    "SelfConsumingRun",
    "ToyUNet",
    "apply_skip_tuning",
    "cold_sample",
    "conditional_score_gaussian",
    "csm_loss",
    "ddpm_sigmas",
    "discrete_marginal_score",
    "edit_forward",
    "edit_posterior_sampler_from_table",
    "edit_sample",
    "hot_forward",
    "hot_predict_x0",
    "hot_reverse_step",
    "hot_sample",
    "mask_forward",
    "mask_posterior_from_table",
    "mask_sample",
    "one_sided_lipschitz",
    "ratio_score_estimate",
    "self_consuming_gaussian",
    "self_consuming_log_var_drift",
    "skip_coefficients",
    "sm_loss",
    "udm_sigma_tilde_step",
    "w2_empirical_1d",
    "w2_gaussian_1d",
    "w2_ode_bound",
    "w2_score_bound",
]


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# B1. Score matching vs conditional score matching
# --------------------------------------------------------------------------------------------


def conditional_score_gaussian(x_t: Any, x0: Any, alpha: float, beta: float) -> np.ndarray:
    """Conditional score of the Gaussian kernel: ∇log p_t(x_t|x0) = −(x_t − αx0)/β².

    https://kexue.fm/archives/9509
    """
    xt = _array(x_t, "x_t")
    x0a = _array(x0, "x0")
    try:
        np.broadcast_shapes(xt.shape, x0a.shape)
    except ValueError as exc:
        raise ValueError(f"x_t {xt.shape} and x0 {x0a.shape} do not broadcast") from exc
    a = _scalar(alpha, "alpha")
    b = _scalar(beta, "beta", lo=0.0, lo_open=True)
    return -(xt - a * x0a) / b**2


def discrete_marginal_score(
    x_t: Any, support: Any, alpha: float, beta: float, probs: Any = None
) -> np.ndarray:
    """Score of p_t = Σ_k π_k N(α·x0_k, β²I): ∇log p_t(x_t) = −(x_t − α·E[x0|x_t])/β².

    The posterior weights softmax_k(log π_k − ‖x_t − αx0_k‖²/2β²) are computed in log space.
    Shapes: x_t (..., d), support (..., K, d), probs (..., K) or None (uniform); returns (..., d).
    https://kexue.fm/archives/9509
    """
    xt = _array(x_t, "x_t", min_ndim=1)
    sup = _array(support, "support", min_ndim=2)
    if sup.shape[-1] != xt.shape[-1]:
        raise ValueError(f"support dimension {sup.shape[-1]} != x_t dimension {xt.shape[-1]}")
    if sup.shape[-2] < 1:
        raise ValueError("support must contain at least one point (K >= 1)")
    a = _scalar(alpha, "alpha")
    b = _scalar(beta, "beta", lo=0.0, lo_open=True)
    try:
        diff = xt[..., None, :] - a * sup  # (..., K, d)
    except ValueError as exc:
        raise ValueError(f"x_t {xt.shape} and support {sup.shape} batch dims do not broadcast") from exc
    logw = -0.5 * np.sum(diff**2, axis=-1) / b**2  # (..., K)
    if probs is not None:
        p = _array(probs, "probs", min_ndim=1)
        if p.shape[-1] != sup.shape[-2]:
            raise ValueError(f"probs has {p.shape[-1]} entries, support has {sup.shape[-2]} points")
        if np.any(p < 0):
            raise ValueError("probs must be non-negative")
        if np.any(p.sum(axis=-1) <= 0):
            raise ValueError("probs must have a positive sum")
        with np.errstate(divide="ignore"):
            logp = np.log(p)
        try:
            logw = logw + logp
        except ValueError as exc:
            raise ValueError(f"probs {p.shape} does not broadcast with the weights {logw.shape}") from exc
    w = np.exp(logw - logsumexp(logw, axis=-1, keepdims=True))
    x0_mean = np.einsum("...k,...kd->...d", w, np.broadcast_to(sup, diff.shape))
    return -(xt - a * x0_mean) / b**2


def ratio_score_estimate(x_t: Any, x0_samples: Any, alpha: float, beta: float) -> np.ndarray:
    """Monte-Carlo ratio-form score: ∇log p_t(x_t) ≈ Σ_k softmax(log w)_k·(−(x_t − αx0_k)/β²).

    w_k = N(x_t; αx0_k, β²I), x0_k ~ p0. Self-normalised, hence biased for finite K.
    Shapes: x_t (..., d), x0_samples (..., K, d); returns (..., d). https://kexue.fm/archives/9509
    """
    return discrete_marginal_score(x_t, x0_samples, alpha, beta)


def _score_values(fn: Callable[[np.ndarray], Any], x: np.ndarray, name: str) -> np.ndarray:
    out = _array(fn(x), f"{name}(x)")
    if out.shape != x.shape:
        raise ValueError(f"{name} must return an array of shape {x.shape}, got {out.shape}")
    return out


def sm_loss(
    score_fn_true: Callable[[np.ndarray], Any],
    s_theta: Callable[[np.ndarray], Any],
    xt_samples: Any,
    weights: Any = None,
) -> float:
    """Score-matching loss L_SM = E_{x_t~p_t}‖∇log p_t(x_t) − s_θ(x_t)‖² (Monte-Carlo mean).

    ``xt_samples`` is (N, d); ``weights`` (N,) turns the mean into a weighted sum (quadrature).
    https://kexue.fm/archives/9509
    """
    _callable(score_fn_true, "score_fn_true")
    _callable(s_theta, "s_theta")
    x = _array(xt_samples, "xt_samples", ndim=2)
    if x.shape[0] == 0:
        raise ValueError("xt_samples must contain at least one sample")
    w = _weights(weights, x.shape[0])
    r = _score_values(score_fn_true, x, "score_fn_true") - _score_values(s_theta, x, "s_theta")
    return float(w @ np.sum(r**2, axis=1))


def csm_loss(
    s_theta: Callable[[np.ndarray], Any],
    x0: Any,
    eps: Any,
    alpha: float,
    beta: float,
    weights: Any = None,
) -> float:
    """Conditional score matching L_CSM = E‖−ε/β − s_θ(αx0 + βε)‖² (Monte-Carlo mean).

    ``x0`` and ``eps`` are (N, d) pairs; ``weights`` (N,) optional quadrature weights.
    https://kexue.fm/archives/9509
    """
    _callable(s_theta, "s_theta")
    x0a = _array(x0, "x0", ndim=2)
    e = _array(eps, "eps", ndim=2)
    if x0a.shape != e.shape:
        raise ValueError(f"x0 {x0a.shape} and eps {e.shape} must have the same shape")
    if x0a.shape[0] == 0:
        raise ValueError("x0 must contain at least one sample")
    a = _scalar(alpha, "alpha")
    b = _scalar(beta, "beta", lo=0.0, lo_open=True)
    w = _weights(weights, x0a.shape[0])
    xt = a * x0a + b * e
    r = -e / b - _score_values(s_theta, xt, "s_theta")
    return float(w @ np.sum(r**2, axis=1))


# --------------------------------------------------------------------------------------------
# B2. Unified Diffusion Model (applications)
# --------------------------------------------------------------------------------------------


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
    xt = _array(x_t, "x_t")
    x0 = _array(x0_hat, "x0_hat")
    if xt.shape != x0.shape:
        raise ValueError(f"x_t {xt.shape} and x0_hat {x0.shape} must have the same shape")
    at = _scalar(abar_t, "abar_t")
    bt = _scalar(bbar_t, "bbar_t", lo=0.0, lo_open=True)
    ap = _scalar(abar_prev, "abar_prev")
    bp = _scalar(bbar_prev, "bbar_prev", lo=0.0)
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
    xt = _array(x_t, "x_t")
    x0 = _array(x0_hat, "x0_hat")
    if xt.shape != x0.shape:
        raise ValueError(f"x_t {xt.shape} and x0_hat {x0.shape} must have the same shape")
    at = _scalar(abar_t, "abar_t")
    bt = _scalar(bbar_t, "bbar_t", lo=0.0, lo_open=True)
    ap = _scalar(abar_prev, "abar_prev")
    bp = _scalar(bbar_prev, "bbar_prev", lo=0.0)
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


# ---- discrete (token) models ----


def _tokens(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer token array")
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (l,) or (n, l) with l >= 1, got {a.shape}")
    return a.astype(np.int64)


def _random_positions(rng: np.random.Generator, n: int, length: int, t: int) -> np.ndarray:
    """Boolean (n, length) mask with exactly t uniformly chosen True entries per row."""
    order = np.argsort(rng.random((n, length)), axis=1)
    sel = np.zeros((n, length), dtype=bool)
    np.put_along_axis(sel, order[:, :t], True, axis=1)
    return sel


def _pick_one(rng: np.random.Generator, allowed: np.ndarray) -> np.ndarray:
    """Index of one uniformly chosen True entry per row of a boolean (n, l) array."""
    keys = np.where(allowed, rng.random(allowed.shape), -1.0)
    return np.argmax(keys, axis=1)


def _categorical(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One draw per row of an (n, K) probability array (exponential race; zero-mass never wins)."""
    with np.errstate(divide="ignore"):
        keys = rng.exponential(size=p.shape) / p
    return np.argmin(keys, axis=1)


def mask_forward(x0: Any, t: int, rng: RngLike, mask_id: int) -> np.ndarray:
    """Mask-model forward process: replace t uniformly chosen positions by [MASK].

    ``x0`` is (l,) or (n, l) int tokens (none equal to ``mask_id``). https://kexue.fm/archives/9271
    """
    x = _tokens(x0, "x0")
    mask_id = _int(mask_id, "mask_id")
    if np.any(x == mask_id):
        raise ValueError("x0 must not contain mask_id")
    rng = _rng(rng)
    xb = np.atleast_2d(x)
    t = _int(t, "t", lo=0, hi=xb.shape[1])
    out = np.where(_random_positions(rng, xb.shape[0], xb.shape[1], t), mask_id, xb)
    return out if x.ndim == 2 else out[0]


def mask_sample(
    posterior_fn: Callable[[np.ndarray], Any],
    length: int,
    rng: RngLike,
    mask_id: int,
    n_samples: int | None = None,
    *,
    n: int | None = None,
) -> np.ndarray:
    """UDM mask-model sampler: from `length` masks, unmask one uniform masked position per step.

    The token at the chosen position j is drawn from posterior_fn(x_t)[j], the predictor's
    marginal q(x0_j | x_t). ``posterior_fn`` maps (n, l) states to (n, l, V) probabilities.
    Returns (length,) (n_samples=None) or (n_samples, length); ``n`` is the deprecated old name of
    ``n_samples``.  https://kexue.fm/archives/9271
    """
    _callable(posterior_fn, "posterior_fn")
    length = _int(length, "length", lo=1)
    mask_id = _int(mask_id, "mask_id")
    rng = _rng(rng)
    n_samples = _n_samples(n_samples, optional=True, n=n)
    nn = 1 if n_samples is None else n_samples
    x = np.full((nn, length), mask_id, dtype=np.int64)
    rows = np.arange(nn)
    for _ in range(length):
        probs = _array(posterior_fn(x.copy()), "posterior_fn output", ndim=3)
        if probs.shape[:2] != (nn, length):
            raise ValueError(f"posterior_fn must return shape ({nn}, {length}, V), got {probs.shape}")
        V = probs.shape[2]
        if 0 <= mask_id < V:
            raise ValueError(f"mask_id {mask_id} collides with a token id in [0, {V})")
        pos = _pick_one(rng, x == mask_id)
        p = probs[rows, pos]  # (n, V)
        if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-9):
            raise ValueError("posterior_fn rows must be probability vectors (>= 0, sum to 1)")
        x[rows, pos] = _categorical(rng, p)
    return x[0] if n_samples is None else x


def _table(seqs: Any, probs: Any, vocab_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    s = _tokens(seqs, "seqs")
    if s.ndim != 2:
        raise ValueError("seqs must be a (M, l) table of sequences")
    V = _int(vocab_size, "vocab_size", lo=1)
    if np.any(s < 0) or np.any(s >= V):
        raise ValueError(f"seqs tokens must lie in [0, {V})")
    p = _array(probs, "probs", ndim=1)
    if p.shape[0] != s.shape[0]:
        raise ValueError(f"probs must have length {s.shape[0]}, got {p.shape[0]}")
    if np.any(p < 0) or p.sum() <= 0:
        raise ValueError("probs must be non-negative with a positive sum")
    return s, p / p.sum(), V


def _normalise_posterior(w: np.ndarray) -> np.ndarray:
    z = w.sum(axis=1, keepdims=True)
    if np.any(z <= 0):
        raise ValueError("state has zero posterior probability under the data table")
    return w / z


def mask_posterior_from_table(
    seqs: Any, probs: Any, vocab_size: int, mask_id: int
) -> Callable[[np.ndarray], np.ndarray]:
    """Exact mask-model predictor for a finite data table: q(x0|x_t) ∝ p(x0)·[x0 agrees off-mask].

    Returns posterior_fn: (n, l) states -> (n, l, V) per-position marginals.
    https://kexue.fm/archives/9271
    """
    s, p, V = _table(seqs, probs, vocab_size)
    mask_id = _int(mask_id, "mask_id")
    if 0 <= mask_id < V:
        raise ValueError(f"mask_id {mask_id} collides with a token id in [0, {V})")
    onehot = np.eye(V)[s]  # (M, l, V)

    def posterior_fn(x_t: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(_tokens(x_t, "x_t"))
        if x.shape[1] != s.shape[1]:
            raise ValueError(f"x_t must have length {s.shape[1]}")
        ok = np.all((x[:, None, :] == mask_id) | (x[:, None, :] == s[None]), axis=2)  # (n, M)
        post = _normalise_posterior(ok * p)
        return np.einsum("nm,mlv->nlv", post, onehot)

    return posterior_fn


def edit_forward(x0: Any, t: int, V: int, rng: RngLike) -> np.ndarray:
    """Edit-model forward: t uniformly chosen positions get a uniformly random *different* token.

    ``x0`` is (l,) or (n, l) ints in [0, V). https://kexue.fm/archives/9271
    """
    x = _tokens(x0, "x0")
    V = _int(V, "V", lo=2)
    if np.any(x < 0) or np.any(x >= V):
        raise ValueError(f"x0 tokens must lie in [0, {V})")
    rng = _rng(rng)
    xb = np.atleast_2d(x)
    t = _int(t, "t", lo=0, hi=xb.shape[1])
    sel = _random_positions(rng, xb.shape[0], xb.shape[1], t)
    shifted = (xb + rng.integers(1, V, size=xb.shape)) % V
    out = np.where(sel, shifted, xb)
    return out if x.ndim == 2 else out[0]


def edit_sample(
    x0_sampler: Callable[[np.ndarray, int, np.random.Generator], Any],
    length: int,
    V: int,
    rng: RngLike,
    n_samples: int | None = None,
    x_init: Any = None,
    improved: bool = True,
    *,
    n: int | None = None,
) -> np.ndarray:
    """UDM edit-model sampler: x̂0 ~ q(x0|x_t) at Hamming distance t, then revert one edit.

    improved: copy x̂0's token at one uniform differing position into x_t (x_{t−1});
    baseline: x_{t−1} = edit_forward(x̂0, t−1). ``x0_sampler(x_t (n, l), t, rng) -> (n, l)``.
    Returns (length,) (n_samples=None) or (n_samples, length); ``n`` is the deprecated old name of
    ``n_samples``. ``x_init`` (n_samples, length): start state x_l; default uniform tokens as in the
    article, which is
    exact only if x_l ~ p_l (≈ uniform for V ≫ 1).  https://kexue.fm/archives/9271
    """
    _callable(x0_sampler, "x0_sampler")
    length = _int(length, "length", lo=1)
    V = _int(V, "V", lo=2)
    rng = _rng(rng)
    n_samples = _n_samples(n_samples, optional=True, n=n)
    nn = 1 if n_samples is None else n_samples
    if x_init is None:
        x = rng.integers(0, V, size=(nn, length))
    else:
        x = np.atleast_2d(_tokens(x_init, "x_init")).copy()
        if x.shape != (nn, length):
            raise ValueError(f"x_init must have shape ({nn}, {length}), got {x.shape}")
        if np.any(x < 0) or np.any(x >= V):
            raise ValueError(f"x_init tokens must lie in [0, {V})")
    rows = np.arange(nn)
    for t in range(length, 0, -1):
        x0_hat = np.atleast_2d(_tokens(x0_sampler(x.copy(), t, rng), "x0_sampler output"))
        if x0_hat.shape != x.shape:
            raise ValueError(f"x0_sampler must return shape {x.shape}, got {x0_hat.shape}")
        if np.any(x0_hat < 0) or np.any(x0_hat >= V):
            raise ValueError(f"x0_sampler tokens must lie in [0, {V})")
        diff = x0_hat != x
        if np.any(diff.sum(axis=1) != t):
            raise ValueError(f"x0_sampler must return sequences at Hamming distance exactly {t}")
        if improved:
            pos = _pick_one(rng, diff)
            x = x.copy()
            x[rows, pos] = x0_hat[rows, pos]
        else:
            x = edit_forward(x0_hat, t - 1, V, rng)
    return x[0] if n_samples is None else x


def edit_posterior_sampler_from_table(
    seqs: Any, probs: Any, vocab_size: int
) -> Callable[[np.ndarray, int, np.random.Generator], np.ndarray]:
    """Exact edit-model predictor for a finite table: q(x0|x_t) ∝ p(x0)·[Hamming(x0, x_t) = t].

    Returns x0_sampler(x_t (n, l), t, rng) -> (n, l). https://kexue.fm/archives/9271
    """
    s, p, _ = _table(seqs, probs, vocab_size)

    def x0_sampler(x_t: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
        x = np.atleast_2d(_tokens(x_t, "x_t"))
        if x.shape[1] != s.shape[1]:
            raise ValueError(f"x_t must have length {s.shape[1]}")
        ham = np.sum(x[:, None, :] != s[None], axis=2)  # (n, M)
        post = _normalise_posterior((ham == t) * p)
        return s[_categorical(rng, post)]

    return x0_sampler


# --------------------------------------------------------------------------------------------
# B9. Skip Tuning
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# B10. Self-consuming generative models (MAD)
# --------------------------------------------------------------------------------------------


class SelfConsumingRun(NamedTuple):
    """Result of ``self_consuming_gaussian``; index 0 of the first axis is generation 0 (truth).

    mus (G+1, runs, d); covs (G+1, runs, d, d) model covariances Σ̃_t = λΣ_t (may underflow to
    0 on very long runs); log_vars (G+1, runs, d) = log diag Σ̃_t, computed without underflow.
    """

    mus: np.ndarray
    covs: np.ndarray
    log_vars: np.ndarray


def _wishart_identity(rng: np.random.Generator, runs: int, d: int, df: int) -> np.ndarray:
    """(runs, d, d) draws of the scatter matrix of df+1 N(0, I_d) samples (Wishart(df, I))."""
    if df >= d:  # Bartlett decomposition
        A = np.zeros((runs, d, d))
        i = np.arange(d)
        A[:, i, i] = np.sqrt(rng.chisquare(df - i, size=(runs, d)))
        lo = np.tril_indices(d, -1)
        A[:, lo[0], lo[1]] = rng.standard_normal((runs, lo[0].size))
    else:  # singular Wishart: sum of df outer products
        A = rng.standard_normal((runs, d, df))
    return A @ np.swapaxes(A, -1, -2)


def self_consuming_log_var_drift(n: int, lam: float = 1.0) -> float:
    """Per-generation drift of E[log σ_t²] in 1-D: log λ + ψ((n−1)/2) + log 2 − log(n−1).

    https://kexue.fm/archives/9687
    """
    from scipy.special import digamma

    n = _int(n, "n", lo=2)
    lam = _scalar(lam, "lam", lo=0.0, hi=1.0, lo_open=True)
    return float(np.log(lam) + digamma((n - 1) / 2) + np.log(2.0) - np.log(n - 1))


def self_consuming_gaussian(
    n: int,
    generations: int,
    runs: int,
    lam: float = 1.0,
    mu0: Any = 0.0,
    sigma0: float = 1.0,
    d: int = 1,
    real_fixed: int = 0,
    real_fresh: int = 0,
    rng: RngLike = None,
    cov0: Any = None,
) -> SelfConsumingRun:
    """Fully synthetic loop: fit N(μ_t, λΣ_t) to n samples of generation t−1 (unbiased Σ_t).

    μ_t | past ~ N(μ_{t−1}, Σ̃_{t−1}/n), Σ_t ~ Wishart(n−1, Σ̃_{t−1})/(n−1) (drawn exactly via
    sufficient statistics). ``real_fixed`` real samples drawn once per run, and/or ``real_fresh``
    new real samples per generation, are pooled with the n synthetic ones. Generation 0 is
    N(mu0, sigma0²·I) (or N(mu0, cov0)). https://kexue.fm/archives/9687
    """
    n = _int(n, "n", lo=1)
    G = _int(generations, "generations", lo=0)
    runs = _int(runs, "runs", lo=1)
    lam = _scalar(lam, "lam", lo=0.0, hi=1.0, lo_open=True)
    d = _int(d, "d", lo=1)
    nf = _int(real_fixed, "real_fixed", lo=0)
    nr = _int(real_fresh, "real_fresh", lo=0)
    if n + nf + nr - 1 < d:
        raise ValueError(f"need n + real_fixed + real_fresh >= d + 1 = {d + 1} for a full-rank covariance")
    rng = _rng(rng)
    m0 = _array(mu0, "mu0")
    if m0.ndim == 0:
        m0 = np.full(d, float(m0))
    if m0.shape != (d,):
        raise ValueError(f"mu0 must be a scalar or shape ({d},), got {m0.shape}")
    if cov0 is None:
        s0 = _scalar(sigma0, "sigma0", lo=0.0, lo_open=True)
        C0 = s0**2 * np.eye(d)
    else:
        C0 = _array(cov0, "cov0", ndim=2)
        if C0.shape != (d, d) or not np.allclose(C0, C0.T):
            raise ValueError(f"cov0 must be a symmetric ({d}, {d}) matrix")
    try:
        L0 = np.linalg.cholesky(C0)
    except np.linalg.LinAlgError as exc:
        raise ValueError("cov0 must be positive definite") from exc

    def real_stats(k: int) -> tuple[np.ndarray, np.ndarray]:
        mean = m0 + rng.standard_normal((runs, d)) @ L0.T / np.sqrt(k)
        scatter = L0 @ _wishart_identity(rng, runs, d, k - 1) @ L0.T
        return mean, scatter

    fixed = real_stats(nf) if nf > 0 else None

    # state: Σ̃ = exp(s)·R with trace(R) = d, so long synthetic runs never underflow
    tr0 = np.trace(C0) / d
    s = np.full(runs, np.log(tr0))
    R = np.broadcast_to(C0 / tr0, (runs, d, d)).copy()
    mu = np.broadcast_to(m0, (runs, d)).copy()

    mus = np.empty((G + 1, runs, d))
    covs = np.empty((G + 1, runs, d, d))
    log_vars = np.empty((G + 1, runs, d))
    diag = np.arange(d)

    def record(g: int) -> None:
        mus[g] = mu
        with np.errstate(under="ignore"):
            covs[g] = np.exp(s)[:, None, None] * R
        log_vars[g] = s[:, None] + np.log(R[:, diag, diag])

    record(0)
    total = n + nf + nr
    for g in range(1, G + 1):
        L = np.linalg.cholesky(R)
        with np.errstate(under="ignore"):
            half = np.exp(0.5 * s)[:, None]
            m_syn = mu + half * np.einsum("rij,rj->ri", L, rng.standard_normal((runs, d))) / np.sqrt(n)
        W_syn = L @ _wishart_identity(rng, runs, d, n - 1) @ np.swapaxes(L, -1, -2)  # scaled by e^{-s}
        if nf == 0 and nr == 0:
            mu = m_syn
            S = W_syn
            log_ref = s
        else:
            groups = [(n, m_syn, np.exp(s)[:, None, None] * W_syn)]
            if fixed is not None:
                groups.append((nf, *fixed))
            if nr > 0:
                groups.append((nr, *real_stats(nr)))
            mu = sum(c * m for c, m, _ in groups) / total
            S = sum(sc for _, _, sc in groups)
            for c, m, _ in groups:
                dm = m - mu
                S = S + c * dm[:, :, None] * dm[:, None, :]
            log_ref = np.zeros(runs)
        tr = np.trace(S, axis1=1, axis2=2) / d
        R = S / tr[:, None, None]
        R = 0.5 * (R + np.swapaxes(R, -1, -2))
        s = log_ref + np.log(tr) + np.log(lam) - np.log(total - 1)
        record(g)
    return SelfConsumingRun(mus, covs, log_vars)


# --------------------------------------------------------------------------------------------
# B14b. W2 distance <= score matching
# --------------------------------------------------------------------------------------------


def w2_gaussian_1d(m1: float, s1: float, m2: float, s2: float) -> float:
    """W₂ between 1-D Gaussians: W₂[N(m1,s1²), N(m2,s2²)] = √((m1−m2)² + (s1−s2)²).

    https://kexue.fm/archives/9467
    """
    m1 = _scalar(m1, "m1")
    m2 = _scalar(m2, "m2")
    s1 = _scalar(s1, "s1", lo=0.0)
    s2 = _scalar(s2, "s2", lo=0.0)
    return float(np.hypot(m1 - m2, s1 - s2))


def w2_empirical_1d(x: Any, y: Any) -> float:
    """W₂ between two equal-size 1-D samples: √(mean((sort x − sort y)²)) (monotone coupling).

    https://kexue.fm/archives/9467
    """
    a = _array(x, "x", ndim=1)
    b = _array(y, "y", ndim=1)
    if a.shape != b.shape or a.shape[0] == 0:
        raise ValueError(f"x and y must be non-empty with the same length, got {a.shape}, {b.shape}")
    return float(np.sqrt(np.mean((np.sort(a) - np.sort(b)) ** 2)))


def one_sided_lipschitz(
    g: Callable[[np.ndarray, float], Any],
    t: float,
    x: Any,
    y: Any,
    convention: str = "backward",
) -> float:
    """Empirical one-sided Lipschitz constant of g_t over pairs (x_i, y_i), shapes (N, d).

    backward (correct for the bound): L = max −(g(x)−g(y))·(x−y)/‖x−y‖²;
    "article" (literal text, ⚠ wrong sign): max (g(x)−g(y))·(x−y)/‖x−y‖².
    https://kexue.fm/archives/9467
    """
    _callable(g, "g")
    t = _scalar(t, "t")
    xa = _array(x, "x", ndim=2)
    ya = _array(y, "y", ndim=2)
    if xa.shape != ya.shape or xa.shape[0] == 0:
        raise ValueError("x and y must be non-empty (N, d) arrays of the same shape")
    if convention not in ("backward", "article"):
        raise ValueError("convention must be 'backward' or 'article'")
    dx = xa - ya
    nrm = np.sum(dx**2, axis=1)
    if np.any(nrm == 0):
        raise ValueError("pairs must be distinct (x_i != y_i)")
    gx = _array(g(xa, t), "g(x, t)")
    gy = _array(g(ya, t), "g(y, t)")
    if gx.shape != xa.shape or gy.shape != xa.shape:
        raise ValueError(f"g must return shape {xa.shape}")
    q = np.sum((gx - gy) * dx, axis=1) / nrm
    return float(np.max(-q if convention == "backward" else q))


def _gauss_legendre(T: float, n_quad: int) -> tuple[np.ndarray, np.ndarray]:
    u, w = np.polynomial.legendre.leggauss(n_quad)
    return 0.5 * T * (u + 1.0), 0.5 * T * w


def _growth_factors(L_fn: Any, T: float, t_nodes: np.ndarray, n_quad: int) -> tuple[np.ndarray, float]:
    """I_t = exp(∫_0^t L_s ds) at the nodes and at T (Gauss–Legendre on each [0, t])."""
    if callable(L_fn):
        u, w = np.polynomial.legendre.leggauss(n_quad)
        pts = np.append(t_nodes, T)
        s = 0.5 * pts[:, None] * (u[None, :] + 1.0)
        vals = _array(L_fn(s), "L_fn(t)")
        if vals.ndim == 0:
            vals = np.full(s.shape, float(vals))
        if vals.shape != s.shape:
            raise ValueError("L_fn must be vectorised: given an array of times return the same shape")
        integral = 0.5 * pts * (vals @ w)
    else:
        L = _scalar(L_fn, "L_fn")
        integral = L * np.append(t_nodes, T)
    growth = np.exp(integral)
    return growth[:-1], float(growth[-1])


def _expect_sq(samples: Any, h: Callable[[np.ndarray], np.ndarray], name: str) -> float:
    if isinstance(samples, tuple):
        if len(samples) != 2:
            raise ValueError(f"{name} must return samples or a (points, weights) pair")
        pts = _array(samples[0], f"{name} points")
        w = _weights(samples[1], pts.shape[0] if pts.ndim else 0)
    else:
        pts = _array(samples, f"{name} samples")
        if pts.ndim == 0 or pts.shape[0] == 0:
            raise ValueError(f"{name} must return a non-empty array of samples")
        w = _weights(None, pts.shape[0])
    diff = h(pts)
    sq = diff**2 if diff.ndim == 1 else np.sum(diff.reshape(diff.shape[0], -1) ** 2, axis=1)
    return float(w @ sq)


def w2_ode_bound(
    f: Callable[[np.ndarray, float], Any],
    g: Callable[[np.ndarray, float], Any],
    L_fn: Callable[[np.ndarray], Any] | float,
    sample_x_t: Callable[[float], Any],
    T: float,
    n_quad: int = 64,
    w2_T: float = 0.0,
) -> float:
    """W₂[p₀,q₀] ≤ ∫₀ᵀ I_t (E_{x~p_t}‖f_t(x) − g_t(x)‖²)^½ dt + I_T·W₂[p_T,q_T], I_t = e^{∫₀ᵗL}.

    Flows dx/dt = f_t(x), dy/dt = g_t(y) integrated from T down to 0; L_t is g's one-sided
    Lipschitz constant in the backward sense −(g(x)−g(y))·(x−y) ≤ L_t‖x−y‖² (⚠ the article's
    literal sign is wrong). ``sample_x_t(t)`` returns samples of p_t, (N,) or (N, d), or a
    (points, weights) pair; ``L_fn`` is a constant or a vectorised function of t.
    Gauss–Legendre quadrature in t with ``n_quad`` nodes. https://kexue.fm/archives/9467
    """
    _callable(f, "f")
    _callable(g, "g")
    _callable(sample_x_t, "sample_x_t")
    T = _scalar(T, "T", lo=0.0, lo_open=True)
    n_quad = _int(n_quad, "n_quad", lo=1)
    w2_T = _scalar(w2_T, "w2_T", lo=0.0)
    t_nodes, t_w = _gauss_legendre(T, n_quad)
    growth, growth_T = _growth_factors(L_fn, T, t_nodes, n_quad)
    rms = np.empty(n_quad)
    for i, t in enumerate(t_nodes):  # loop over time nodes, vectorised over samples

        def h(x: np.ndarray, t: float = float(t)) -> np.ndarray:
            fx = _array(f(x, t), "f(x, t)")
            gx = _array(g(x, t), "g(x, t)")
            if fx.shape != x.shape or gx.shape != x.shape:
                raise ValueError(f"f and g must return the shape of x, {x.shape}")
            return fx - gx

        rms[i] = np.sqrt(_expect_sq(sample_x_t(float(t)), h, "sample_x_t"))
    return float(t_w @ (growth * rms) + growth_T * w2_T)


def w2_score_bound(
    loss_fn: Callable[[np.ndarray], Any],
    g2_fn: Callable[[np.ndarray], Any],
    L_fn: Callable[[np.ndarray], Any] | float,
    T: float,
    n_quad: int = 64,
    w2_T: float = 0.0,
) -> float:
    """Probability-flow-ODE form: W₂[p₀,q₀] ≤ ∫₀ᵀ ½g_t² I_t √(loss_t) dt + I_T·W₂[p_T,q_T].

    loss_t is the score-matching loss at time t (or the conditional one, CSM ≥ SM, giving a
    looser valid bound); ``loss_fn`` and ``g2_fn`` are vectorised functions of t. L_t is the
    backward one-sided Lipschitz constant of the model drift f_t − ½g_t²s_θ.
    https://kexue.fm/archives/9467
    """
    _callable(loss_fn, "loss_fn")
    _callable(g2_fn, "g2_fn")
    T = _scalar(T, "T", lo=0.0, lo_open=True)
    n_quad = _int(n_quad, "n_quad", lo=1)
    w2_T = _scalar(w2_T, "w2_T", lo=0.0)
    t_nodes, t_w = _gauss_legendre(T, n_quad)
    growth, growth_T = _growth_factors(L_fn, T, t_nodes, n_quad)
    loss = _array(loss_fn(t_nodes), "loss_fn(t)")
    g2 = _array(g2_fn(t_nodes), "g2_fn(t)")
    if loss.shape != t_nodes.shape or g2.shape != t_nodes.shape:
        raise ValueError("loss_fn and g2_fn must be vectorised: array of times -> same shape")
    if np.any(loss < 0) or np.any(g2 < 0):
        raise ValueError("loss_fn and g2_fn must be non-negative")
    return float(t_w @ (0.5 * g2 * growth * np.sqrt(loss)) + growth_T * w2_T)

"""B2. Unified Diffusion Model, discrete part: mask and edit models for token sequences, their samplers
and exact posteriors from a data table.

Article: https://kexue.fm/archives/9271 (theory: https://kexue.fm/archives/9262).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from algorithms._checks import RngLike, _array, _int, _n_samples, _rng
from algorithms.diffusion._common import _callable

__all__ = [
    "edit_forward",
    "edit_posterior_sampler_from_table",
    "edit_sample",
    "mask_forward",
    "mask_posterior_from_table",
    "mask_sample",
]


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

"""A11. Smooth approximations of Top-k: the iterative construction, GradTopK (log-space ESP recursion),
ThreTopK (exp / sigmoid / smooth-exp), the sigmoid form's Jacobian and the weighted-softmax
negative example.

Article: https://kexue.fm/archives/10373.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from algorithms._checks import _array, _int_in
from algorithms.probability._common import Array, _log_softmax, _positive

__all__ = [
    "hard_topk",
    "soft_topk_grad",
    "soft_topk_iterative",
    "soft_topk_sigmoid_jacobian",
    "soft_topk_threshold",
    "soft_topk_weighted_softmax",
]


def _softmax(z: Array) -> Array:
    return np.exp(_log_softmax(z))


def _topk_input(x: npt.ArrayLike, k: int, tau: float) -> tuple[Array, int]:
    a = _array(x, "x", min_ndim=1)
    n = a.shape[-1]
    if n == 0:
        raise ValueError("x has an empty last axis")
    k = _int_in(k, "k", 0, n)
    return a / _positive(tau, "tau"), k


def hard_topk(x: npt.ArrayLike, k: int) -> Array:
    """Multi-hot 𝒯_k(x) of the k largest entries (ties -> lower index), e.g. 𝒯_2([3,2,1,4]) = [1,0,0,1] (https://kexue.fm/archives/10373)."""
    a, k = _topk_input(x, k, 1.0)
    order = np.argsort(-a, axis=-1, kind="stable")
    out = np.zeros_like(a)
    np.put_along_axis(out, order[..., :k], 1.0, axis=-1)
    return out


def soft_topk_iterative(x: npt.ArrayLike, k: int, tau: float = 1.0) -> Array:
    """Su's iterative soft-k-max: x ← x − min x; k times p ← p + softmax((1−p)⊙x) (https://kexue.fm/archives/10373).

    Σp = k exactly; k = n returns all ones directly (the iteration itself does not).
    """
    a, k = _topk_input(x, k, tau)
    if k == a.shape[-1]:
        return np.ones_like(a)
    a = a - a.min(axis=-1, keepdims=True)
    p = np.zeros_like(a)
    for _ in range(k):
        p = p + _softmax((1.0 - p) * a)
    return p


def soft_topk_weighted_softmax(x: npt.ArrayLike, k: int, tau: float = 1.0) -> Array:
    """NEGATIVE EXAMPLE: k times p ← p + (1−p)e^x / Σ(1−p)e^x; wrong τ→0 limit (1.5, 0.5 for k=2) (https://kexue.fm/archives/10373).

    Kept only to document the failure; for k ≥ 3 the weights 1 − p can even turn negative.
    """
    a, k = _topk_input(x, k, tau)
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    p = np.zeros_like(a)
    for _ in range(k):
        w = (1.0 - p) * e
        p = p + w / w.sum(axis=-1, keepdims=True)
    return p


def _log_esp_table(x: Array, kmax: int) -> Array:
    """T[..., i, j] = log e_j(x_0..x_{i−1}) for i = 0..n, j = 0..kmax (log-space DP, no cancellation)."""
    n = x.shape[-1]
    T = np.full((*x.shape[:-1], n + 1, kmax + 1), -np.inf)
    T[..., :, 0] = 0.0
    for i in range(n):  # recurrence over elements; vectorised over batch and degree
        T[..., i + 1, 1:] = np.logaddexp(T[..., i, 1:], T[..., i, :-1] + x[..., i, None])
    return T


def _soft_topk_esp(a: Array, k: int) -> Array:
    n = a.shape[-1]
    pre = _log_esp_table(a, k)  # pre[i, j] = log e_j(x_<i)
    suf = _log_esp_table(a[..., ::-1], k)[..., ::-1, :]  # suf[i, j] = log e_j(x_≥i)
    # log e_{k−1}(x_{−i}) = logsumexp_j pre[i, j] + suf[i+1, k−1−j]
    loo = special.logsumexp(pre[..., :n, :k] + suf[..., 1:, :k][..., ::-1], axis=-1)
    return np.exp(a + loo - pre[..., n, k, None])


def _soft_topk_recursion(a: Array, k: int) -> Array:
    logZi = a.copy()
    logZ = special.logsumexp(a, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for t in range(2, k + 1):
            diff = np.exp(logZ)[..., None] - np.exp(logZi)  # article: Z_{k−1} − Z_{k−1,i}, cancels
            logZi = a + np.log(np.maximum(diff, 0.0))
            logZ = special.logsumexp(logZi, axis=-1) - math.log(t)
        return np.exp(logZi - logZ[..., None])


def _soft_topk_bruteforce(a: Array, k: int) -> Array:
    n = a.shape[-1]
    if math.comb(n, k) > 2_000_000:
        raise ValueError(f"bruteforce would enumerate C({n},{k}) > 2e6 subsets")
    combos = np.array(list(itertools.combinations(range(n), k)), dtype=int).reshape(-1, k)
    member = np.zeros((combos.shape[0], n))
    np.put_along_axis(member, combos, 1.0, axis=1)
    s = a[..., combos].sum(axis=-1)
    w = np.exp(s - special.logsumexp(s, axis=-1, keepdims=True))
    return w @ member


def soft_topk_grad(
    x: npt.ArrayLike, k: int, tau: float = 1.0, method: Literal["esp", "recursion", "bruteforce"] = "esp"
) -> Array:
    """GradTopK: ST_k(x)_i = e^{x_i} e_{k−1}(e^{x_{−i}}) / e_k(e^x) = ∂ log e_k(e^x)/∂x_i (https://kexue.fm/archives/10373).

    ``esp`` (default): log-space prefix/suffix DPs of the elementary symmetric polynomials, O(nk).
    ``recursion``: the article's Z_{k,i} = e^{x_i}(Z_{k−1} − Z_{k−1,i}) (⚠ cancels catastrophically
    for large-variance x or large k). ``bruteforce``: all C(n,k) subsets, for tests.
    """
    a, k = _topk_input(x, k, tau)
    n = a.shape[-1]
    if k == 0:
        return np.zeros_like(a)
    if k == n:
        return np.ones_like(a)
    if method == "esp":
        return _soft_topk_esp(a, k)
    if method == "recursion":
        return _soft_topk_recursion(a, k)
    if method == "bruteforce":
        return _soft_topk_bruteforce(a, k)
    raise ValueError(f"method must be 'esp', 'recursion' or 'bruteforce', got {method!r}")


def _thre_exp(a: Array, k: int) -> Array:
    s = -np.sort(-a, axis=-1)
    tail = np.logaddexp.accumulate(s[..., ::-1], axis=-1)[..., ::-1]  # log Σ_{i≥m} e^{s_i}
    ms = np.arange(k)
    lam = tail[..., :k] - np.log(k - ms)
    tol = 1e-12 * np.maximum(1.0, np.abs(lam))
    upper = np.where(ms == 0, np.inf, s[..., np.maximum(ms - 1, 0)])
    valid = (upper >= lam - tol) & (lam >= s[..., ms] - tol)
    return np.take_along_axis(lam, np.argmax(valid, axis=-1)[..., None], axis=-1)[..., 0]


def _thre_smooth_exp(a: Array, k: int) -> Array:
    n = a.shape[-1]
    s = -np.sort(-a, axis=-1)
    ninf = np.full((*a.shape[:-1], 1), -np.inf)
    logB = np.concatenate([np.logaddexp.accumulate(s[..., ::-1], axis=-1)[..., ::-1], ninf], axis=-1)
    logA = np.concatenate([ninf, np.logaddexp.accumulate(-s, axis=-1)], axis=-1)
    ms = np.arange(n + 1)
    c = k - ms
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(np.abs(c).astype(float))
        logAB = logA + logB
        D = 0.5 * np.logaddexp(2.0 * logc, logAB)  # log √(c² + AB)
        logden = np.where(c >= 0, np.logaddexp(logc, D), logAB - np.logaddexp(logc, D))
        lam = logB - logden
        lam[..., n] = math.log(2.0 * (n - k)) - logA[..., n]  # every entry above λ (B = 0)
    tol = 1e-12 * np.maximum(1.0, np.abs(lam))
    upper = np.where(ms == 0, np.inf, s[..., np.maximum(ms - 1, 0)])
    lower = np.where(ms == n, -np.inf, s[..., np.minimum(ms, n - 1)])
    valid = (upper >= lam - tol) & (lam >= lower - tol) & np.isfinite(lam)
    return np.take_along_axis(lam, np.argmax(valid, axis=-1)[..., None], axis=-1)[..., 0]


def _thre_sigmoid(a: Array, k: int) -> Array:
    n = a.shape[-1]
    c = math.log(k / (n - k))
    lo = a.min(axis=-1) - c
    hi = a.max(axis=-1) - c
    lo0, hi0 = lo.copy(), hi.copy()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        above = special.expit(a - mid[..., None]).sum(axis=-1) > k
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
        if np.all(hi - lo <= 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(mid))):
            break
    lam = 0.5 * (lo + hi)
    for _ in range(2):  # Newton polish, kept inside the original bracket
        f = special.expit(a - lam[..., None])
        F = f.sum(axis=-1) - k
        new = lam + F / (f * (1 - f)).sum(axis=-1)
        f_new = special.expit(a - new[..., None]).sum(axis=-1) - k
        good = (new >= lo0) & (new <= hi0) & (np.abs(f_new) < np.abs(F))
        lam = np.where(good, new, lam)
    return lam


def _f_apply(a: Array, lam: Array, f: str) -> Array:
    z = a - lam[..., None]
    if f == "exp":
        return np.exp(np.minimum(z, 0.0))
    if f == "sigmoid":
        return special.expit(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 - 0.5 * e, 0.5 * e)


def soft_topk_threshold(
    x: npt.ArrayLike,
    k: int,
    tau: float = 1.0,
    f: Literal["exp", "sigmoid", "smooth_exp"] = "exp",
    return_lambda: bool = False,
) -> Array | tuple[Array, Array]:
    """ThreTopK: ST_k(x) = f(x − λ(x)) with λ solving Σ_i f(x_i − λ) = k (https://kexue.fm/archives/10373).

    ``f='exp'``: f = min(1, e^z), closed form λ_m = log Σ_{i>m} e^{x_(i)} − log(k−m) (k=1: softmax).
    ``f='sigmoid'``: bisection plus a guarded Newton polish (no closed form; not softmax at k=1).
    ``f='smooth_exp'``: f = e^z/2 (z<0), 1 − e^{−z}/2 (z≥0), closed form
    λ_m = log B_m − log(√((k−m)² + A_m B_m) + k − m); ⚠ equals softmax at k = 1 only if max softmax ≤ 1/2.
    λ is in units of x/τ; k = 0 gives zeros (λ = +inf), k = n ones (λ = −inf).
    """
    a, k = _topk_input(x, k, tau)
    n = a.shape[-1]
    if f not in ("exp", "sigmoid", "smooth_exp"):
        raise ValueError(f"f must be 'exp', 'sigmoid' or 'smooth_exp', got {f!r}")
    if k in (0, n):
        lam = np.full(a.shape[:-1], np.inf if k == 0 else -np.inf)
        p = np.full_like(a, 0.0 if k == 0 else 1.0)
    else:
        lam = {"exp": _thre_exp, "sigmoid": _thre_sigmoid, "smooth_exp": _thre_smooth_exp}[f](a, k)
        p = _f_apply(a, lam, f)
    return (p, lam) if return_lambda else p


def soft_topk_sigmoid_jacobian(x: npt.ArrayLike, k: int, tau: float = 1.0) -> tuple[Array, Array]:
    """σ-ThreTopK derivatives: ∂λ/∂x = s/Σs, J = ∂p/∂x = diag(s) − s sᵀ/Σs, s = σ'(x−λ) (https://kexue.fm/archives/10373).

    Returns ``(J[..., n, n], dlambda_dx[..., n])`` with respect to the unscaled x (both carry 1/τ;
    for τ = 1 the rows of ∂λ/∂x sum to 1). Requires 0 < k < n.
    """
    a, k = _topk_input(x, k, tau)
    n = a.shape[-1]
    if not 0 < k < n:
        raise ValueError(f"the sigmoid Jacobian needs 0 < k < n, got k={k}, n={n}")
    tau = float(tau)
    p, _lam = soft_topk_threshold(a, k, f="sigmoid", return_lambda=True)
    s = p * (1.0 - p)
    S = s.sum(axis=-1, keepdims=True)
    J = (np.einsum("...i,ij->...ij", s, np.eye(n)) - s[..., :, None] * s[..., None, :] / S[..., None]) / tau
    return J, s / S / tau

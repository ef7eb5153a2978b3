"""B3. The LRU (Linear Recurrent Unit): the diagonal linear recurrence x_t = λ x_{t−1} + u_t by sequential,
upper/lower (Sklansky) and associative (Hillis–Steele) scans, the ring initialisation and the layer.

Article: https://kexue.fm/archives/9554 (arXiv 2303.06349).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from algorithms._checks import RngLike, _array, _count, _rng

__all__ = [
    "LRU",
    "linear_scan",
    "lru_init",
]


Array = npt.NDArray[Any]


def _scan_sequential(lam: Array, u: Array) -> Array:
    x = np.empty_like(u)
    prev = np.zeros_like(u[:, 0])
    for t in range(u.shape[1]):
        prev = lam[t] * prev + u[:, t]
        x[:, t] = prev
    return x


def _powers(lam: Array, n: int) -> Array:
    """λ^1 … λ^n by doubling (p[h:2h] = p[:h]·λ^h): log2(n) vectorised steps, error O(log n · eps).

    Never the overflowing λ^{−k}; more accurate than exp(k log λ), whose phase error grows like k·eps.
    """
    p = np.empty((max(n, 1), lam.shape[0]), dtype=lam.dtype)
    p[0] = lam
    h = 1
    while h < n:
        m = min(h, n - h)
        p[h : h + m] = p[:m] * p[h - 1]
        h *= 2
    return p


def _scan_upper_lower(lam: Array, u: Array, constant: bool) -> Array:
    """Sklansky (upper/lower) scan: per level, second half of each block += a ⊙ last of first half."""
    n_batch, T, d = u.shape
    Tp = 1 << max(0, (T - 1).bit_length())
    x = np.zeros((n_batch, Tp, d), dtype=u.dtype)
    x[:, :T] = u
    if constant:
        powers = _powers(lam[0], Tp // 2)
    else:
        a = np.ones((Tp, d), dtype=np.result_type(lam, u))
        a[:T] = lam
    size = 2
    while size <= Tp:
        half = size // 2
        xb = x.reshape(n_batch, Tp // size, size, d)
        if constant:
            xb[:, :, half:] += powers[:half] * xb[:, :, half - 1 : half]
        else:
            ab = a.reshape(Tp // size, size, d)
            xb[:, :, half:] += ab[None, :, half:] * xb[:, :, half - 1 : half]
            ab[:, half:] *= ab[:, half - 1 : half].copy()
        size *= 2
    return x[:, :T]


def _scan_assoc(lam: Array, u: Array, constant: bool) -> Array:
    """Hillis–Steele scan with (a₁, b₁)∘(a₂, b₂) = (a₁a₂, a₂b₁ + b₂): log2(T) shifted combines.

    For constant λ the multiplier at shift s is simply λ^s (squared from level to level).
    """
    T = u.shape[1]
    b = u.copy()
    if constant:
        a_s = lam[0].astype(b.dtype)
    else:
        a = np.array(lam, dtype=b.dtype)
    shift = 1
    while shift < T:
        if constant:
            b[:, shift:] += a_s * b[:, :-shift]
            a_s = a_s * a_s
        else:
            b[:, shift:] += a[None, shift:] * b[:, :-shift]
            if 2 * shift < T:
                a[shift:] *= a[:-shift].copy()
        shift *= 2
    return b


def linear_scan(
    lam: npt.ArrayLike,
    u: npt.ArrayLike,
    method: Literal["sequential", "upper_lower", "assoc"] = "sequential",
    x0: npt.ArrayLike | None = None,
) -> Array:
    """x_t = λ_t ⊙ x_{t−1} + u_t with x_{−1} = x0 (default 0), i.e. x_t = Σ_{k≤t} λ^{t−k} u_k.

    https://kexue.fm/archives/9554 . lam (d,) or time-varying (T, d), real or complex; u (T, d) or
    (B, T, d); x0 (d,) or (B, d). ``"sequential"`` is the reference loop; ``"upper_lower"`` is the
    Sklansky scan (pad T to a power of two; at block size l the second half of each block gets
    λ^{1..l/2} ⊙ the first half's last element); ``"assoc"`` is the Hillis–Steele associative scan.
    Both parallel forms take log2(T) vectorised levels and never use the overflowing λ^{−k} cumsum.
    """
    lam_a = _array(lam, "lam", complex_ok=True, keep_float=True)
    u_a = _array(u, "u", complex_ok=True, keep_float=True)
    if u_a.ndim not in (2, 3) or 0 in u_a.shape:
        raise ValueError(f"u must have shape (T, d) or (B, T, d) with T, d >= 1, got {u_a.shape}")
    batched = u_a.ndim == 3
    ub = u_a if batched else u_a[None]
    _, T, d = ub.shape
    if lam_a.shape == (d,):
        constant = True
        lam_t = np.broadcast_to(lam_a, (T, d))
    elif lam_a.shape == (T, d):
        constant = False
        lam_t = lam_a
    else:
        raise ValueError(
            f"lam must have shape ({d},) or ({T}, {d}) to match u {u_a.shape}, got {lam_a.shape}"
        )
    if method not in ("sequential", "upper_lower", "assoc"):
        raise ValueError(f"method must be 'sequential', 'upper_lower' or 'assoc', got {method!r}")
    dtype = np.result_type(lam_a, ub)
    ub = ub.astype(dtype, copy=True)
    if x0 is not None:
        x0_a = _array(x0, "x0", complex_ok=True, keep_float=True)
        if x0_a.shape not in ((d,), (ub.shape[0], d)):
            raise ValueError(f"x0 must have shape ({d},) or ({ub.shape[0]}, {d}), got {x0_a.shape}")
        dtype = np.result_type(dtype, x0_a)
        ub = ub.astype(dtype, copy=False)
        ub[:, 0] += lam_t[0] * x0_a
    if method == "sequential":
        x = _scan_sequential(lam_t, ub)
    elif method == "upper_lower":
        x = _scan_upper_lower(lam_t, ub, constant)
    else:
        x = _scan_assoc(lam_t, ub, constant)
    return x if batched else x[0]


def lru_init(
    N: int,
    r_min: float = 0.9,
    r_max: float = 0.999,
    max_phase: float = 2 * math.pi,
    rng: RngLike = None,
) -> tuple[Array, Array, Array]:
    """Ring init λ = exp(−ν + iθ): r² ~ U[r_min², r_max²], θ ~ U[0, max_phase], γ = sqrt(1 − |λ|²).

    https://kexue.fm/archives/9554 . Returns (nu_log, theta_log, gamma_log), each (N,), with
    ν = exp(nu_log), θ = exp(theta_log), γ = exp(gamma_log).
    """
    N = _count(N, "N")
    r_min, r_max, max_phase = (float(v) for v in (r_min, r_max, max_phase))
    if not (0.0 < r_min <= r_max < 1.0):
        raise ValueError(f"need 0 < r_min <= r_max < 1, got r_min={r_min}, r_max={r_max}")
    if not (math.isfinite(max_phase) and max_phase > 0):
        raise ValueError(f"max_phase must be finite and > 0, got {max_phase}")
    gen = _rng(rng)
    u1 = 1.0 - gen.random(N)  # (0, 1]: keeps log finite
    u2 = 1.0 - gen.random(N)
    nu = -0.5 * np.log(u1 * (r_max**2 - r_min**2) + r_min**2)
    nu_log = np.log(nu)
    theta_log = np.log(max_phase * u2)
    gamma_log = 0.5 * np.log1p(-np.exp(-2.0 * nu))
    return nu_log, theta_log, gamma_log


class LRU:
    """Linear Recurrent Unit: x_t = λ ⊙ x_{t−1} + γ ⊙ (B u_t), y_t = Re(C x_t) + D ⊙ u_t.

    https://kexue.fm/archives/9554 . Real parametrisation: B u = (u W_in)[::2] + i (u W_in)[1::2] with
    W_in (H, 2N); Re(C x) = [Re x, Im x] W_out with W_out (2N, H); λ = exp(−exp(nu_log) + i exp(theta_log)),
    γ = exp(gamma_log). Input (B, T, H) or (T, H) -> same shape.
    """

    def __init__(
        self,
        H: int,
        N: int,
        *,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = 2 * math.pi,
        use_D: bool = True,
        rng: RngLike = None,
    ) -> None:
        self.H, self.N = _count(H, "H"), _count(N, "N")
        gen = _rng(rng)
        self.nu_log, self.theta_log, self.gamma_log = lru_init(N, r_min, r_max, max_phase, gen)
        self.W_in = gen.normal(0.0, 1.0 / math.sqrt(H), (H, 2 * N))
        self.W_out = gen.normal(0.0, 1.0 / math.sqrt(2 * N), (2 * N, H))
        self.D: Array | None = gen.normal(0.0, 1.0, H) if use_D else None

    @property
    def lam(self) -> Array:
        """Complex eigenvalues λ = exp(−ν + iθ), (N,)."""
        return np.exp(-np.exp(self.nu_log) + 1j * np.exp(self.theta_log))

    @property
    def gamma(self) -> Array:
        """Input normalisation γ, (N,)."""
        return np.exp(self.gamma_log)

    def _check_input(self, u: npt.ArrayLike) -> Array:
        a = _array(u, "u")
        if a.ndim not in (2, 3) or a.shape[-1] != self.H or a.shape[-2] == 0:
            raise ValueError(f"u must have shape (T, {self.H}) or (B, T, {self.H}), got {a.shape}")
        return a

    def _input(self, u: Array) -> Array:
        z = u @ self.W_in
        return self.gamma * (z[..., 0::2] + 1j * z[..., 1::2])

    def _output(self, x: Array, u: Array) -> Array:
        y = np.concatenate([x.real, x.imag], axis=-1) @ self.W_out
        return y if self.D is None else y + self.D * u

    def __call__(
        self, u: npt.ArrayLike, method: Literal["sequential", "upper_lower", "assoc"] = "upper_lower"
    ) -> Array:
        """Parallel (training-style) forward over the whole sequence."""
        ua = self._check_input(u)
        x = linear_scan(self.lam, self._input(ua), method=method)
        return self._output(x, ua)

    def step(self, x_prev: npt.ArrayLike, u_t: npt.ArrayLike) -> tuple[Array, Array]:
        """One inference step: (x_{t−1} (…, N) complex, u_t (…, H)) -> (x_t, y_t)."""
        ua = _array(u_t, "u_t")
        xp = _array(x_prev, "x_prev", complex_ok=True)
        if ua.shape[-1:] != (self.H,) or xp.shape[-1:] != (self.N,) or ua.shape[:-1] != xp.shape[:-1]:
            raise ValueError(f"need x_prev (..., {self.N}) and u_t (..., {self.H}) with equal batch shapes")
        x = self.lam * xp + self._input(ua)
        return x, self._output(x, ua)

"""B5. The Fourier basis density model p(x) = |Σ a_k e^{−iπkx}|²/(2Σ|a_k|²) on [−1, 1], mapped to ℝ by
tanh: density, CDF, maximum-likelihood fit and sampling.

Article: https://kexue.fm/archives/10007.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize

from algorithms._checks import RngLike, _array, _int_in, _n_samples, _rng
from algorithms.probability._common import Array, _positive

__all__ = [
    "FourierBasisDensity",
]


def _log_sech2(z: Array) -> Array:
    az = np.abs(z)
    return 2.0 * (math.log(2.0) - az - np.log1p(np.exp(-2.0 * az)))


class FourierBasisDensity:
    """Fourier basis density: p(x) = |Σ_k a_k e^{−iπkx}|² / (2Σ|a_k|²) on [−1,1], y = μ + σ·artanh x (https://kexue.fm/archives/10007).

    Equivalently p = Re[½ + Σ_{n=1}^N (c_n/c_0) e^{iπnx}] with c_n = Σ_k a_k conj(a_{k+n}) (an
    autocorrelation, so p ≥ 0 and ∫p = 1). ``*_unit`` methods work on x ∈ [−1,1]; ``logpdf``,
    ``pdf``, ``cdf`` and ``sample`` work on y ∈ ℝ through x = tanh((y−μ)/σ).
    """

    def __init__(self, a: npt.ArrayLike = (1.0,), mu: float = 0.0, sigma: float = 1.0) -> None:
        arr = np.asarray(a)
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
            raise ValueError("a must be a non-empty 1-D numeric array of N+1 coefficients")
        arr = arr.astype(complex)
        if not np.isfinite(arr).all():
            raise ValueError("a must be finite")
        if not np.any(arr != 0):
            raise ValueError("a must not be all zero")
        mu_f = float(mu)
        if not math.isfinite(mu_f):
            raise ValueError("mu must be finite")
        self.a: Array = arr
        self.mu = mu_f
        self.sigma = _positive(sigma, "sigma")

    @property
    def N(self) -> int:
        return self.a.size - 1

    @staticmethod
    def autocorrelation(a: npt.ArrayLike) -> Array:
        """c_n = Σ_{k=0}^{N−n} a_k conj(a_{k+n}) for n = 0..N."""
        a = np.asarray(a, dtype=complex)
        M = a.size
        padded = np.concatenate([a, np.zeros(M, dtype=complex)])
        win = np.lib.stride_tricks.sliding_window_view(np.conj(padded), M)[:M]  # win[n, k] = conj(a_{n+k})
        return win @ a

    @property
    def c(self) -> Array:
        return self.autocorrelation(self.a)

    def _unit(self, x: npt.ArrayLike) -> Array:
        xx = _array(x, "x")
        if (np.abs(xx) > 1).any():
            raise ValueError("x must lie in [-1, 1]")
        return xx

    def _g(self, x: Array) -> Array:
        return np.einsum("...k,k->...", np.exp(-1j * np.pi * x[..., None] * np.arange(self.N + 1)), self.a)

    def pdf_unit(self, x: npt.ArrayLike, form: Literal["modulus", "series"] = "modulus") -> Array:
        """p(x) on [−1,1]; ``form='series'`` evaluates Re[½ + Σ (c_n/c_0) e^{iπnx}] instead of |g|²/(2c_0)."""
        xx = self._unit(x)
        c = self.c
        if form == "modulus":
            return np.abs(self._g(xx)) ** 2 / (2.0 * c[0].real)
        if form == "series":
            n = np.arange(1, self.N + 1)
            return 0.5 + np.real(
                np.einsum("...n,n->...", np.exp(1j * np.pi * xx[..., None] * n), c[1:] / c[0].real)
            )
        raise ValueError(f"form must be 'modulus' or 'series', got {form!r}")

    def logpdf_unit(self, x: npt.ArrayLike) -> Array:
        """log p(x) = log|Σ_k a_k e^{−iπkx}|² − log(2Σ|a_k|²) (1e-300 guards the log)."""
        xx = self._unit(x)
        return np.log(np.abs(self._g(xx)) ** 2 + 1e-300) - math.log(2.0 * float(np.sum(np.abs(self.a) ** 2)))

    def cdf_unit(self, x: npt.ArrayLike) -> Array:
        """Φ(x) = (x+1)/2 + Re Σ_n (c_n/c_0)(e^{iπnx} − (−1)ⁿ)/(iπn).

        ⚠ Corrected form; the article prints a leading term (x²−1)/2, which is not a CDF.
        """
        xx = self._unit(x)
        c = self.c
        n = np.arange(1, self.N + 1)
        terms = (np.exp(1j * np.pi * xx[..., None] * n) - (-1.0) ** n) / (1j * np.pi * n)
        return np.clip(
            (xx + 1.0) / 2.0 + np.real(np.einsum("...n,n->...", terms, c[1:] / c[0].real)), 0.0, 1.0
        )

    def roughness(self, of: Literal["p", "f"] = "p") -> float:
        """∫|p'|² = π² Σ_{n≥1} n²|c_n/c_0|² (``of='p'``) or the article's ∫|f'|² = 4π² Σ_{n≥1} n²|c_n|²."""
        c = self.c
        n = np.arange(1, self.N + 1)
        if of == "p":
            return float(np.pi**2 * np.sum(n**2 * np.abs(c[1:] / c[0].real) ** 2))
        if of == "f":
            return float(4 * np.pi**2 * np.sum(n**2 * np.abs(c[1:]) ** 2))
        raise ValueError(f"of must be 'p' or 'f', got {of!r}")

    # ----- y-space ---------------------------------------------------------------------------------

    def logpdf(self, y: npt.ArrayLike) -> Array:
        """log q(y) = log p(tanh z) + log sech² z − log σ, z = (y−μ)/σ."""
        z = (_array(y, "y") - self.mu) / self.sigma
        return self.logpdf_unit(np.tanh(z)) + _log_sech2(z) - math.log(self.sigma)

    def pdf(self, y: npt.ArrayLike) -> Array:
        return np.exp(self.logpdf(y))

    def cdf(self, y: npt.ArrayLike) -> Array:
        return self.cdf_unit(np.tanh((_array(y, "y") - self.mu) / self.sigma))

    def sample(self, n_samples: int | None = None, rng: RngLike = None, *, size: int | None = None) -> Array:
        """``n_samples`` draws y = μ + σ·artanh(Φ⁻¹(U)), Φ⁻¹ by vectorised bisection on the monotone CDF.

        ``size`` is the deprecated old name of ``n_samples``; ``rng``: an int seed, None or a ``Generator``.
        """
        size = _n_samples(n_samples, minimum=0, size=size)
        rng = _rng(rng)
        u = rng.random(size)
        lo, hi = -np.ones(size), np.ones(size)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = self.cdf_unit(mid) < u
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        x = np.clip(0.5 * (lo + hi), -1 + 1e-16, 1 - 1e-16)
        return self.mu + self.sigma * np.arctanh(x)

    # ----- fitting ---------------------------------------------------------------------------------

    @staticmethod
    def _objective(theta: Array, C: Array, S: Array, reg: float) -> tuple[float, Array]:
        """NLL(a) = −mean log|Σ_k a_k e^{−iπkx}|² + log(2Σ|a|²) + reg·π²Σ n²|c_n/c_0|², and its gradient.

        The gradient is with respect to (Re a, Im a).

        ``C``, ``S`` = cos(πkx_i), sin(πkx_i); real arithmetic with einsum keeps it off threaded BLAS.
        """
        M = C.shape[1]
        u, v = theta[:M], theta[M:]
        gr = np.einsum("ij,j->i", C, u) + np.einsum("ij,j->i", S, v)  # g = (C − iS)(u + iv)
        gi = np.einsum("ij,j->i", C, v) - np.einsum("ij,j->i", S, u)
        g2 = gr * gr + gi * gi + 1e-300
        c0 = float(u @ u + v @ v)
        val = -float(np.mean(np.log(g2))) + math.log(2.0 * c0)
        hr, hi = gr / g2, gi / g2
        n_obs = C.shape[0]
        # W = ∂NLL/∂conj(a) = −mean_i g_i conj(E_ik)/|g_i|² + a/c0, conj(E) = C + iS
        Wr = -(np.einsum("i,ij->j", hr, C) - np.einsum("i,ij->j", hi, S)) / n_obs + u / c0
        Wi = -(np.einsum("i,ij->j", hr, S) + np.einsum("i,ij->j", hi, C)) / n_obs + v / c0
        W = Wr + 1j * Wi
        if reg > 0 and M > 1:
            a = u + 1j * v
            c = FourierBasisDensity.autocorrelation(a)
            n = np.arange(1, M)
            w = n**2 * np.abs(c[1:]) ** 2
            val += reg * np.pi**2 * float(w.sum()) / c0**2
            idx = np.arange(M)[None, :]
            minus = idx - n[:, None]
            plus = idx + n[:, None]
            a_minus = np.where(minus >= 0, a[np.clip(minus, 0, M - 1)], 0)
            a_plus = np.where(plus < M, a[np.clip(plus, 0, M - 1)], 0)
            d = (n**2)[:, None] * (np.conj(c[1:])[:, None] * a_minus + c[1:, None] * a_plus)
            W = W + reg * np.pi**2 * (d.sum(axis=0) / c0**2 - 2.0 * w.sum() * a / c0**3)
        return val, np.concatenate([2.0 * W.real, 2.0 * W.imag])

    def fit(
        self,
        y: npt.ArrayLike,
        N: int,
        reg: float = 0.0,
        n_init: int = 3,
        rng: RngLike = None,
        maxiter: int = 5000,
        method: Literal["BFGS", "L-BFGS-B", "CG", "Newton-CG", "TNC", "SLSQP", "trust-constr"] = "BFGS",
    ) -> FourierBasisDensity:
        """Maximum likelihood by quasi-Newton (analytic gradient), best of ``n_init`` starts.

        μ, σ = mean, std of y.

        Start: a_0 = 1, other a_k small complex noise. ``reg`` weights the scale-free ∫|p'|².
        ``method`` is a gradient-based ``scipy.optimize.minimize`` method that needs no Hessian
        ("L-BFGS-B" for large N).
        """
        yy = _array(y, "y", min_ndim=1)
        if yy.ndim != 1 or yy.size < 2:
            raise ValueError("y must be 1-D with at least 2 points")
        N = _int_in(N, "N", 0)
        reg = _positive(reg, "reg", allow_zero=True)
        n_init = _int_in(n_init, "n_init", 1)
        rng = _rng(0 if rng is None else rng)  # None: a fixed seed, so fits are reproducible
        mu, sigma = float(yy.mean()), float(yy.std())
        if sigma == 0:
            raise ValueError("y has zero spread")
        x = np.tanh((yy - mu) / sigma)
        phase = np.pi * x[:, None] * np.arange(N + 1)
        C, S = np.cos(phase), np.sin(phase)
        best: tuple[float, Array] | None = None
        for _ in range(n_init):
            a0 = np.zeros(N + 1, dtype=complex)
            a0[0] = 1.0
            a0[1:] = 0.1 * (rng.standard_normal(N) + 1j * rng.standard_normal(N))
            res = optimize.minimize(
                self._objective,
                np.concatenate([a0.real, a0.imag]),
                args=(C, S, reg),
                jac=True,
                method=method,
                options={"maxiter": maxiter},
            )
            if best is None or res.fun < best[0]:
                best = (float(res.fun), res.x)
        assert best is not None
        a = best[1][: N + 1] + 1j * best[1][N + 1 :]
        a = a / np.linalg.norm(a)
        if a[0] != 0:
            a = a * np.exp(-1j * np.angle(a[0]))  # fix the redundant global phase
        self.a, self.mu, self.sigma = a, mu, sigma
        return self

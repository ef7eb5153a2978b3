"""Tests for algorithms.recurrences: spec sections B3 (LRU, linear scans) and B4 (nonlinear RNN)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.recurrences import (
    LRU,
    linear_scan,
    linear_scan_affine,
    lru_init,
    nonlinear_rnn_sequential,
    parallel_nonlinear_rnn,
)


def ring_lambda(N: int, seed: int) -> np.ndarray:
    nu_log, theta_log, _ = lru_init(N, rng=seed)
    return np.exp(-np.exp(nu_log) + 1j * np.exp(theta_log))


def complex_gaussian(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2)


def loop_scan(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Independent reference: explicit double loop, x_t = λ_t x_{t−1} + u_t."""
    T, d = u.shape
    lam_t = np.broadcast_to(lam, (T, d))
    x = np.zeros((T, d), dtype=np.result_type(lam, u))
    for c in range(d):
        prev = 0.0
        for t in range(T):
            prev = lam_t[t, c] * prev + u[t, c]
            x[t, c] = prev
    return x


# ------------------------------------------------------------------------------------------------
# B3. Linear scans


@pytest.mark.parametrize("T", [1000, 37])
def test_scan_methods_equal_sequential(T: int) -> None:
    lam = ring_lambda(64, seed=0)
    mag = np.abs(lam)
    assert mag.min() >= 0.9
    assert mag.max() <= 0.999
    u = complex_gaussian(np.random.default_rng(1), (T, 64))
    ref = linear_scan(lam, u, "sequential")
    for method in ("upper_lower", "assoc"):
        np.testing.assert_allclose(linear_scan(lam, u, method), ref, rtol=0, atol=1e-12)  # type: ignore[arg-type]
    if T == 37:
        np.testing.assert_allclose(ref, loop_scan(lam, u), rtol=0, atol=1e-12)


def test_scan_batched_time_varying_and_initial_state() -> None:
    rng = np.random.default_rng(2)
    B, T, d = 3, 45, 5
    u = complex_gaussian(rng, (B, T, d))
    lam_tv = rng.uniform(-1, 1, (T, d)) * np.exp(1j * rng.uniform(0, 6, (T, d)))
    x0 = complex_gaussian(rng, (B, d))
    ref = np.stack([loop_scan(lam_tv, u[b]) for b in range(B)])
    for method in ("sequential", "upper_lower", "assoc"):
        np.testing.assert_allclose(linear_scan(lam_tv, u, method), ref, atol=1e-12)  # type: ignore[arg-type]
        with_x0 = linear_scan(lam_tv, u, method, x0=x0)  # type: ignore[arg-type]
        u_shift = u.copy()
        u_shift[:, 0] += lam_tv[0] * x0
        np.testing.assert_allclose(
            with_x0, np.stack([loop_scan(lam_tv, u_shift[b]) for b in range(B)]), atol=1e-12
        )


def test_zero_padding_does_not_change_outputs() -> None:
    rng = np.random.default_rng(3)
    lam, u = ring_lambda(8, 4), complex_gaussian(rng, (21, 8))
    padded = np.concatenate([u, np.zeros((11, 8))])
    for method in ("upper_lower", "assoc"):
        np.testing.assert_allclose(
            linear_scan(lam, padded, method)[:21],
            linear_scan(lam, u, method),
            atol=1e-14,  # type: ignore[arg-type]
        )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    T=st.integers(1, 80),
    d=st.integers(1, 4),
    batch=st.sampled_from([None, 1, 3]),
    is_complex=st.booleans(),
    time_varying=st.booleans(),
)
def test_parallel_scans_equal_sequential_for_all_shapes(
    seed: int, T: int, d: int, batch: int | None, is_complex: bool, time_varying: bool
) -> None:
    rng = np.random.default_rng(seed)
    shape = (T, d) if batch is None else (batch, T, d)
    u = complex_gaussian(rng, shape) if is_complex else rng.standard_normal(shape)
    lam_shape = (T, d) if time_varying else (d,)
    lam = rng.uniform(-1, 1, lam_shape)
    if is_complex:
        lam = lam * np.exp(1j * rng.uniform(0, 2 * np.pi, lam_shape))
    ref = linear_scan(lam, u, "sequential")
    assert ref.shape == u.shape
    for method in ("upper_lower", "assoc"):
        np.testing.assert_allclose(linear_scan(lam, u, method), ref, rtol=0, atol=1e-12)  # type: ignore[arg-type]


def test_ring_init_distribution() -> None:
    N = 100_000
    nu_log, theta_log, gamma_log = lru_init(N, rng=0)
    r = np.exp(-np.exp(nu_log))
    assert r.min() >= 0.9
    assert r.max() <= 0.999
    assert np.mean(r**2) == pytest.approx((0.81 + 0.998001) / 2, abs=0.001)
    assert np.mean(np.exp(theta_log)) == pytest.approx(np.pi, abs=0.02)  # 3 s.e. of U[0, 2π] mean
    theta = np.exp(theta_log)
    assert theta.min() >= 0
    assert theta.max() <= 2 * np.pi
    gamma = np.exp(gamma_log)
    np.testing.assert_allclose(gamma, np.sqrt(1 - r**2), rtol=1e-12)
    assert gamma.min() >= math.sqrt(1 - 0.999**2) - 1e-12
    assert gamma.max() <= math.sqrt(1 - 0.81) + 1e-12
    assert gamma.min() == pytest.approx(0.0447, abs=0.001)
    assert gamma.max() == pytest.approx(0.4359, abs=0.001)
    # a narrower ring stays inside its bounds
    nl, _, _ = lru_init(1000, r_min=0.5, r_max=0.6, max_phase=0.1, rng=1)
    rr = np.exp(-np.exp(nl))
    assert rr.min() >= 0.5
    assert rr.max() <= 0.6


def test_gamma_normalisation_keeps_unit_variance() -> None:
    r, theta, T, chains = 0.99, 0.3, 2000, 20_000
    lam = np.full(chains, r * np.exp(1j * theta))
    gamma = math.sqrt(1 - r**2)
    rng = np.random.default_rng(0)
    x = np.zeros(chains, complex)
    for chunk in range(T // 200):  # chunks of the time axis keep memory small; x carries over
        u = rng.standard_normal((200, chains, 2)).view(complex)[..., 0] / math.sqrt(2)  # E|u|² = 1
        x = linear_scan(lam, gamma * u, "upper_lower" if chunk == 0 else "sequential", x0=x)[-1]
    assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, abs=0.03)
    assert np.mean(np.abs(x / gamma) ** 2) == pytest.approx(1 / (1 - r**2), rel=0.03)  # 50.25 without γ
    assert 1 / (1 - r**2) == pytest.approx(50.25, abs=0.01)


def naive_power_formula(lam: float, u: np.ndarray, dtype: type) -> np.ndarray:
    """The literal x_t = λ^t · cumsum_k(λ^{−k} u_k): exact in theory, overflows in practice."""
    t = np.arange(u.shape[0]).astype(dtype)
    lam_d = dtype(lam)
    with np.errstate(over="ignore", invalid="ignore"):
        return lam_d**t * np.cumsum(lam_d ** (-t) * u.astype(dtype))  # type: ignore[no-any-return]


def test_naive_power_formula_overflows_but_scan_does_not() -> None:
    u32 = np.random.default_rng(0).standard_normal(1000)
    bad32 = np.flatnonzero(~np.isfinite(naive_power_formula(0.9, u32, np.float32)))
    assert bad32[0] == 840
    u64 = np.random.default_rng(0).standard_normal(7000)
    bad64 = np.flatnonzero(~np.isfinite(naive_power_formula(0.9, u64, np.float64)))
    limit = math.log(np.finfo(np.float64).max) / -math.log(0.9)  # λ^{−t} alone overflows past 6736.7
    assert 6700 <= bad64[0] <= limit
    assert 6700 <= 6728 <= limit
    # below the overflow the literal formula is right, so the comparison is meaningful
    ref = linear_scan(np.array([0.9]), u64[:, None], "sequential")[:, 0]
    np.testing.assert_allclose(naive_power_formula(0.9, u64, np.float64)[:500], ref[:500], atol=1e-9)
    for method in ("upper_lower", "assoc"):
        x = linear_scan(np.array([0.9]), u64[:, None], method)[:, 0]  # type: ignore[arg-type]
        assert np.all(np.isfinite(x))
        np.testing.assert_allclose(x, ref, atol=1e-12)
    x32 = linear_scan(np.array([0.9], np.float32), u32[:, None].astype(np.float32), "upper_lower")
    assert x32.dtype == np.float32
    assert np.all(np.isfinite(x32))


def lru_loop(layer: LRU, u: np.ndarray) -> np.ndarray:
    """Pure-Python reference of the LRU layer: scalar loops over batch, time, state and features."""
    B, T, H = u.shape
    N = layer.N
    lam = [
        complex(math.exp(-math.exp(a)) * complex(math.cos(math.exp(b)), math.sin(math.exp(b))))
        for a, b in zip(layer.nu_log, layer.theta_log, strict=True)
    ]
    gam = [math.exp(g) for g in layer.gamma_log]
    y = np.zeros((B, T, H))
    for b in range(B):
        x = [0j] * N
        for t in range(T):
            z = [sum(u[b, t, h] * layer.W_in[h, c] for h in range(H)) for c in range(2 * N)]
            x = [lam[n] * x[n] + gam[n] * complex(z[2 * n], z[2 * n + 1]) for n in range(N)]
            feats = [xn.real for xn in x] + [xn.imag for xn in x]
            for h in range(H):
                y[b, t, h] = sum(feats[c] * layer.W_out[c, h] for c in range(2 * N))
                if layer.D is not None:
                    y[b, t, h] += layer.D[h] * u[b, t, h]
    return y


def test_lru_layer_equals_python_loop() -> None:
    layer = LRU(8, 6, rng=0)
    u = np.random.default_rng(1).standard_normal((2, 50, 8))
    ref = lru_loop(layer, u)
    for method in ("upper_lower", "assoc", "sequential"):
        np.testing.assert_allclose(layer(u, method), ref, rtol=0, atol=1e-10)  # type: ignore[arg-type]
    np.testing.assert_allclose(layer(u[0]), ref[0], atol=1e-10)
    x = np.zeros((2, 6), complex)
    for t in range(50):  # sequential inference with step()
        x, y_t = layer.step(x, u[:, t])
        np.testing.assert_allclose(y_t, ref[:, t], atol=1e-10)
    no_d = LRU(8, 6, use_D=False, rng=0)
    assert no_d.D is None
    assert not np.allclose(no_d(u), ref)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: linear_scan(np.ones(3), np.ones(3)), "shape"),
        (lambda: linear_scan(np.ones(4), np.ones((5, 3))), "lam must"),
        (lambda: linear_scan(np.ones(3), np.ones((5, 3)), "fft"), "method"),
        (lambda: linear_scan(np.array([np.nan, 1, 1]), np.ones((5, 3))), "NaN"),
        (lambda: linear_scan(np.ones(3), np.full((5, 3), np.inf)), "NaN"),
        (lambda: linear_scan(np.ones(3), np.ones((5, 3)), x0=np.ones(2)), "x0"),
        (lambda: linear_scan(np.ones(3), np.array([["a"] * 3] * 5)), "numeric"),
        (lambda: lru_init(0), "N"),
        (lambda: lru_init(4, r_min=0.9, r_max=1.0), "r_max"),
        (lambda: lru_init(4, r_min=0.95, r_max=0.9), "r_min"),
        (lambda: lru_init(4, max_phase=0.0), "max_phase"),
        (lambda: LRU(4, 3, rng=0)(np.ones((2, 5, 3))), "shape"),
        (lambda: LRU(4, 3, rng=0)(np.ones((5, 4)) * np.nan), "NaN"),
        (lambda: LRU(4, 3, rng=0).step(np.zeros(2), np.ones(4)), "x_prev"),
    ],
)
def test_b3_input_validation(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------------
# B4. Nonlinear RNN by iteration


@pytest.fixture
def contractive_rnn() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((8, 8))
    A *= 0.9 / np.linalg.norm(A, 2)
    return A, rng.standard_normal((50, 8))


def leading_exact(X: np.ndarray, ref: np.ndarray, tol: float = 1e-14) -> int:
    bad = np.flatnonzero(np.max(np.abs(X - ref), axis=1) > tol)
    return int(bad[0]) if bad.size else X.shape[0]


@pytest.mark.parametrize("mode", ["jacobi", "diag_jacobian", "newton"])
def test_finite_termination(mode: str, contractive_rnn: tuple[np.ndarray, np.ndarray]) -> None:
    A, u = contractive_rnn
    ref = nonlinear_rnn_sequential(A, u)
    leads = [leading_exact(parallel_nonlinear_rnn(A, u, mode=mode, n_iter=n).x, ref) for n in range(1, 7)]  # type: ignore[arg-type]
    if mode == "newton":
        assert all(lead >= n for n, lead in enumerate(leads, 1))
    else:
        assert leads == [1, 2, 3, 4, 5, 6]
    full = parallel_nonlinear_rnn(A, u, mode=mode)  # type: ignore[arg-type]
    assert full.n_iter == 50
    np.testing.assert_allclose(full.x, ref, rtol=0, atol=1e-12)
    assert full.residuals[-1] <= 1e-14


def test_newton_is_quadratic_jacobi_is_not(contractive_rnn: tuple[np.ndarray, np.ndarray]) -> None:
    A, u = contractive_rnn
    ref = nonlinear_rnn_sequential(A, u)
    err = {
        mode: [
            float(np.max(np.abs(parallel_nonlinear_rnn(A, u, mode=mode, n_iter=n).x - ref)))
            for n in range(1, 9)
        ]  # type: ignore[arg-type]
        for mode in ("jacobi", "newton")
    }
    assert min(n for n, e in enumerate(err["newton"], 1) if e < 1e-10) <= 5
    assert all(e > 1e-10 for e in err["jacobi"])  # Jacobi needs more than 8 iterations
    # quadratic: once small, the next Newton error is below a constant times the square
    assert err["newton"][2] < 10 * err["newton"][1] ** 2
    assert err["newton"][1] < 10 * err["newton"][0] ** 2
    res = parallel_nonlinear_rnn(A, u, mode="newton", tol=1e-12)
    assert res.n_iter <= 6
    assert np.max(np.abs(res.x - ref)) < 1e-12
    assert res.deltas[-1] <= 1e-12
    assert len(res.residuals) == res.n_iter


def test_first_iterate_is_the_linearisation(contractive_rnn: tuple[np.ndarray, np.ndarray]) -> None:
    A, u = contractive_rnn
    x, X_lin = np.zeros(8), np.empty_like(u)
    for t in range(u.shape[0]):
        x = A @ x + np.tanh(u[t])
        X_lin[t] = x
    np.testing.assert_allclose(parallel_nonlinear_rnn(A, u, mode="jacobi", n_iter=1).x, X_lin, atol=1e-12)


def chaotic(seed: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return 3 * rng.standard_normal((8, 8)) / math.sqrt(8), rng.standard_normal((T, 8))


@pytest.mark.parametrize("seed", range(10))
def test_chaotic_case_termination_not_contraction(seed: int) -> None:
    A, u = chaotic(seed, 20)
    ref = nonlinear_rnn_sequential(A, u)
    half = np.max(np.abs(parallel_nonlinear_rnn(A, u, mode="jacobi", n_iter=10).x - ref))
    full = np.max(np.abs(parallel_nonlinear_rnn(A, u, mode="jacobi", n_iter=20).x - ref))
    assert half > 1e6
    assert full < 1e-10


def literal_jacobi(A: np.ndarray, u: np.ndarray, n_iter: int) -> np.ndarray:
    """The spec's literal step X⁽ⁿ⁾ = scan(A, tanh(pre) − A x_prev): same maths, no bit-exact front."""
    X = np.zeros_like(u)
    for _ in range(n_iter):
        Xprev = np.vstack([np.zeros((1, u.shape[1])), X[:-1]])
        X = linear_scan_affine(A, np.tanh(Xprev @ A.T + u) - Xprev @ A.T)
    return X


def test_literal_scan_loses_finite_termination_to_round_off() -> None:
    # The correction form is needed: scanning b_t = tanh(pre) − A x_prev directly sums terms of size
    # ‖A‖^t and loses the exactness at n = T in the chaotic case.
    errs = []
    for seed in range(10):
        A, u = chaotic(seed, 20)
        errs.append(np.max(np.abs(literal_jacobi(A, u, 20) - nonlinear_rnn_sequential(A, u))))
    assert max(errs) > 1e-10
    A, u = chaotic(0, 20)  # on a contractive problem the two forms agree
    A *= 0.9 / np.linalg.norm(A, 2)
    np.testing.assert_allclose(
        literal_jacobi(A, u, 20), parallel_nonlinear_rnn(A, u, mode="jacobi").x, atol=1e-12
    )


def test_divergent_jacobi_is_reported() -> None:
    A, u = chaotic(0, 400)
    with pytest.raises(FloatingPointError, match="overflow"):
        parallel_nonlinear_rnn(A, u, mode="jacobi")


def test_callback_and_nonzero_initial_state(contractive_rnn: tuple[np.ndarray, np.ndarray]) -> None:
    A, u = contractive_rnn
    x0 = np.random.default_rng(9).standard_normal(8)
    ref = nonlinear_rnn_sequential(A, u, x0)
    seen: list[int] = []

    def stop_when_exact(n: int, X: np.ndarray) -> bool:
        seen.append(n)
        return bool(np.max(np.abs(X - ref)) < 1e-10)

    res = parallel_nonlinear_rnn(A, u, x0, mode="newton", callback=stop_when_exact)
    assert seen == list(range(1, res.n_iter + 1))
    assert res.n_iter <= 6
    np.testing.assert_allclose(res.x, ref, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 40), d=st.integers(1, 4), tv=st.booleans())
def test_affine_scan_equals_loop(seed: int, T: int, d: int, tv: bool) -> None:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((T, d, d) if tv else (d, d)) / math.sqrt(d)
    b, x0 = rng.standard_normal((T, d)), rng.standard_normal(d)
    x, ref = x0, np.empty((T, d))
    for t in range(T):
        x = (A[t] if tv else A) @ x + b[t]
        ref[t] = x
    np.testing.assert_allclose(linear_scan_affine(A, b, x0), ref, rtol=1e-9, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    T=st.integers(1, 30),
    n=st.integers(1, 30),
    mode=st.sampled_from(["jacobi", "diag_jacobian", "newton"]),
)
def test_first_n_positions_exact_after_n_iterations(seed: int, T: int, n: int, mode: str) -> None:
    rng = np.random.default_rng(seed)
    A, u = 1.5 * rng.standard_normal((3, 3)) / math.sqrt(3), rng.standard_normal((T, 3))
    X = parallel_nonlinear_rnn(A, u, mode=mode, n_iter=n).x  # type: ignore[arg-type]
    ref = nonlinear_rnn_sequential(A, u)
    np.testing.assert_allclose(X[:n], ref[:n], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: parallel_nonlinear_rnn(np.ones((2, 3)), np.ones((5, 2))), "square"),
        (lambda: parallel_nonlinear_rnn(np.eye(2), np.ones((5, 3))), "u must"),
        (lambda: parallel_nonlinear_rnn(np.eye(2), np.ones((5, 2)), np.ones(3)), "x0"),
        (lambda: parallel_nonlinear_rnn(np.eye(2), np.ones((5, 2)), mode="gauss"), "mode"),
        (lambda: parallel_nonlinear_rnn(np.eye(2), np.ones((5, 2)), n_iter=0), "n_iter"),
        (lambda: parallel_nonlinear_rnn(np.eye(2), np.ones((5, 2)), tol=-1.0), "tol"),
        (lambda: parallel_nonlinear_rnn(np.eye(2) * np.nan, np.ones((5, 2))), "NaN"),
        (lambda: nonlinear_rnn_sequential(np.eye(2), np.ones((0, 2))), "T >= 1"),
        (lambda: linear_scan_affine(np.eye(3), np.ones((5, 2))), "A must"),
        (lambda: linear_scan_affine(np.eye(2), np.ones(5)), "b must"),
    ],
)
def test_b4_input_validation(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()

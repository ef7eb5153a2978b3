"""Tests for algorithms.scaling: spec sections A3, A6, A12."""

from __future__ import annotations

from math import isqrt, sqrt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special

import algorithms
from algorithms import scaling as sc
from algorithms.scaling.ab_plus_c import _pq_search


def test_exports_are_reexported():
    assert set(sc.__all__) <= set(algorithms.__all__)
    for name in sc.__all__:
        assert getattr(algorithms, name) is getattr(sc, name)


# ================================================================================================ A3


def test_a3_claim1_zeta_normalisation():
    p = sc.zipf_quanta_probs(0.5, 1)
    assert 1 / p[0] == pytest.approx(2.612375, abs=5e-7)
    assert 1 / sc.zipf_quanta_probs(1.0, 1)[0] == pytest.approx(np.pi**2 / 6, abs=1e-12)
    assert np.pi**2 / 6 == pytest.approx(1.644934, abs=5e-7)
    for g in (0.5, 1.0, 2.0):
        for K in (1, 10, 1000):
            pk = sc.zipf_quanta_probs(g, K)
            assert pk.shape == (K,)
            assert np.all(np.diff(pk) < 0)
            assert pk.sum() < 1
            # truncated mass + exact tail = 1
            assert pk.sum() + sc.quanta_loss(K, g) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("gamma", "n", "ratio"),
    [(0.5, 10, 1.02498), (0.5, 100, 1.0025), (0.5, 1000, 1.00025), (1.0, 10, 1.05079), (1.0, 100, 1.00501)],
)
def test_a3_claim2_asymptotic_over_exact_tail(gamma, n, ratio):
    r = sc.quanta_loss(n, gamma, exact=False) / sc.quanta_loss(n, gamma)
    assert r == pytest.approx(ratio, abs=6e-6)
    assert abs(r - (1 + gamma / (2 * n))) < 1.0 / n**2


def test_a3_claim2_tail_values_and_formula():
    assert sc.quanta_loss(1000, 0.5) == pytest.approx(0.0242039, abs=5e-8)
    assert sc.quanta_loss(1000, 0.5, exact=False) == pytest.approx(0.0242100, abs=5e-8)
    # brute-force tail (finite sum + integral remainder) agrees with the Hurwitz zeta
    k = np.arange(11, 2_000_001, dtype=np.float64)
    tail = (np.sum(k**-1.5) + 2 / np.sqrt(2_000_000.5)) / special.zeta(1.5)
    assert sc.quanta_loss(10, 0.5) == pytest.approx(tail, rel=1e-9)
    # L = a + (b - a) tail; n = 0 gives b
    t = sc.quanta_loss(7, 1.0)
    assert sc.quanta_loss(7, 1.0, a=0.2, b=2.0) == pytest.approx(0.2 + 1.8 * t, rel=1e-14)
    assert sc.quanta_loss(0, 1.0, a=0.2, b=2.0) == pytest.approx(2.0, rel=1e-14)
    assert sc.quanta_loss(0, 1.0, exact=False) == 1.0
    np.testing.assert_allclose(sc.quanta_loss(np.array([0, 7]), 1.0), [1.0, t])


@pytest.mark.parametrize(("gamma", "expected"), [(0.5, (0.5, 1 / 3, 1 / 3)), (1.0, (1.0, 0.5, 0.5))])
def test_a3_claim3_exponents(gamma, expected):
    e = sc.quanta_scaling_exponents(gamma)
    assert (e["params"], e["data"], e["steps"]) == pytest.approx(expected, abs=1e-15)
    assert e["params"] > e["data"]


def test_a3_claim4_simulated_slopes():
    D = np.logspace(4, 12, 9)
    n = sc.quanta_learned_from_data(D, 0.5, 10)
    L = sc.quanta_loss(n, 0.5)
    slope = np.polyfit(np.log(D), np.log(L), 1)[0]
    assert slope == pytest.approx(-1 / 3, abs=0.01)
    assert slope == pytest.approx(-0.3334, abs=5e-4)
    nn = np.round(np.logspace(2, 8, 7))
    slope_n = np.polyfit(np.log(nn), np.log(sc.quanta_loss(nn, 0.5)), 1)[0]
    assert slope_n == pytest.approx(-0.49988, abs=5e-5)
    assert slope_n == pytest.approx(-0.5, abs=1e-3)


@settings(max_examples=200, deadline=None)
@given(D=st.floats(0.0, 1e14), gamma=st.floats(0.05, 3.0), tau=st.floats(0.5, 100.0))
def test_a3_learned_quanta_is_max_k_with_enough_samples(D, gamma, tau):
    n = sc.quanta_learned_from_data(D, gamma, tau)
    assert isinstance(n, int)
    p = lambda k: k ** (-gamma - 1) / special.zeta(gamma + 1)  # noqa: E731
    assert n == 0 or D * p(n) >= tau * (1 - 1e-12)
    assert D * p(n + 1) < tau * (1 + 1e-12)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_a3_learned_quanta_exact_at_boundaries(gamma):
    """At D = tau zeta k^(gamma+1) quantum k is just learned; a plain float floor is often k - 1."""
    k = np.arange(1, 2001)
    tau = 3.0
    D = tau * special.zeta(gamma + 1) * k.astype(float) ** (gamma + 1)
    np.testing.assert_array_equal(sc.quanta_learned_from_data(D, gamma, tau), k)
    np.testing.assert_array_equal(sc.quanta_learned_from_data(np.nextafter(D, 0), gamma, tau), k - 1)
    naive = np.floor((D / (tau * special.zeta(gamma + 1))) ** (1 / (gamma + 1)))
    assert np.any(naive != k)


def test_a3_learned_quanta_values():
    # gamma = 1, tau = 1: n = floor(sqrt(D / zeta(2))); D p_k >= tau exactly at D = zeta(2) k^2
    z = np.pi**2 / 6
    assert sc.quanta_learned_from_data(z * 100 * 1.000001, 1.0, 1.0) == 10
    assert sc.quanta_learned_from_data(z * 100 * 0.999999, 1.0, 1.0) == 9
    assert sc.quanta_learned_from_data(0.0, 1.0, 1.0) == 0
    np.testing.assert_array_equal(sc.quanta_learned_from_data([z * 4.0001, z * 9.0001], 1.0, 1.0), [2, 3])


@pytest.mark.parametrize(
    "call",
    [
        lambda: sc.zipf_quanta_probs(0.0, 5),
        lambda: sc.zipf_quanta_probs(-1.0, 5),
        lambda: sc.zipf_quanta_probs(np.nan, 5),
        lambda: sc.zipf_quanta_probs(0.5, 0),
        lambda: sc.zipf_quanta_probs(0.5, 2.5),
        lambda: sc.quanta_loss(-1, 0.5),
        lambda: sc.quanta_loss(1.5, 0.5),
        lambda: sc.quanta_loss(np.nan, 0.5),
        lambda: sc.quanta_loss(3, 0.5, a=[0, 1]),
        lambda: sc.quanta_learned_from_data(-1.0, 0.5, 10),
        lambda: sc.quanta_learned_from_data(100.0, 0.5, 0.0),
        lambda: sc.quanta_learned_from_data(np.inf, 0.5, 1.0),
        lambda: sc.quanta_scaling_exponents(0.0),
        lambda: sc.quanta_scaling_exponents("x"),
    ],
)
def test_a3_validation(call):
    with pytest.raises(ValueError):  # noqa: PT011
        call()


# ================================================================================================ A6

H_TABLE = [(32, -7.77471), (64, -15.4734), (96, -23.1726), (128, -30.8718), (256, -61.6692), (512, -123.264)]


@pytest.mark.parametrize(("n", "h"), H_TABLE)
@pytest.mark.parametrize("method", ["bessel", "quadrature"])
def test_a6_claim1_entropy_table(n, h, method):
    decimals = len(repr(h).split(".")[1])  # the table is printed to 6 significant digits
    assert sc.entropy_h_n(n, method=method) == pytest.approx(h, abs=max(1e-4, 0.5 * 10.0**-decimals))


def test_a6_claim1_ratio_tends_to_half_log_phi():
    ns = np.array([32, 64, 128, 256, 512, 10_000, 100_000])
    ratios = np.asarray(sc.entropy_h_n(ns)) / ns
    assert ratios[0] == pytest.approx(-0.24296, abs=5e-6)
    assert ratios[4] == pytest.approx(-0.24075, abs=5e-6)
    gap = np.abs(ratios + 0.5 * np.log((1 + sqrt(5)) / 2))
    assert np.all(np.diff(gap) < 0)
    assert gap[-1] < 1e-5


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 3000))
def test_a6_bessel_closed_form_equals_quadrature(n):
    assert sc.entropy_h_n(n) == pytest.approx(sc.entropy_h_n(n, method="quadrature"), rel=1e-9, abs=1e-9)


def test_a6_large_n_no_overflow():
    h = sc.entropy_h_n([700, 5000, 20_000, 1_000_000])
    assert np.all(np.isfinite(h))
    assert h[-1] / 1e6 == pytest.approx(-0.2406059, abs=1e-6)


def test_a6_claim2_skipgram_entropy():
    assert sc.skipgram_entropy_estimate(100_000, 64) == pytest.approx(7.55245, abs=1e-4)
    assert sc.skipgram_entropy_estimate(100_000, 64) == pytest.approx(np.log(1e10) - 15.4734, abs=1e-4)


@pytest.mark.parametrize(
    ("N", "coef", "value", "rounded"),
    [
        (1e5, 8.33, 95.90, 96),
        (5e6, 8.33, 128.49, 128),
        (512, 8.33, 51.97, 52),
        (1e5, 8, 92.10, 92),
        (512, 8, 49.9, 50),
    ],
)
def test_a6_claim3_dimension_formula(N, coef, value, rounded):
    d = sc.min_embedding_dim(N, coef)
    assert d == pytest.approx(value, abs=0.05 if value == 49.9 else 0.005)
    assert round(d) == rounded


def test_a6_claim4_laplace_constants():
    c = sc.laplace_constants()
    phi = (1 + sqrt(5)) / 2
    assert c["theta_star"] == pytest.approx(0.9045569, abs=5e-8)
    assert c["f_star"] == pytest.approx(0.3774281, abs=5e-8)
    assert c["cos_star"] == pytest.approx(0.6180340, abs=5e-8)
    assert c["cos_star"] == pytest.approx(1 / phi, abs=1e-15)
    assert c["curvature"] == pytest.approx(1.1180340, abs=5e-8)
    assert c["curvature"] == pytest.approx(sqrt(5) / 2, abs=1e-14)
    assert c["prefactor"] == pytest.approx(1.676283, abs=5e-7)
    assert c["coef"] == pytest.approx(0.2406059, abs=5e-8)
    assert c["coef"] == pytest.approx(0.5 * np.log(phi), abs=1e-15)
    assert c["dim_coef"] == pytest.approx(8.312348, abs=5e-7)
    # theta* really maximises f(t) = log sin t + cos t, and f'' = -2 * curvature there
    f = lambda t: np.log(np.sin(t)) + np.cos(t)  # noqa: E731
    res = optimize.minimize_scalar(
        lambda t: -f(t), bounds=(0.1, 3.0), method="bounded", options={"xatol": 1e-10}
    )
    assert res.x == pytest.approx(c["theta_star"], abs=1e-6)
    h = 1e-4
    t = c["theta_star"]
    assert (f(t + h) - 2 * f(t) + f(t - h)) / h**2 == pytest.approx(-2 * c["curvature"], rel=1e-6)
    assert sc.min_embedding_dim(1e5, "exact") == pytest.approx(8.312348 * np.log(1e5), rel=1e-7)


@pytest.mark.parametrize(
    "call",
    [
        lambda: sc.entropy_h_n(1),
        lambda: sc.entropy_h_n(10.5),
        lambda: sc.entropy_h_n(np.nan),
        lambda: sc.entropy_h_n(10, method="laplace"),
        lambda: sc.min_embedding_dim(0),
        lambda: sc.min_embedding_dim(np.nan),
        lambda: sc.min_embedding_dim(100, coef="approx"),
        lambda: sc.min_embedding_dim(100, coef=-1.0),
        lambda: sc.skipgram_entropy_estimate(0.5, 64),
        lambda: sc.skipgram_entropy_estimate(100, 1),
    ],
)
def test_a6_validation(call):
    with pytest.raises(ValueError):  # noqa: PT011
        call()


# =============================================================================================== A12


def _bruteforce_table(n_max: int) -> np.ndarray:
    """S_min[N] for 0 <= N <= n_max: min of N (a = b = 0) and a + N//a + N%a over 2 <= a <= sqrt N."""
    N = np.arange(n_max + 1, dtype=np.int64)
    best = N.copy()
    for a in range(2, isqrt(n_max) + 1):
        tail = N[a * a :]
        np.minimum(best[a * a :], a + tail // a + tail % a, out=best[a * a :])
    return best


def _windowed_scan_table(n_max: int, lower: str) -> np.ndarray:
    """Min of S(a) over the article's open interval a in (sqrt(N/2), sqrt N] ('article') or the fixed
    closed one a in [max(2, floor(sqrt(N/2))), floor(sqrt N)] ('fixed'), for every N <= n_max."""
    N = np.arange(n_max + 1, dtype=np.int64)
    best = np.full(n_max + 1, np.iinfo(np.int64).max)
    for a in range(2, isqrt(n_max) + 1):
        # the N for which a lies in the interval: a^2 <= N, and 2a^2 > N (article) / N < 2(a+1)^2 (fixed)
        hi = 2 * a * a if lower == "article" else 2 * (a + 1) ** 2
        sl = slice(a * a, min(hi, n_max + 1))
        np.minimum(best[sl], a + N[sl] // a + N[sl] % a, out=best[sl])
    return best


def _check(N, res):
    S, a, b, c = res
    assert all(isinstance(v, int) for v in res)
    assert 0 <= a <= b
    assert c >= 0
    assert a * b + c == N
    assert S == a + b + c


@pytest.fixture(scope="module")
def table_1e4():
    return _bruteforce_table(10_000)


def test_a12_claim1_pq_equals_bruteforce_for_every_n_up_to_1e4(table_1e4):
    for N in range(10_001):
        res = sc.min_ab_plus_c(N)
        assert res[0] == table_1e4[N], N
        _check(N, res)


def test_a12_claim1_sqrt_scan_and_bruteforce_for_every_n_up_to_1e4(table_1e4):
    for N in range(4, 10_001):
        r1, r2 = sc.min_ab_plus_c_sqrt(N), sc.min_ab_plus_c_bruteforce(N)
        assert r1[0] == r2[0] == table_1e4[N], N
        _check(N, r1)
        _check(N, r2)
    for N in range(4):
        assert sc.min_ab_plus_c_sqrt(N)[0] == sc.min_ab_plus_c_bruteforce(N)[0] == N


def test_a12_claim1_article_open_interval_misses_optima():
    """⚠ The article's scan over the open interval (sqrt(N/2), sqrt N] fails at exactly these N."""
    n_max = 200_000
    truth = _bruteforce_table(n_max)
    article = _windowed_scan_table(n_max, "article")
    fails = np.flatnonzero(article[4:] > truth[4:]) + 4
    expected = [8, 18, 19, 32, 33, 34, 98, 128, 129, 162, 163, 164, 200, 201, 202, 203, 512, 882, 883]
    expected += [968, 969, 970, 971, 2048, 2049, 2888, 2889, 2890]
    assert fails.tolist() == expected
    assert len(expected) == 28
    assert article[18] == 10
    assert truth[18] == 9
    assert sc.min_ab_plus_c(18) == (9, 3, 6, 0)
    # the fixed, closed lower end is exact on the spec's whole verified range
    n_max = 300_000
    truth = _bruteforce_table(n_max)
    fixed = _windowed_scan_table(n_max, "fixed")
    np.testing.assert_array_equal(fixed[4:], truth[4:])


def test_a12_small_n_literal_pq_is_off_by_one():
    """Spec edge case: the bare p, q algorithm returns S = N + 1 for N = 1, 2, 3."""
    for N in (1, 2, 3):
        assert _pq_search(N)[0][0] == N + 1
        assert sc.min_ab_plus_c(N) == (N, 0, 0, N)
    assert sc.min_ab_plus_c(0) == (0, 0, 0, 0)


def test_a12_claim2_naive_guess_fails_at_130():
    N = 130
    r = isqrt(N)
    naive = min(a + b + N - a * b for a, b in ((r, r), (r, r + 1)) if a * b <= N)
    assert naive == 31
    S, a, b, c = sc.min_ab_plus_c(N)
    assert (S, a, b, c) == (23, 10, 13, 0)


EXACT = [
    (4, 4),
    (6, 5),
    (8, 6),
    (10, 7),
    (100, 20),
    (101, 21),
    (1000, 65),
    (10001, 201),
    (123456, 709),
    (999999, 2000),
    (1000001, 2001),
    (10**9 + 7, 63257),
    (10**12 + 1, 2000001),
]


@pytest.mark.parametrize(("N", "S"), EXACT)
def test_a12_claim3_exact_answers(N, S):
    for f in (sc.min_ab_plus_c, sc.min_ab_plus_c_sqrt, sc.min_ab_plus_c_bruteforce):
        res = f(N)
        assert res[0] == S
        _check(N, res)


def test_a12_claim3_non_unique_optima():
    for a, b, c in ((25, 40, 0), (27, 37, 1)):
        assert a * b + c == 1000
        assert a + b + c == 65 == sc.min_ab_plus_c(1000)[0]
    assert sc.min_ab_plus_c(123456)[1:] == (319, 387, 3)
    assert sc.min_ab_plus_c(10**9 + 7)[1:] == (31250, 32000, 7)


@pytest.mark.parametrize(
    "N", [10**12 - 1, 10**12 + 1, 10**12 + 10**6, 10**9 + 7, 999_999_999_989, 2 * 10**12 - 3]
)
def test_a12_claim4_iteration_bound(N):
    res, iters = sc.min_ab_plus_c(N, return_iterations=True)
    assert iters <= 3 + sqrt(1 + 4 * sqrt(N))
    assert res == sc.min_ab_plus_c(N)
    _, scan = sc.min_ab_plus_c_sqrt(N, return_iterations=True)
    assert scan == pytest.approx((1 - 1 / sqrt(2)) * sqrt(N), abs=3)  # Theta(sqrt N) ...
    assert scan > 20 * (3 + sqrt(1 + 4 * sqrt(N)))  # ... versus O(N^(1/4))
    assert res[0] == sc.min_ab_plus_c_sqrt(N)[0]


def test_a12_claim4_sqrt_scan_length_at_1e12():
    _, scan = sc.min_ab_plus_c_sqrt(10**12, return_iterations=True)
    assert abs(scan - 292_893) <= 3
    _, iters = sc.min_ab_plus_c(10**12, return_iterations=True)
    assert iters <= 2003


@settings(max_examples=60, deadline=None)
@given(N=st.integers(4, 10**12))
def test_a12_property_large_n_matches_bruteforce(N):
    (S, a, b, c), iters = sc.min_ab_plus_c(N, return_iterations=True)
    _check(N, (S, a, b, c))
    assert S == sc.min_ab_plus_c_bruteforce(N)[0]
    assert iters <= 3 + sqrt(1 + 4 * sqrt(N))


@settings(max_examples=200, deadline=None)
@given(N=st.integers(1, 10**6))
def test_a12_property_matches_bruteforce_up_to_1e6(N):
    assert sc.min_ab_plus_c(N)[0] == sc.min_ab_plus_c_bruteforce(N)[0] == sc.min_ab_plus_c_sqrt(N)[0]


@settings(max_examples=200, deadline=None)
@given(k=st.integers(2, 10**30), extra=st.integers(0, 10**6))
def test_a12_property_huge_n_exact_integer_arithmetic(k, extra):
    """S >= ceil(2 sqrt N) for N >= 4, equality for N = k^2, k^2 + 1, k(k + 1); far beyond float range."""
    for N, exact in ((k * k, True), (k * k + 1, True), (k * (k + 1), True), (k * k + extra, False)):
        res, iters = sc.min_ab_plus_c(N, return_iterations=True)
        _check(N, res)
        lower = isqrt(4 * N - 1) + 1  # ceil(2 sqrt N)
        assert res[0] >= lower
        if exact:
            assert res[0] == lower
        assert iters <= 3 + sqrt(1 + 4 * sqrt(N))


def test_a12_float_sqrt_would_fail_but_isqrt_does_not():
    N = (10**17 + 3) ** 2 + 1  # float64 cannot represent N
    assert int(sqrt(N)) != 10**17 + 3
    assert sc.min_ab_plus_c(N) == (2 * (10**17 + 3) + 1, 10**17 + 3, 10**17 + 3, 1)


@pytest.mark.parametrize("bad", [-1, 2.0, 1e3, True, "10", None, 10**0.5])
def test_a12_validation(bad):
    for f in (sc.min_ab_plus_c, sc.min_ab_plus_c_sqrt, sc.min_ab_plus_c_bruteforce):
        with pytest.raises(ValueError, match="non-negative integer"):
            f(bad)


def test_a12_numpy_integers_and_size_limits():
    assert sc.min_ab_plus_c(np.int64(130)) == (23, 10, 13, 0)
    assert sc.min_ab_plus_c_sqrt(np.uint32(130))[0] == 23
    with pytest.raises(ValueError, match="too large"):
        sc.min_ab_plus_c_sqrt(2**62)
    with pytest.raises(ValueError, match="too large"):
        sc.min_ab_plus_c_bruteforce(2**63)

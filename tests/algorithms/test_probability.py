"""Tests for algorithms.probability: spec sections A2, A7, A8, A10, A11 and B5."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

from algorithms.probability import (
    FourierBasisDensity,
    can_correct_one,
    can_postprocess,
    entropy_normalize,
    estimate_prior,
    hard_topk,
    nbce_combine_logits,
    noise_argmax_probs,
    noise_argmax_probs_mc,
    power_entropy,
    power_entropy_slope,
    soft_topk_grad,
    soft_topk_iterative,
    soft_topk_sigmoid_jacobian,
    soft_topk_threshold,
    soft_topk_weighted_softmax,
    top_p_truncate,
    topk_uncertainty,
)

FAST = settings(max_examples=40, deadline=None)


def _entropy(p: np.ndarray) -> float:
    return float(-np.sum(special.xlogy(p, p)))


# ==================================================================================================
# A2. NBCE

P0 = np.array([0.4, 0.3, 0.2, 0.1])
P1 = np.full(4, 0.25)
P2 = np.array([0.7, 0.1, 0.1, 0.1])


def test_nbce_min_entropy_pooling_claim1():
    assert [_entropy(p) for p in (P0, P1, P2)] == pytest.approx([1.279854, 1.386294, 0.940448], abs=1e-6)
    out, k = nbce_combine_logits(np.log([P0, P1, P2]), beta=0.25)
    assert k == 2
    np.testing.assert_allclose(np.exp(out), [0.755843, 0.071334, 0.078944, 0.093880], atol=1e-6)
    np.testing.assert_allclose(
        np.exp(out), special.softmax(1.25 * np.log(P2) - 0.25 * np.log(P0)), atol=1e-15
    )


def test_nbce_mean_pooling_with_beta_n_minus_1_is_naive_bayes():
    out, k = nbce_combine_logits(np.log([P0, P1, P2]), beta=1.0, pooling="mean")
    assert k is None
    np.testing.assert_allclose(np.exp(out), np.array([21, 4, 6, 12]) / 43, atol=1e-12)
    np.testing.assert_allclose(np.exp(out), [0.488372, 0.093023, 0.139535, 0.279070], atol=1e-6)


def test_nbce_beta_zero_returns_the_chosen_context():
    out, k = nbce_combine_logits(np.log([P0, P1, P2]) + 3.0, beta=0.0)  # unnormalised logits
    assert k == 2
    np.testing.assert_allclose(out, np.log(P2), atol=1e-14)


def test_nbce_max_pooling_is_elementwise_max():
    out, _ = nbce_combine_logits(np.log([P0, P1, P2]), beta=0.0, pooling="max")
    np.testing.assert_allclose(np.exp(out), special.softmax(np.log(np.maximum(P1, P2))), atol=1e-15)


def test_nbce_top_p_and_neg_inf_handling_claim4():
    logits = np.log([[0.6, 0.38, 0.015, 0.005], [0.02, 0.9, 0.07, 0.01]])
    trunc = top_p_truncate(logits, 0.95)
    np.testing.assert_array_equal(
        np.isneginf(trunc), [[False, False, True, True], [True, False, False, True]]
    )
    out, k = nbce_combine_logits(logits, beta=0.25, top_p=0.95)
    assert k == 1
    assert not np.isnan(out).any()
    np.testing.assert_allclose(np.exp(out), [0, 0.941003, 0.058997, 0], atol=1e-6)
    # pre-normalisation values [−inf, 0.110195, −2.659260, −inf]: compare a normalisation-free difference
    assert out[1] - out[2] == pytest.approx(0.110195 - (-2.659260), abs=1e-6)


def test_nbce_literal_formula_gives_nan_and_inf_where_the_article_says():
    l0, l1 = top_p_truncate(np.log([[0.6, 0.38, 0.015, 0.005], [0.02, 0.9, 0.07, 0.01]]), 0.95)
    with np.errstate(invalid="ignore"):
        literal = 1.25 * l1 - 0.25 * l0
    assert np.isposinf(literal[2])  # only the unconditioned entry truncated -> +inf
    assert np.isnan(literal[3])  # −inf − (−inf)


def test_nbce_context_switch_penalty_claim5():
    base = np.array([0.5, 0.3, 0.15, 0.05])
    r1 = entropy_normalize(base, 1.0)[0]
    r2 = entropy_normalize(base, 0.95)[0]
    assert [_entropy(r1), _entropy(r2)] == pytest.approx([1.0, 0.95], abs=1e-10)
    logits = np.log([base, r1, r2])
    assert nbce_combine_logits(logits)[1] == 2
    assert nbce_combine_logits(logits, prev_k=1, eta=0.1)[1] == 1
    assert nbce_combine_logits(logits, prev_k=1, eta=0.01)[1] == 2
    out, _ = nbce_combine_logits(logits, beta=0.0, prev_k=1, eta=0.1)
    np.testing.assert_allclose(out, np.log(r1), atol=1e-14)


def test_nbce_entropy_ties_take_lowest_index():
    assert nbce_combine_logits(np.log([P0, P2, P2[::-1]]))[1] == 1


def test_top_p_truncate_is_hf_nucleus():
    lp = np.log([0.5, 0.3, 0.15, 0.05])
    assert np.isfinite(top_p_truncate(lp, 0.79)).tolist() == [True, True, False, False]
    assert np.isfinite(top_p_truncate(lp, 0.81)).tolist() == [True, True, True, False]
    assert np.isfinite(top_p_truncate(lp, 1e-9)).tolist() == [True, False, False, False]


@pytest.mark.parametrize(
    ("logits", "kwargs", "match"),
    [
        (np.zeros((1, 4)), {}, "shape"),
        (np.zeros(4), {}, "shape"),
        ([[0.0, np.nan], [0.0, 0.0]], {}, "NaN"),
        ([[0.0, np.inf], [0.0, 0.0]], {}, "finite"),
        ([[-np.inf, -np.inf], [0.0, 0.0]], {}, "finite entry"),
        (np.zeros((3, 4)), {"beta": -1.5}, "beta"),
        (np.zeros((3, 4)), {"pooling": "median"}, "pooling"),
        (np.zeros((3, 4)), {"prev_k": 3}, "prev_k"),
        (np.zeros((3, 4)), {"eta": -0.1}, "eta"),
        (np.zeros((3, 4)), {"top_p": 0.0}, "top_p"),
        ([[0.0, 0.0], [0.0, -np.inf], [-np.inf, 0.0]], {"pooling": "mean"}, "truncated away"),
    ],
)
def test_nbce_validation(logits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        nbce_combine_logits(logits, **kwargs)


# ==================================================================================================
# A7. CAN

CONF3 = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.7, 0.1]])
UNC3 = np.array([0.4, 0.35, 0.25])
UNIFORM3 = np.full(3, 1 / 3)


def test_topk_uncertainty_claim2_reverses_plain_entropy():
    a, b = [0.5, 0.25, 0.25], [0.5, 0.5, 0.0]
    assert _entropy(np.array(a)) == pytest.approx(1.0397, abs=1e-4)
    assert _entropy(np.array(b)) == pytest.approx(0.6931, abs=1e-4)
    np.testing.assert_allclose(topk_uncertainty([a, b], k=2), [0.918296, 1.0], atol=1e-6)
    np.testing.assert_allclose(topk_uncertainty([a, b], k=3), [0.946395, 0.630930], atol=1e-6)


def test_topk_uncertainty_paper_variant():
    p = np.array([0.5, 0.25, 0.25])
    expect = -(0.5 * math.log(0.5) + 0.25 * math.log(0.25)) / math.log(3)
    assert topk_uncertainty(p, k=2, variant="paper") == pytest.approx(expect, abs=1e-15)


def test_can_intuition_example_claim1():
    np.testing.assert_allclose(
        can_correct_one([[0.05, 0.95]], [0.5, 0.5], [0.5, 0.5]), [0.725, 0.275], atol=1e-15
    )
    np.testing.assert_allclose(
        can_correct_one([[0.05, 0.95]], [0.5, 0.5], [0.5, 0.5], iters=100), [0.8133945, 0.1866055], atol=1e-7
    )


def test_can_three_class_example_claim3():
    U = topk_uncertainty(CONF3)
    assert ((U >= 0.58) & (U <= 0.73)).all()
    assert topk_uncertainty(UNC3) == pytest.approx(0.9835, abs=1e-4)
    one = can_correct_one(CONF3, UNC3, UNIFORM3)
    np.testing.assert_allclose(one, [0.249331, 0.223238, 0.527431], atol=1e-6)
    assert np.argmax(UNC3) == 0
    assert np.argmax(one) == 2
    np.testing.assert_allclose(
        can_correct_one(CONF3, UNC3, UNIFORM3, iters=2), [0.242492, 0.217595, 0.539913], atol=1e-6
    )
    np.testing.assert_allclose(
        can_correct_one(CONF3, UNC3, UNIFORM3, iters=50), [0.242108, 0.217348, 0.540544], atol=1e-6
    )
    _, stack = can_correct_one(CONF3, UNC3, UNIFORM3, iters=2000, return_stack=True)
    np.testing.assert_allclose(stack.mean(axis=0), UNIFORM3, atol=1e-8)


def test_can_fixed_point_claim4():
    conf = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    y = np.array([0.3, 0.4, 0.3])
    prior = np.vstack([conf, y]).mean(axis=0)
    np.testing.assert_allclose(prior, [0.366667, 0.4, 0.233333], atol=1e-6)
    np.testing.assert_allclose(can_correct_one(conf, y, prior), y, atol=1e-15)


def test_can_sum_instead_of_mean_gives_the_same_result():
    Y = np.vstack([CONF3, UNC3])
    Y = Y / Y.sum(axis=0) * UNIFORM3  # column *sum* instead of mean
    np.testing.assert_allclose(
        (Y / Y.sum(axis=1, keepdims=True))[-1], can_correct_one(CONF3, UNC3, UNIFORM3), atol=1e-15
    )


def test_can_without_confident_rows_returns_the_prior():
    prior = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(can_correct_one(np.zeros((0, 3)), UNC3, prior), prior, atol=1e-15)


def test_can_postprocess_per_sample_vs_batch():
    other = np.array([0.3, 0.3, 0.4])
    P = np.vstack([CONF3, UNC3, other])
    new, unc = can_postprocess(P, UNIFORM3)
    np.testing.assert_array_equal(unc, [False] * 4 + [True, True])
    np.testing.assert_array_equal(new[:4], P[:4])
    np.testing.assert_allclose(new[4], can_correct_one(CONF3, UNC3, UNIFORM3), atol=1e-15)
    np.testing.assert_allclose(new[5], can_correct_one(CONF3, other, UNIFORM3), atol=1e-15)
    # per-sample: the other uncertain row has no influence; batch: it has
    alone, _ = can_postprocess(P[:5], UNIFORM3)
    np.testing.assert_allclose(alone[4], new[4], atol=1e-15)
    batch, _ = can_postprocess(P, UNIFORM3, mode="batch")
    assert np.abs(batch[4] - new[4]).max() > 1e-3
    batch_alone, _ = can_postprocess(P[:5], UNIFORM3, mode="batch")
    np.testing.assert_allclose(batch_alone[4], new[4], atol=1e-15)


def test_estimate_prior():
    np.testing.assert_allclose(estimate_prior([0, 0, 1, 2], 3), [0.5, 0.25, 0.25])
    np.testing.assert_allclose(estimate_prior([0, 0], 3, smoothing=1.0), [0.6, 0.2, 0.2])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: topk_uncertainty([[0.5, 0.6, -0.1]]), "negative"),
        (lambda: topk_uncertainty([[0.5, 0.6, 0.1]]), "sum to 1"),
        (lambda: topk_uncertainty([[0.5, np.nan, 0.5]]), "NaN"),
        (lambda: topk_uncertainty(np.zeros((2, 0))), "empty"),
        (lambda: topk_uncertainty(UNC3, k=1), "k must be in"),
        (lambda: topk_uncertainty(UNC3, variant="x"), "variant"),
        (lambda: can_correct_one(CONF3, UNC3, [0.5, 0.5, 0.0]), "strictly positive"),
        (lambda: can_correct_one(CONF3, UNC3, [0.5, 0.5]), "shape"),
        (lambda: can_correct_one([[0.5, 0.5]], UNC3, UNIFORM3), "shape"),
        (lambda: can_correct_one(CONF3, UNC3, UNIFORM3, alpha=0.0), "alpha"),
        (lambda: can_correct_one(CONF3, UNC3, UNIFORM3, iters=0), "iters"),
        (lambda: can_postprocess(UNC3, UNIFORM3), "shape"),
        (lambda: can_postprocess(CONF3, UNIFORM3, tau=0.5, mode="x"), "mode"),
        (lambda: estimate_prior([0, 3], 3), r"\[0, 3\)"),
        (lambda: estimate_prior([], 3), "undefined"),
    ],
)
def test_can_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ==================================================================================================
# A8. Entropy normalisation

P100 = np.arange(1, 101.0) / np.arange(1, 101.0).sum()


def test_entropy_normalize_plain_newton_trajectory_claim1():
    assert _entropy(P100) == pytest.approx(4.416898, abs=1e-6)
    H = [
        _entropy(entropy_normalize(P100, math.log(30), max_iter=t, method="newton_plain")[0])
        for t in range(1, 6)
    ]
    np.testing.assert_allclose(H[:3], [3.641803, 3.425535, 3.401483], atol=1e-6)
    assert H[3] == pytest.approx(3.4011974218, abs=1e-10)
    assert H[4] == pytest.approx(3.401197381662, abs=1e-12)
    G = [entropy_normalize(P100, math.log(30), max_iter=t, method="newton_plain")[1] for t in range(1, 6)]
    gam = np.array(G) / np.r_[1.0, G[:-1]]
    np.testing.assert_allclose(gam[:3], [5.0726, 1.3449, 1.0320], atol=1e-4)
    assert gam[3] == pytest.approx(1.00037, abs=1e-5)
    assert gam[4] - 1 == pytest.approx(5e-8, abs=1e-8)
    root = optimize.brentq(lambda g: power_entropy(P100, g) - math.log(30), 1.0, 20.0, xtol=1e-14)
    for method in ("newton_plain", "newton_safe", "bisect"):
        _, Gamma, _ = entropy_normalize(P100, math.log(30), method=method)
        assert Gamma == pytest.approx(7.0432859624, abs=1e-9)
        assert Gamma == pytest.approx(root, abs=1e-9)


def test_entropy_normalize_small_example_claim2():
    p = np.array([0.5, 0.3, 0.2])
    assert _entropy(p) == pytest.approx(1.029653, abs=1e-6)
    for target, expect in ((0.5, 3.7387386489), (1.05, 0.8352355852)):
        q, Gamma, n_iter = entropy_normalize(p, target)
        assert Gamma == pytest.approx(expect, abs=1e-9)
        assert n_iter <= 6
        assert abs(_entropy(q) - target) < 1e-10


def test_entropy_power_slope_claim3():
    p = np.array([0.5, 0.3, 0.2])
    slope = power_entropy_slope(p, 1.0)
    assert slope == pytest.approx(-0.1329644, abs=1e-7)
    assert slope == pytest.approx(_entropy(p) ** 2 - np.sum(p * np.log(p) ** 2), abs=1e-15)
    h = 1e-5
    fd = (power_entropy(p, 1 + h) - power_entropy(p, 1 - h)) / (2 * h)
    assert fd == pytest.approx(slope, abs=1e-8)


def test_entropy_normalize_safeguard_claim5_plain_newton_fails():
    p = np.array([0.98, 0.01, 0.01])
    assert _entropy(p) == pytest.approx(0.1119, abs=1e-4)
    q, Gamma, _ = entropy_normalize(p, 1.0)
    assert Gamma == pytest.approx(0.1949996, abs=1e-7)
    assert not np.isnan(q).any()
    assert _entropy(q) == pytest.approx(1.0, abs=1e-10)
    q1, g1, _ = entropy_normalize(p, 1.0, max_iter=1, method="newton_plain")
    assert g1 == pytest.approx(-1.155, abs=1e-3)
    assert q1[0] < q1[1]  # the article's step reverses the order ...
    q_plain, g_plain, _ = entropy_normalize(p, 1.0, method="newton_plain")
    assert np.isnan(q_plain).all()
    assert math.isnan(g_plain)


@FAST
@given(
    st.lists(st.floats(0.01, 1.0), min_size=2, max_size=8),
    st.floats(0.02, 0.98),
    st.sampled_from(["newton_safe", "bisect"]),
)
def test_entropy_normalize_hits_any_valid_target(weights, frac, method):
    p = np.array(weights) / np.sum(weights)
    h_lo = math.log(np.sum(p == p.max()))
    h_hi = math.log(p.size)
    assume(h_hi - h_lo > 1e-3)
    target = h_lo + frac * (h_hi - h_lo)
    q, Gamma, _ = entropy_normalize(p, target, method=method)
    assert abs(_entropy(q) - target) < 1e-10
    assert Gamma > 0
    order = np.argsort(p, kind="stable")  # claim 4: order kept (ties only where q underflows to 0)
    assert (np.diff(q[order]) >= 0).all()
    # strictly increasing where the exponent differs by more than float resolution can show
    strict = Gamma * np.diff(np.log(p[order])) > 1e-12
    assert ((np.diff(q[order]) > 0) | ~strict | (q[order][:-1] == 0)).all()
    np.testing.assert_allclose(q, special.softmax(Gamma * (np.log(p) - np.log(p.max()))), atol=1e-12)


def test_entropy_normalize_zeros_batch_and_uniform_target():
    p = np.array([0.5, 0.0, 0.3, 0.2])
    q, Gamma, _ = entropy_normalize(p, 0.5)
    assert q[1] == 0.0
    assert Gamma == pytest.approx(3.7387386489, abs=1e-9)
    q, Gamma, n = entropy_normalize(p, math.log(3))
    assert Gamma == 0.0
    assert n == 0
    np.testing.assert_allclose(q, [1 / 3, 0, 1 / 3, 1 / 3], atol=1e-15)
    P = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3]])
    Q, G, N = entropy_normalize(P, [0.5, 1.05])
    assert G.shape == (2,)
    assert N.shape == (2,)
    np.testing.assert_allclose(G, [3.7387386489, 0.8352355852], atol=1e-9)
    np.testing.assert_allclose(Q[1], entropy_normalize(P[1], 1.05)[0], atol=1e-14)


@pytest.mark.parametrize(
    ("p", "target", "kwargs", "match"),
    [
        ([0.5, 0.3, 0.2], 1.2, {}, "exceeds"),
        ([0.5, 0.3, 0.2], 0.0, {}, "must exceed"),
        ([0.4, 0.4, 0.2], math.log(2), {}, "must exceed"),
        ([0.25, 0.25, 0.25, 0.25], 1.0, {}, "uniform"),
        ([0.5, 0.6, -0.1], 0.5, {}, "negative"),
        ([0.5, 0.3, np.nan], 0.5, {}, "NaN"),
        ([0.5, 0.3, 0.3], 0.5, {}, "sum to 1"),
        ([0.5, 0.3, 0.2], np.nan, {}, "NaN"),
        ([0.5, 0.3, 0.2], [0.5, 0.6], {}, "broadcast"),
        ([0.5, 0.3, 0.2], 0.5, {"method": "secant"}, "method"),
        ([0.5, 0.3, 0.2], 0.5, {"max_iter": 0}, "max_iter"),
    ],
)
def test_entropy_normalize_validation(p, target, kwargs, match):
    with pytest.raises(ValueError, match=match):
        entropy_normalize(p, target, **kwargs)


def test_entropy_normalize_reports_non_convergence():
    with pytest.raises(RuntimeError, match="did not reach"):
        entropy_normalize(P100, math.log(30), max_iter=2, method="bisect")


# ==================================================================================================
# A10. Discrete distributions from reparameterisation

MU = np.array([1.0, 2.0, 3.0])


def test_noise_argmax_gumbel_is_softmax_with_O_1_over_K_error_claim1():
    np.testing.assert_allclose(special.softmax(MU), [0.0900306, 0.2447285, 0.6652410], atol=1e-7)
    errs = {
        K: np.abs(noise_argmax_probs(MU, "gumbel", K=K) - special.softmax(MU)).max()
        for K in (10, 100, 1000, 10000)
    }
    assert errs[10] == pytest.approx(0.0334, abs=5e-4)
    assert errs[100] == pytest.approx(0.0040, abs=5e-5)
    assert errs[1000] == pytest.approx(4.09e-4, abs=5e-6)
    assert errs[10000] == pytest.approx(4.1e-5, abs=5e-7)
    assert 1 - 1 / 1000 < noise_argmax_probs(MU, K=1000).sum() < 1  # within 1/K (0.99949)
    assert noise_argmax_probs(MU, K=1000).sum() == pytest.approx(0.99949, abs=1e-5)
    renorm = noise_argmax_probs(MU, K=10000, renormalize=True)
    assert renorm.sum() == pytest.approx(1.0, abs=1e-15)
    assert np.abs(renorm - special.softmax(MU)).max() < 1e-4


def test_noise_argmax_normal_claim2():
    p = noise_argmax_probs(MU, "normal", K=10000)
    np.testing.assert_allclose(p, [0.04711, 0.22407, 0.72877], atol=1e-5)
    mc = noise_argmax_probs_mc(MU, "normal", 10**6, np.random.default_rng(0))
    np.testing.assert_allclose(mc, [0.04713, 0.22442, 0.72845], atol=1e-3)
    np.testing.assert_allclose(mc, p, atol=1e-3)


def test_noise_argmax_normal_two_classes_is_probit_claim3():
    assert special.ndtr(0.5 / math.sqrt(2)) == pytest.approx(0.638163, abs=1e-6)
    assert noise_argmax_probs([0.5, 0.0], "normal", K=10000)[0] == pytest.approx(0.638177, abs=1e-6)


def test_noise_argmax_uniform_claim5():
    mu = [0.0, 0.3, 0.5]
    p = noise_argmax_probs(mu, "uniform", K=100_000)
    np.testing.assert_allclose(p, [0.066666, 0.299166, 0.634168], atol=1e-6)
    mc = noise_argmax_probs_mc(mu, "uniform", 10**6, np.random.default_rng(1))
    np.testing.assert_allclose(mc, [0.0674, 0.2989, 0.6337], atol=1e-3)


@FAST
@given(
    st.lists(st.floats(-3, 3), min_size=2, max_size=5),
    st.sampled_from(["gumbel", "normal", "logistic", "uniform"]),
    st.floats(-10, 10),
)
def test_noise_argmax_properties_claim4(mu, noise, shift):
    mu = np.array(mu)
    K = 400
    p = noise_argmax_probs(mu, noise, K=K)
    np.testing.assert_allclose(noise_argmax_probs(mu + shift, noise, K=K), p, atol=1e-12)
    assert abs(p.sum() - 1) <= mu.size / K  # ≈ (n−2)/(2K) for the equispaced rule
    assert noise_argmax_probs(mu, noise, K=K, renormalize=True).sum() == pytest.approx(1.0, abs=1e-14)
    order = np.argsort(mu)  # monotone: μ_i ≥ μ_j ⇒ p_i ≥ p_j
    assert (np.diff(p[order]) >= -1e-12).all()


def test_noise_argmax_exact_shift_and_custom_noise_and_batch():
    np.testing.assert_allclose(noise_argmax_probs(MU + 5), noise_argmax_probs(MU), atol=1e-15)
    custom = noise_argmax_probs(MU, (stats.logistic.cdf, stats.logistic.ppf), K=500)
    np.testing.assert_allclose(custom, noise_argmax_probs(MU, "logistic", K=500), atol=1e-12)
    batch = noise_argmax_probs(np.vstack([MU, MU[::-1]]), "normal", K=300)
    np.testing.assert_allclose(batch[1], noise_argmax_probs(MU[::-1], "normal", K=300), atol=1e-15)
    assert noise_argmax_probs([2.0], K=10).tolist() == [1.0]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: noise_argmax_probs([1.0, np.nan]), "NaN"),
        (lambda: noise_argmax_probs(np.zeros(0)), "empty"),
        (lambda: noise_argmax_probs(MU, K=0), "K must be"),
        (lambda: noise_argmax_probs(MU, "cauchyish"), "noise must be"),
        (lambda: noise_argmax_probs(MU, (lambda x: 2 + 0 * x, stats.norm.ppf)), "outside"),
        (lambda: noise_argmax_probs_mc(MU, "normal", 0), "n_samples"),
    ],
)
def test_noise_argmax_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ==================================================================================================
# A11. Smooth Top-k

X3 = np.log([1.0, 2.0, 3.0])
X4 = np.array([3.0, 2.0, 1.0, 4.0])


def test_hard_topk_claim1():
    assert hard_topk([3, 2, 1, 4], 2).tolist() == [1, 0, 0, 1]
    assert hard_topk([[1, 1, 0]], 1).tolist() == [[1, 0, 0]]


def test_gradtopk_exact_and_methods_agree_claim2():
    for method in ("esp", "recursion", "bruteforce"):
        np.testing.assert_allclose(soft_topk_grad(X3, 2, method=method), [5 / 11, 8 / 11, 9 / 11], atol=1e-14)
    x = np.random.default_rng(0).standard_normal(7)
    for k in (1, 2, 3, 5):
        brute = soft_topk_grad(x, k, method="bruteforce")
        np.testing.assert_allclose(soft_topk_grad(x, k, method="recursion"), brute, atol=1e-14)
        np.testing.assert_allclose(soft_topk_grad(x, k), brute, atol=1e-14)
        assert soft_topk_grad(x, k).sum() == pytest.approx(k, abs=1e-13)
    np.testing.assert_allclose(soft_topk_grad(x, 1), special.softmax(x), atol=1e-15)


def test_gradtopk_article_recursion_fails_for_large_variance():
    x = 20 * np.random.default_rng(0).standard_normal(20)
    brute = soft_topk_grad(x, 5, method="bruteforce")
    assert np.abs(soft_topk_grad(x, 5) - brute).max() < 1e-13
    assert np.abs(soft_topk_grad(x, 5, method="recursion") - brute).max() > 0.5  # ⚠ cancellation


def test_threshold_topk_closed_forms_claim3():
    p, lam = soft_topk_threshold(X3, 2, return_lambda=True)
    assert lam == pytest.approx(math.log(3), abs=1e-15)
    np.testing.assert_allclose(p, [1 / 3, 2 / 3, 1], atol=1e-15)
    np.testing.assert_allclose(soft_topk_threshold(X3, 1), special.softmax(X3), atol=1e-15)
    p, lam = soft_topk_threshold(X3, 2, f="smooth_exp", return_lambda=True)
    assert lam == pytest.approx(-0.5 * math.log(5 / 6), abs=1e-15)
    assert lam == pytest.approx(0.0911608, abs=1e-7)
    expect = [math.sqrt(5 / 6) / 2, 1 - math.sqrt(6 / 5) / 4, 1 - math.sqrt(6 / 5) / 6]
    np.testing.assert_allclose(p, expect, atol=1e-15)
    np.testing.assert_allclose(p, [0.4564355, 0.7261387, 0.8174258], atol=1e-7)
    p, lam = soft_topk_threshold(X3, 2, f="sigmoid", return_lambda=True)
    assert lam == pytest.approx(-0.1285322, abs=1e-7)
    np.testing.assert_allclose(p, [0.5320889, 0.6945927, 0.7733184], atol=1e-7)
    assert p.sum() == pytest.approx(2.0, abs=1e-14)


def test_sigmoid_threshold_example_and_jacobian_claim4():
    x = np.array([-4.5951, -2.1972, -3.1781, 0.0, -1.1527])
    p, lam = soft_topk_threshold(x, 3, f="sigmoid", return_lambda=True)
    assert lam == pytest.approx(-2.830074, abs=1e-6)
    np.testing.assert_allclose(p, [0.1462, 0.6531, 0.4139, 0.9443, 0.8426], atol=1e-4)
    assert p.sum() == pytest.approx(3.0, abs=1e-13)
    J, dlam = soft_topk_sigmoid_jacobian(x, 3)
    assert dlam.sum() == pytest.approx(1.0, abs=1e-15)
    h = 1e-6
    eye = np.eye(5)
    fd_p = np.stack(
        [
            (soft_topk_threshold(x + h * e, 3, f="sigmoid") - soft_topk_threshold(x - h * e, 3, f="sigmoid"))
            / (2 * h)
            for e in eye
        ],
        axis=1,
    )
    fd_l = np.array(
        [
            (
                soft_topk_threshold(x + h * e, 3, f="sigmoid", return_lambda=True)[1]
                - soft_topk_threshold(x - h * e, 3, f="sigmoid", return_lambda=True)[1]
            )
            / (2 * h)
            for e in eye
        ]
    )
    np.testing.assert_allclose(J, fd_p, atol=1e-9)
    np.testing.assert_allclose(dlam, fd_l, atol=1e-9)


def test_limits_and_the_wrong_limit_of_weighted_softmax_claim5():
    tau = 0.1
    for p in (soft_topk_grad(X4, 2, tau), soft_topk_iterative(X4, 2, tau), soft_topk_threshold(X4, 2, tau)):
        np.testing.assert_allclose(p, [1, 0, 0, 1], atol=1e-4)
    np.testing.assert_allclose(
        soft_topk_threshold(X4, 2, tau, f="sigmoid"), [0.9933, 0.0067, 0, 1.0], atol=1e-4
    )
    np.testing.assert_allclose(
        soft_topk_threshold(X4, 2, tau, f="smooth_exp"), [0.9966, 0.0034, 0, 1.0], atol=1e-4
    )
    wrong = soft_topk_weighted_softmax(X4, 2, tau)
    np.testing.assert_allclose(wrong, [0.500023, 2.3e-5, 1e-9, 1.499955], atol=1e-6)
    assert np.abs(wrong - hard_topk(X4, 2)).max() > 0.49
    np.testing.assert_allclose(soft_topk_grad(X4, 2), [0.6944, 0.3056, 0.1192, 0.8808], atol=1e-4)
    np.testing.assert_allclose(soft_topk_threshold(X4, 2), [0.6652, 0.2447, 0.0900, 1.0], atol=1e-4)


def test_smooth_exp_is_softmax_only_when_max_softmax_at_most_half_claim6():
    np.testing.assert_allclose(
        soft_topk_threshold(np.log([4.0, 1.0]), 1, f="smooth_exp"), [0.75, 0.25], atol=1e-15
    )
    assert special.softmax(np.log([4.0, 1.0]))[0] == pytest.approx(0.8)
    x = np.array([0.0, 0.1, -0.3, 0.2])
    np.testing.assert_allclose(soft_topk_threshold(x, 1, f="smooth_exp"), special.softmax(x), atol=1e-12)


def test_smooth_exp_needs_the_all_above_branch_m_equals_n():
    # spec lists m ∈ {0..n−1}; for x = [0,0,0], k = 2 only m = n is consistent: λ = log(2/3), p = 2/3
    x = np.zeros(3)
    k = 2
    s = np.sort(x)[::-1]
    for m in range(3):  # the spec's range has no valid m here
        A, B = np.exp(-s[:m]).sum(), np.exp(s[m:]).sum()
        lam = math.log(B) - math.log(math.sqrt((k - m) ** 2 + A * B) + (k - m))
        assert not ((m == 0 or s[m - 1] >= lam) and lam >= s[m])
    p, lam = soft_topk_threshold(x, k, f="smooth_exp", return_lambda=True)
    assert lam == pytest.approx(math.log(2 / 3), abs=1e-15)
    np.testing.assert_allclose(p, [2 / 3] * 3, atol=1e-15)


SMOOTH_METHODS = {
    "grad": lambda x, k: soft_topk_grad(x, k),
    "iterative": lambda x, k: soft_topk_iterative(x, k),
    "exp": lambda x, k: soft_topk_threshold(x, k),
    "sigmoid": lambda x, k: soft_topk_threshold(x, k, f="sigmoid"),
    "smooth_exp": lambda x, k: soft_topk_threshold(x, k, f="smooth_exp"),
}


@FAST
@given(
    st.lists(st.floats(-5, 5), min_size=2, max_size=7, unique=True),
    st.data(),
    st.sampled_from(sorted(SMOOTH_METHODS)),
    st.floats(-20, 20),
)
def test_soft_topk_properties(x, data, name, shift):
    x = np.array(x)
    assume(np.diff(np.sort(x)).min() > 1e-6)
    k = data.draw(st.integers(1, x.size - 1))
    f = SMOOTH_METHODS[name]
    p = f(x, k)
    assert p.sum() == pytest.approx(k, abs=1e-9)
    assert (p >= -1e-15).all()
    if name != "iterative":  # (a): bounds and monotonicity are unproven and do fail, see the next test
        assert (p <= 1 + 1e-12).all()
        order = np.argsort(x)
        assert (np.diff(p[order]) >= -1e-12).all()
    np.testing.assert_allclose(f(x + shift, k), p, atol=1e-9)


def test_iterative_soft_topk_can_exceed_one_and_break_monotonicity():
    # spec A11 claim 5 says entries of every method but (a') lie in [0, 1]; (a) violates it:
    p = soft_topk_iterative([0.0, 1.0, 2.0], 2)
    assert p[2] == pytest.approx(1.0496356, abs=1e-7)
    assert p.sum() == pytest.approx(2.0, abs=1e-15)
    # ... and monotonicity: x = 0 gets more than x = 1
    p = soft_topk_iterative([0.0, 1.0, 3.0, -4.0], 3)
    assert p[0] > p[1] + 0.05
    assert p.sum() == pytest.approx(3.0, abs=1e-14)


def test_soft_topk_ends_and_batch():
    for f in SMOOTH_METHODS.values():
        assert f(X4, 0).tolist() == [0] * 4
        np.testing.assert_allclose(f(X4, 4), [1] * 4, atol=1e-15)
    assert soft_topk_threshold(X4, 0, f="sigmoid", return_lambda=True)[1] == np.inf
    assert soft_topk_threshold(X4, 4, f="sigmoid", return_lambda=True)[1] == -np.inf
    assert np.abs(soft_topk_threshold(X3, 1, f="sigmoid") - special.softmax(X3)).max() > 0.05  # not softmax
    B = np.vstack([X4, X4[::-1] * 2])
    for f in ("exp", "sigmoid", "smooth_exp"):
        np.testing.assert_allclose(
            soft_topk_threshold(B, 2, f=f)[1], soft_topk_threshold(X4[::-1] * 2, 2, f=f), atol=1e-14
        )
    np.testing.assert_allclose(soft_topk_grad(B, 2)[1], soft_topk_grad(X4[::-1] * 2, 2), atol=1e-15)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: hard_topk(X4, 5), "k must be in"),
        (lambda: soft_topk_grad(X4, -1), "k must be in"),
        (lambda: soft_topk_grad(X4, 2.0), "integer"),
        (lambda: soft_topk_grad(X4, 2, method="fft"), "method"),
        (lambda: soft_topk_threshold(X4, 2, f="relu"), "f must be"),
        (lambda: soft_topk_threshold([1.0, np.nan], 1), "NaN"),
        (lambda: soft_topk_iterative(np.zeros(0), 0), "empty"),
        (lambda: soft_topk_iterative(X4, 2, tau=0.0), "tau"),
        (lambda: soft_topk_sigmoid_jacobian(X4, 4), "0 < k < n"),
        (lambda: soft_topk_grad(np.zeros(40), 10, method="bruteforce"), "enumerate"),
    ],
)
def test_soft_topk_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ==================================================================================================
# B5. Fourier basis density model


@pytest.fixture(scope="module")
def fbd() -> FourierBasisDensity:
    rng = np.random.default_rng(0)
    return FourierBasisDensity(rng.standard_normal(9) + 1j * rng.standard_normal(9))


def test_fourier_forms_agree_nonnegative_normalised_claim1(fbd):
    x = np.linspace(-1, 1, 2001)
    np.testing.assert_allclose(fbd.pdf_unit(x), fbd.pdf_unit(x, form="series"), atol=1e-14)
    assert fbd.pdf_unit(x).min() >= 0
    assert integrate.quad(fbd.pdf_unit, -1, 1, limit=200)[0] == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(fbd.logpdf_unit(x), np.log(fbd.pdf_unit(x)), atol=1e-12)


def test_fourier_cdf_claim2(fbd):
    ref = integrate.quad(fbd.pdf_unit, -1, 0.3, limit=200, epsabs=1e-14, epsrel=1e-14)[0]
    assert fbd.cdf_unit(0.3) == pytest.approx(ref, abs=1e-12)
    assert fbd.cdf_unit(-1.0) == pytest.approx(0.0, abs=1e-15)
    assert fbd.cdf_unit(1.0) == pytest.approx(1.0, abs=1e-15)
    assert (np.diff(fbd.cdf_unit(np.linspace(-1, 1, 2001))) >= 0).all()


def test_fourier_article_cdf_errata():
    uniform = FourierBasisDensity([1.0])  # N = 0: p = 1/2 on [−1, 1]
    x = np.linspace(-1, 1, 11)
    np.testing.assert_allclose(uniform.cdf_unit(x), (x + 1) / 2, atol=1e-15)
    literal = (x**2 - 1) / 2  # the article's leading term; the Fourier sum is empty for N = 0
    assert literal[-1] == 0.0
    assert literal.min() < 0


def test_fourier_roughness_identity_claim3(fbd):
    a = fbd.a
    k = np.arange(a.size)

    def fprime_sq(x: float) -> float:  # f = |g|², f' = 2 Re(g' conj g), computed from a directly
        e = np.exp(-1j * np.pi * k * x)
        g, dg = e @ a, (-1j * np.pi * k * e) @ a
        return float((2 * np.real(dg * np.conj(g))) ** 2)

    quad = integrate.quad(fprime_sq, -1, 1, limit=400, epsabs=0, epsrel=1e-12)[0]
    assert fbd.roughness("f") == pytest.approx(quad, rel=1e-8)
    c0 = float(np.sum(np.abs(a) ** 2))
    assert fbd.roughness("p") == pytest.approx(fbd.roughness("f") / (4 * c0**2), rel=1e-14)


def test_fourier_invariances_claim4(fbd):
    x = np.linspace(-1, 1, 101)
    scaled = FourierBasisDensity(3 * np.exp(0.7j) * fbd.a)
    np.testing.assert_allclose(scaled.pdf_unit(x), fbd.pdf_unit(x), atol=1e-14)
    assert fbd.pdf_unit(-1.0) == pytest.approx(fbd.pdf_unit(1.0), abs=1e-14)


def test_fourier_objective_gradient():
    rng = np.random.default_rng(3)
    phase = np.pi * np.tanh(rng.standard_normal(40))[:, None] * np.arange(6)
    C, S = np.cos(phase), np.sin(phase)
    theta = rng.standard_normal(12)
    a = theta[:6] + 1j * theta[6:]
    nll = -np.mean(np.log(np.abs(np.exp(-1j * phase) @ a) ** 2)) + np.log(2 * np.sum(np.abs(a) ** 2))
    assert FourierBasisDensity._objective(theta, C, S, 0.0)[0] == pytest.approx(nll, abs=1e-13)
    for reg in (0.0, 0.3):
        fun = lambda t, reg=reg: FourierBasisDensity._objective(t, C, S, reg)[0]  # noqa: E731
        grad = lambda t, reg=reg: FourierBasisDensity._objective(t, C, S, reg)[1]  # noqa: E731
        num = optimize.approx_fprime(theta, fun, 1e-7)
        np.testing.assert_allclose(grad(theta), num, atol=2e-5)


@pytest.fixture(scope="module")
def mixture() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(-2, 0.5, 2000), rng.normal(1.5, 0.8, 2000)])


@pytest.fixture(scope="module")
def fits(mixture) -> dict[int, FourierBasisDensity]:
    return {N: FourierBasisDensity().fit(mixture, N) for N in (1, 2, 4, 8, 16)}


def test_fourier_mle_fit_claim5(mixture, fits):
    y = mixture
    gauss = stats.norm.logpdf(y, y.mean(), y.std()).mean()
    true = np.log(0.5 * stats.norm.pdf(y, -2, 0.5) + 0.5 * stats.norm.pdf(y, 1.5, 0.8)).mean()
    assert gauss == pytest.approx(-2.050, abs=2e-3)
    assert true == pytest.approx(-1.648, abs=2e-3)
    ll = {N: m.logpdf(y).mean() for N, m in fits.items()}
    np.testing.assert_allclose(
        [ll[N] for N in (1, 2, 4, 8, 16)], [-1.831, -1.814, -1.725, -1.650, -1.645], atol=5e-3
    )
    assert ll[8] - gauss > 0.3
    assert abs(ll[8] - true) < 0.03
    assert all(ll[b] >= ll[a] - 0.005 for a, b in ((1, 2), (2, 4), (4, 8), (8, 16)))


def test_fourier_y_space_density_cdf_and_sampling(fits):
    m = fits[8]
    assert integrate.quad(m.pdf, -np.inf, np.inf, limit=400)[0] == pytest.approx(1.0, abs=1e-8)
    assert m.cdf(0.7) == pytest.approx(integrate.quad(m.pdf, -np.inf, 0.7, limit=400)[0], abs=1e-8)
    assert np.isfinite(m.logpdf(m.mu + 1000 * m.sigma))  # log sech² does not underflow
    draws = m.sample(4000, np.random.default_rng(5))
    assert stats.kstest(draws, m.cdf).statistic < 0.03


def test_fourier_regulariser_smooths(mixture, fits):
    smooth = FourierBasisDensity().fit(mixture, 8, reg=0.05)
    assert smooth.roughness("p") < 0.5 * fits[8].roughness("p")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: FourierBasisDensity([0.0, 0.0]), "all zero"),
        (lambda: FourierBasisDensity([1.0, np.nan]), "finite"),
        (lambda: FourierBasisDensity(np.ones((2, 2))), "1-D"),
        (lambda: FourierBasisDensity([1.0], sigma=0.0), "sigma"),
        (lambda: FourierBasisDensity([1.0]).pdf_unit(1.5), r"\[-1, 1\]"),
        (lambda: FourierBasisDensity([1.0]).pdf_unit(0.0, form="x"), "form"),
        (lambda: FourierBasisDensity().fit([1.0, np.nan, 2.0], 2), "NaN"),
        (lambda: FourierBasisDensity().fit([1.0, 1.0, 1.0], 2), "spread"),
        (lambda: FourierBasisDensity().fit([1.0, 2.0], -1), "N must be"),
        (lambda: FourierBasisDensity().fit([1.0, 2.0], 2, reg=-1), "reg"),
        (lambda: FourierBasisDensity([1.0]).roughness("g"), "of must be"),
    ],
)
def test_fourier_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()

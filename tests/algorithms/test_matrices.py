"""Tests for algorithms.matrices: spec sections A5, A9, B7, B8, B14a."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls

import algorithms
from algorithms import matrices as mx

# ================================================================================================ A5


def test_a5_exports_are_reexported():
    assert set(mx.__all__) <= set(algorithms.__all__)
    for name in mx.__all__:
        assert getattr(algorithms, name) is getattr(mx, name)


def test_a5_claim1_componentwise_cosines_are_one_global_is_not():
    local, _weights, glob = mx.blockwise_cosine([[1.0], [1.0]], [[1.0], [2.0]])
    np.testing.assert_allclose(local, [1.0, 1.0], rtol=0, atol=1e-15)
    assert glob == pytest.approx(3 / np.sqrt(10), abs=1e-12)
    assert glob == pytest.approx(0.9486833, abs=5e-8)
    assert mx.cosine([1.0, 1.0], [1.0, 2.0]) == pytest.approx(glob, abs=1e-15)


@pytest.mark.parametrize(
    ("eps", "expected"), [(0.1, 0.1980198), (0.01, 0.0199980), (0.001, 0.0019999980)]
)
def test_a5_claim2_no_lower_bound_from_local_cosines(eps, expected):
    x = [[eps, 0.0], [1.0, 0.0]]
    y = [[1.0, 0.0], [eps, 0.0]]
    local, _, glob = mx.blockwise_cosine(x, y)
    np.testing.assert_allclose(local, [1.0, 1.0], atol=1e-15)
    assert glob == pytest.approx(2 * eps / (1 + eps**2), rel=1e-12)
    assert glob == pytest.approx(expected, rel=1e-6)


def test_a5_claim2_local_cosines_09_global_small():
    eps = 0.01
    u = np.array([1.0, 0.0])
    v = np.array([0.9, np.sqrt(1 - 0.81)])  # cos(u, v) = 0.9
    local, _, glob = mx.blockwise_cosine([eps * u, u], [v, eps * v])
    np.testing.assert_allclose(local, [0.9, 0.9], atol=1e-14)
    assert glob == pytest.approx(0.0179982, abs=5e-8)
    assert glob == pytest.approx(eps * 1.8 / (1 + eps**2), rel=1e-12)


def test_a5_claim3_identity_random_blocks():
    rng = np.random.default_rng(0)
    sizes = (3, 5, 2)
    xs = [rng.standard_normal(s) for s in sizes]
    ys = [rng.standard_normal(s) for s in sizes]
    local, w, glob = mx.blockwise_cosine(xs, ys)
    x, y = np.concatenate(xs), np.concatenate(ys)
    direct = x @ y / np.linalg.norm(x) / np.linalg.norm(y)
    assert glob == pytest.approx(direct, abs=1e-12)
    assert np.sum(w * local) == pytest.approx(direct, abs=1e-12)
    a = np.array([np.linalg.norm(v) for v in xs])
    b = np.array([np.linalg.norm(v) for v in ys])
    assert w.sum() == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-12)
    assert mx.global_cosine_from_blocks(local, a, b) == pytest.approx(direct, abs=1e-12)
    # the identity also holds for matrix-shaped blocks (e.g. per-tensor gradients)
    X = [rng.standard_normal((2, 3)), rng.standard_normal(4)]
    Y = [rng.standard_normal((2, 3)), rng.standard_normal(4)]
    _, _, g2 = mx.blockwise_cosine(X, Y)
    assert g2 == pytest.approx(
        mx.cosine(np.concatenate([v.ravel() for v in X]), np.concatenate([v.ravel() for v in Y])), abs=1e-12
    )


_block_sizes = st.lists(st.integers(1, 5), min_size=1, max_size=5)


@settings(max_examples=100, deadline=None)
@given(sizes=_block_sizes, seed=st.integers(0, 2**32 - 1), lam=st.floats(0.0, 1.0))
def test_a5_claim3_property_bounds(sizes, seed, lam):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s) * rng.exponential() for s in sizes]
    ys = [rng.standard_normal(s) * rng.exponential() for s in sizes]
    # make every local cosine >= 0 by flipping blocks, then mix towards x_i to push c_i >= lam
    ys = [y if x @ y >= 0 else -y for x, y in zip(xs, ys, strict=True)]
    local, w, glob = mx.blockwise_cosine(xs, ys)
    assert np.all(local >= 0)
    assert glob <= local.max() + 1e-12
    a = np.array([np.linalg.norm(v) for v in xs])
    b = np.array([np.linalg.norm(v) for v in ys])
    cos_ab = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert w.sum() == pytest.approx(cos_ab, abs=1e-12)
    lower = min(lam, local.min())
    assert glob >= lower * cos_ab - 1e-12


def test_a5_claim4_simpson_paradox():
    r1, r2, pooled = mx.simpson_example()
    assert r1 == pytest.approx(1.0, abs=1e-12)
    assert r2 == pytest.approx(1.0, abs=1e-12)
    assert pooled == pytest.approx(-73 / 77, abs=1e-12)
    assert pooled == pytest.approx(-0.9480519, abs=5e-8)
    x = np.array([0, 1, 2, 10, 11, 12.0])
    y = np.array([10, 11, 12, 0, 1, 2.0])
    assert mx.pearson_as_cosine(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)


def test_a5_zero_blocks_and_eps():
    local, w, glob = mx.blockwise_cosine([[0.0, 0.0], [1.0, 2.0]], [[1.0, 1.0], [2.0, 4.0]])
    assert local[0] == 0.0
    assert w[0] == 0.0
    assert local[1] == pytest.approx(1.0)
    assert glob == pytest.approx(mx.cosine([0, 0, 1, 2], [1, 1, 2, 4]))
    assert mx.cosine([0.0, 0.0], [1.0, 2.0]) == 0.0
    _, w0, g0 = mx.blockwise_cosine([[0.0]], [[1.0]])
    assert g0 == 0.0
    assert w0[0] == 0.0
    assert mx.cosine([3.0, 4.0], [3.0, 4.0], eps=25.0) == pytest.approx(0.5)
    np.testing.assert_allclose(mx.cosine([[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [2.0, 2.0]]), [0.0, 1.0])


@pytest.mark.parametrize(
    "call",
    [
        lambda: mx.cosine([1.0, 2.0], [1.0, 2.0, 3.0]),
        lambda: mx.cosine([1.0, np.nan], [1.0, 2.0]),
        lambda: mx.cosine([1.0, 2.0], [1.0, 2.0], eps=-1.0),
        lambda: mx.cosine(1.0, 2.0),
        lambda: mx.blockwise_cosine([[1.0]], [[1.0], [2.0]]),
        lambda: mx.blockwise_cosine([[1.0, 2.0]], [[1.0]]),
        lambda: mx.blockwise_cosine([], []),
        lambda: mx.blockwise_cosine(np.ones((2, 2)), np.ones((2, 2))),
        lambda: mx.blockwise_cosine([[np.inf]], [[1.0]]),
        lambda: mx.global_cosine_from_blocks([0.5, 2.0], [1, 1], [1, 1]),
        lambda: mx.global_cosine_from_blocks([0.5], [1, 1], [1, 1]),
        lambda: mx.global_cosine_from_blocks([0.5], [-1], [1]),
        lambda: mx.pearson_as_cosine([1.0], [2.0]),
        lambda: mx.cosine(["a"], ["b"]),
        lambda: mx.cosine([1j], [1.0]),
    ],
)
def test_a5_validation(call):
    with pytest.raises(ValueError):  # noqa: PT011
        call()


# ================================================================================================ A9

METHODS = ["kkt_greedy", "cyclic", "nnls", "article"]


@pytest.mark.parametrize("method", METHODS)
def test_a9_claim1_single_auxiliary(method):
    u, lam = mx.primary_auxiliary_direction([1.0, 0.0], [[-1.0, 1.0]], method=method)
    np.testing.assert_allclose(lam, [0.5], atol=1e-12)
    np.testing.assert_allclose(u, [0.5, 0.5], atol=1e-12)
    assert u @ [-1.0, 1.0] == pytest.approx(0.0, abs=1e-12)
    assert u @ [1.0, 0.0] == pytest.approx(0.5, abs=1e-12)
    u, lam = mx.primary_auxiliary_direction([1.0, 0.0], [[1.0, 1.0]], method=method)
    np.testing.assert_array_equal(lam, [0.0])
    np.testing.assert_array_equal(u, [1.0, 0.0])


G3 = np.array([[-1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])
g3 = np.array([1.0, 0.0, 0.0])


@pytest.mark.parametrize("method", ["kkt_greedy", "cyclic", "nnls"])
def test_a9_claim2_corrected_rules_reach_optimum(method):
    u, lam = mx.primary_auxiliary_direction(g3, G3, method=method)
    np.testing.assert_allclose(lam, [1 / 3, 1 / 3], atol=1e-12)
    np.testing.assert_allclose(u, [1 / 3, 1 / 3, 1 / 3], atol=1e-12)
    assert u @ u == pytest.approx(1 / 3, abs=1e-12)


def test_a9_claim2_article_literal_rule_stalls():
    """⚠ The literal selection tau = argmin <g_i, u> stops at a feasible, non-optimal point."""
    u, lam = mx.primary_auxiliary_direction(g3, G3, method="article")
    np.testing.assert_allclose(lam, [0.5, 0.25], atol=1e-15)
    np.testing.assert_allclose(u, [0.25, 0.5, 0.25], atol=1e-15)
    assert np.all(G3 @ u >= 0)  # feasible ...
    assert u @ u == pytest.approx(0.375)  # ... but the dual objective is worse than the optimum 1/3
    assert u @ u > 1 / 3 + 0.04


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method", ["kkt_greedy", "cyclic"])
def test_a9_claim3_matches_nnls_and_kkt(seed, method):
    rng = np.random.default_rng(seed)
    g0 = rng.standard_normal(10)
    G = rng.standard_normal((4, 10))
    u, lam = mx.primary_auxiliary_direction(g0, G, method=method)
    ref, _ = nnls(G.T, -g0)
    np.testing.assert_allclose(lam, ref, rtol=0, atol=1e-10)
    dots = G @ u
    assert dots.min() >= -1e-10
    assert lam.min() >= 0
    assert np.max(np.abs(lam * dots)) < 1e-10
    # claim 4: strong duality, 1/2 |u|^2 = <u, g0> - 1/2 |u|^2
    assert 0.5 * u @ u == pytest.approx(u @ g0 - 0.5 * u @ u, abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 6),
    d=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(["kkt_greedy", "cyclic"]),
)
def test_a9_property_coordinate_methods_are_optimal(n, d, seed, method):
    rng = np.random.default_rng(seed)
    g0 = rng.standard_normal(d)
    G = rng.standard_normal((n, d)) * rng.exponential(size=(n, 1))  # n > d and uneven norms included
    u, _lam = mx.primary_auxiliary_direction(g0, G, method=method)
    assert np.all(G @ u >= -1e-9)  # feasible
    u_ref, _ = mx.primary_auxiliary_direction(g0, G, method="nnls")
    np.testing.assert_allclose(u, u_ref, atol=1e-8)  # u* is unique even when lam is not
    # no feasible direction beats the primal objective <u, g0> - |u|^2/2
    obj = u @ g0 - 0.5 * u @ u
    for _ in range(20):
        v = u + 0.3 * rng.standard_normal(d)
        if np.all(G @ v >= 0):
            assert v @ g0 - 0.5 * v @ v <= obj + 1e-12


@pytest.mark.parametrize("method", ["kkt_greedy", "cyclic"])
def test_a9_degenerate_more_tasks_than_dimensions(method):
    """n > d: K is singular, lam is not unique and u* = 0 here; plain coordinate descent crawls."""
    rng = np.random.default_rng(742)
    g0, G = rng.standard_normal(4), rng.standard_normal((6, 4))
    u, lam = mx.primary_auxiliary_direction(g0, G, method=method)
    np.testing.assert_allclose(u, 0.0, atol=1e-10)
    assert lam.min() >= 0
    assert np.all(G @ u >= -1e-10)


def test_a9_zero_gradients_and_tensor_like_inputs():
    class FakeTensor:  # what the function needs from a torch tensor
        def __init__(self, a):
            self.a = np.asarray(a, dtype=np.float64)

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    u, lam = mx.primary_auxiliary_direction(
        FakeTensor([[1.0, 0.0]]), [FakeTensor([0.0, 0.0]), FakeTensor([[-1.0], [1.0]])]
    )
    np.testing.assert_allclose(lam, [0.0, 0.5])
    np.testing.assert_allclose(u, [0.5, 0.5])
    u, lam = mx.primary_auxiliary_direction([1.0, 2.0], np.zeros((0, 2)))
    np.testing.assert_array_equal(u, [1.0, 2.0])
    assert lam.shape == (0,)
    u, lam = mx.primary_auxiliary_direction([0.0, 0.0], [[1.0, -1.0]])
    np.testing.assert_array_equal(u, [0.0, 0.0])


def test_a9_l2_reg_gradient_corrected_and_literal():
    g = np.array([-1.0, 0.0])
    theta = np.array([1.0, -1.0])
    out = mx.l2_reg_gradient(g, theta)
    np.testing.assert_allclose(out, [-0.5, -0.5])
    assert out @ theta == pytest.approx(0.0, abs=1e-15)
    u, _ = mx.primary_auxiliary_direction(g, [theta])
    np.testing.assert_allclose(out, u, atol=1e-15)
    # ⚠ literal (typo) form g + relu(-<g,theta>)/|theta|^2 without the trailing theta: still conflicts
    literal = g + max(0.0, -(g @ theta)) / (theta @ theta)
    assert literal @ theta < -0.5
    # no conflict: unchanged; theta = 0: unchanged
    np.testing.assert_array_equal(mx.l2_reg_gradient([1.0, -1.0], theta), [1.0, -1.0])
    np.testing.assert_array_equal(mx.l2_reg_gradient(g, [0.0, 0.0]), g)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"g0": [1.0, 0.0], "G": [[1.0, 0.0, 0.0]]},
        {"g0": [1.0, 0.0], "G": [1.0, 0.0]},
        {"g0": [np.nan, 0.0], "G": [[1.0, 0.0]]},
        {"g0": [1.0, 0.0], "G": [[1.0, np.inf]]},
        {"g0": [1.0, 0.0], "G": [[1.0, 0.0]], "method": "frank_wolfe"},
        {"g0": [1.0, 0.0], "G": [[1.0, 0.0]], "tol": 0.0},
        {"g0": [1.0, 0.0], "G": [[1.0, 0.0]], "max_iter": 0},
        {"g0": [], "G": np.zeros((1, 0))},
    ],
)
def test_a9_validation(kwargs):
    with pytest.raises(ValueError):  # noqa: PT011
        mx.primary_auxiliary_direction(**kwargs)
    with pytest.raises(ValueError, match="same size"):
        mx.l2_reg_gradient([1.0, 2.0], [1.0])


def test_a9_non_convergence_raises():
    with pytest.raises(RuntimeError, match="did not converge"):
        mx.primary_auxiliary_direction(g3, G3, method="kkt_greedy", max_iter=1)


# ================================================================================================ B7


def _perm_matrix(p, q):
    n = p * q
    return np.eye(n)[np.arange(n).reshape(p, q).T.ravel()]


def _monarch_from_definition(Lb, Rb):
    """Dense P_(b,c) L P_(c,b) R built from block_diag and permutation matrices."""
    b, c = Lb.shape[0], Rb.shape[0]
    L = scipy.linalg.block_diag(*Lb)
    R = scipy.linalg.block_diag(*Rb)
    return _perm_matrix(b, c) @ L @ _perm_matrix(c, b) @ R


@pytest.mark.parametrize("m", [4, 8])
def test_b7_claim1_permutation_identity_and_matvec(m):
    n = m * m
    perm = mx.monarch_permutation(n)
    np.testing.assert_array_equal(perm[perm], np.arange(n))  # P^2 = I
    x = np.arange(n, dtype=float)
    np.testing.assert_array_equal(x[perm], x.reshape(m, m).T.ravel())
    rng = np.random.default_rng(0)
    Lb, Rb = rng.standard_normal((m, m, m)), rng.standard_normal((m, m, m))
    M = _monarch_from_definition(Lb, Rb)
    M4 = M.reshape(m, m, m, m)
    identity = np.einsum("jik,kjl->ijkl", Lb, Rb)
    assert np.max(np.abs(M4 - identity)) == 0.0  # exact
    np.testing.assert_array_equal(mx.monarch_dense(Lb, Rb), M)
    x = rng.standard_normal(n)
    y = M @ x
    np.testing.assert_allclose(mx.monarch_matvec(Lb, Rb, x), y, rtol=0, atol=1e-14 * np.abs(y).max())
    X = rng.standard_normal((n, 3))
    Y = M @ X
    np.testing.assert_allclose(mx.monarch_matvec(Lb, Rb, X), Y, rtol=0, atol=1e-14 * np.abs(Y).max())


@pytest.mark.parametrize(("n", "b"), [(16, None), (64, None), (15, 3), (15, 5), (12, 2), (7, 1), (7, 7)])
def test_b7_claim2_exact_recovery(n, b):
    mon = mx.Monarch.random(n, b, rng=1)
    M = mon.dense()
    Lb, Rb, err = mx.monarch_project(M, b)
    assert np.max(np.abs(mx.monarch_dense(Lb, Rb) - M)) <= 1e-12 * max(1.0, np.abs(M).max())
    assert err <= 1e-20 * np.sum(M**2) + 1e-24


def test_b7_claim3_projection_is_optimal():
    rng = np.random.default_rng(0)
    n, m = 16, 4
    A = rng.standard_normal((n, n))
    Lb, Rb, err = mx.monarch_project(A)
    M = mx.monarch_dense(Lb, Rb)
    # brute-force reference: tail singular values of the 16 slices S_jk[i, l] = A4[i, j, k, l]
    A4 = A.reshape(m, m, m, m)
    tail = sum(
        np.sum(np.linalg.svd(A4[:, j, k, :], compute_uv=False)[1:] ** 2) for j in range(m) for k in range(m)
    )
    assert err == pytest.approx(tail, rel=1e-12)
    assert np.sum((A - M) ** 2) == pytest.approx(err, rel=1e-12)
    # 200 perturbations (sigma = 0.05) of the optimal factors are all worse
    for _ in range(200):
        Lp = Lb + 0.05 * rng.standard_normal(Lb.shape)
        Rp = Rb + 0.05 * rng.standard_normal(Rb.shape)
        assert np.sum((A - mx.monarch_dense(Lp, Rp)) ** 2) > err
    # random Monarch matrices, even rescaled optimally, are worse
    for _ in range(200):
        R = mx.Monarch.random(n, rng=rng).dense()
        t = np.sum(A * R) / np.sum(R * R)
        assert np.sum((A - t * R) ** 2) > err


@settings(max_examples=50, deadline=None)
@given(bc=st.sampled_from([(2, 2), (3, 3), (2, 3), (3, 2), (4, 2), (1, 5)]), seed=st.integers(0, 2**32 - 1))
def test_b7_property_projection_beats_family_and_is_idempotent(bc, seed):
    b, c = bc
    n = b * c
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    Lb, Rb, err = mx.monarch_project(A, b)
    M = mx.monarch_dense(Lb, Rb)
    assert np.sum((A - M) ** 2) == pytest.approx(err, rel=1e-9, abs=1e-12)
    for _ in range(10):
        other = mx.Monarch(Lb + 0.1 * rng.standard_normal(Lb.shape), rng.standard_normal(Rb.shape)).dense()
        assert np.sum((A - other) ** 2) >= err - 1e-12
    L2, R2, err2 = mx.monarch_project(M, b)
    np.testing.assert_allclose(mx.monarch_dense(L2, R2), M, atol=1e-12)
    assert err2 < 1e-20 * max(1.0, np.sum(M**2))


# (p, spec Monarch MSE/entry, spec rank-m MSE/entry)
SPARSE_TABLE = [(1.0, 0.613, 0.619), (0.5, 0.286, 0.306), (0.2, 0.098, 0.119), (0.05, 0.0136, 0.0250)]


@pytest.mark.parametrize(("p", "mon_ref", "svd_ref"), SPARSE_TABLE)
def test_b7_claim4_sparse_matrices_favour_monarch(p, mon_ref, svd_ref):
    rng = np.random.default_rng(0)
    n, m = 64, 8
    mon, svd = [], []
    for _ in range(50):
        A = rng.standard_normal((n, n)) * (rng.random((n, n)) < p)
        mon.append(mx.monarch_project(A)[2] / n**2)
        svd.append(mx.best_rank_r(A, m)[2] / n**2)
    mon, svd = np.array(mon), np.array(svd)
    assert 2 * n * m == 2 * m**3 == mx.Monarch.random(n, rng=0).num_params  # parameter-matched
    assert mon.mean() == pytest.approx(mon_ref, rel=0.08)
    assert svd.mean() == pytest.approx(svd_ref, rel=0.08)
    if p <= 0.2:
        assert np.mean(mon < svd) >= 0.95
    if p == 1.0:  # dense: no ordering asserted (the article's claim did not reproduce)
        assert abs(mon.mean() / svd.mean() - 1) < 0.1


def test_b7_claim5_general_blocking_and_inverse():
    b, c, n = 3, 5, 15
    rng = np.random.default_rng(0)
    Lb, Rb = rng.standard_normal((b, c, c)), rng.standard_normal((c, b, b))
    M = _monarch_from_definition(Lb, Rb)
    assert np.max(np.abs(M.reshape(c, b, c, b) - np.einsum("jik,kjl->ijkl", Lb, Rb))) == 0.0
    np.testing.assert_array_equal(mx.monarch_dense(Lb, Rb), M)
    slices = M.reshape(c, b, c, b).transpose(1, 2, 0, 3)
    s = np.linalg.svd(slices, compute_uv=False)
    assert s[..., 1].max() < 1e-14
    assert mx.Monarch(Lb, Rb).num_params == n * n // b + n * b
    # inverse through the blocks, well-conditioned blocks
    Lw = 3 * np.eye(c) + 0.3 * rng.standard_normal((b, c, c))
    Rw = 3 * np.eye(b) + 0.3 * rng.standard_normal((c, b, b))
    mon = mx.Monarch(Lw, Rw)
    y = rng.standard_normal(n)
    np.testing.assert_allclose(mon.solve(y), np.linalg.solve(mon.dense(), y), rtol=0, atol=1e-10)
    Y = rng.standard_normal((n, 4))
    np.testing.assert_allclose(mon.solve(Y), np.linalg.solve(mon.dense(), Y), rtol=0, atol=1e-10)
    np.testing.assert_allclose(mon @ mon.solve(y), y, atol=1e-12)
    # square case as well
    mon = mx.Monarch(
        4 * np.eye(4) + 0.3 * rng.standard_normal((4, 4, 4)), 4 * np.eye(4) + rng.random((4, 4, 4))
    )
    y = rng.standard_normal(16)
    np.testing.assert_allclose(mon.solve(y), np.linalg.solve(mon.dense(), y), atol=1e-10)


def test_b7_class_api():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((16, 16))
    mon = mx.Monarch.from_dense(A)
    assert mon.shape == (16, 16)
    assert mon.b == 4
    assert mon.c == 4
    assert mon.num_params == 2 * 16**1.5
    x = rng.standard_normal(16)
    np.testing.assert_allclose(mon @ x, mon.dense() @ x, atol=1e-13)
    assert np.sum((A - mon.dense()) ** 2) == pytest.approx(mx.monarch_project(A)[2])


@pytest.mark.parametrize(
    "call",
    [
        lambda: mx.monarch_project(np.ones((4, 5))),
        lambda: mx.monarch_project(np.ones(16)),
        lambda: mx.monarch_project(np.ones((15, 15))),  # not a square number, no b
        lambda: mx.monarch_project(np.ones((15, 15)), b=4),
        lambda: mx.monarch_project(np.ones((15, 15)), b=0),
        lambda: mx.monarch_project(np.ones((15, 15)), b=16),
        lambda: mx.monarch_project(np.ones((15, 15)), b=3.0),
        lambda: mx.monarch_project(np.full((4, 4), np.nan)),
        lambda: mx.monarch_project(np.ones((0, 0))),
        lambda: mx.monarch_matvec(np.ones((2, 2, 2)), np.ones((2, 2, 2)), np.ones(5)),
        lambda: mx.monarch_matvec(np.ones((2, 2, 2)), np.ones((2, 2, 2)), np.ones((4, 2, 1))),
        lambda: mx.monarch_dense(np.ones((3, 2, 2)), np.ones((2, 2, 2))),
        lambda: mx.monarch_dense(np.ones((2, 2, 2)), np.ones((2, 2, 3))),
        lambda: mx.monarch_dense(np.ones((2, 2)), np.ones((2, 2, 2))),
        lambda: mx.monarch_solve(np.ones((2, 2, 2)), np.ones((2, 2, 2)), np.ones(3)),
        lambda: mx.monarch_solve(np.zeros((2, 2, 2)), np.ones((2, 2, 2)), np.ones(4)),  # singular
        lambda: mx.monarch_permutation(10),
        lambda: mx.monarch_permutation(0),
        lambda: mx.Monarch.random(10, 3),
    ],
)
def test_b7_validation(call):
    with pytest.raises(ValueError):  # noqa: PT011
        call()


# ================================================================================================ B8


def test_b8_claim1_diagonal():
    M = np.diag([5.0, 3.0, 1.0])
    assert mx.best_rank_r(M, 1)[2] == pytest.approx(10.0, abs=1e-12)
    assert mx.best_rank_r(M, 2)[2] == pytest.approx(1.0, abs=1e-12)
    assert mx.best_rank_r(M, 0)[2] == pytest.approx(35.0, abs=1e-12)
    assert mx.best_rank_r(M, 3)[2] == pytest.approx(0.0, abs=1e-12)
    A, B, _err = mx.best_rank_r(M, 1)
    assert A.shape == (3, 1)
    assert B.shape == (1, 3)
    np.testing.assert_allclose(np.abs(A @ B), np.diag([5.0, 0, 0]), atol=1e-14)
    assert np.linalg.norm(M, 2) == pytest.approx(5.0)
    assert np.linalg.norm(M) == pytest.approx(np.sqrt(35.0))


def test_b8_claim2_rank_deficient_pinv():
    A = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    assert np.sum(A**2) == 70
    for method in ("svd", "eig"):
        P = mx.pinv(A, method=method)
        np.testing.assert_allclose(P, A.T / 70, rtol=0, atol=1e-12)
        np.testing.assert_allclose(A @ P @ A, A, atol=1e-12)
        np.testing.assert_allclose(P @ A @ P, P, atol=1e-12)
        np.testing.assert_allclose((A @ P).T, A @ P, atol=1e-12)
        np.testing.assert_allclose((P @ A).T, P @ A, atol=1e-12)
        np.testing.assert_allclose(P, np.linalg.pinv(A), atol=1e-12)
    eps = 1e-3
    R = mx.pinv_ridge(A, eps)
    rel = np.linalg.norm(R - A.T / 70) / np.linalg.norm(A.T / 70)
    assert rel == pytest.approx(eps / (70 + eps), rel=1e-6)
    assert rel == pytest.approx(1.43e-5, rel=1e-2)


def test_b8_claim3_eckart_young_random():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((30, 20))
    r = 5
    A, B, err = mx.best_rank_r(M, r)
    s = np.linalg.svd(M, compute_uv=False)
    assert err == pytest.approx(np.sum(s[r:] ** 2), rel=1e-10)
    assert np.sum((A @ B - M) ** 2) == pytest.approx(err, rel=1e-10)
    assert np.linalg.matrix_rank(A @ B) == r
    assert np.linalg.norm(M - A @ B, 2) == pytest.approx(s[r], rel=1e-10)  # spectral-norm optimum
    # 1000 random rank-5 products (vectorised): none beats the optimum
    As = rng.standard_normal((1000, 30, r))
    Bs = rng.standard_normal((1000, r, 20))
    errs = np.sum((As @ Bs - M) ** 2, axis=(1, 2))
    assert errs.min() >= err
    # even with the optimal B for each random A (B = A^+ M), the optimum is not beaten
    best_b = np.array([np.sum((a @ mx.solve_right_factor(a, M) - M) ** 2) for a in As[:200]])
    assert best_b.min() >= err - 1e-9
    spec = np.linalg.norm(As[:200] @ Bs[:200] - M, ord=2, axis=(1, 2))
    assert spec.min() >= s[r]


def test_b8_claim3_alternating_least_squares_reaches_optimum():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((30, 20))
    r = 5
    opt = mx.best_rank_r(M, r)[2]
    for _ in range(20):
        A = rng.standard_normal((30, r))
        for _ in range(500):
            B = mx.solve_right_factor(A, M)
            A = mx.solve_left_factor(B, M)
        e = np.sum((A @ B - M) ** 2)
        assert e >= opt - 1e-9
        assert e <= opt * (1 + 1e-6)


def test_b8_claim4_full_rank_formulas():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, 4))
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    normal = np.linalg.inv(A.T @ A) @ A.T
    svd_form = Vt.T @ np.diag(1 / s) @ U.T
    np.testing.assert_allclose(normal, svd_form, atol=1e-12)
    np.testing.assert_allclose(mx.pinv(A), normal, atol=1e-12)
    np.testing.assert_allclose(mx.pinv(A, method="eig"), normal, atol=1e-12)
    B = rng.standard_normal((4, 10))
    np.testing.assert_allclose(mx.pinv(B), B.T @ np.linalg.inv(B @ B.T), atol=1e-12)
    np.testing.assert_allclose(mx.pinv(mx.pinv(A)), A, atol=1e-12)
    S = rng.standard_normal((5, 5))
    np.testing.assert_allclose(mx.pinv(S), np.linalg.inv(S), atol=1e-10)
    M = rng.standard_normal((10, 6))
    np.testing.assert_allclose(mx.solve_right_factor(A, M), np.linalg.lstsq(A, M, rcond=None)[0], atol=1e-12)
    C = rng.standard_normal((6, 4))
    np.testing.assert_allclose(
        mx.solve_left_factor(B, C @ B + rng.standard_normal((6, 10))).shape, (6, 4)
    )
    np.testing.assert_allclose(mx.solve_left_factor(B, C @ B), C, atol=1e-12)
    np.testing.assert_array_equal(mx.pinv(np.zeros((3, 2))), np.zeros((2, 3)))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 7), m=st.integers(1, 7), k=st.integers(0, 7), seed=st.integers(0, 2**32 - 1))
def test_b8_property_penrose_and_eckart_young(n, m, k, seed):
    rng = np.random.default_rng(seed)
    k = min(k, n, m)
    M = rng.standard_normal((n, k)) @ rng.standard_normal((k, m))  # rank k (deficient in general)
    P = mx.pinv(M)
    scale = max(1.0, np.abs(M).max()) * max(1.0, np.abs(P).max()) ** 2
    np.testing.assert_allclose(M @ P @ M, M, atol=1e-9 * scale)
    np.testing.assert_allclose(P @ M @ P, P, atol=1e-9 * scale)
    np.testing.assert_allclose((M @ P).T, M @ P, atol=1e-9 * scale)
    np.testing.assert_allclose((P @ M).T, P @ M, atol=1e-9 * scale)
    # the eigen form squares the condition number, but its cutoff still finds the true rank
    Pe = mx.pinv(M, method="eig")
    np.testing.assert_allclose(Pe, np.linalg.pinv(M), rtol=0, atol=1e-5 * max(1e-300, np.abs(P).max()))
    s = np.linalg.svd(M, compute_uv=False)
    for r in range(min(n, m) + 1):
        _A, _B, err = mx.best_rank_r(M, r)
        assert err == pytest.approx(np.sum(s[r:] ** 2), rel=1e-9, abs=1e-9)
        Ar, Br = rng.standard_normal((n, r)), rng.standard_normal((r, m))
        assert np.sum((Ar @ Br - M) ** 2) >= err - 1e-9


def test_b8_claim5_svd_via_eig():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((8, 5))
    U, s, Vt = mx.svd_via_eig(M)
    assert s.shape == (5,)
    np.testing.assert_allclose(U * s @ Vt, M, atol=1e-10)
    np.testing.assert_allclose(U.T @ U, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(s, np.linalg.svd(M, compute_uv=False), rtol=1e-10)
    assert np.all(np.diff(s) <= 0)
    D = rng.standard_normal((8, 2)) @ rng.standard_normal((2, 5))  # rank 2
    U, s, Vt = mx.svd_via_eig(D)
    assert s.shape == (2,)
    np.testing.assert_allclose(U * s @ Vt, D, atol=1e-10)


@pytest.mark.parametrize(
    "call",
    [
        lambda: mx.best_rank_r(np.ones((3, 2)), 3),
        lambda: mx.best_rank_r(np.ones((3, 2)), -1),
        lambda: mx.best_rank_r(np.ones((3, 2)), 1.5),
        lambda: mx.best_rank_r(np.ones((3, 2)), True),
        lambda: mx.best_rank_r(np.ones(3), 1),
        lambda: mx.best_rank_r(np.array([[1.0, np.nan]]), 1),
        lambda: mx.pinv(np.ones((2, 2)), rtol=-1.0),
        lambda: mx.pinv(np.ones((2, 2)), method="qr"),
        lambda: mx.pinv(np.ones((2, 2, 2))),
        lambda: mx.pinv_ridge(np.ones((2, 2)), 0.0),
        lambda: mx.pinv_ridge(np.ones((2, 2)), np.nan),
        lambda: mx.svd_via_eig(np.array([[np.inf]])),
        lambda: mx.solve_right_factor(np.ones((3, 2)), np.ones((4, 2))),
        lambda: mx.solve_left_factor(np.ones((2, 3)), np.ones((2, 4))),
    ],
)
def test_b8_validation(call):
    with pytest.raises(ValueError):  # noqa: PT011
        call()


# =============================================================================================== B14a


@pytest.fixture
def lora_setup():
    rng = np.random.default_rng(0)
    b, n, m, r = 32, 12, 10, 3
    X = rng.standard_normal((b, n))
    Y = rng.standard_normal((b, m))
    W0 = rng.standard_normal((n, m)) / np.sqrt(n)
    A = rng.standard_normal((n, r)) * 0.3
    B = rng.standard_normal((r, m)) * 0.3
    return X, Y, W0, A, B


def _loss(X, Y, W):
    return 0.5 * np.sum((X @ W - Y) ** 2)


def test_b14a_claim1_gradients(lora_setup):
    X, Y, W0, A, B = lora_setup
    dY = X @ (W0 + A @ B) - Y
    np.testing.assert_allclose(mx.lora_forward(X, W0, A, B), X @ (W0 + A @ B), atol=1e-13)
    gA1, gB1 = mx.lora_grads(X, dY, A, B, impl=1)
    gA2, gB2 = mx.lora_grads(X, dY, A, B, impl=2)
    scale = max(np.abs(gA1).max(), np.abs(gB1).max())
    np.testing.assert_allclose(gA1, gA2, rtol=0, atol=1e-14 * scale)
    np.testing.assert_allclose(gB1, gB2, rtol=0, atol=1e-14 * scale)
    h = 1e-6
    fdA = np.zeros_like(A)
    for idx in np.ndindex(A.shape):  # brute-force finite differences
        E = np.zeros_like(A)
        E[idx] = h
        fdA[idx] = (_loss(X, Y, W0 + (A + E) @ B) - _loss(X, Y, W0 + (A - E) @ B)) / (2 * h)
    fdB = np.zeros_like(B)
    for idx in np.ndindex(B.shape):
        E = np.zeros_like(B)
        E[idx] = h
        fdB[idx] = (_loss(X, Y, W0 + A @ (B + E)) - _loss(X, Y, W0 + A @ (B - E))) / (2 * h)
    np.testing.assert_allclose(gA2, fdA, rtol=0, atol=1e-7 * max(1.0, scale))
    np.testing.assert_allclose(gB2, fdB, rtol=0, atol=1e-7 * max(1.0, scale))


def test_b14a_claim2_exact_increment(lora_setup):
    X, Y, W0, A, B = lora_setup
    G = X.T @ (X @ (W0 + A @ B) - Y)
    lr = 0.01
    A1, B1 = A - lr * G @ B.T, B - lr * A.T @ G
    actual = A1 @ B1 - A @ B
    predicted = mx.lora_sgd_increment(A, B, G, lr)
    np.testing.assert_allclose(predicted, actual, rtol=0, atol=1e-15 * max(1, np.abs(G).max()))
    # the first-order part alone is not exact
    assert np.abs(-lr * (G @ B.T @ B + A @ A.T @ G) - actual).max() > 1e-8


def test_b14a_claim3_optimizer_view_matches_direct_training(lora_setup):
    X, Y, W0, _, _ = lora_setup
    view = mx.LoRAOptimizerView(W0, r=3, lr=1e-3, init="symmetric", rng=5)
    A, B = view.A.copy(), view.B.copy()
    A0B0 = A @ B
    losses = []
    for _ in range(100):
        G = X.T @ (X @ view.W - Y)  # full gradient, then projected by the optimizer
        view.step(G)
        dY = X @ (W0 - A0B0 + A @ B) - Y  # direct gradients w.r.t. A, B
        gA, gB = mx.lora_grads(X, dY, A, B, impl=2)
        A, B = A - 1e-3 * gA, B - 1e-3 * gB
        losses.append(_loss(X, Y, W0 - A0B0 + A @ B))
    np.testing.assert_allclose(view.A, A, rtol=0, atol=1e-10)
    np.testing.assert_allclose(view.B, B, rtol=0, atol=1e-10)
    assert losses[-1] < losses[0]


def test_b14a_claim4_random_projection_is_unbiased():
    rng = np.random.default_rng(0)
    G = rng.standard_normal((12, 10))
    D = mx.random_projection_update(G, rng=1, n_samples=200_000)
    assert np.linalg.norm(D - 2 * G) / np.linalg.norm(2 * G) < 0.01
    one = mx.random_projection_update(G, rng=2)
    assert np.linalg.matrix_rank(one) <= 2  # a single draw is rank <= 2 ...
    assert np.linalg.norm(one - 2 * G) / np.linalg.norm(2 * G) > 0.05  # ... and far from 2G


def test_b14a_article_dimension_labels_are_swapped():
    """With the article's labels (u: m×1, v: 1×n) the update does not type-check for n != m."""
    rng = np.random.default_rng(0)
    n, m = 12, 10
    G = rng.standard_normal((n, m))
    u_lit, v_lit = rng.standard_normal((m, 1)), rng.standard_normal((1, n))
    with pytest.raises(ValueError):  # noqa: PT011
        G @ v_lit.T @ v_lit + u_lit @ u_lit.T @ G
    u, v = rng.standard_normal((n, 1)), rng.standard_normal((1, m))
    assert (G @ v.T @ v + u @ u.T @ G).shape == (n, m)


def test_b14a_claim5_additive_variant_and_symmetric_init(lora_setup):
    X, Y, W0, _, _ = lora_setup
    rng = np.random.default_rng(1)
    n, m = W0.shape
    A, B = rng.standard_normal((n, 1)), rng.standard_normal((1, m))
    dW = mx.additive_lora_delta(A, B)
    np.testing.assert_allclose(dW, A @ np.ones((1, m)) + np.ones((n, 1)) @ B)
    assert np.linalg.matrix_rank(dW) == 2
    G = X.T @ (X @ (W0 + dW) - Y)
    gA, gB = mx.additive_lora_grads(G)
    np.testing.assert_allclose(gA, G.sum(axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(gB, G.sum(axis=0, keepdims=True), atol=1e-12)
    h = 1e-6  # finite differences through the loss
    E = np.zeros_like(A)
    E[3, 0] = h
    plus = _loss(X, Y, W0 + mx.additive_lora_delta(A + E, B))
    minus = _loss(X, Y, W0 + mx.additive_lora_delta(A - E, B))
    fd = (plus - minus) / (2 * h)
    assert fd == pytest.approx(gA[3, 0], abs=1e-6 * max(1, abs(gA[3, 0])))
    # general r: Delta W = A [I I ...] + [I; I; ...] B
    r = 2
    A2, B2 = rng.standard_normal((n, r)), rng.standard_normal((r, m))
    E_m = np.tile(np.eye(r), (1, m // r))
    F_n = np.tile(np.eye(r), (n // r, 1))
    np.testing.assert_allclose(mx.additive_lora_delta(A2, B2), A2 @ E_m + F_n @ B2)
    gA2, gB2 = mx.additive_lora_grads(G, r)
    np.testing.assert_allclose(gA2, G @ E_m.T, atol=1e-12)
    np.testing.assert_allclose(gB2, F_n.T @ G, atol=1e-12)
    # symmetric init reproduces W0 exactly; zero-B init too, and its first A-gradient is 0
    view = mx.LoRAOptimizerView(W0, 3, 0.01, init="symmetric", rng=0)
    assert np.abs(view.A).min() > 0
    assert np.abs(view.B).min() > 0
    np.testing.assert_array_equal(view.W, W0)
    view = mx.LoRAOptimizerView(W0, 3, 0.01, init="zero_B", rng=0)
    np.testing.assert_array_equal(view.W, W0)
    gA, gB = view.project(G)
    assert np.all(gA == 0)
    assert np.abs(gB).max() > 0
    dW = view.step(G)
    np.testing.assert_allclose(dW, view.W - W0, atol=1e-15)
    view = mx.LoRAOptimizerView(W0, 3, 0.01, init="zero_A", rng=0)
    assert np.all(view.A == 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: mx.lora_grads(np.ones((4, 3)), np.ones((4, 2)), np.ones((3, 1)), np.ones((1, 2)), impl=3),
        lambda: mx.lora_grads(np.ones((4, 3)), np.ones((5, 2)), np.ones((3, 1)), np.ones((1, 2))),
        lambda: mx.lora_grads(np.ones((4, 3)), np.ones((4, 2)), np.ones((3, 2)), np.ones((1, 2))),
        lambda: mx.lora_grads(np.ones((4, 3)), np.ones((4, 2)), np.ones((2, 1)), np.ones((1, 2))),
        lambda: mx.lora_forward(np.ones((4, 3)), np.ones((2, 2)), np.ones((2, 1)), np.ones((1, 2))),
        lambda: mx.lora_forward(np.ones((4, 3)), np.ones((3, 2)), np.ones((3, 1)), np.full((1, 2), np.nan)),
        lambda: mx.lora_sgd_increment(np.ones((3, 1)), np.ones((1, 2)), np.ones((3, 2)), 0.0),
        lambda: mx.LoRAOptimizerView(np.ones((3, 2)), 3, 0.1),
        lambda: mx.LoRAOptimizerView(np.ones((3, 2)), 0, 0.1),
        lambda: mx.LoRAOptimizerView(np.ones((3, 2)), 1, -0.1),
        lambda: mx.LoRAOptimizerView(np.ones((3, 2)), 1, 0.1, init="gaussian"),
        lambda: mx.LoRAOptimizerView(np.ones((3, 2)), 1, 0.1).step(np.ones((2, 3))),
        lambda: mx.additive_lora_grads(np.ones((4, 3)), 2),
        lambda: mx.additive_lora_grads(np.ones((4, 4)), 0),
        lambda: mx.additive_lora_delta(np.ones((4, 2)), np.ones((2, 3))),
        lambda: mx.random_projection_update(np.ones((2, 2)), n_samples=0),
    ],
)
def test_b14a_validation(call):
    with pytest.raises(ValueError):  # noqa: PT011
        call()

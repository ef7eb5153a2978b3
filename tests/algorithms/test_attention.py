"""Tests for algorithms.attention: spec sections A1, B6, B11, B12 (numbers from the spec)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.attention import (
    HWFA,
    attention_entropy,
    attention_rnn_state_size,
    causal_attention_rnn,
    causal_attention_stack,
    check_relative_property,
    entropy_invariant_attention,
    entropy_invariant_scale,
    hwfa_layer_types,
    hwfa_receptive_field,
    multilayer_recompute,
    recompute_score_count,
    relative_position,
    relative_position_matrix,
    rerope_attention,
    rerope_decode_logits,
    rerope_logits,
    rope_general,
    rope_matrix,
    rope_multidim,
    rope_rotate,
    rope_thetas,
    skew_to_block_diag,
    window_mask,
)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def std_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, scale: float) -> np.ndarray:
    return softmax_rows(scale * Q @ K.T) @ V


# ------------------------------------------------------------------------------------------------
# A1. Entropy-invariant scale


@pytest.mark.parametrize(
    ("n", "expected"),
    [(512, 0.125), (4096, 0.125 * 12 / 9), (1024, 0.125 * 10 / 9), (64, 0.125 * 6 / 9)],
)
def test_scale_values_d64(n: int, expected: float) -> None:
    assert entropy_invariant_scale(n, 64) == pytest.approx(expected, rel=1e-12)


def test_scale_rounded_values_from_spec() -> None:
    got = entropy_invariant_scale(np.array([4096, 1024, 64]), 64)
    np.testing.assert_allclose(got, [0.1666667, 0.1388889, 0.0833333], atol=5e-8)
    assert entropy_invariant_scale(1, 64) == 0.0


def test_attention_at_512_equals_standard() -> None:
    rng = np.random.default_rng(0)
    Q, K, V = rng.standard_normal((7, 64)), rng.standard_normal((512, 64)), rng.standard_normal((512, 5))
    out, probs = entropy_invariant_attention(Q, K, V)
    np.testing.assert_allclose(out, std_attention(Q, K, V, 1 / 8), rtol=0, atol=1e-12)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-12)


def test_kappa_form_equivalence() -> None:
    rng = np.random.default_rng(1)
    d, n = 32, 2000
    Q, K, V = rng.standard_normal((9, d)), rng.standard_normal((n, d)), rng.standard_normal((n, 3))
    kappa = math.sqrt(d) / math.log(512)
    ref = std_attention(Q, K, V, kappa * math.log(n) / d)
    out, _ = entropy_invariant_attention(Q, K, V)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def _mean_entropy(n: int, base: float, rng: np.random.Generator) -> float:
    Q, K = rng.standard_normal((256, 64)), rng.standard_normal((n, 64))
    _, probs = entropy_invariant_attention(Q, K, np.zeros((n, 1)), base=base)
    return float(attention_entropy(probs).mean())


def test_entropy_matches_mean_field_prediction() -> None:
    # H ≈ ln n − c²/2, c = 1 (standard: base = n) or log_512 n (entropy invariant)
    H = {}
    for n in (64, 512, 4096):
        rng = np.random.default_rng(0)
        H["O", n] = _mean_entropy(n, n, rng)  # base = n gives the standard 1/sqrt(d)
        rng = np.random.default_rng(0)
        H["E", n] = _mean_entropy(n, 512, rng)
    for n in (512, 4096):
        c = math.log(n) / math.log(512)
        assert abs(H["O", n] - (math.log(n) - 0.5)) < 0.05
        assert abs(H["E", n] - (math.log(n) - c * c / 2)) < 0.05
    assert H["E", 512] == pytest.approx(H["O", 512], abs=1e-12)
    assert H["O", 512] == pytest.approx(5.735, abs=0.01)
    assert H["E", 4096] == pytest.approx(7.419, abs=0.02)
    assert H["E", 64] == pytest.approx(3.942, abs=0.01)
    assert H["O", 64] == pytest.approx(3.685, abs=0.01)
    growth_E, growth_O = H["E", 4096] - H["E", 512], H["O", 4096] - H["O", 512]
    assert growth_E == pytest.approx(1.68, abs=0.05)
    assert growth_O == pytest.approx(2.08, abs=0.05)
    assert growth_E < growth_O  # less sensitive, not invariant
    assert growth_E > 1.0
    assert H["E", 64] > H["O", 64]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 40),
    lam=st.floats(0.01, 5.0),
    factor=st.floats(1.01, 3.0),
)
def test_entropy_strictly_decreasing_in_lambda(seed: int, n: int, lam: float, factor: float) -> None:
    s = np.random.default_rng(seed).standard_normal(n)  # non-constant with probability one
    H1 = attention_entropy(softmax_rows(lam * s))
    H2 = attention_entropy(softmax_rows(lam * factor * s))
    assert H2 < H1


@pytest.mark.parametrize("n", [1024, 2048])
def test_entropy_invariant_sharper_than_standard_beyond_512(n: int) -> None:
    rng = np.random.default_rng(3)
    Q, K, V = rng.standard_normal((16, 64)), rng.standard_normal((n, 64)), np.zeros((n, 1))
    _, pE = entropy_invariant_attention(Q, K, V)
    _, pO = entropy_invariant_attention(Q, K, V, base=n)
    assert np.all(attention_entropy(pE) < attention_entropy(pO))


def test_per_query_n_extension_with_causal_mask() -> None:
    rng = np.random.default_rng(4)
    L, d = 12, 8
    Q, K, V = rng.standard_normal((2, L, d)), rng.standard_normal((2, L, d)), rng.standard_normal((2, L, 3))
    mask = np.tril(np.ones((L, L), dtype=bool))
    out, probs = entropy_invariant_attention(Q, K, V, mask=mask, n=np.arange(1, L + 1))
    assert np.all(probs[:, ~mask] == 0.0)
    for b in range(2):
        for i in range(L):
            scale = math.log(i + 1) / math.log(512) / math.sqrt(d)
            ref = std_attention(Q[b, i : i + 1], K[b, : i + 1], V[b, : i + 1], scale)
            np.testing.assert_allclose(out[b, i], ref[0], atol=1e-12)
    np.testing.assert_allclose(out[:, 0], V[:, 0], atol=1e-15)  # one visible key -> p = 1


def test_attention_entropy_zero_log_zero() -> None:
    np.testing.assert_allclose(attention_entropy([[1.0, 0.0], [0.5, 0.5]]), [0.0, math.log(2)], atol=1e-15)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: entropy_invariant_scale(0.5, 64), "n"),
        (lambda: entropy_invariant_scale(512, 0), "d"),
        (lambda: entropy_invariant_scale(512, 64, base=1.0), "base"),
        (lambda: entropy_invariant_scale(np.nan, 64), "NaN"),
        (lambda: entropy_invariant_attention(np.ones((2, 4)), np.ones((3, 5)), np.ones((3, 1))), "last dim"),
        (
            lambda: entropy_invariant_attention(np.ones((2, 4)), np.ones((3, 4)), np.ones((2, 1))),
            "number of keys",
        ),
        (lambda: entropy_invariant_attention([[np.nan] * 4], np.ones((3, 4)), np.ones((3, 1))), "NaN"),
        (lambda: entropy_invariant_attention(np.ones(4), np.ones((3, 4)), np.ones((3, 1))), "shape"),
        (
            lambda: entropy_invariant_attention(
                np.ones((2, 4)), np.ones((3, 4)), np.ones((3, 1)), mask=np.ones((2, 3))
            ),
            "boolean",
        ),
        (
            lambda: entropy_invariant_attention(
                np.ones((2, 4)), np.ones((3, 4)), np.ones((3, 1)), mask=np.zeros((2, 3), bool)
            ),
            "no visible key",
        ),
        (
            lambda: entropy_invariant_attention(
                np.ones((2, 4)), np.ones((3, 4)), np.ones((3, 1)), n=[1, 2, 3]
            ),
            "broadcast",
        ),
        (lambda: attention_entropy([[0.7, 0.7]]), "sum to 1"),
        (lambda: attention_entropy([[1.5, -0.5]]), "non-negative"),
    ],
)
def test_a1_input_validation(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------------
# B6. Attention as an RNN


def masked_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    L = q.shape[0]
    logits = np.where(np.tril(np.ones((L, L), bool)), q @ k.T, -np.inf)
    return softmax_rows(logits) @ v


@pytest.mark.parametrize("order", ["backward", "forward"])
@pytest.mark.parametrize("stable", [True, False])
def test_rnn_equals_masked_softmax(order: str, stable: bool) -> None:
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((64, 16)), rng.standard_normal((64, 16)), rng.standard_normal((64, 16))
    out = causal_attention_rnn(q, k, v, stable=stable, order=order)  # type: ignore[arg-type]
    np.testing.assert_allclose(out, masked_attention(q, k, v), rtol=0, atol=1e-12)


def test_scores_times_1000_naive_overflows_stable_exact() -> None:
    rng = np.random.default_rng(0)
    q, k, v = (
        1000 * rng.standard_normal((64, 16)),
        rng.standard_normal((64, 16)),
        rng.standard_normal((64, 4)),
    )
    with pytest.warns(RuntimeWarning, match="overflow"), np.errstate(invalid="ignore"):
        naive = causal_attention_rnn(q, k, v, stable=False)
    assert not np.all(np.isfinite(naive))
    scores = np.where(np.tril(np.ones((64, 64), bool)), q @ k.T, -np.inf)
    ref = np.exp(scores - scipy.special.logsumexp(scores, axis=1, keepdims=True)) @ v
    for order in ("backward", "forward"):
        out = causal_attention_rnn(q, k, v, stable=True, order=order)  # type: ignore[arg-type]
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), L=st.integers(1, 20), d=st.integers(1, 6), dv=st.integers(1, 4))
def test_rnn_orders_agree_for_all_shapes(seed: int, L: int, d: int, dv: int) -> None:
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((L, d)), rng.standard_normal((L, d)), rng.standard_normal((L, dv))
    ref = masked_attention(q, k, v)
    np.testing.assert_allclose(causal_attention_rnn(q, k, v, order="backward"), ref, atol=1e-12)
    np.testing.assert_allclose(causal_attention_rnn(q, k, v, order="forward"), ref, atol=1e-12)


def _tiny_stack(num_layers: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    vocab, d, dk = 11, 6, 4
    embed = rng.standard_normal((vocab, d))
    layers = [
        (
            rng.standard_normal((d, dk)),
            rng.standard_normal((d, dk)),
            rng.standard_normal((d, d)) / math.sqrt(d),
        )
        for _ in range(num_layers)
    ]
    tokens = rng.integers(0, vocab, size=8)
    return tokens, embed, layers


@pytest.mark.parametrize(("num_layers", "total"), [(1, 36), (2, 192)])
def test_recompute_equals_cached_forward_and_counts(num_layers: int, total: int) -> None:
    tokens, embed, layers = _tiny_stack(num_layers)
    ref = causal_attention_stack(tokens, embed, layers)
    count = 0
    per_pos = []
    for pos in range(8):
        h, n = multilayer_recompute(tokens, embed, layers, pos)
        np.testing.assert_allclose(h, ref[pos], rtol=0, atol=1e-12)
        per_pos.append(n)
        count += n
    assert count == total == recompute_score_count(8, num_layers)
    i = np.arange(1, 9)
    expected = i if num_layers == 1 else 2 * i + i * (i + 1) // 2  # N_2(i) = 2i + i(i+1)/2
    assert per_pos == expected.tolist()


def test_two_layer_stack_differs_from_one_layer() -> None:
    tokens, embed, layers = _tiny_stack(2)
    assert not np.allclose(
        causal_attention_stack(tokens, embed, layers), causal_attention_stack(tokens, embed, layers[:1])
    )


def test_recompute_score_count_grows_cubically() -> None:
    # two layers: Σ_i (2i + i(i+1)/2) = L(L+1) + L(L+1)(L+2)/6
    for L in (1, 5, 8, 100):
        assert recompute_score_count(L, 2) == L * (L + 1) + L * (L + 1) * (L + 2) // 6


def test_llama2_70b_state_size() -> None:
    assert attention_rnn_state_size(80, 8192) == 1_310_720


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: causal_attention_rnn(np.ones((4, 3)), np.ones((4, 2)), np.ones((4, 1))), "same shape"),
        (lambda: causal_attention_rnn(np.ones((4, 3)), np.ones((4, 3)), np.ones((5, 1))), "rows"),
        (
            lambda: causal_attention_rnn(np.ones((4, 3)), np.ones((4, 3)), np.ones((4, 1)), order="sideways"),
            "order",
        ),
        (lambda: causal_attention_rnn(np.full((4, 3), np.inf), np.ones((4, 3)), np.ones((4, 1))), "NaN"),
        (lambda: multilayer_recompute([0, 99], np.ones((5, 2)), [], 0), r"\[0, 5\)"),
        (lambda: multilayer_recompute([0, 1], np.ones((5, 2)), [], 2), "pos"),
        (lambda: multilayer_recompute([0.5], np.ones((5, 2)), [], 0), "integer"),
        (
            lambda: causal_attention_stack(
                [0], np.ones((5, 2)), [(np.ones((2, 2)), np.ones((2, 3)), np.ones((2, 2)))]
            ),
            "W_q",
        ),
        (
            lambda: causal_attention_stack([0], np.ones((5, 2)), [(np.ones((2, 2)), np.ones((2, 2)))]),
            "triple",
        ),
        (lambda: attention_rnn_state_size(0, 8192), "num_layers"),
    ],
)
def test_b6_input_validation(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------------
# B11. RoPE, ReRoPE, Leaky ReRoPE, HWFA


def rotate_complex(x: np.ndarray, p: float, base: float = 10000.0) -> np.ndarray:
    """Independent RoPE: pair (x_2i, x_2i+1) as the complex number x_2i + i x_2i+1, times e^{i p θ_i}."""
    d = x.shape[-1]
    z = (x[0::2] + 1j * x[1::2]) * np.exp(1j * p * base ** (-2 * np.arange(d // 2) / d))
    out = np.empty(d)
    out[0::2], out[1::2] = z.real, z.imag
    return out


def direct_logits(q: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    L = q.shape[0]
    out = np.full((L, L), -np.inf)
    for i in range(L):
        for j in range(i + 1):
            out[i, j] = q[i] @ rotate_complex(k[j], -rho[i, j])
    return out


@pytest.mark.parametrize(("mode", "k_leaky"), [("rerope", None), ("leaky", 4.0)])
def test_two_matrix_logits_equal_direct_definition(mode: str, k_leaky: float | None) -> None:
    rng = np.random.default_rng(0)
    L, d, w = 40, 16, 8
    q, k = rng.standard_normal((L, d)), rng.standard_normal((L, d))
    logits = rerope_logits(q, k, w, k_leaky)
    ref = direct_logits(q, k, relative_position_matrix(L, mode, w=w, k=4))  # type: ignore[arg-type]
    assert np.array_equal(np.isinf(logits), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(logits[fin], ref[fin], rtol=0, atol=1e-13)
    for i in range(L):  # decode row (un-rotated cached keys) == prefill row
        row = rerope_decode_logits(q[i], k[: i + 1], i, w, k_leaky)
        np.testing.assert_allclose(row, logits[i, : i + 1], rtol=0, atol=1e-13)


def test_logn_scaling_prefill_and_decode() -> None:
    rng = np.random.default_rng(5)
    L, d, w, N = 30, 8, 6, 10
    q, k = rng.standard_normal((L, d)), rng.standard_normal((L, d))
    factor = np.maximum(1.0, np.log(np.arange(L) + 1.0) / math.log(N))
    assert factor[0] == 1.0
    assert factor[-1] > 1.4
    for kl in (None, 3.0):
        got = rerope_logits(q, k, w, kl, logn_train_len=N)
        np.testing.assert_allclose(got, rerope_logits(q * factor[:, None], k, w, kl), atol=1e-14)
        row = rerope_decode_logits(q[L - 1], k, L - 1, w, kl, logn_train_len=N)
        np.testing.assert_allclose(row, got[L - 1], atol=1e-13)


def test_rerope_is_rope_within_window_and_leaky_limit() -> None:
    rng = np.random.default_rng(1)
    L, d = 12, 8
    q, k = rng.standard_normal((L, d)), rng.standard_normal((L, d))
    pos = np.arange(L)
    rope = np.where(np.tril(np.ones((L, L), bool)), rope_rotate(q, pos) @ rope_rotate(k, pos).T, -np.inf)
    assert np.array_equal(rerope_logits(q, k, w=L), rope)
    assert np.array_equal(rerope_logits(q, k, w=L + 5), rope)
    assert not np.allclose(rerope_logits(q, k, w=3)[np.isfinite(rope)], rope[np.isfinite(rope)])
    fin = np.isfinite(rope)
    np.testing.assert_allclose(
        rerope_logits(q, k, 3, k_leaky=1e12)[fin], rerope_logits(q, k, 3)[fin], rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(rerope_logits(q, k, 3, k_leaky=1.0)[fin], rope[fin], atol=1e-12)  # k = 1: RoPE


@pytest.mark.parametrize(
    ("w", "k", "expected"), [(128, 16, 375.94), (128, 8, 623.88), (256, 16, 495.94), (256, 8, 735.88)]
)
def test_max_relative_position_at_4096(w: int, k: int, expected: float) -> None:
    leaky = float(relative_position(4095, "leaky", w, k))
    assert leaky == pytest.approx(expected, abs=0.005)
    assert leaky == w + (4095 - w) / k
    assert float(relative_position(4095, "rerope", w)) == w
    assert (leaky > 512) == (k == 8)  # exactly the k = 8 settings leave the training range 512


def test_relative_position_matrix_rows() -> None:
    np.testing.assert_array_equal(relative_position_matrix(6, "rerope", w=3)[-1], [3, 3, 3, 2, 1, 0])
    np.testing.assert_array_equal(relative_position_matrix(6, "leaky", w=3, k=2)[-1], [4.0, 3.5, 3, 2, 1, 0])
    np.testing.assert_array_equal(relative_position_matrix(4, "pi", k=2)[-1], [1.5, 1.0, 0.5, 0.0])
    m = relative_position_matrix(5, "rope")
    assert np.all(np.isnan(m[np.triu_indices(5, 1)]))
    assert np.nanmax(m) == 4
    assert np.nanmax(relative_position_matrix(300, "rerope", w=7)) == 7  # never beyond w, whatever L


@settings(max_examples=40, deadline=None)
@given(r=st.floats(0, 1e5), w=st.floats(1, 1000), k=st.floats(1, 100))
def test_leaky_between_rerope_and_rope(r: float, w: float, k: float) -> None:
    re, le, ro = (float(relative_position(r, m, w, k)) for m in ("rerope", "leaky", "rope"))  # type: ignore[arg-type]
    assert re <= le + 1e-9
    assert le <= ro + 1e-9
    assert re <= w
    if r < w:
        assert re == le == ro == r


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.floats(-500, 500), n=st.floats(-500, 500), half=st.integers(1, 8))
def test_rope_relative_property(seed: int, m: float, n: float, half: int) -> None:
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal(2 * half), rng.standard_normal(2 * half)
    lhs = rope_rotate(q, m) @ rope_rotate(k, n)
    rhs = q @ rope_rotate(k, n - m)
    assert lhs == pytest.approx(rhs, abs=1e-9 * (1 + abs(m) + abs(n)))


def test_rope_rotate_matches_rope_matrix_and_complex_form() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 10))
    for p in (0.0, 1.0, 7.5, -3.0):
        R = rope_matrix(p, rope_thetas(10))
        np.testing.assert_allclose(rope_rotate(x, p), x @ R.T, atol=1e-14)
        np.testing.assert_allclose(rope_rotate(x[0], p), rotate_complex(x[0], p), atol=1e-14)
    np.testing.assert_allclose(rope_rotate(x, [0.0, 1.0, 2.0])[2], rope_rotate(x[2], 2.0), atol=0)


def test_rerope_attention_is_softmax_of_scaled_logits() -> None:
    rng = np.random.default_rng(6)
    L, d = 20, 8
    q, k, v = rng.standard_normal((L, d)), rng.standard_normal((L, d)), rng.standard_normal((L, 3))
    out = rerope_attention(q, k, v, w=5, k_leaky=2.0)
    ref = softmax_rows(rerope_logits(q, k, 5, 2.0) / math.sqrt(d)) @ v
    np.testing.assert_allclose(out, ref, atol=1e-14)
    np.testing.assert_allclose(out[0], v[0], atol=1e-15)


def test_window_mask() -> None:
    m = window_mask(5, 2)
    np.testing.assert_array_equal(m.sum(1), [1, 2, 2, 2, 2])
    assert m[4, 3]
    assert m[4, 4]
    assert not m[4, 2]
    assert not m[3, 4]


def test_hwfa_receptive_field_numbers() -> None:
    assert hwfa_receptive_field(16, 23) == 346
    assert 346 <= 512
    assert 346 / 512 == pytest.approx(0.68, abs=0.005)
    assert 346 / 512 <= 0.75
    assert hwfa_receptive_field(32, 23) == 714 > 512


def test_hwfa_layer_placement() -> None:
    t1 = hwfa_layer_types(24, 1)
    assert [i for i, x in enumerate(t1) if x == "full"] == [12]
    t2 = hwfa_layer_types(24, 2)
    assert [i for i, x in enumerate(t2) if x == "full"] == [8, 16]
    assert hwfa_layer_types(24, 1, "last")[-1] == "full"
    assert hwfa_layer_types(24, 1, "last").count("full") == 1
    assert hwfa_layer_types(4, 0) == ["window"] * 4


def _influence(model: HWFA, x: np.ndarray, inference: bool = False) -> np.ndarray:
    """influence[i, j] = output i changes when input j is perturbed."""
    base = model(x, inference)
    L = x.shape[0]
    out = np.zeros((L, L), bool)
    for j in range(L):
        xp = x.copy()
        xp[j] += 1.0
        out[:, j] = np.any(np.abs(model(xp, inference) - base) > 1e-12, axis=1)
    return out


def test_hwfa_window_stack_receptive_field_matches_formula() -> None:
    L, window, layers = 20, 3, 3
    model = HWFA(6, layers, window, n_full=0, rng=0)
    x = np.random.default_rng(1).standard_normal((L, 6))
    r = np.subtract.outer(np.arange(L), np.arange(L))
    expected = (r >= 0) & (r < hwfa_receptive_field(window, layers))  # i − j ≤ (w̃−1)L
    np.testing.assert_array_equal(_influence(model, x), expected)


@pytest.mark.parametrize("full_position", ["nope", "rope"])
def test_hwfa_full_layer_sees_whole_causal_history(full_position: str) -> None:
    L = 16
    model = HWFA(6, 3, 2, n_full=1, placement="middle", full_position=full_position, train_len=8, rng=0)  # type: ignore[arg-type]
    assert model.layer_types == ["window", "full", "window"]
    x = np.random.default_rng(2).standard_normal((L, 6))
    np.testing.assert_array_equal(_influence(model, x), np.tril(np.ones((L, L), bool)))


def test_hwfa2_rerope_inference() -> None:
    model = HWFA(8, 4, 4, n_full=2, placement="middle", full_position="rope", train_len=8, rerope_w=6, rng=3)
    x = np.random.default_rng(4).standard_normal((24, 8))
    short = x[:6]  # L <= w: ReRoPE == RoPE, so inference == training exactly
    np.testing.assert_array_equal(model(short, inference=True), model(short))
    assert not np.allclose(model(x, inference=True), model(x))
    np.testing.assert_allclose(model(x, inference=True)[:6], model(short), atol=1e-12)  # causal
    nope = HWFA(8, 4, 4, n_full=2, placement="middle", full_position="nope", train_len=8, rerope_w=6, rng=3)
    np.testing.assert_array_equal(nope(x, inference=True), nope(x))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rope_rotate(np.ones((2, 3)), 1.0), "even"),
        (lambda: rope_rotate(np.ones((2, 4)), [1.0, 2.0, 3.0]), "broadcast"),
        (lambda: rope_rotate(np.ones((2, 4)), np.nan), "NaN"),
        (lambda: rerope_logits(np.ones((3, 4)), np.ones((3, 4)), w=0), "w"),
        (lambda: rerope_logits(np.ones((3, 4)), np.ones((3, 4)), w=2, k_leaky=0.5), "k_leaky"),
        (lambda: rerope_logits(np.ones((3, 4)), np.ones((4, 4)), w=2), "shape"),
        (lambda: rerope_logits(np.ones((3, 4)), np.ones((3, 4)), w=2, logn_train_len=1), "logn_train_len"),
        (lambda: rerope_decode_logits(np.ones(4), np.ones((3, 4)), 1, w=2), "i must be"),
        (lambda: rerope_decode_logits(np.ones(4), np.ones((3, 5)), 5, w=2), "K must"),
        (lambda: relative_position_matrix(5, "alibi"), "mode"),
        (lambda: relative_position_matrix(5, "rerope"), "window w"),
        (lambda: relative_position_matrix(5, "leaky", w=2), "factor k"),
        (lambda: relative_position(-1, "rope"), ">= 0"),
        (lambda: window_mask(4, 0), "w"),
        (lambda: hwfa_layer_types(4, 5), "exceed"),
        (lambda: hwfa_layer_types(4, 1, "first"), "placement"),
        (lambda: hwfa_receptive_field(0, 3), "window"),
        (lambda: HWFA(6, 2, 2, d_head=3), "even"),
        (lambda: HWFA(6, 2, 2, rng=0)(np.ones((3, 5))), "shape"),
    ],
)
def test_b11_input_validation(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------------
# B12. Completeness of RoPE


@pytest.fixture
def skew_B() -> np.ndarray:
    X = np.random.default_rng(0).standard_normal((8, 8))
    return X - X.T


def blockdiag_generator(thetas: np.ndarray) -> np.ndarray:
    d = 2 * len(thetas)
    J = np.zeros((d, d))
    e = np.arange(0, d, 2)
    J[e + 1, e], J[e, e + 1] = thetas, -thetas
    return J


def test_general_rope_relative_property(skew_B: np.ndarray) -> None:
    R = lambda n: rope_general(skew_B, n)  # noqa: E731
    assert check_relative_property(R, 3, 7) <= 1e-12
    np.testing.assert_allclose(R(5).T @ R(5), np.eye(8), rtol=0, atol=1e-12)
    assert np.linalg.det(R(5)) == pytest.approx(1.0, abs=1e-12)
    assert check_relative_property(lambda n: rope_general(skew_B, n, method="schur"), 3, 7) <= 1e-12
    np.testing.assert_allclose(rope_general(skew_B, 7, method="schur"), R(7), atol=1e-12)


def test_real_schur_block_diagonalisation(skew_B: np.ndarray) -> None:
    P, thetas = skew_to_block_diag(skew_B)
    np.testing.assert_allclose(P.T @ P, np.eye(8), atol=1e-14)
    M = P.T @ skew_B @ P
    blocks = np.kron(np.eye(4, dtype=bool), np.ones((2, 2), bool))
    assert np.max(np.abs(M[~blocks])) <= 1e-14
    Lam = blockdiag_generator(thetas)
    np.testing.assert_allclose(M, Lam, atol=1e-13)
    assert np.all(thetas >= 0)
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal(8), rng.standard_normal(8)
    for m, n in [(2, 9), (0, 5)]:
        lhs = (rope_general(skew_B, m) @ q) @ (rope_general(skew_B, n) @ k)
        rhs = (P.T @ q) @ (scipy.linalg.expm((n - m) * Lam) @ (P.T @ k))
        assert lhs == pytest.approx(rhs, abs=1e-12)


def test_standard_rope_is_exp_of_block_generator() -> None:
    th = rope_thetas(8)
    np.testing.assert_allclose(th, 10000.0 ** (-2 * np.arange(4) / 8), rtol=1e-15)
    np.testing.assert_allclose(
        rope_matrix(7, th), scipy.linalg.expm(7 * blockdiag_generator(th)), rtol=0, atol=1e-13
    )


def test_two_dimensional_rope_needs_commuting_generators() -> None:
    rng = np.random.default_rng(0)
    B1, B2 = blockdiag_generator(rng.uniform(0.1, 1, 4)), blockdiag_generator(rng.uniform(0.1, 1, 4))
    R = lambda p: rope_multidim(np.stack([B1, B2]), p)  # noqa: E731
    assert check_relative_property(R, (1, 2), (4, -3)) <= 1e-12  # R(1,2)ᵀ R(4,−3) = R(3,−5)
    X = rng.standard_normal((8, 8))
    B2n = X - X.T  # skew but not commuting with B1
    with pytest.raises(ValueError, match="commute"):
        rope_multidim(np.stack([B1, B2n]), (1.0, 2.0))
    Rn = lambda p: rope_multidim(np.stack([B1, B2n]), p, check=False)  # noqa: E731
    assert check_relative_property(Rn, (1, 2), (4, -3)) > 1e-2


def test_non_skew_generator_breaks_relative_property() -> None:
    X = np.random.default_rng(0).standard_normal((8, 8))
    with pytest.raises(ValueError, match="skew"):
        rope_general(X, 3)
    assert check_relative_property(lambda n: rope_general(X, n, check=False), 3, 7) > 1e-2


def test_schur_form_stays_orthogonal_for_large_positions(skew_B: np.ndarray) -> None:
    R = rope_general(skew_B, 1e5, method="schur")
    np.testing.assert_allclose(R.T @ R, np.eye(8), atol=1e-12)


def test_singular_skew_matrix_pairs_zero_eigenvalues() -> None:
    rng = np.random.default_rng(3)
    B = np.zeros((6, 6))
    B[:2, :2] = [[0, -2.0], [2.0, 0]]
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    B = Q @ B @ Q.T  # rank 2: four zero eigenvalues
    P, thetas = skew_to_block_diag(B)
    np.testing.assert_allclose(np.sort(thetas), [0, 0, 2.0], atol=1e-12)
    np.testing.assert_allclose(P @ blockdiag_generator(thetas) @ P.T, B, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), half=st.integers(1, 5), scale=st.floats(0.01, 100))
def test_skew_decomposition_reconstructs(seed: int, half: int, scale: float) -> None:
    X = scale * np.random.default_rng(seed).standard_normal((2 * half, 2 * half))
    B = X - X.T
    P, thetas = skew_to_block_diag(B)
    assert np.all(thetas >= 0)
    np.testing.assert_allclose(P.T @ P, np.eye(2 * half), atol=1e-12)
    np.testing.assert_allclose(P @ blockdiag_generator(thetas) @ P.T, B, atol=1e-12 * scale * 10)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: skew_to_block_diag(np.ones((2, 3))), "square"),
        (lambda: skew_to_block_diag(np.zeros((3, 3))), "even"),
        (lambda: skew_to_block_diag(np.eye(2)), "skew"),
        (lambda: rope_general(np.zeros((2, 2)), 1, method="pade"), "method"),
        (lambda: rope_general(np.zeros((2, 2)), [1, 2]), "scalar"),
        (lambda: rope_general(np.full((2, 2), np.nan), 1), "NaN"),
        (lambda: rope_matrix(1.0, []), "empty"),
        (lambda: rope_multidim(np.zeros((2, 2, 2)), (1.0,)), "pos"),
        (lambda: rope_multidim(np.stack([np.eye(2), np.eye(2)]), (1.0, 2.0)), "skew"),
        (lambda: check_relative_property(lambda n: np.eye(2), (1, 2), 3), "same length"),
        (lambda: rope_thetas(5), "even"),
    ],
)
def test_b12_input_validation(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()

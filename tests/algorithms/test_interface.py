"""The library's calling interface, across modules: the ``rng`` contract, the sample count
``n_samples``, the shared array validator, the dtype rule, scale-free cosines, CAN on binary
problems, module docstrings that cite articles, and the layout: one module per section under family
subpackages (issue 9)."""

from __future__ import annotations

import importlib
import math
import pathlib
import pkgutil
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import algorithms
from algorithms import (
    HWFA,
    LRU,
    FourierBasisDensity,
    LoRAOptimizerView,
    Monarch,
    ToyUNet,
    _checks,
    attention_entropy,
    best_rank_r,
    blockwise_cosine,
    can_postprocess,
    causal_attention_rnn,
    cosine,
    edit_forward,
    edit_posterior_sampler_from_table,
    edit_sample,
    entropy_invariant_attention,
    global_cosine_from_blocks,
    hot_reverse_step,
    hot_sample,
    linear_scan,
    linear_scan_affine,
    longest_match_encode,
    lru_init,
    mask_forward,
    mask_posterior_from_table,
    mask_sample,
    noise_argmax_probs,
    noise_argmax_probs_mc,
    pearson_as_cosine,
    pinv,
    power_entropy,
    random_projection_update,
    rerope_logits,
    rope_rotate,
    scaling,
    self_consuming_gaussian,
    sm_loss,
    soft_topk_grad,
    subword_regularization_sample,
    token_healing_step,
    topk_uncertainty,
    udm_sigma_tilde_step,
    viterbi_sample,
    w2_empirical_1d,
)
from algorithms.probability._common import _log_softmax

# ------------------------------------------------------------------------------------------------
# fixtures of the samplers

UNIGRAM = {t: math.log(p) for t, p in dict(a=0.3, b=0.2, c=0.1, ab=0.2, bc=0.1, abc=0.1).items()}
HEAL_VOCAB = ["a", "b", "c", "ab", "bc", "abc", "ca"]


def _encode(s: str) -> list[int]:
    return longest_match_encode(s, HEAL_VOCAB)


def _decode(ids: Any) -> str:
    return "".join(HEAL_VOCAB[i] for i in ids)


def _lm(ids: list[int]) -> np.ndarray:
    return np.log(np.linspace(1.0, 2.0, len(HEAL_VOCAB)) / np.linspace(1.0, 2.0, len(HEAL_VOCAB)).sum())


SEQS = np.array([[0, 1, 2], [2, 1, 0], [1, 1, 1]])
SEQ_P = np.array([0.5, 0.3, 0.2])
ALL_SEQS = np.array([[(i >> j) & 1 for j in range(3)] for i in range(8)])  # every binary sequence
ALL_P = np.arange(1.0, 9.0) / 36.0
FBD = FourierBasisDensity([1.0, 0.4 + 0.2j, 0.1])

# the five samplers that crashed on an int seed, called with the sample count where they have one
FIVE: dict[str, Callable[..., Any]] = {
    "viterbi_sample": lambda rng: viterbi_sample("abcabc", UNIGRAM, 1.0, rng, n_samples=20),
    "subword_regularization_sample": lambda rng: subword_regularization_sample(
        "abcabc", UNIGRAM, 1.0, 4, rng, n_samples=20
    ),
    "token_healing_step": lambda rng: token_healing_step(
        "abc", _encode, _decode, HEAL_VOCAB, _lm, 1, rng, n_samples=20
    ),
    "noise_argmax_probs_mc": lambda rng: noise_argmax_probs_mc([0.0, 1.0, 2.0], n_samples=500, rng=rng),
    "FourierBasisDensity.sample": lambda rng: FBD.sample(50, rng),
}

# every other function or class that samples
OTHERS: dict[str, Callable[..., Any]] = {
    "FourierBasisDensity.fit": lambda rng: (
        FourierBasisDensity().fit(np.linspace(-2, 2, 40) ** 3, 2, n_init=2, rng=rng, maxiter=50).a
    ),
    "lru_init": lambda rng: lru_init(4, rng=rng),
    "LRU": lambda rng: LRU(3, 2, rng=rng).W_in,
    "HWFA": lambda rng: HWFA(4, 2, 2, rng=rng).weights,
    "Monarch.random": lambda rng: Monarch.random(4, rng=rng).Lb,
    "LoRAOptimizerView": lambda rng: LoRAOptimizerView(np.zeros((3, 2)), 1, 0.1, rng=rng).A,
    "random_projection_update": lambda rng: random_projection_update(np.ones((3, 2)), rng, n_samples=3),
    "hot_reverse_step": lambda rng: hot_reverse_step(np.zeros(2), np.zeros(2), 0.6, 0.8, 0.8, 0.6, 0.3, rng),
    "udm_sigma_tilde_step": lambda rng: udm_sigma_tilde_step(
        np.zeros(2), np.zeros(2), 0.6, 0.8, 0.8, 0.6, 0.5, rng
    ),
    "hot_sample": lambda rng: hot_sample(
        np.zeros(2), lambda x, t: x, [1.0, 0.8, 0.6], [0.0, 0.6, 0.8], [0.0, 0.3], rng
    ),
    "mask_forward": lambda rng: mask_forward(SEQS, 2, rng, 9),
    "edit_forward": lambda rng: edit_forward(SEQS, 2, 3, rng),
    "mask_sample": lambda rng: mask_sample(
        mask_posterior_from_table(SEQS, SEQ_P, 3, 9), 3, rng, 9, n_samples=8
    ),
    "edit_sample": lambda rng: edit_sample(
        edit_posterior_sampler_from_table(ALL_SEQS, ALL_P, 2), 3, 2, rng, n_samples=8
    ),
    "self_consuming_gaussian": lambda rng: self_consuming_gaussian(5, 3, 4, rng=rng).mus,
    "ToyUNet": lambda rng: ToyUNet(2, rng=rng).out,
}

ALL = {**FIVE, **OTHERS}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return bool(a == b)


# ------------------------------------------------------------------------------------------------
# the rng contract


@pytest.mark.parametrize("name", list(ALL))
def test_int_seed_is_reproducible_and_equals_the_seeded_generator(name: str) -> None:
    call = ALL[name]
    first, again = call(0), call(0)
    assert _same(first, again)
    assert _same(first, call(np.random.default_rng(0)))
    assert _same(first, call(np.int64(0)))


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("bad", ["x", 1.5, True, np.random.RandomState(0), [1, 2]])
def test_rng_of_another_type_is_a_type_error(name: str, bad: Any) -> None:
    with pytest.raises(TypeError, match=r"rng must be an int seed, None or a numpy\.random\.Generator"):
        ALL[name](bad)


@pytest.mark.parametrize("name", [*list(FIVE), "mask_forward", "self_consuming_gaussian", "hot_reverse_step"])
def test_rng_none_draws_fresh_entropy(name: str) -> None:
    ALL[name](None)  # no error; the draw is random


def test_a_generator_is_advanced_not_copied() -> None:
    g = np.random.default_rng(3)
    a = noise_argmax_probs_mc([0.0, 1.0], n_samples=200, rng=g)
    b = noise_argmax_probs_mc([0.0, 1.0], n_samples=200, rng=g)
    assert not np.array_equal(a, b)


def test_hot_sample_with_an_int_seed_draws_new_noise_at_every_step() -> None:
    # a seed must seed one stream, not restart it at each of the T steps
    steps: list[np.ndarray] = []

    def pred(x: np.ndarray, t: int) -> np.ndarray:
        steps.append(x.copy())
        return np.zeros_like(x)

    hot_sample(np.zeros(3), pred, [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0], 5)
    assert not np.allclose(steps[1], steps[2])


def _library_modules() -> list[ModuleType]:
    """Every module of the library: the package, the family subpackages and their modules."""
    found = pkgutil.walk_packages(algorithms.__path__, prefix="algorithms.")
    return [algorithms, *(importlib.import_module(info.name) for info in found)]


FAMILIES = ("attention", "diffusion", "matrices", "probability", "recurrences", "scaling", "tokenization")


def test_one_rng_helper_and_a_negative_seed() -> None:
    users = [mod for mod in _library_modules() if hasattr(mod, "_rng")]
    assert {mod.__name__ for mod in users} >= {
        "algorithms.diffusion.token_diffusion",
        "algorithms.matrices.lora",
        "algorithms.probability.fourier_density",
    }
    for mod in users:
        assert mod._rng is _checks._rng, mod.__name__
    with pytest.raises(ValueError, match="seed must be >= 0"):
        _checks._rng(-1)


# ------------------------------------------------------------------------------------------------
# n_samples: one name for the sample count, the old keywords still work (with a warning)

OLD_NAMES: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
    (
        "size",
        lambda: viterbi_sample("abcabc", UNIGRAM, 1.0, 0, n_samples=5),
        lambda: viterbi_sample("abcabc", UNIGRAM, 1.0, 0, size=5),
    ),
    (
        "size",
        lambda: subword_regularization_sample("abcabc", UNIGRAM, 1.0, 4, 0, n_samples=5),
        lambda: subword_regularization_sample("abcabc", UNIGRAM, 1.0, 4, 0, size=5),
    ),
    (
        "size",
        lambda: token_healing_step("abc", _encode, _decode, HEAL_VOCAB, _lm, 1, 0, n_samples=5),
        lambda: token_healing_step("abc", _encode, _decode, HEAL_VOCAB, _lm, 1, 0, size=5),
    ),
    ("size", lambda: FBD.sample(n_samples=5, rng=0), lambda: FBD.sample(size=5, rng=0)),
    (
        "num_samples",
        lambda: random_projection_update(np.ones((2, 2)), 0, n_samples=5),
        lambda: random_projection_update(np.ones((2, 2)), 0, num_samples=5),
    ),
    (
        "n",
        lambda: mask_sample(mask_posterior_from_table(SEQS, SEQ_P, 3, 9), 3, 0, 9, n_samples=5),
        lambda: mask_sample(mask_posterior_from_table(SEQS, SEQ_P, 3, 9), 3, 0, 9, n=5),
    ),
    (
        "n",
        lambda: edit_sample(edit_posterior_sampler_from_table(ALL_SEQS, ALL_P, 2), 3, 2, 0, n_samples=5),
        lambda: edit_sample(edit_posterior_sampler_from_table(ALL_SEQS, ALL_P, 2), 3, 2, 0, n=5),
    ),
]


@pytest.mark.parametrize(("old", "new_call", "old_call"), OLD_NAMES)
def test_old_sample_count_keyword_warns_and_agrees(old: str, new_call: Callable, old_call: Callable) -> None:
    with pytest.warns(DeprecationWarning, match=f"{old}= is deprecated, use n_samples="):
        legacy = old_call()
    assert _same(new_call(), legacy)


def test_both_sample_count_keywords_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not both n_samples and size"):
        viterbi_sample("abc", UNIGRAM, 1.0, 0, n_samples=2, size=2)


def test_n_samples_counts_and_none_means_one_unwrapped_draw() -> None:
    assert len(viterbi_sample("abcabc", UNIGRAM, 1.0, 0, n_samples=7)) == 7
    one = viterbi_sample("abcabc", UNIGRAM, 1.0, 0)
    assert isinstance(one, list)
    assert all(isinstance(t, str) for t in one)
    assert FBD.sample(0, 0).shape == (0,)
    assert mask_sample(mask_posterior_from_table(SEQS, SEQ_P, 3, 9), 3, 0, 9).shape == (3,)
    with pytest.raises(ValueError, match="n_samples must be"):
        noise_argmax_probs_mc([0.0, 1.0], n_samples=0)


# ------------------------------------------------------------------------------------------------
# CAN and the top-k uncertainty on binary problems (the default k = 3 is clamped to m = 2)

BINARY = np.array([[0.95, 0.05], [0.1, 0.9], [0.55, 0.45], [0.97, 0.03], [0.5, 0.5]])


def test_topk_uncertainty_on_a_binary_problem_with_the_default_k() -> None:
    u = topk_uncertainty(BINARY)
    np.testing.assert_allclose(u, topk_uncertainty(BINARY, k=2), rtol=0, atol=0)
    h = -(BINARY * np.log(BINARY)).sum(axis=1) / math.log(2)  # binary entropy in bits
    np.testing.assert_allclose(u, h, rtol=1e-12)
    np.testing.assert_allclose(topk_uncertainty(BINARY, variant="paper"), h, rtol=1e-12)


def test_k_above_the_class_count_is_clamped() -> None:
    p3 = np.array([[0.5, 0.25, 0.25], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(topk_uncertainty(p3, k=10), topk_uncertainty(p3, k=3), rtol=0, atol=0)
    np.testing.assert_allclose(topk_uncertainty(p3, k=3), [0.946395, 0.630930], atol=1e-6)  # spec A7 claim 2


def test_can_postprocess_on_a_binary_problem_with_the_defaults() -> None:
    out, unc = can_postprocess(BINARY, [0.5, 0.5])
    np.testing.assert_array_equal(unc, [False, False, True, False, True])
    np.testing.assert_array_equal(out[~unc], BINARY[~unc])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    # spec A7 claim 1 as part of a batch: confident [0.05, 0.95], uncertain [0.5, 0.5] -> [0.725, 0.275]
    out, unc = can_postprocess([[0.05, 0.95], [0.5, 0.5]], [0.5, 0.5])
    np.testing.assert_allclose(out[1], [0.725, 0.275], atol=1e-12)


def test_one_class_has_no_topk_uncertainty() -> None:
    with pytest.raises(ValueError, match="at least 2 classes"):
        topk_uncertainty([[1.0]])


# ------------------------------------------------------------------------------------------------
# cosines at extreme scales (normalised by the max-abs entry first)

X = np.array([1.0, 2.0, -3.0, 0.5])
Y = np.array([2.0, -1.0, 1.0, 4.0])
COS = float(X @ Y / np.linalg.norm(X) / np.linalg.norm(Y))


@pytest.mark.parametrize("sx", [1e-170, 1e200, 1.0, 1e-300, 1e300])
@pytest.mark.parametrize("sy", [1e-170, 1e200, 1.0])
def test_cosine_is_scale_free(sx: float, sy: float) -> None:
    assert cosine(sx * X, sy * Y) == pytest.approx(COS, rel=1e-14)
    np.testing.assert_allclose(
        cosine(np.stack([sx * X, sx * Y]), np.stack([sy * Y, sy * Y])), [COS, 1.0], rtol=1e-14
    )
    assert pearson_as_cosine(sx * X, sy * Y) == pytest.approx(np.corrcoef(X, Y)[0, 1], rel=1e-12)
    local, weights, glob = blockwise_cosine([sx * X[:2], sx * X[2:]], [sy * Y[:2], sy * Y[2:]])
    assert glob == pytest.approx(COS, rel=1e-12)
    ref_local, ref_weights, _ = blockwise_cosine([X[:2], X[2:]], [Y[:2], Y[2:]])
    np.testing.assert_allclose(local, ref_local, rtol=1e-13)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-13)
    a, b = np.array([1.0, 2.0]), np.array([3.0, 0.5])
    assert global_cosine_from_blocks([0.5, 0.9], sx * a, sy * b) == pytest.approx(
        global_cosine_from_blocks([0.5, 0.9], a, b), rel=1e-14
    )


def test_cosine_eps_and_zero_vectors_at_extreme_scales() -> None:
    assert cosine(np.zeros(3), np.ones(3)) == 0.0
    assert cosine(1e-170 * X, 1e-170 * Y, eps=1.0) == pytest.approx(0.0, abs=1e-300)  # eps dominates
    assert cosine(1e200 * X, 1e200 * Y, eps=1.0) == pytest.approx(COS, rel=1e-14)  # eps negligible
    nx, ny = np.linalg.norm(X), np.linalg.norm(Y)
    assert cosine(X, Y, eps=1.0) == pytest.approx(X @ Y / (nx * ny + 1.0), rel=1e-14)


# ------------------------------------------------------------------------------------------------
# one array validator, one logsumexp


def test_one_array_validator_for_every_module() -> None:
    modules = _library_modules()
    users = [mod for mod in modules if hasattr(mod, "_array")]
    # every family but tokenization (strings, not arrays) validates arrays, with the one validator
    assert {mod.__name__.split(".")[1] for mod in users if mod is not algorithms} >= set(FAMILIES) - {
        "tokenization"
    }
    for mod in users:
        assert mod._array is _checks._array, mod.__name__
    for mod in modules:
        assert not hasattr(mod, "_real"), mod.__name__
        assert not hasattr(mod, "_arr"), mod.__name__
        if mod.__name__.startswith("algorithms.probability"):
            assert not hasattr(mod, "_logsumexp"), mod.__name__


NAN_CALLS: list[Callable[[], Any]] = [
    lambda: cosine([1.0, np.nan], [1.0, 1.0]),
    lambda: power_entropy([0.5, 0.5], np.nan),
    lambda: w2_empirical_1d([np.nan], [1.0]),
    lambda: scaling.quanta_loss(np.nan, 0.5),
    lambda: entropy_invariant_attention([[np.nan] * 2], np.ones((2, 2)), np.ones((2, 1))),
    lambda: linear_scan(np.ones(1), [[np.inf]]),
]


@pytest.mark.parametrize("call", NAN_CALLS)
def test_nan_and_inf_get_the_same_message_everywhere(call: Callable[[], Any]) -> None:
    with pytest.raises(ValueError, match=r"^\w+ must be finite \(it contains NaN or inf\)$"):
        call()


def test_validator_messages() -> None:
    with pytest.raises(ValueError, match="x must be real, got a complex array"):
        _checks._array([1j], "x")
    with pytest.raises(ValueError, match="x must be a real numeric array, got dtype <U1"):
        _checks._array(["a"], "x")
    with pytest.raises(ValueError, match="x must have 2 dimension"):
        _checks._array([1.0], "x", ndim=2)
    with pytest.raises(ValueError, match=r"x must be finite or -inf \(it contains NaN or \+inf\)"):
        _checks._array([np.inf], "x", neg_inf_ok=True)
    np.testing.assert_array_equal(_checks._array([-np.inf, 0.0], "x", neg_inf_ok=True), [-np.inf, 0.0])


def test_log_softmax_of_all_but_one_minus_inf_is_exact() -> None:
    lp = _log_softmax(np.array([[-np.inf, 0.0, -np.inf], [1.0, 1.0, -np.inf]]))
    np.testing.assert_array_equal(lp[0], [-np.inf, 0.0, -np.inf])
    np.testing.assert_allclose(lp[1], [-math.log(2), -math.log(2), -np.inf])


# ------------------------------------------------------------------------------------------------
# the dtype rule: float64 results (complex128) whatever the input; linear_scan keeps float32

F32 = np.float32
RNG = np.random.default_rng(0)
Q32 = RNG.standard_normal((3, 4)).astype(F32)

FLOAT64_RESULTS: dict[str, Callable[[], Any]] = {
    "entropy_invariant_attention": lambda: entropy_invariant_attention(Q32, Q32, Q32)[0],
    "attention_entropy": lambda: attention_entropy(np.full((2, 4), 0.25, F32)),
    "causal_attention_rnn": lambda: causal_attention_rnn(Q32, Q32, Q32),
    "rope_rotate": lambda: rope_rotate(Q32, np.arange(3, dtype=F32)),
    "rerope_logits": lambda: rerope_logits(Q32, Q32, 2),
    "cosine": lambda: cosine(Q32, Q32),
    "best_rank_r": lambda: best_rank_r(Q32, 1)[0],
    "pinv": lambda: pinv(Q32),
    "power_entropy": lambda: power_entropy(np.full(4, 0.25, F32), F32(2.0)),
    "noise_argmax_probs": lambda: noise_argmax_probs(Q32[0], K=10),
    "soft_topk_grad": lambda: soft_topk_grad(Q32, 2),
    "sm_loss": lambda: np.asarray(sm_loss(lambda x: x, lambda x: 0 * x, Q32)),
    "FourierBasisDensity.pdf": lambda: FBD.pdf(Q32[0]),
    "quanta_loss": lambda: np.asarray(scaling.quanta_loss(np.array([10.0, 100.0], F32), F32(0.5))),
}


@pytest.mark.parametrize("name", list(FLOAT64_RESULTS))
def test_float32_input_gives_float64_results(name: str) -> None:
    assert np.asarray(FLOAT64_RESULTS[name]()).dtype == np.float64


def test_linear_scans_keep_float32_and_complex64() -> None:
    lam = np.full(2, 0.9, F32)
    u = RNG.standard_normal((5, 2)).astype(F32)
    for method in ("sequential", "upper_lower", "assoc"):
        assert linear_scan(lam, u, method).dtype == F32  # type: ignore[arg-type]
    assert linear_scan(lam.astype(np.complex64), u).dtype == np.complex64
    assert linear_scan(lam.astype(np.float16), u).dtype == np.float64  # float16 is promoted
    assert linear_scan_affine(np.eye(2, dtype=F32), u).dtype == F32
    assert linear_scan(np.full(2, 0.9), u).dtype == np.float64  # mixed: NumPy's promotion


# ------------------------------------------------------------------------------------------------
# names and docstrings


def test_every_public_name_imports_from_the_package() -> None:
    for name in algorithms.__all__:
        assert getattr(importlib.import_module("algorithms"), name) is not None
        exec(f"from algorithms import {name}", {})  # noqa: S102


def test_no_module_cites_a_machine_path() -> None:
    root = pathlib.Path(algorithms.__file__).parent
    paths = sorted(root.rglob("*.py"))
    assert len(paths) > 30  # the family subpackages are searched too
    for path in paths:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root.parent).with_suffix("")
        assert not re.search(r"/work/|shared/specs", text), str(rel)
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        doc = importlib.import_module(".".join(parts)).__doc__ or ""
        assert doc.strip(), str(rel)
        # every family package and section module cites its articles; private helpers need not
        if len(parts) > 1 and not parts[-1].startswith("_"):
            assert "https://kexue.fm/archives/" in doc, str(rel)


# the split of issue 9: the biggest section module has about 320 lines; the old family modules had
# 320-1,060 (a family piled back into one module, or a section grown past this, fails here)
MAX_MODULE_LINES = 400


def test_every_public_name_lives_in_a_small_section_module() -> None:
    assert len(algorithms.__all__) == len(set(algorithms.__all__)) == 127
    defining: dict[str, list[str]] = {}
    for mod in _library_modules():
        if hasattr(mod, "__path__"):  # a package (__init__) only re-exports
            continue
        for name in getattr(mod, "__all__", ()):
            defining.setdefault(name, []).append(mod.__name__)
    assert set(defining) == set(algorithms.__all__)
    for name in algorithms.__all__:
        namespace: dict[str, Any] = {}
        exec(f"from algorithms import {name}", namespace)  # noqa: S102
        (module_name,) = defining[name]  # one home per name
        family, section = module_name.split(".")[1:]
        assert family in FAMILIES, module_name
        assert not section.startswith("_"), module_name
        mod = importlib.import_module(module_name)
        obj = getattr(mod, name)
        assert namespace[name] is obj is getattr(importlib.import_module(f"algorithms.{family}"), name)
        if callable(obj) and hasattr(obj, "__module__"):
            assert obj.__module__ == module_name, name  # defined there, not re-exported from elsewhere
        assert mod.__file__ is not None
        n_lines = len(pathlib.Path(mod.__file__).read_text(encoding="utf-8").splitlines())
        assert n_lines <= MAX_MODULE_LINES, f"{module_name} has {n_lines} lines (> {MAX_MODULE_LINES})"
        # a section module says which section of the specification it holds (e.g. "B11. ...")
        assert re.match(r"[AB]\d+[ab]?\. ", mod.__doc__ or ""), module_name


def test_every_family_package_reexports_exactly_its_modules_names() -> None:
    for family in FAMILIES:
        package = importlib.import_module(f"algorithms.{family}")
        assert hasattr(package, "__path__"), family  # a package, not one big module
        modules = [info.name for info in pkgutil.iter_modules(package.__path__)]
        modules = [m for m in modules if not m.startswith("_")]
        assert len(modules) >= 2, family
        names = [n for m in modules for n in importlib.import_module(f"{package.__name__}.{m}").__all__]
        assert sorted(package.__all__) == sorted(names), family
        for module in modules:  # no module name shadows a public name of the package
            assert module not in algorithms.__all__, module

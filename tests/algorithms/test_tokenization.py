"""Tests for algorithms.tokenization: spec sections A4 (Viterbi sampling) and B13 (token healing)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from algorithms.tokenization import (
    candidates,
    enumerate_segmentations,
    longest_match_encode,
    nbest_segmentations,
    prefix_search,
    segmentation_log_partition,
    subword_regularization_sample,
    token_healing_step,
    viterbi_decode,
    viterbi_sample,
    viterbi_sample_distribution,
)

# ==================================================================================================
# A4. Viterbi decoding / sampling

WATCHING = {t: -1.0 for t in ["watch", "ing", "wat", "ching", "w", "atching"]}
W_ATCHING, WAT_CHING, WATCH_ING = ("w", "atching"), ("wat", "ching"), ("watch", "ing")
TOY = {
    t: math.log(p)
    for t, p in dict(a=0.2, b=0.15, c=0.1, ab=0.12, bc=0.08, abc=0.05, ca=0.06, cab=0.04, bca=0.03).items()
}
TEXT = "abcabca"
ALPHA = 0.7


def _perfect_law(text, vocab, alpha):
    segs = enumerate_segmentations(text, vocab)
    logz = np.logaddexp.reduce([alpha * s for _, s in segs])
    return {seg: math.exp(alpha * s - logz) for seg, s in segs}


def _max_dev(law, ref):
    return max(abs(law.get(s, 0.0) - ref.get(s, 0.0)) for s in set(law) | set(ref))


def _freq(draws):
    n = len(draws)
    return {s: c / n for s, c in Counter(draws).items()}


def test_candidates_order_and_count_bound():
    got = list(candidates("abc", {"a": 0.0, "b": 0.0, "c": 0.0, "ab": 0.0, "bc": 0.0, "abc": 0.0}))
    assert got == [(1, 0, 0.0), (2, 0, 0.0), (2, 1, 0.0), (3, 0, 0.0), (3, 1, 0.0), (3, 2, 0.0)]
    short = list(
        candidates(
            "abc", {"a": 0.0, "b": 0.0, "c": 0.0, "ab": 0.0, "bc": 0.0, "abc": 0.0}, order="short_first"
        )
    )
    assert [(e, s) for e, s, _ in short] == [(1, 0), (2, 1), (2, 0), (3, 2), (3, 1), (3, 0)]
    text, m = "abcdefghij", 4
    full = {text[s:e]: -1.0 for s in range(len(text)) for e in range(s + 1, min(len(text), s + m) + 1)}
    assert sum(1 for _ in candidates(text, full)) == len(text) * m - m * (m - 1) // 2
    assert len(list(candidates(text, full, max_len=2))) == len(text) * 2 - 1


def test_watching_old_rule_is_biased_new_rule_uniform_exact_claim1():
    assert sorted(s for s, _ in enumerate_segmentations("watching", WATCHING)) == sorted(
        [W_ATCHING, WAT_CHING, WATCH_ING]
    )
    old_long = viterbi_sample_distribution("watching", WATCHING, 1.0, "old", "long_first")
    assert old_long == pytest.approx({W_ATCHING: 0.25, WAT_CHING: 0.25, WATCH_ING: 0.5}, abs=1e-15)
    old_short = viterbi_sample_distribution("watching", WATCHING, 1.0, "old", "short_first")
    assert old_short == pytest.approx({W_ATCHING: 0.5, WAT_CHING: 0.25, WATCH_ING: 0.25}, abs=1e-15)
    for method in ("reservoir", "ffbs"):
        for order in ("long_first", "short_first"):
            law = viterbi_sample_distribution("watching", WATCHING, 1.0, method, order)
            assert law == pytest.approx(dict.fromkeys((W_ATCHING, WAT_CHING, WATCH_ING), 1 / 3), abs=1e-15)


@pytest.mark.parametrize(
    ("method", "order", "expect"),
    [
        ("old", "long_first", {W_ATCHING: 0.25, WAT_CHING: 0.25, WATCH_ING: 0.5}),
        ("old", "short_first", {W_ATCHING: 0.5, WAT_CHING: 0.25, WATCH_ING: 0.25}),
        ("reservoir", "long_first", dict.fromkeys((W_ATCHING, WAT_CHING, WATCH_ING), 1 / 3)),
        ("reservoir", "short_first", dict.fromkeys((W_ATCHING, WAT_CHING, WATCH_ING), 1 / 3)),
    ],
)
def test_watching_sampled_frequencies_claim1(method, order, expect):
    rng = np.random.default_rng(7)
    draws = viterbi_sample("watching", WATCHING, 1.0, rng, method, order, n_samples=100_000)
    assert _max_dev(_freq(draws), expect) < 0.01


def test_toy_partition_and_viterbi_claim2_and_claim4():
    segs = enumerate_segmentations(TEXT, TOY)
    assert len(segs) == 44
    logz = segmentation_log_partition(TEXT, TOY, ALPHA)
    assert logz == pytest.approx(-2.8716998811, abs=1e-10)
    assert logz == pytest.approx(np.logaddexp.reduce([ALPHA * s for _, s in segs]), abs=1e-12)
    tokens, score = viterbi_decode(TEXT, TOY)
    assert tokens == ["abc", "abc", "a"]
    assert score == pytest.approx(-7.600902459542, abs=1e-12)
    best = max(segs, key=lambda z: z[1])
    assert (tuple(tokens), score) == (best[0], pytest.approx(best[1], abs=1e-12))
    assert segmentation_log_partition(TEXT, TOY, 0.0) == pytest.approx(math.log(44), abs=1e-12)
    assert segmentation_log_partition(TEXT, TOY, 300.0) / 300 == pytest.approx(score, abs=math.log(44) / 300)


def test_exact_sampler_laws_against_brute_force_claim3_and_claim5():
    ref = _perfect_law(TEXT, TOY, ALPHA)
    assert max(ref.values()) == pytest.approx(0.0864, abs=1e-4)
    for order in ("long_first", "short_first"):
        for method in ("reservoir", "ffbs"):
            assert _max_dev(viterbi_sample_distribution(TEXT, TOY, ALPHA, method, order), ref) < 1e-14
    old = viterbi_sample_distribution(TEXT, TOY, ALPHA, "old")
    assert sum(old.values()) == pytest.approx(1.0, abs=1e-14)
    assert _max_dev(old, ref) == pytest.approx(0.10, abs=0.01)  # the 9768 rule is biased


@pytest.mark.parametrize(("method", "ok"), [("reservoir", True), ("ffbs", True), ("old", False)])
def test_perfect_sampling_frequencies_claim3(method, ok):
    ref = _perfect_law(TEXT, TOY, ALPHA)
    draws = viterbi_sample(TEXT, TOY, ALPHA, np.random.default_rng(11), method, n_samples=200_000)
    dev = _max_dev(_freq(draws), ref)
    assert (dev < 0.005) if ok else (dev > 0.05)


def test_reservoir_and_ffbs_samples_share_one_law_claim5():
    a = Counter(viterbi_sample(TEXT, TOY, ALPHA, np.random.default_rng(1), "reservoir", n_samples=60_000))
    b = Counter(viterbi_sample(TEXT, TOY, ALPHA, np.random.default_rng(2), "ffbs", n_samples=60_000))
    c = Counter(viterbi_sample(TEXT, TOY, ALPHA, np.random.default_rng(3), "old", n_samples=60_000))
    keys = sorted(set(a) | set(b) | set(c))
    p_same = stats.chi2_contingency([[a[k] for k in keys], [b[k] for k in keys]])[1]
    p_diff = stats.chi2_contingency([[a[k] for k in keys], [c[k] for k in keys]])[1]
    assert p_same > 1e-3
    assert p_diff < 1e-10


def test_subword_regularization_with_all_segmentations_equals_perfect_sampling_claim4():
    segs = enumerate_segmentations(TEXT, TOY)
    nb = nbest_segmentations(TEXT, TOY, 44)
    assert sorted(nb, key=lambda z: z[0]) == sorted((s, pytest.approx(v, abs=1e-12)) for s, v in segs)
    assert [v for _, v in nb] == sorted((v for _, v in nb), reverse=True)
    assert nbest_segmentations(TEXT, TOY, 1)[0][0] == tuple(viterbi_decode(TEXT, TOY)[0])
    ref = _perfect_law(TEXT, TOY, ALPHA)
    draws = subword_regularization_sample(TEXT, TOY, ALPHA, 44, np.random.default_rng(4), n_samples=100_000)
    assert _max_dev(_freq(draws), ref) < 0.005
    top3 = {s for s, _ in nbest_segmentations(TEXT, TOY, 3)}
    assert (
        set(subword_regularization_sample(TEXT, TOY, ALPHA, 3, np.random.default_rng(5), n_samples=2000))
        <= top3
    )


def test_alpha_semantics():
    law0 = viterbi_sample_distribution(TEXT, TOY, 0.0)
    assert len(law0) == 44
    assert max(abs(p - 1 / 44) for p in law0.values()) < 1e-15
    best = tuple(viterbi_decode(TEXT, TOY)[0])
    assert viterbi_sample_distribution(TEXT, TOY, -1.0) == {best: 1.0}  # α < 0: deterministic
    assert viterbi_sample(TEXT, TOY, -0.5, np.random.default_rng(0)) == list(best)
    assert viterbi_sample(TEXT, TOY, -0.5, n_samples=3) == [best] * 3
    one = viterbi_sample(TEXT, TOY, ALPHA, np.random.default_rng(0))
    assert isinstance(one, list)
    assert "".join(one) == TEXT


def test_bytes_text_and_unreachable_positions():
    vocab = {b"ab": -1.0, b"a": -2.0, b"abc": -3.0, b"cd": -1.0, b"d": -0.5, b"bcd": -1.0}
    segs = enumerate_segmentations(b"abcd", vocab)
    assert sorted(s for s, _ in segs) == sorted([(b"ab", b"cd"), (b"abc", b"d"), (b"a", b"bcd")])
    ref = _perfect_law(b"abcd", vocab, 1.3)
    for method in ("reservoir", "ffbs"):
        assert _max_dev(viterbi_sample_distribution(b"abcd", vocab, 1.3, method), ref) < 1e-15
    draws = viterbi_sample(b"abcd", vocab, 1.3, np.random.default_rng(0), n_samples=20_000)
    assert _max_dev(_freq(draws), ref) < 0.02


@st.composite
def _vocab_and_text(draw):
    tokens = draw(st.lists(st.text("ab", min_size=2, max_size=3), max_size=5, unique=True))
    vocab = {"a": draw(st.floats(-4, -0.1)), "b": draw(st.floats(-4, -0.1))}
    vocab.update({t: draw(st.floats(-6, -0.1)) for t in tokens})
    return vocab, draw(st.text("ab", min_size=1, max_size=7))


@settings(max_examples=40, deadline=None)
@given(_vocab_and_text(), st.floats(0.0, 3.0), st.sampled_from(["long_first", "short_first"]))
def test_dp_and_exact_laws_match_brute_force_for_random_vocabularies(vt, alpha, order):
    vocab, text = vt
    segs = enumerate_segmentations(text, vocab)
    ref = _perfect_law(text, vocab, alpha)
    assert segmentation_log_partition(text, vocab, alpha) == pytest.approx(
        np.logaddexp.reduce([alpha * s for _, s in segs]), abs=1e-12
    )
    assert viterbi_decode(text, vocab)[1] == pytest.approx(max(s for _, s in segs), abs=1e-12)
    for method in ("reservoir", "ffbs"):
        assert _max_dev(viterbi_sample_distribution(text, vocab, alpha, method, order), ref) < 1e-12


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: viterbi_decode("ab", {}), "non-empty"),
        (lambda: viterbi_decode("ab", {"a": float("nan"), "b": -1.0}), "finite"),
        (lambda: viterbi_decode("ab", {"a": -1.0, "": -1.0}), "empty token"),
        (lambda: viterbi_decode("ab", {b"a": -1.0}), "type"),
        (lambda: viterbi_decode(["a"], {"a": -1.0}), "str or bytes"),
        (lambda: viterbi_decode("abc", {"a": -1.0, "b": -1.0}), "no segmentation"),
        (
            lambda: segmentation_log_partition("abc", {"a": -1.0, "bc": -1.0, "ab": -1.0}, float("inf")),
            "alpha",
        ),
        (lambda: segmentation_log_partition("abd", {"a": -1.0, "b": -1.0}), "no segmentation"),
        (lambda: viterbi_sample("abd", {"a": -1.0, "b": -1.0}, 1.0), "no segmentation"),
        (lambda: viterbi_sample("abd", {"a": -1.0, "b": -1.0}, 1.0, method="ffbs"), "no segmentation"),
        (lambda: viterbi_sample("ab", {"a": -1.0, "b": -1.0}, 1.0, method="gibbs"), "method"),
        (lambda: viterbi_sample("ab", {"a": -1.0, "b": -1.0}, 1.0, order="random"), "order"),
        (lambda: viterbi_sample("ab", {"a": -1.0, "b": -1.0}, 1.0, n_samples=0), "n_samples"),
        (lambda: list(candidates("ab", {"a": -1.0}, max_len=0)), "max_len"),
        (lambda: nbest_segmentations("ab", {"a": -1.0, "b": -1.0}, 0), "nbest"),
        (lambda: subword_regularization_sample("ab", {"a": -1.0, "b": -1.0}, -1.0, 2), "alpha"),
        (lambda: enumerate_segmentations("a" * 30, {"a": -1.0, "aa": -1.0}, max_count=1000), "max_count"),
    ],
)
def test_viterbi_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ==================================================================================================
# B13. Token healing

ZH = ["广州", "的", "白", "云", "白云", "白云机场", "白云山", "白云路", "机", "场", "山", "路"]
ZH_ID = {t: i for i, t in enumerate(ZH)}


def zh_encode(s: str) -> list[int]:
    return longest_match_encode(s, ZH)


def zh_decode(ids) -> str:
    return "".join(ZH[i] for i in ids)


def zh_lm(ids: list[int]) -> np.ndarray:
    """Toy LM: after 广州|的 the 白云* tokens carry half the mass; after 白云 never 机场 / 机."""
    p = np.zeros(len(ZH))
    if [ZH[i] for i in ids] == ["广州", "的"]:
        for t, q in {"白云": 0.05, "白云机场": 0.25, "白云山": 0.15, "白云路": 0.05}.items():
            p[ZH_ID[t]] = q
        rest = ["广州", "的", "云", "机", "场", "山", "路"]
        p[[ZH_ID[t] for t in rest]] = 0.5 / len(rest)
    else:
        p[:] = 1.0
        if ids and ZH[ids[-1]] == "白云":
            p[ZH_ID["机"]] = 0.0  # the only token starting "机场" in this vocabulary
        p /= p.sum()
    with np.errstate(divide="ignore"):
        return np.log(p)


def test_tokenizer_and_prefix_search_claim1():
    assert [ZH[i] for i in zh_encode("广州的白云")] == ["广州", "的", "白云"]
    assert set(prefix_search(sorted(ZH), "白云")) == {"白云", "白云机场", "白云山", "白云路"}
    assert prefix_search(sorted(ZH), "机") == ["机"]
    assert prefix_search(sorted(ZH), "海") == []


def test_healing_distribution_claim2():
    draws = token_healing_step(
        "广州的白云", zh_encode, zh_decode, ZH, zh_lm, rng=np.random.default_rng(0), n_samples=100_000
    )
    freq = _freq([e for _, e in draws])
    assert set(freq) == {"", "机场", "山", "路"}
    for text, p in {"": 0.1, "机场": 0.5, "山": 0.3, "路": 0.1}.items():
        assert abs(freq[text] - p) < 0.01
    for ids, emitted in draws[:50]:
        assert zh_decode(ids) == "广州的白云" + emitted


def test_without_healing_the_airport_is_unreachable_claim2():
    draws = token_healing_step(
        "广州的白云", zh_encode, zh_decode, ZH, zh_lm, k=0, rng=np.random.default_rng(0), n_samples=20_000
    )
    texts = [zh_decode(ids) for ids, _ in draws]
    assert not any(t.startswith("广州的白云机场") for t in texts)
    assert all(ids[:3] == zh_encode("广州的白云") for ids, _ in draws)  # k = 0: plain next-token step


def test_greedy_healing_claim3():
    ids, emitted = token_healing_step("广州的白云", zh_encode, zh_decode, ZH, zh_lm, greedy=True)
    assert [ZH[i] for i in ids] == ["广州", "的", "白云机场"]
    assert emitted == "机场"


def test_healing_invariant_on_random_prompts_claim4():
    rng = np.random.default_rng(3)

    def random_lm(ids: list[int]) -> np.ndarray:
        r = np.random.default_rng(hash(tuple(ids)) % 2**32)
        lp = r.normal(size=len(ZH))
        lp[r.random(len(ZH)) < 0.3] = -np.inf
        return lp

    for _ in range(1000):
        prompt = "".join(ZH[i] for i in rng.integers(0, len(ZH), rng.integers(1, 6)))
        n_tok = len(zh_encode(prompt))
        k = int(rng.integers(0, n_tok + 1))
        ids, emitted = token_healing_step(prompt, zh_encode, zh_decode, ZH, random_lm, k=k, rng=rng)
        assert zh_decode(ids).startswith(prompt)
        assert zh_decode(ids) == prompt + emitted


CODE = ["import", " numpy", "import numpy as np", " as", " np"]


def code_encode(s: str) -> list[int]:
    return longest_match_encode(s, CODE)


def code_decode(ids) -> str:
    return "".join(CODE[i] for i in ids)


def test_multi_token_healing_claim5():
    assert [CODE[i] for i in code_encode("import numpy")] == ["import", " numpy"]
    likes_full = lambda ids: np.log([0.1, 0.1, 0.6, 0.1, 0.1])  # noqa: E731
    one = token_healing_step(
        "import numpy",
        code_encode,
        code_decode,
        CODE,
        likes_full,
        k=1,
        rng=np.random.default_rng(0),
        n_samples=2000,
    )
    assert {e for _, e in one} == {""}  # k = 1 cannot reach "import numpy as np"
    ids, emitted = token_healing_step(
        "import numpy", code_encode, code_decode, CODE, likes_full, k=2, greedy=True
    )
    assert (ids, emitted) == ([2], " as np")
    calls = []

    def likes_import(ids: list[int]) -> np.ndarray:
        calls.append(list(ids))
        return np.log([0.6, 0.1, 0.1, 0.1, 0.1])

    ids, emitted = token_healing_step(
        "import numpy", code_encode, code_decode, CODE, likes_import, k=2, greedy=True
    )
    assert (ids, emitted) == ([0, 1], "")  # multi-token path: "import", then heal " numpy"
    assert calls == [[], [0]]
    mixed = token_healing_step(
        "import numpy",
        code_encode,
        code_decode,
        CODE,
        lambda ids: np.log([0.5, 0.2, 0.3, 0.0001, 0.0001]),
        k=2,
        rng=np.random.default_rng(1),
        n_samples=20_000,
    )
    assert abs(np.mean([e == " as np" for _, e in mixed]) - 0.3 / 0.8) < 0.015


def test_healing_falls_back_when_no_mass():
    dead = lambda ids: np.where(np.arange(len(ZH)) < 2, 0.0, -np.inf)  # noqa: E731
    assert token_healing_step("广州的白云", zh_encode, zh_decode, ZH, dead, greedy=True) == (
        zh_encode("广州的白云"),
        "",
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 4}, "k must be"),
        ({"k": -1}, "k must be"),
        ({"lm_logprobs": lambda ids: np.zeros(3)}, "shape"),
        ({"lm_logprobs": lambda ids: np.full(len(ZH), np.nan)}, "NaN"),
        ({"decode": lambda ids: "x"}, "round-trip"),
        ({"encode": lambda s: [99]}, "outside"),
        ({"vocab": []}, "non-empty"),
        ({"n_samples": 0}, "n_samples"),
    ],
)
def test_healing_validation(kwargs, match):
    args = {
        "prompt": "广州的白云",
        "encode": zh_encode,
        "decode": zh_decode,
        "vocab": ZH,
        "lm_logprobs": zh_lm,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        token_healing_step(**args, rng=np.random.default_rng(0))


def test_prefix_search_and_encoder_validation():
    with pytest.raises(ValueError, match="not sorted"):
        prefix_search(["b", "a"], "a")
    with pytest.raises(ValueError, match="no vocab token"):
        longest_match_encode("广州海", ZH)

"""Tokenization: unigram Viterbi decoding and (perfect) Viterbi sampling; token healing.

Sections of the library's specification, with the articles they implement:

* A4  random tokenization, from Viterbi decoding to Viterbi sampling to perfect sampling
  (https://kexue.fm/archives/9768, https://kexue.fm/archives/9811);
* B13 the big-vocabulary continuation problem and token healing (https://kexue.fm/archives/9762).

A unigram vocabulary is a ``dict`` mapping a token (``str`` or ``bytes``, same type as the text) to
its log-probability score; a segmentation w of a text has score s(w) = Σ score(w_i). Positions are
0-based character (byte) offsets; a candidate is a token ``text[start:end]`` present in the vocabulary.
Invalid input raises ``ValueError``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from algorithms._checks import RngLike, _n_samples, _rng

__all__ = [
    "candidates",
    "enumerate_segmentations",
    "longest_match_encode",
    "nbest_segmentations",
    "prefix_search",
    "segmentation_log_partition",
    "subword_regularization_sample",
    "token_healing_step",
    "viterbi_decode",
    "viterbi_sample",
    "viterbi_sample_distribution",
]

Array = npt.NDArray[Any]
Text = str | bytes
Order = Literal["long_first", "short_first"]
Segmentation = tuple[Text, ...]

# --------------------------------------------------------------------------------------------------
# A4. helpers: validation and the candidate table


def _check_vocab(text: Any, vocab: Any) -> int:
    """Validate a unigram vocabulary against ``text``; return the maximum token length."""
    if not isinstance(text, (str, bytes)):
        raise ValueError(f"text must be str or bytes, got {type(text).__name__}")
    if not isinstance(vocab, Mapping) or len(vocab) == 0:
        raise ValueError("vocab must be a non-empty mapping token -> log-prob score")
    kind = type(text)
    for tok, score in vocab.items():
        if type(tok) is not kind:
            raise ValueError(f"vocab token {tok!r} is not of the text's type {kind.__name__}")
        if len(tok) == 0:
            raise ValueError("vocab contains the empty token")
        try:
            f = float(score)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"score of {tok!r} is not a number") from exc
        if not math.isfinite(f):
            raise ValueError(f"score of {tok!r} must be finite, got {score!r}")
    return max(len(t) for t in vocab)


def _order(order: str) -> bool:
    if order not in ("long_first", "short_first"):
        raise ValueError(f"order must be 'long_first' or 'short_first', got {order!r}")
    return order == "long_first"


def _table(
    text: Text, vocab: Mapping[Any, float], order: str = "long_first", max_len: int | None = None
) -> list[tuple[Array, Array]]:
    """table[e] = (starts, scores) of the candidates ending at e, in arrival order (table[0] empty)."""
    m = _check_vocab(text, vocab)
    long_first = _order(order)
    if max_len is not None:
        if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1:
            raise ValueError(f"max_len must be a positive integer, got {max_len!r}")
        m = min(m, int(max_len))
    table: list[tuple[Array, Array]] = [(np.zeros(0, dtype=int), np.zeros(0))]
    for e in range(1, len(text) + 1):
        starts = range(max(0, e - m), e)
        hits = [
            (s, vocab[text[s:e]]) for s in (starts if long_first else reversed(starts)) if text[s:e] in vocab
        ]
        table.append((np.array([h[0] for h in hits], dtype=int), np.array([h[1] for h in hits], dtype=float)))
    return table


def _alpha(alpha: Any) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise ValueError("alpha must be a real number") from exc
    if not math.isfinite(a):
        raise ValueError(f"alpha must be finite, got {alpha!r}")
    return a


def _forward(table: list[tuple[Array, Array]], alpha: float) -> Array:
    """Zlog[e] = logsumexp over candidates (s, e) of Zlog[s] + α·score, Zlog[0] = 0."""
    Z = np.full(len(table), -np.inf)
    Z[0] = 0.0
    for e in range(1, len(table)):
        st, sc = table[e]
        if st.size:
            Z[e] = np.logaddexp.reduce(Z[st] + alpha * sc)
    return Z


def _no_segmentation(text: Text) -> ValueError:
    return ValueError(f"no segmentation of {text!r} exists with this vocabulary")


def _tokens(text: Text, cuts: Sequence[int]) -> Segmentation:
    return tuple(text[cuts[i] : cuts[i + 1]] for i in range(len(cuts) - 1))


def _backtrack(route: Array, L: int) -> list[int]:
    cuts = [L]
    while cuts[-1] > 0:
        cuts.append(int(route[cuts[-1]]))
    return cuts[::-1]


# --------------------------------------------------------------------------------------------------
# A4. public API


def candidates(
    text: Text, vocab: Mapping[Any, float], max_len: int | None = None, order: Order = "long_first"
) -> Iterator[tuple[int, int, float]]:
    """Yield ``(end, start, score)`` for every token ``text[start:end]`` in ``vocab``, by increasing end.

    Within an end, ``order='long_first'`` (BytePiece's automaton) or ``'short_first'``. At most
    l·m − m(m−1)/2 candidates for max token length m ≤ l (https://kexue.fm/archives/9811).
    """
    for e, (st, sc) in enumerate(_table(text, vocab, order, max_len)):
        for s, v in zip(st.tolist(), sc.tolist(), strict=True):
            yield e, s, v


def viterbi_decode(text: Text, vocab: Mapping[Any, float]) -> tuple[list[Text], float]:
    """S*(c_1..c_l) = max_j [S*(c_1..c_j) + s(c_{j+1}..c_l)]: the max-score segmentation (https://kexue.fm/archives/9768).

    Ties go to the candidate arriving first in long-first order (the longer last token).
    Returns ``(tokens, best_score)``; raises ``ValueError`` if no segmentation exists.
    """
    table = _table(text, vocab)
    L = len(text)
    S = np.full(L + 1, -np.inf)
    S[0] = 0.0
    back = np.zeros(L + 1, dtype=int)
    for e in range(1, L + 1):
        st, sc = table[e]
        if st.size:
            x = S[st] + sc
            j = int(np.argmax(x))
            S[e], back[e] = x[j], st[j]
    if not np.isfinite(S[L]):
        raise _no_segmentation(text)
    return list(_tokens(text, _backtrack(back, L))), float(S[L])


def segmentation_log_partition(text: Text, vocab: Mapping[Any, float], alpha: float = 1.0) -> float:
    """log Z with Z(c_1..c_l) = Σ_j Z(c_1..c_j)·exp(α s(c_{j+1}..c_l)), Z(∅) = 1 (https://kexue.fm/archives/9811).

    α = 0 gives log(#segmentations). Raises ``ValueError`` if no segmentation exists.
    """
    Z = _forward(_table(text, vocab), _alpha(alpha))
    if not np.isfinite(Z[-1]):
        raise _no_segmentation(text)
    return float(Z[-1])


def _reservoir_accept(x: Array) -> tuple[Array, Array]:
    """Running Zlog after each arrival and the acceptance probabilities exp(x_j − Zrun_j) (first = 1)."""
    Zrun = np.logaddexp.accumulate(x)
    return np.exp(x - Zrun), Zrun


def _old_rule_final_probs(x: Array, alpha: float) -> Array:
    """Exact law of the candidate held at the end under the 9768 rule (accept if ε < σ(α(x − x_held)))."""
    h = np.zeros(x.size)
    h[0] = 1.0
    for j in range(1, x.size):
        acc = special.expit(alpha * (x[j] - x[:j]))
        h[j] = h[:j] @ acc
        h[:j] *= 1.0 - acc
    return h


def _sample_cuts(
    text: Text,
    vocab: Mapping[Any, float],
    alpha: float,
    rng: np.random.Generator,
    method: str,
    order: str,
    size: int,
) -> Array:
    """Boolean cut masks (size, L+1) of ``size`` sampled segmentations."""
    table = _table(text, vocab, order)
    L = len(text)
    rows = np.arange(size)
    route = np.full((size, L + 1), -1, dtype=int)
    route[:, 0] = 0
    if method == "reservoir":  # one forward pass: Zlog and the routes together (9811)
        Z = np.full(L + 1, -np.inf)
        Z[0] = 0.0
        for e in range(1, L + 1):
            st, sc = table[e]
            live = np.isfinite(Z[st])  # skip unreachable starts
            st, x = st[live], Z[st[live]] + alpha * sc[live]
            if not st.size:
                continue
            a, Zrun = _reservoir_accept(x)
            Z[e] = Zrun[-1]
            acc = rng.random((size, st.size)) < a
            route[:, e] = st[st.size - 1 - np.argmax(acc[:, ::-1], axis=1)]  # last accepted
    elif method == "old":  # 9768: chain of pairwise choices against the held candidate
        Z = _forward(table, 0.0)  # reachability only
        S = np.full((size, L + 1), -np.inf)
        S[:, 0] = 0.0
        for e in range(1, L + 1):
            st, sc = table[e]
            live = np.isfinite(Z[st])
            st, sc = st[live], sc[live]
            if not st.size:
                continue
            x = S[:, st] + sc
            u = rng.random((size, st.size))
            held, hidx = x[:, 0].copy(), np.zeros(size, dtype=int)
            for j in range(1, st.size):  # sequential by construction; vectorised over samples
                acc = u[:, j] < special.expit(alpha * (x[:, j] - held))
                held = np.where(acc, x[:, j], held)
                hidx = np.where(acc, j, hidx)
            S[:, e] = held
            route[:, e] = st[hidx]
    elif method == "ffbs":  # forward filtering, backward sampling
        Z = _forward(table, alpha)
        if not np.isfinite(Z[L]):
            raise _no_segmentation(text)
        width = max(1, max(t[0].size for t in table))
        cum = np.ones((L + 1, width))
        starts = np.zeros((L + 1, width), dtype=int)
        for e in range(1, L + 1):
            st, sc = table[e]
            if st.size and np.isfinite(Z[e]):
                cum[e, : st.size] = np.cumsum(np.exp(Z[st] + alpha * sc - Z[e]))
                starts[e, : st.size] = st
                starts[e, st.size :] = st[-1]
        pos = np.full(size, L)
        cuts = np.zeros((size, L + 1), dtype=bool)
        cuts[:, L] = True
        while (pos > 0).any():
            u = rng.random(size)
            j = np.minimum((u[:, None] >= cum[pos]).sum(axis=1), width - 1)
            pos = np.where(pos > 0, starts[pos, j], 0)
            cuts[rows, pos] = True
        return cuts
    else:
        raise ValueError(f"method must be 'reservoir', 'ffbs' or 'old', got {method!r}")
    if (route[:, L] < 0).any():
        raise _no_segmentation(text)
    pos = np.full(size, L)
    cuts = np.zeros((size, L + 1), dtype=bool)
    cuts[:, L] = True
    while (pos > 0).any():
        pos = route[rows, pos]
        cuts[rows, pos] = True
    return cuts


def viterbi_sample(
    text: Text,
    vocab: Mapping[Any, float],
    alpha: float,
    rng: RngLike = None,
    method: Literal["reservoir", "ffbs", "old"] = "reservoir",
    order: Order = "long_first",
    n_samples: int | None = None,
    *,
    size: int | None = None,
) -> list[Text] | list[Segmentation]:
    """Sample a segmentation w with P(w) = exp(α s(w))/Z (perfect sampling, https://kexue.fm/archives/9811).

    ``reservoir`` (9811): for each candidate, x = Zlog[s] + α·score, Zlog[e] ← logaddexp(Zlog[e], x),
    route[e] ← s with probability exp(x − Zlog[e]); backtrack from the end. ``ffbs``: forward
    Zlog, then sample starts backwards ∝ exp(Zlog[s] + α·score). ``old``: the biased 9768 rule
    (accept if ε < σ(α(x − x_held))), kept for comparison. BytePiece semantics: α < 0 is
    deterministic (Viterbi), α = 0 is uniform over segmentations. ``n_samples=None`` returns one token
    list, otherwise a list of ``n_samples`` token tuples (drawn vectorised over samples); ``size`` is
    the deprecated old name of ``n_samples``. ``rng``: an int seed, None or a ``Generator``.
    """
    a = _alpha(alpha)
    if method not in ("reservoir", "ffbs", "old"):
        raise ValueError(f"method must be 'reservoir', 'ffbs' or 'old', got {method!r}")
    n_samples = _n_samples(n_samples, optional=True, size=size)
    n = 1 if n_samples is None else n_samples
    if a < 0:
        toks = tuple(viterbi_decode(text, vocab)[0])
        return list(toks) if n_samples is None else [toks] * n
    rng = _rng(rng)
    cuts = _sample_cuts(text, vocab, a, rng, method, order, n)
    packed = np.ascontiguousarray(np.packbits(cuts, axis=1))
    _, first, inv = np.unique(
        packed.view(np.dtype((np.void, packed.shape[1]))).ravel(), return_index=True, return_inverse=True
    )
    segs = [_tokens(text, np.flatnonzero(cuts[i]).tolist()) for i in first]
    out = [segs[i] for i in inv.ravel()]
    return list(out[0]) if n_samples is None else out


def _paths(route_probs: list[dict[int, float]], text: Text) -> dict[Segmentation, float]:
    """All paths from len(text) back to 0 through independent per-end route laws, with their probabilities."""
    out: dict[Segmentation, float] = {}

    def walk(e: int, cuts: list[int], p: float) -> None:
        if e == 0:
            out[_tokens(text, cuts[::-1])] = out.get(_tokens(text, cuts[::-1]), 0.0) + p
            return
        for s, q in route_probs[e].items():
            if q > 0:
                walk(s, [*cuts, s], p * q)

    walk(len(text), [len(text)], 1.0)
    return out


def viterbi_sample_distribution(
    text: Text,
    vocab: Mapping[Any, float],
    alpha: float,
    method: Literal["reservoir", "ffbs", "old"] = "reservoir",
    order: Order = "long_first",
    max_branches: int = 1_000_000,
) -> dict[Segmentation, float]:
    """Exact output law of ``viterbi_sample``, by propagating its random choices exactly (for tests).

    ``reservoir``: route[e] = s_j with probability a_j Π_{l>j}(1 − a_l), a_j = exp(x_j − Zrun_j);
    ``ffbs``: exp(Zlog[s] + α·score − Zlog[e]); both independent across ends. ``old``: the held
    scores are random, so the joint law of all routes is enumerated (≤ ``max_branches`` branches).
    Exponential in the text length in general; meant for short strings.
    """
    a = _alpha(alpha)
    if a < 0:
        return {tuple(viterbi_decode(text, vocab)[0]): 1.0}
    table = _table(text, vocab, order)
    L = len(text)
    Z = _forward(table, a)
    if not np.isfinite(Z[L]):
        raise _no_segmentation(text)
    if method in ("reservoir", "ffbs"):
        laws: list[dict[int, float]] = [{}]
        for e in range(1, L + 1):
            st, sc = table[e]
            live = np.isfinite(Z[st])
            st, x = st[live], Z[st[live]] + a * sc[live]
            if not st.size:
                laws.append({})
                continue
            if method == "reservoir":
                acc, _ = _reservoir_accept(x)
                later_reject = np.concatenate([np.cumprod((1.0 - acc)[::-1])[::-1][1:], [1.0]])
                r = acc * later_reject
            else:
                r = np.exp(x - Z[e])
            laws.append(dict(zip(st.tolist(), r.tolist(), strict=True)))
        return _paths(laws, text)
    if method != "old":
        raise ValueError(f"method must be 'reservoir', 'ffbs' or 'old', got {method!r}")
    branches: list[tuple[Array, Array, float]] = [
        (np.r_[0.0, np.full(L, -np.inf)], np.zeros(L + 1, dtype=int), 1.0)
    ]
    for e in range(1, L + 1):
        st, sc = table[e]
        live = np.isfinite(Z[st])
        st, sc = st[live], sc[live]
        if not st.size:
            continue
        nxt = []
        for S, route, p in branches:
            x = S[st] + sc
            for j, h in enumerate(_old_rule_final_probs(x, a)):
                if h > 0:
                    S2, r2 = S.copy(), route.copy()
                    S2[e], r2[e] = x[j], st[j]
                    nxt.append((S2, r2, p * float(h)))
        if len(nxt) > max_branches:
            raise ValueError(f"more than {max_branches} branches: text too long for the exact 'old' law")
        branches = nxt
    out: dict[Segmentation, float] = {}
    for _, route, p in branches:
        seg = _tokens(text, _backtrack(route, L))
        out[seg] = out.get(seg, 0.0) + p
    return out


def enumerate_segmentations(
    text: Text, vocab: Mapping[Any, float], max_count: int = 1_000_000
) -> list[tuple[Segmentation, float]]:
    """Brute force: every segmentation of ``text`` into vocabulary tokens, with its score Σ log p."""
    table = _table(text, vocab)
    L = len(text)
    n_log = _forward(table, 0.0)[L]
    if not np.isfinite(n_log):
        raise _no_segmentation(text)
    if n_log > math.log(max_count):
        raise ValueError(f"{text!r} has more than max_count={max_count} segmentations")
    ends_at: list[list[tuple[int, float]]] = [[] for _ in range(L + 1)]  # ends_at[s] = [(e, score)]
    for e in range(1, L + 1):
        for s, v in zip(*table[e], strict=True):
            ends_at[int(s)].append((e, float(v)))
    out: list[tuple[Segmentation, float]] = []

    def walk(s: int, cuts: list[int], score: float) -> None:
        if s == L:
            out.append((_tokens(text, cuts), score))
            return
        for e, v in ends_at[s]:
            walk(e, [*cuts, e], score + v)

    walk(0, [0], 0.0)
    return out


def nbest_segmentations(
    text: Text, vocab: Mapping[Any, float], nbest: int
) -> list[tuple[Segmentation, float]]:
    """The ``nbest`` highest-scoring segmentations (k-best Viterbi), best first."""
    if isinstance(nbest, bool) or not isinstance(nbest, (int, np.integer)) or nbest < 1:
        raise ValueError(f"nbest must be a positive integer, got {nbest!r}")
    table = _table(text, vocab)
    L = len(text)
    score = [np.zeros(1)] + [np.zeros(0)] * L  # per end: scores of its kept partial paths
    prev = [np.zeros(1, dtype=int)] + [np.zeros(0, dtype=int)] * L  # start of the last token
    rank = [np.zeros(1, dtype=int)] + [np.zeros(0, dtype=int)] * L  # rank of the path at that start
    for e in range(1, L + 1):
        st, sc = table[e]
        parts = [
            (score[s] + v, np.full(score[s].size, s), np.arange(score[s].size))
            for s, v in zip(st, sc, strict=True)
        ]
        if not parts:
            continue
        sc_all = np.concatenate([p[0] for p in parts])
        top = np.argsort(-sc_all, kind="stable")[:nbest]
        score[e] = sc_all[top]
        prev[e] = np.concatenate([p[1] for p in parts])[top]
        rank[e] = np.concatenate([p[2] for p in parts])[top]
    if score[L].size == 0:
        raise _no_segmentation(text)
    out = []
    for r in range(score[L].size):
        cuts, e, rr = [L], L, r
        while e > 0:
            e, rr = int(prev[e][rr]), int(rank[e][rr])
            cuts.append(e)
        out.append((_tokens(text, cuts[::-1]), float(score[L][r])))
    return out


def subword_regularization_sample(
    text: Text,
    vocab: Mapping[Any, float],
    alpha: float,
    nbest: int,
    rng: RngLike = None,
    n_samples: int | None = None,
    *,
    size: int | None = None,
) -> list[Text] | list[Segmentation]:
    """Subword regularization (Kudo 2018): sample from the n-best list with p_i ∝ P(w_i)^α (https://kexue.fm/archives/9768).

    ``n_samples=None`` returns one token list, otherwise a list of ``n_samples`` token tuples (``size``
    is its deprecated old name). ``rng``: an int seed, None or a ``Generator``.
    """
    a = _alpha(alpha)
    if a < 0:
        raise ValueError("alpha must be >= 0 for subword regularization")
    n_samples = _n_samples(n_samples, optional=True, size=size)
    n = 1 if n_samples is None else n_samples
    nb = nbest_segmentations(text, vocab, nbest)
    logits = a * np.array([s for _, s in nb])
    p = np.exp(logits - np.logaddexp.reduce(logits))
    rng = _rng(rng)
    idx = np.minimum(np.searchsorted(np.cumsum(p), rng.random(n) * p.sum(), side="right"), len(nb) - 1)
    out = [nb[i][0] for i in idx]
    return list(out[0]) if n_samples is None else out


# --------------------------------------------------------------------------------------------------
# B13. Token healing


def _check_str_vocab(vocab: Any) -> list[str]:
    if not isinstance(vocab, Sequence) or isinstance(vocab, (str, bytes)) or len(vocab) == 0:
        raise ValueError("vocab must be a non-empty sequence of strings")
    if not all(isinstance(t, str) for t in vocab):
        raise ValueError("every vocab entry must be a str")
    return list(vocab)


def prefix_search(vocab_sorted: Sequence[str], s: str) -> list[str]:
    """All tokens of the sorted vocabulary that start with ``s`` (bisect, O(log V + matches)) (https://kexue.fm/archives/9762)."""
    v = _check_str_vocab(vocab_sorted)
    if not isinstance(s, str):
        raise ValueError("s must be a str")
    if any(v[i] > v[i + 1] for i in range(len(v) - 1)):
        raise ValueError("vocab_sorted is not sorted")
    out = []
    for i in range(bisect.bisect_left(v, s), len(v)):
        if not v[i].startswith(s):
            break
        out.append(v[i])
    return out


def longest_match_encode(text: str, vocab: Sequence[str]) -> list[int]:
    """Greedy left-to-right longest-match tokenizer (ids into ``vocab``); raises on uncovered text."""
    v = _check_str_vocab(vocab)
    if not isinstance(text, str):
        raise ValueError("text must be a str")
    ids: dict[str, int] = {}
    for i, t in enumerate(v):
        if t:
            ids.setdefault(t, i)
    m = max((len(t) for t in ids), default=0)
    out, pos = [], 0
    while pos < len(text):
        for ln in range(min(m, len(text) - pos), 0, -1):
            if text[pos : pos + ln] in ids:
                out.append(ids[text[pos : pos + ln]])
                pos += ln
                break
        else:
            raise ValueError(f"no vocab token matches {text[pos:]!r}")
    return out


def token_healing_step(
    prompt: str,
    encode: Callable[[str], Sequence[int]],
    decode: Callable[[Sequence[int]], str],
    vocab: Sequence[str],
    lm_logprobs: Callable[[list[int]], npt.ArrayLike],
    k: int = 1,
    rng: RngLike = None,
    greedy: bool = False,
    n_samples: int | None = None,
    *,
    size: int | None = None,
) -> tuple[list[int], str] | list[tuple[list[int], str]]:
    """Token healing: back off k tokens, sample v ∝ p_LM(v|keep) over tokens consistent with the removed text.

    https://kexue.fm/archives/9762 (same idea as Microsoft guidance's "token healing").

    Allowed at each step: {v : str(v).startswith(rem)} ∪ {v ≠ "" : rem.startswith(str(v))}. A token
    extending ``rem`` ends healing and emits its new characters; a proper prefix of ``rem`` is kept
    and healing continues on the rest (multi-token healing). Renormalisation is in log space; if the
    allowed set has no LM mass the prompt's own tokens are returned with nothing emitted.
    ``k = 0`` is one ordinary decoding step. Returns ``(new_ids, emitted_text)``, or a list of
    ``n_samples`` independent draws (sampled together: one LM call per distinct healing prefix;
    ``size`` is the deprecated old name). ``rng``: an int seed, None or a ``Generator``.
    For a concatenative ``decode``, ``decode(new_ids) == prompt + emitted_text`` always.
    """
    v = _check_str_vocab(vocab)
    V = len(v)
    if not isinstance(prompt, str):
        raise ValueError("prompt must be a str")
    n_samples = _n_samples(n_samples, optional=True, size=size)
    n = 1 if n_samples is None else n_samples
    ids = [int(i) for i in encode(prompt)]
    if any(i < 0 or i >= V for i in ids):
        raise ValueError("encode returned ids outside the vocabulary")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= len(ids):
        raise ValueError(f"k must be an integer in [0, {len(ids)}] (the prompt's token count), got {k!r}")
    keep = ids[: len(ids) - int(k)]
    rem = decode(ids[len(ids) - int(k) :]) if k else ""
    if decode(keep) + rem != prompt:
        raise ValueError("encode/decode do not round-trip the prompt")
    gen = _rng(rng)  # validated even when greedy
    order = sorted(range(V), key=v.__getitem__)
    sorted_tokens = [v[i] for i in order]
    by_text: dict[str, list[int]] = {}
    for i, t in enumerate(v):
        by_text.setdefault(t, []).append(i)

    def heal(keep: list[int], rem: str, m: int) -> list[tuple[list[int], str]]:
        lo = bisect.bisect_left(sorted_tokens, rem)
        hi = lo
        while hi < V and sorted_tokens[hi].startswith(rem):
            hi += 1
        allowed = set(order[lo:hi])
        for ln in range(1, len(rem)):
            allowed.update(by_text.get(rem[:ln], ()))
        cand = np.array(sorted(allowed), dtype=int)
        lp = np.asarray(lm_logprobs(list(keep)), dtype=float)
        if lp.shape != (V,):
            raise ValueError(f"lm_logprobs must return shape ({V},), got {lp.shape}")
        if np.isnan(lp).any() or np.isposinf(lp).any():
            raise ValueError("lm_logprobs returned NaN or +inf")
        sub = lp[cand] if cand.size else np.zeros(0)
        if not np.isfinite(sub).any():
            return [(list(ids), "")] * m  # no LM mass on a consistent token: keep the prompt's tokens
        q = np.exp(sub - np.logaddexp.reduce(sub))
        if greedy:
            pick = np.full(m, int(np.argmax(q)))
        else:
            assert gen is not None
            cq = np.cumsum(q)
            pick = np.searchsorted(cq, gen.random(m) * cq[-1], side="right")
            last_pos = int(np.flatnonzero(q > 0)[-1])
            pick = np.minimum(pick, last_pos)  # rounding at the top edge never lands on zero mass
        out: list[tuple[list[int], str]] = [([], "")] * m
        for j in np.unique(pick):
            sel = np.flatnonzero(pick == j)
            tok = int(cand[j])
            text = v[tok]
            if text.startswith(rem):
                res = [([*keep, tok], text[len(rem) :])] * sel.size
            else:  # a proper prefix of rem: keep it and heal the rest
                res = heal([*keep, tok], rem[len(text) :], sel.size)
            for i, r in zip(sel.tolist(), res, strict=True):
                out[i] = (list(r[0]), r[1])
        return out

    draws = heal(keep, rem, n)
    return draws[0] if n_samples is None else draws

"""B13. Token healing for big-vocabulary continuation: prefix search, longest-match encoding and the
k-token backoff healing step.

Article: https://kexue.fm/archives/9762.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from algorithms._checks import RngLike, _n_samples, _rng

__all__ = [
    "longest_match_encode",
    "prefix_search",
    "token_healing_step",
]


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

"""Private helpers shared by the unigram-tokenization modules (A4): type aliases, vocabulary validation,
the candidate table, the forward log-partition recursion and backtracking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
Text = str | bytes
Order = Literal["long_first", "short_first"]
Segmentation = tuple[Text, ...]


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

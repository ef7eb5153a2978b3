"""A12. The minimum of a + b + c subject to N = ab + c: the O(N^¼) p, q search in exact integers, the
O(√N) scan (closed lower end) and brute force.

Article: https://kexue.fm/archives/9775.
"""

from __future__ import annotations

from math import isqrt
from typing import Any

import numpy as np

__all__ = [
    "min_ab_plus_c",
    "min_ab_plus_c_bruteforce",
    "min_ab_plus_c_sqrt",
]


URL_A12 = "https://kexue.fm/archives/9775"


def _natural(N: Any) -> int:
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)):
        raise ValueError(f"N must be a non-negative integer (int), got {N!r}")
    N = int(N)
    if N < 0:
        raise ValueError(f"N must be a non-negative integer, got {N}")
    return N


def _pq_search(N: int) -> tuple[tuple[int, int, int, int], int]:
    """The article's p, q algorithm, literally (no small-N fix): ((S, a, b, c), loop iterations)."""
    r = isqrt(N)
    if r * r == N:
        return (2 * r, r, r, 0), 0
    p0 = isqrt(4 * N)  # floor(2 sqrt N) < 2 sqrt N since 4N is not a square
    q0 = p0 & 1
    a, b = (p0 - q0) // 2, (p0 + q0) // 2
    best = (a + b + N - a * b, a, b, N - a * b)
    p_hi = p0 + 3 + isqrt(1 + 4 * r + 4)  # integer-safe >= 2 sqrt N + 2 + sqrt(1 + 4 sqrt N)
    iters = 0
    for p in range(p0 + 1, p_hi + 1):
        if p >= best[0]:  # S = p + c >= p: no later p can do better
            break
        iters += 1
        d = p * p - 4 * N  # > 0
        q = isqrt(d)
        q += q * q < d  # ceil(sqrt d)
        q += (q - p) & 1  # same parity as p; q <= p since d < p^2
        a, b = (p - q) // 2, (p + q) // 2
        c = N - a * b
        if p + c < best[0]:
            best = (p + c, a, b, c)
    return best, iters


def min_ab_plus_c(N: int, *, return_iterations: bool = False) -> Any:
    """min a + b + c over naturals a <= b, c with ab + c = N; p = a+b, q = b-a: 4S = 4N + q^2 + 4 - (p-2)^2.

    Scans p in (2 sqrt N, 2 sqrt N + 2 + sqrt(1 + 4 sqrt N)] -- O(N^(1/4)) exact-integer steps -- and
    stops early once p >= best S. N <= 3 returns (N, 0, 0, N) (the p, q scan alone gives N + 1).
    Returns (S, a, b, c), or ((S, a, b, c), iterations). Source: https://kexue.fm/archives/9775
    """
    N = _natural(N)
    if N <= 3:
        res, iters = (N, 0, 0, N), 0
    else:
        res, iters = _pq_search(N)
    return (res, iters) if return_iterations else res


_INT64_SAFE = 2**62


def _scan(N: int, lo: int, hi: int) -> tuple[int, int, int, int]:
    """Best of (0, 0, N) and a in [lo, hi] with b = N // a, c = N % a (vectorised in int64)."""
    best = (N, 0, 0, N)
    if lo > hi:
        return best
    a = np.arange(lo, hi + 1, dtype=np.int64)
    b, c = np.divmod(np.int64(N), a)
    S = a + b + c
    i = int(np.argmin(S))
    if int(S[i]) < best[0]:
        best = (int(S[i]), int(a[i]), int(b[i]), int(c[i]))
    return best


def min_ab_plus_c_sqrt(N: int, *, return_iterations: bool = False) -> Any:
    """O(sqrt N) scan S(a) = a + floor(N/a) + (N mod a) over a in [max(2, floor(sqrt(N/2))), floor(sqrt N)].

    The article's open interval (sqrt(N/2), sqrt N] misses optima with b = 2a (e.g. N = 18); the closed
    lower end fixes it (spec A12 ⚠). Also compares with (0, 0, N). N < 2^62.
    Source: https://kexue.fm/archives/9775
    """
    N = _natural(N)
    if N >= _INT64_SAFE:
        raise ValueError(f"N = {N} is too large for the O(sqrt N) scan; use min_ab_plus_c")
    lo, hi = max(2, isqrt(N // 2)), isqrt(N)
    res = _scan(N, lo, hi)
    return (res, max(0, hi - lo + 1)) if return_iterations else res


def min_ab_plus_c_bruteforce(N: int) -> tuple[int, int, int, int]:
    """Reference: best of a = b = 0 (S = N) and a = 2..floor(sqrt N) with b = floor(N/a), c = N - ab.

    Vectorised; N < 2^62. Source: https://kexue.fm/archives/9775
    """
    N = _natural(N)
    if N >= _INT64_SAFE:
        raise ValueError(f"N = {N} is too large for brute force")
    return _scan(N, 2, isqrt(N))

"""Benchmark: min a + b + c subject to N = ab + c (spec A12), O(N^(1/4)) vs O(sqrt N).

For N = 10^2, 10^4, ..., 10^12 prints the time per call of ``min_ab_plus_c`` at N itself (a perfect
square: no loop at all), then over 200 random N in [N, 2N): the mean time per call (best of several
passes, as timeit), the mean and max number of p-loop iterations beside the bound
3 + sqrt(1 + 4 sqrt(2N)) and N^(1/4); and, as baselines, the vectorised O(sqrt N) scan
``min_ab_plus_c_sqrt`` (with its length) and a pure-Python brute-force loop (fewer samples for large N).
Run: .venv/bin/python bench/bench_min_ab_plus_c.py
"""

from __future__ import annotations

import time
from math import isqrt, sqrt

import numpy as np

from algorithms.scaling import min_ab_plus_c, min_ab_plus_c_sqrt


def python_bruteforce(N: int) -> int:
    """Plain loop over a = 2..floor(sqrt N) with b = N // a (plus a = b = 0)."""
    best = N
    for a in range(2, isqrt(N) + 1):
        b, c = divmod(N, a)
        best = min(best, a + b + c)
    return best


def per_call(fn, args, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    """Best (min) over ``repeats`` passes of the mean time per call over ``args`` (as timeit does)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for x in args:
            fn(x)
        times.append((time.perf_counter() - t0) / len(args))
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    print(
        f"{'N':>6} {'t(N=10^k)':>10} {'t pq':>9} {'it mean':>8} {'it max':>7} {'bound':>7} {'N^1/4':>7}"
        f" {'t sqrt-scan':>12} {'scan len':>9} {'t py-brute':>11}  agree"
    )
    for k in range(2, 13, 2):
        N0 = 10**k
        t_sq = per_call(min_ab_plus_c, [N0] * 1000)
        Ns = [int(v) for v in rng.integers(N0, 2 * N0, 200)]
        t_pq = per_call(min_ab_plus_c, Ns, repeats=9)
        its = [min_ab_plus_c(N, return_iterations=True)[1] for N in Ns]
        n_scan = Ns if k <= 8 else Ns[: 200 // (k - 6)]
        t_scan = per_call(min_ab_plus_c_sqrt, n_scan, repeats=3)
        scan_len = np.mean([min_ab_plus_c_sqrt(N, return_iterations=True)[1] for N in n_scan])
        n_brute = Ns[:50] if k <= 8 else Ns[:2] if k <= 10 else Ns[:1]
        t_brute = per_call(python_bruteforce, n_brute, repeats=1 if k >= 10 else 3)
        agree = all(min_ab_plus_c(N)[0] == min_ab_plus_c_sqrt(N)[0] for N in n_scan) and all(
            min_ab_plus_c(N)[0] == python_bruteforce(N) for N in n_brute
        )
        bound = 3 + sqrt(1 + 4 * sqrt(2 * N0))
        print(
            f"  1e{k:<2} {t_sq * 1e6:>8.2f}us {t_pq * 1e6:>7.1f}us {np.mean(its):>8.1f} {max(its):>7}"
            f" {bound:>7.0f} {N0**0.25:>7.0f} {t_scan * 1e3:>10.3f}ms {scan_len:>9.0f}"
            f" {t_brute * 1e3:>9.2f}ms  {agree}"
        )
    big = 10**30 + 12345
    t0 = time.perf_counter()
    (S, a, b, c), it = min_ab_plus_c(big, return_iterations=True)
    dt = time.perf_counter() - t0
    ok = a * b + c == big
    print(f"N = 10^30 + 12345: S = {S}, {it} iterations, {dt * 1e3:.2f}ms (exact; ab + c == N: {ok})")


if __name__ == "__main__":
    main()

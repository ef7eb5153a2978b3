"""Benchmark: LRU linear recurrence, parallel scans vs the sequential loop (spec B3).

x_t = λ ⊙ x_{t−1} + u_t with ring-initialised complex λ (|λ| ∈ [0.9, 0.999]), d = 256 channels,
complex Gaussian u. Prints the median wall time of a few repeats and the max error against the
sequential loop. Run: .venv/bin/python bench/bench_lru.py
"""

from __future__ import annotations

import os

# Single-threaded BLAS: stable timings on a shared 2-core machine (threaded gemm thrashes under load).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from algorithms.recurrences import linear_scan, lru_init  # noqa: E402

D = 256
CASES = ((4096, 5), (65536, 3))  # (T, repeats)
METHODS = ("sequential", "upper_lower", "assoc")


def median_time(fn, repeats: int) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out  # type: ignore[return-value]


def main() -> None:
    rng = np.random.default_rng(0)
    nu_log, theta_log, _ = lru_init(D, rng=rng)
    lam = np.exp(-np.exp(nu_log) + 1j * np.exp(theta_log))
    threads = os.environ["OPENBLAS_NUM_THREADS"]
    print(f"LRU linear scan, d = {D}, complex128, numpy {np.__version__}, BLAS threads {threads}")
    print(f"{'T':>7} {'method':>12} {'median s':>10} {'vs seq':>8} {'max |err|':>11} {'max rel err':>12}")
    for T, repeats in CASES:
        u = (rng.standard_normal((T, D)) + 1j * rng.standard_normal((T, D))) / np.sqrt(2)
        results = {}
        for method in METHODS:
            results[method] = median_time(lambda m=method, u=u: linear_scan(lam, u, m), repeats)
        t_seq, ref = results["sequential"]
        scale = np.max(np.abs(ref))
        for method in METHODS:
            t, x = results[method]
            err = float(np.max(np.abs(x - ref)))
            print(f"{T:>7} {method:>12} {t:>10.4f} {t / t_seq:>7.2f}x {err:>11.2e} {err / scale:>12.2e}")
    print("(a NumPy scan does O(T log T) work on one CPU; its value is O(log T) depth on parallel hardware)")


if __name__ == "__main__":
    main()

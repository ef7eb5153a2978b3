"""Benchmark: nonlinear RNN x_t = tanh(A x_{t−1} + u_t) by iterated parallel linear scans (spec B4).

Newton vs Jacobi (and the diag-Jacobian variant): iterations until max|X⁽ⁿ⁾ − X_seq| < 1e-10 and the
wall time of those iterations, against the sequential loop. A has ‖A‖₂ = 0.9, u ~ N(0, 1).
Run: .venv/bin/python bench/bench_nonlinear_rnn.py
"""

from __future__ import annotations

import os

# Single-threaded BLAS: stable timings on a shared 2-core machine (threaded gemm thrashes under load).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from algorithms.recurrences import nonlinear_rnn_sequential, parallel_nonlinear_rnn  # noqa: E402

TARGET = 1e-10
CASES = ((8, 256), (16, 1024), (16, 4096))  # (d, T)
MODES = ("newton", "diag_jacobian", "jacobi")
REPEATS = 3


def timed(fn):  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    threads = os.environ["OPENBLAS_NUM_THREADS"]
    print(f"nonlinear RNN, ‖A‖₂ = 0.9, target max error {TARGET:g}, median of {REPEATS} runs")
    print(f"numpy {np.__version__}, BLAS threads {threads}")
    print(f"{'d':>3} {'T':>5} {'method':>14} {'iters':>6} {'seconds':>9} {'vs seq':>8} {'max |err|':>10}")
    for d, T in CASES:
        rng = np.random.default_rng(0)
        A = rng.standard_normal((d, d))
        A *= 0.9 / np.linalg.norm(A, 2)
        u = rng.standard_normal((T, d))
        t_seq, ref = timed(lambda A=A, u=u: nonlinear_rnn_sequential(A, u))
        print(f"{d:>3} {T:>5} {'sequential':>14} {'-':>6} {t_seq:>9.4f} {1:>7.2f}x {0:>10.1e}")
        for mode in MODES:
            # 1) count iterations to the target (the callback compares with the reference)
            counted = parallel_nonlinear_rnn(
                A, u, mode=mode, callback=lambda n, X, ref=ref: bool(np.max(np.abs(X - ref)) < TARGET)
            )
            n = counted.n_iter
            # 2) time exactly that many iterations, without the reference check
            t, res = timed(lambda A=A, u=u, mode=mode, n=n: parallel_nonlinear_rnn(A, u, mode=mode, n_iter=n))
            err = float(np.max(np.abs(res.x - ref)))
            print(f"{d:>3} {T:>5} {mode:>14} {n:>6} {t:>9.4f} {t / t_seq:>7.2f}x {err:>10.1e}")
    print(
        "(each iteration is one O(log T)-depth matrix scan; on one CPU NumPy pays its O(T log T · d³) work)"
    )


if __name__ == "__main__":
    main()

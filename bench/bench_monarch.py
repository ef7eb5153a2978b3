"""Benchmark: Monarch matrix-vector product vs dense, and the optimal projection (spec B7).

For n = 1,024 and 4,096 (b = sqrt n) prints the median time of a dense mat-vec A @ x, of
``Monarch.matvec`` (blocks validated once) and of ``monarch_matvec`` (validates the blocks on every
call), the speed-up, and the max error against the dense product. Then the Frobenius error of
``monarch_project`` on a random dense matrix (n = 256, 1,024) against random and perturbed Monarch
matrices.
Run: .venv/bin/python bench/bench_monarch.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from algorithms.matrices import Monarch, monarch_dense, monarch_matvec, monarch_project


def median_time(fn: Callable[[], object], repeats: int, inner: int) -> float:
    """Median over ``repeats`` of the mean time of ``inner`` back-to-back calls."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def bench_matvec() -> None:
    print("Mat-vec, float64, single vector x (n,); median of 15 repeats")
    print(f"{'n':>6} {'params':>9} {'dense':>10} {'Monarch':>10} {'func':>10} {'speed-up':>9} {'max err':>9}")
    for n, inner in ((1024, 200), (4096, 20)):
        rng = np.random.default_rng(0)
        mon = Monarch.random(n, rng=rng)
        A = mon.dense()
        x = rng.standard_normal(n)
        t_dense = median_time(lambda A=A, x=x: A @ x, 15, inner)
        t_mon = median_time(lambda mon=mon, x=x: mon @ x, 15, inner)
        t_fun = median_time(lambda mon=mon, x=x: monarch_matvec(mon.Lb, mon.Rb, x), 15, inner)
        err = np.abs(mon @ x - A @ x).max() / np.abs(A @ x).max()
        print(
            f"{n:>6} {mon.num_params:>9,} {t_dense * 1e3:>8.3f}ms {t_mon * 1e3:>8.3f}ms {t_fun * 1e3:>8.3f}ms"
            f" {t_dense / t_mon:>8.1f}x {err:>9.1e}"
        )


def bench_projection() -> None:
    print()
    print("Projection of a random dense N(0,1) matrix: relative squared error |A - M|_F^2 / |A|_F^2")
    # n = 4096 is left out: 4,096 batched 64×64 SVDs with vectors take seconds single-threaded, but
    # minutes with multi-threaded OpenBLAS on a busy 2-core machine (thread oversubscription)
    for n in (256, 1024):
        rng = np.random.default_rng(1)
        A = rng.standard_normal((n, n))
        t0 = time.perf_counter()
        Lb, Rb, err = monarch_project(A)
        t_proj = time.perf_counter() - t0
        total = float(np.sum(A * A))
        M = monarch_dense(Lb, Rb)
        direct = float(np.sum((A - M) ** 2))
        # best scalar multiple of random Monarch matrices, and perturbations of the optimum
        rand = []
        for _ in range(5):
            R = Monarch.random(n, rng=rng).dense()
            t = np.sum(A * R) / np.sum(R * R)
            rand.append(float(np.sum((A - t * R) ** 2)))
        pert = []
        for _ in range(5):
            dL, dR = 0.05 * rng.standard_normal(Lb.shape), 0.05 * rng.standard_normal(Rb.shape)
            P = monarch_dense(Lb + dL, Rb + dR)
            pert.append(float(np.sum((A - P) ** 2)))
        print(
            f"  n={n}: projection {t_proj:.2f}s, optimal {err / total:.6f} (direct {direct / total:.6f}),"
            f" best-scaled random Monarch min {min(rand) / total:.6f},"
            f" perturbed optimum (sigma=0.05) min {min(pert) / total:.6f}"
        )
    # a planted Monarch matrix plus noise is recovered up to the noise
    n = 1024
    rng = np.random.default_rng(2)
    mon = Monarch.random(n, rng=rng)
    noise = 1e-3 * rng.standard_normal((n, n))
    Lb, Rb, err = monarch_project(mon.dense() + noise)
    rec = np.linalg.norm(monarch_dense(Lb, Rb) - mon.dense()) / np.linalg.norm(mon.dense())
    print(f"  planted Monarch + 1e-3 noise, n={n}: relative recovery error {rec:.2e}")


if __name__ == "__main__":
    bench_matvec()
    bench_projection()

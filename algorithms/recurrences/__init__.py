"""Recurrences: the LRU with its parallel linear scans, and nonlinear RNNs parallelised by iteration.

One module per section of the library's specification, with the articles it implements:

* ``lru``            B3 LRU, Linear Recurrent Unit (https://kexue.fm/archives/9554; arXiv 2303.06349);
* ``nonlinear_rnn``  B4 parallelising a nonlinear RNN by iterating linear RNNs, Jacobi vs Newton
  (https://kexue.fm/archives/9783; arXiv 2309.12252).

A parallel scan loops over its log2(T) levels in Python; every level is one vectorised NumPy step.
Invalid input raises ``ValueError``.
"""

from algorithms.recurrences.lru import (
    LRU,
    linear_scan,
    lru_init,
)
from algorithms.recurrences.nonlinear_rnn import (
    ParallelRNNResult,
    linear_scan_affine,
    nonlinear_rnn_sequential,
    parallel_nonlinear_rnn,
)

__all__ = [
    "LRU",
    "ParallelRNNResult",
    "linear_scan",
    "linear_scan_affine",
    "lru_init",
    "nonlinear_rnn_sequential",
    "parallel_nonlinear_rnn",
]

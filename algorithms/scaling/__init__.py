"""Scaling laws and counting problems: quanta scaling laws, the n > 8.33 log N formula, min a+b+c.

One module per section of the library's specification, with the articles it implements:

* ``quanta``             A3  scaling laws from the quantization hypothesis (https://kexue.fm/archives/9607);
* ``dimension_formula``  A6  the dimension formula n > 8.33 log N (https://kexue.fm/archives/8711);
* ``ab_plus_c``          A12 the minimum of a + b + c subject to N = ab + c (https://kexue.fm/archives/9775).

NumPy/SciPy only; float64 results; ``min_ab_plus_c`` uses exact
Python-int arithmetic (``math.isqrt``) for arbitrarily large N.
"""

from algorithms.scaling.ab_plus_c import (
    min_ab_plus_c,
    min_ab_plus_c_bruteforce,
    min_ab_plus_c_sqrt,
)
from algorithms.scaling.dimension_formula import (
    entropy_h_n,
    laplace_constants,
    min_embedding_dim,
    skipgram_entropy_estimate,
)
from algorithms.scaling.quanta import (
    quanta_learned_from_data,
    quanta_loss,
    quanta_scaling_exponents,
    zipf_quanta_probs,
)

__all__ = [
    "entropy_h_n",
    "laplace_constants",
    "min_ab_plus_c",
    "min_ab_plus_c_bruteforce",
    "min_ab_plus_c_sqrt",
    "min_embedding_dim",
    "quanta_learned_from_data",
    "quanta_loss",
    "quanta_scaling_exponents",
    "skipgram_entropy_estimate",
    "zipf_quanta_probs",
]

"""Probability: NBCE, CAN, entropy normalisation, noise-argmax distributions, smooth Top-k, Fourier densities.

One module per section of the library's specification, with the articles it implements:

* ``nbce``                      A2  NBCE, naive-Bayes context extension
  (https://kexue.fm/archives/9617, /9632);
* ``can``                       A7  CAN, classification with alternating normalisation
  (https://kexue.fm/archives/8728);
* ``entropy_normalization``     A8  entropy normalisation by a power transform (https://kexue.fm/archives/8829);
* ``reparameterized_discrete``  A10 discrete distributions from reparameterisation
  (https://kexue.fm/archives/9085);
* ``soft_topk``                 A11 smooth approximations of Top-k (https://kexue.fm/archives/10373);
* ``fourier_density``           B5  the Fourier basis density model (https://kexue.fm/archives/10007).

Conventions: float64; the category axis is the last one and leading axes are batch axes unless a
function says otherwise; ``log`` is natural. Invalid input raises ``ValueError``.
"""

from algorithms.probability.can import (
    can_correct_one,
    can_postprocess,
    estimate_prior,
    topk_uncertainty,
)
from algorithms.probability.entropy_normalization import (
    entropy_normalize,
    power_entropy,
    power_entropy_slope,
)
from algorithms.probability.fourier_density import (
    FourierBasisDensity,
)
from algorithms.probability.nbce import (
    nbce_combine_logits,
    top_p_truncate,
)
from algorithms.probability.reparameterized_discrete import (
    noise_argmax_probs,
    noise_argmax_probs_mc,
)
from algorithms.probability.soft_topk import (
    hard_topk,
    soft_topk_grad,
    soft_topk_iterative,
    soft_topk_sigmoid_jacobian,
    soft_topk_threshold,
    soft_topk_weighted_softmax,
)

__all__ = [
    "FourierBasisDensity",
    "can_correct_one",
    "can_postprocess",
    "entropy_normalize",
    "estimate_prior",
    "hard_topk",
    "nbce_combine_logits",
    "noise_argmax_probs",
    "noise_argmax_probs_mc",
    "power_entropy",
    "power_entropy_slope",
    "soft_topk_grad",
    "soft_topk_iterative",
    "soft_topk_sigmoid_jacobian",
    "soft_topk_threshold",
    "soft_topk_weighted_softmax",
    "top_p_truncate",
    "topk_uncertainty",
]

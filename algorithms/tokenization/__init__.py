"""Tokenization: unigram Viterbi decoding and (perfect) Viterbi sampling; token healing.

Modules, by section of the library's specification, with the articles they implement:

* ``segmentation``      A4  unigram Viterbi decoding, partition function, enumeration, n-best
  (https://kexue.fm/archives/9768, https://kexue.fm/archives/9811);
* ``viterbi_sampling``  A4  random tokenization: Viterbi sampling, perfect sampling, subword regularization
  (https://kexue.fm/archives/9768, https://kexue.fm/archives/9811);
* ``token_healing``     B13 the big-vocabulary continuation problem and token healing
  (https://kexue.fm/archives/9762).

A unigram vocabulary is a ``dict`` mapping a token (``str`` or ``bytes``, same type as the text) to
its log-probability score; a segmentation w of a text has score s(w) = Σ score(w_i). Positions are
0-based character (byte) offsets; a candidate is a token ``text[start:end]`` present in the vocabulary.
Invalid input raises ``ValueError``.
"""

from algorithms.tokenization.segmentation import (
    candidates,
    enumerate_segmentations,
    nbest_segmentations,
    segmentation_log_partition,
    viterbi_decode,
)
from algorithms.tokenization.token_healing import (
    longest_match_encode,
    prefix_search,
    token_healing_step,
)
from algorithms.tokenization.viterbi_sampling import (
    subword_regularization_sample,
    viterbi_sample,
    viterbi_sample_distribution,
)

__all__ = [
    "candidates",
    "enumerate_segmentations",
    "longest_match_encode",
    "nbest_segmentations",
    "prefix_search",
    "segmentation_log_partition",
    "subword_regularization_sample",
    "token_healing_step",
    "viterbi_decode",
    "viterbi_sample",
    "viterbi_sample_distribution",
]

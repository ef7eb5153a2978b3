"""Attention: entropy-invariant scaling, attention as an RNN, ReRoPE/HWFA and the completeness of RoPE.

One module per section of the library's specification, with the articles it implements:

* ``entropy_invariant``  A1  entropy-invariant attention scale (https://kexue.fm/archives/8823, /9034, /9588);
* ``attention_rnn``      B6  causal attention as a quadratic-time RNN with O(1) state
  (https://kexue.fm/archives/10017);
* ``rerope``             B11 ReRoPE, Leaky ReRoPE and HWFA (https://kexue.fm/archives/9731, /9708, /9603);
* ``rope_completeness``  B12 completeness of RoPE (https://kexue.fm/archives/9403).

Conventions: results are float64 whatever the input dtype; positions are 0-based; the causal part of a
logit matrix is ``j <= i`` and masked entries are ``-inf``. Invalid input raises ``ValueError``.
"""

from algorithms.attention.attention_rnn import (
    attention_rnn_state_size,
    causal_attention_rnn,
    causal_attention_stack,
    multilayer_recompute,
    recompute_score_count,
)
from algorithms.attention.entropy_invariant import (
    attention_entropy,
    entropy_invariant_attention,
    entropy_invariant_scale,
)
from algorithms.attention.rerope import (
    HWFA,
    hwfa_layer_types,
    hwfa_receptive_field,
    relative_position,
    relative_position_matrix,
    rerope_attention,
    rerope_decode_logits,
    rerope_logits,
    rope_rotate,
    rope_thetas,
    window_mask,
)
from algorithms.attention.rope_completeness import (
    check_relative_property,
    rope_general,
    rope_matrix,
    rope_multidim,
    skew_to_block_diag,
)

__all__ = [
    "HWFA",
    "attention_entropy",
    "attention_rnn_state_size",
    "causal_attention_rnn",
    "causal_attention_stack",
    "check_relative_property",
    "entropy_invariant_attention",
    "entropy_invariant_scale",
    "hwfa_layer_types",
    "hwfa_receptive_field",
    "multilayer_recompute",
    "recompute_score_count",
    "relative_position",
    "relative_position_matrix",
    "rerope_attention",
    "rerope_decode_logits",
    "rerope_logits",
    "rope_general",
    "rope_matrix",
    "rope_multidim",
    "rope_rotate",
    "rope_thetas",
    "skew_to_block_diag",
    "window_mask",
]

"""Matrix algorithms: blockwise cosine, main/auxiliary gradients, Monarch, SVD/pseudo-inverse, LoRA.

One module per section of the library's specification, with the articles it implements:

* ``local_global_cosine``  A5   local vs global cosine similarity (https://kexue.fm/archives/9931);
* ``auxiliary_gradients``  A9   main/auxiliary multi-task gradients (https://kexue.fm/archives/8907);
* ``monarch``              B7   Monarch matrices (https://kexue.fm/archives/10249);
* ``pseudo_inverse``       B8   SVD low-rank approximation and the pseudo-inverse
  (https://kexue.fm/archives/10407, /10366);
* ``lora``                 B14a LoRA from the gradient point of view (https://kexue.fm/archives/9590).

NumPy (and ``scipy.optimize.nnls``) only; float64 throughout. Every function validates its inputs and
raises ``ValueError`` on wrong shapes, NaN/inf or out-of-range integers.
"""

from algorithms.matrices.auxiliary_gradients import (
    l2_reg_gradient,
    primary_auxiliary_direction,
)
from algorithms.matrices.local_global_cosine import (
    blockwise_cosine,
    cosine,
    global_cosine_from_blocks,
    pearson_as_cosine,
    simpson_example,
)
from algorithms.matrices.lora import (
    LoRAOptimizerView,
    additive_lora_delta,
    additive_lora_grads,
    lora_forward,
    lora_grads,
    lora_sgd_increment,
    random_projection_update,
)
from algorithms.matrices.monarch import (
    Monarch,
    monarch_dense,
    monarch_matvec,
    monarch_permutation,
    monarch_project,
    monarch_solve,
)
from algorithms.matrices.pseudo_inverse import (
    best_rank_r,
    pinv,
    pinv_ridge,
    solve_left_factor,
    solve_right_factor,
    svd_via_eig,
)

__all__ = [
    "LoRAOptimizerView",
    "Monarch",
    "additive_lora_delta",
    "additive_lora_grads",
    "best_rank_r",
    "blockwise_cosine",
    "cosine",
    "global_cosine_from_blocks",
    "l2_reg_gradient",
    "lora_forward",
    "lora_grads",
    "lora_sgd_increment",
    "monarch_dense",
    "monarch_matvec",
    "monarch_permutation",
    "monarch_project",
    "monarch_solve",
    "pearson_as_cosine",
    "pinv",
    "pinv_ridge",
    "primary_auxiliary_direction",
    "random_projection_update",
    "simpson_example",
    "solve_left_factor",
    "solve_right_factor",
    "svd_via_eig",
]

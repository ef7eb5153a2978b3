"""Diffusion-model algorithms from Scientific Spaces (kexue.fm), in NumPy.

One module per section of the library's specification, with the articles it implements:

* ``score_matching``     B1   score matching vs conditional score matching (https://kexue.fm/archives/9509);
* ``unified_diffusion``  B2   Unified Diffusion Model, hot and cold diffusion (https://kexue.fm/archives/9271);
* ``token_diffusion``    B2   Unified Diffusion Model, mask and edit models for tokens
  (https://kexue.fm/archives/9271);
* ``skip_tuning``        B9   Skip Tuning for UNet sampling (https://kexue.fm/archives/10077);
* ``self_consuming``     B10  self-consuming generative models ("MAD") (https://kexue.fm/archives/9687);
* ``w2_bound``           B14b Wasserstein distance <= score matching (https://kexue.fm/archives/9467).

Conventions: float64 arrays, samples on the first axis; ``rng`` is an int seed, None or a
``numpy.random.Generator`` (see ``algorithms/README.md``).
Every public function validates its inputs and raises ``ValueError`` on bad shapes, NaN/inf or
out-of-range parameters.
"""

from algorithms.diffusion.score_matching import (
    conditional_score_gaussian,
    csm_loss,
    discrete_marginal_score,
    ratio_score_estimate,
    sm_loss,
)
from algorithms.diffusion.self_consuming import (
    SelfConsumingRun,
    self_consuming_gaussian,
    self_consuming_log_var_drift,
)
from algorithms.diffusion.skip_tuning import (
    SKIP_TUNING_REPORTED,
    ToyUNet,
    apply_skip_tuning,
    skip_coefficients,
)
from algorithms.diffusion.token_diffusion import (
    edit_forward,
    edit_posterior_sampler_from_table,
    edit_sample,
    mask_forward,
    mask_posterior_from_table,
    mask_sample,
)
from algorithms.diffusion.unified_diffusion import (
    cold_sample,
    ddpm_sigmas,
    hot_forward,
    hot_predict_x0,
    hot_reverse_step,
    hot_sample,
    udm_sigma_tilde_step,
)
from algorithms.diffusion.w2_bound import (
    one_sided_lipschitz,
    w2_empirical_1d,
    w2_gaussian_1d,
    w2_ode_bound,
    w2_score_bound,
)

__all__ = [
    "SKIP_TUNING_REPORTED",
    "SelfConsumingRun",
    "ToyUNet",
    "apply_skip_tuning",
    "cold_sample",
    "conditional_score_gaussian",
    "csm_loss",
    "ddpm_sigmas",
    "discrete_marginal_score",
    "edit_forward",
    "edit_posterior_sampler_from_table",
    "edit_sample",
    "hot_forward",
    "hot_predict_x0",
    "hot_reverse_step",
    "hot_sample",
    "mask_forward",
    "mask_posterior_from_table",
    "mask_sample",
    "one_sided_lipschitz",
    "ratio_score_estimate",
    "self_consuming_gaussian",
    "self_consuming_log_var_drift",
    "skip_coefficients",
    "sm_loss",
    "udm_sigma_tilde_step",
    "w2_empirical_1d",
    "w2_gaussian_1d",
    "w2_ode_bound",
    "w2_score_bound",
]

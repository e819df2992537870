"""Loss-net training objectives: energies in, per-sample losses out, reducers reduce.

The reducers (``reduction=`` / ``reducer=``: a name or a
:class:`~sealloss.metrics.reduction.Reducer`) are :mod:`sealloss.metrics.reduction`'s, shared
with the metrics.

The objectives are pure functions: ranking objectives take ground-truth energies ``e_pos (B,)``
and negative energies ``e_neg (B, K)``; gradient-matching objectives (:mod:`.score`) take energy
gradients and displacements. :func:`lossnet_loss` (:mod:`.step`) is the one place that runs a
loss-net on a batch and combines the terms; pretraining and the wrapper both call it.
"""

from .margin import COST_KINDS, MarginObjective, margin_loss, task_cost
from .nce import NCEObjective, nce_loss
from .regularisers import energy_magnitude, gradient_penalty
from .score import (
    DEFAULT_SIGMA_M,
    displacement_scale,
    dsm_perturb,
    energy_and_gradient,
    gradient_matching_loss,
    sample_sigma,
    score_matching_loss,
)
from .step import OBJECTIVES, LossNetObjective, StepOutput, lossnet_loss, make_objective

__all__ = [
    "COST_KINDS",
    "task_cost",
    "margin_loss",
    "MarginObjective",
    "nce_loss",
    "NCEObjective",
    "energy_magnitude",
    "gradient_penalty",
    "DEFAULT_SIGMA_M",
    "sample_sigma",
    "dsm_perturb",
    "displacement_scale",
    "score_matching_loss",
    "gradient_matching_loss",
    "energy_and_gradient",
    "OBJECTIVES",
    "LossNetObjective",
    "StepOutput",
    "make_objective",
    "lossnet_loss",
]

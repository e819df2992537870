"""Loss-net training objectives: energies in, per-sample losses out, reducers reduce.

Objectives never see the loss-net: they take ground-truth energies ``e_pos (B,)`` and negative
energies ``e_neg (B, K)``.
"""

from .margin import COST_KINDS, MarginObjective, margin_loss, task_cost
from .nce import NCEObjective, nce_loss
from .reducers import (
    AvgNonZeroReducer,
    MeanReducer,
    NoReducer,
    Reducer,
    SumReducer,
    ThresholdReducer,
    reduce_loss,
)
from .regularisers import energy_magnitude, gradient_penalty

__all__ = [
    "COST_KINDS",
    "task_cost",
    "margin_loss",
    "MarginObjective",
    "nce_loss",
    "NCEObjective",
    "energy_magnitude",
    "gradient_penalty",
    "Reducer",
    "MeanReducer",
    "SumReducer",
    "NoReducer",
    "ThresholdReducer",
    "AvgNonZeroReducer",
    "reduce_loss",
]

"""Pose metrics: pure functions (:mod:`.functional`), a streaming evaluator (:mod:`.evaluator`)
and temporal metrics of clips (:mod:`.temporal`: bone-length spread, MPJVE, acceleration error);
explicit structural losses built on them (:mod:`.structural`); the reducers every
``reduction=`` of metrics and objectives resolves to (:mod:`.reduction`).

Lengths come out in the inputs' units from the functions and in mm from the evaluator.
"""

from __future__ import annotations

from .eval_result import EvalResult
from .evaluator import PoseEvaluator, evaluate
from .functional import (
    auc,
    bone_subset,
    bsle,
    bsle_ratio,
    bsle_ratio_stats,
    joint_errors,
    lse,
    lse_ratio,
    lse_ratio_stats,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    pck,
    procrustes_align,
    ratio_stats,
)
from .temporal import (
    ClipIndex,
    acceleration_error,
    bone_length_spread,
    clip_index,
    clips_from_arrays,
    evaluate_temporal,
    join_results,
    mpjve,
)

__all__ = [
    "EvalResult",
    "PoseEvaluator",
    "evaluate",
    "auc",
    "bone_subset",
    "bsle",
    "bsle_ratio",
    "bsle_ratio_stats",
    "joint_errors",
    "lse",
    "lse_ratio",
    "lse_ratio_stats",
    "mpjpe",
    "n_mpjpe",
    "p_mpjpe",
    "pck",
    "procrustes_align",
    "ratio_stats",
    "ClipIndex",
    "acceleration_error",
    "bone_length_spread",
    "clip_index",
    "clips_from_arrays",
    "evaluate_temporal",
    "join_results",
    "mpjve",
]

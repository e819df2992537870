"""Pose metrics as pure functions on ``(..., J, 3)`` tensors.

Every function returns **per-sample** values (one per leading index ``...``) reduced by
``reduction``: ``"none"`` keeps the ``(...)`` shape, ``"mean"`` / ``"sum"`` give a scalar.
Lengths are in the units of the inputs (canonical poses are metres); ratios and PCK/AUC are
fractions in ``[0, 1]`` (the evaluator reports them in %).

Definitions (all per sample, then reduced):

- MPJPE: mean over joints of ``|pred_j - gt_j|``; no alignment (pass root-relative poses).
- P-MPJPE: MPJPE after the similarity (rotation, translation, scale) Procrustes alignment of
  ``pred`` onto ``gt`` (Umeyama; reflections are excluded).
- N-MPJPE: MPJPE after root alignment and the least-squares scale ``s`` of ``pred``.
- LSE: mean over symmetric bone pairs of ``| |b_left| - |b_right| |`` (of one pose).
- BSLE: mean over bones of ``| |b_pred| - |b_gt| |``.
- LSE ratio: mean over pairs of ``| |b_l| - |b_r| | / (|b_l| + |b_r|)``; BSLE ratio: mean over
  bones of ``| |b_pred| - |b_gt| | / |b_gt|`` (the forms of the authors' early public code).
- PCK: share of joints with error strictly below ``threshold``; AUC: mean PCK over
  ``steps`` evenly spaced thresholds from 0 to ``max_threshold`` (MPI-INF-3DHP: 0..150 mm, 31).

LSE/BSLE (and ratios) take ``joints=``: only bones whose both end joints are in that subset
count (e.g. HumanEva's 15 joints mapped onto H36M-17: spine and neck bones drop out, all six
symmetric pairs stay).

The functions live in :mod:`.position` (MPJPE family, Procrustes, PCK, AUC) and
:mod:`.structure` (LSE, BSLE and ratio forms), with shared checks in :mod:`._checks`; this
module re-exports all of them.

Example:
    >>> import torch
    >>> gt = torch.zeros(2, 3, 3)
    >>> pred = gt.clone(); pred[0, :, 0] = 1.0
    >>> mpjpe(pred, gt, reduction="none")
    tensor([1., 0.])
"""


from ._checks import (  # noqa: F401  (re-exported: private names kept importable here)
    _MIN_BONE_FRACTION,
    _REDUCTIONS,
    _TINY,
    Reduction,
    _check_finite_on,
    _check_one,
    _check_reduction,
    _check_two,
    _joint_list,
    reduce,
)
from .position import auc, joint_errors, mpjpe, n_mpjpe, p_mpjpe, pck, procrustes_align
from .structure import (  # noqa: F401
    _lengths,
    _pair_lengths,
    _per_item,
    _require_items,
    bone_subset,
    bsle,
    bsle_ratio,
    bsle_ratio_stats,
    degenerate_bones,
    lse,
    lse_ratio,
    lse_ratio_stats,
    ratio_stats,
)

__all__ = [
    "Reduction",
    "reduce",
    "joint_errors",
    "mpjpe",
    "procrustes_align",
    "p_mpjpe",
    "n_mpjpe",
    "bone_subset",
    "lse",
    "bsle",
    "lse_ratio",
    "bsle_ratio",
    "ratio_stats",
    "degenerate_bones",
    "lse_ratio_stats",
    "bsle_ratio_stats",
    "pck",
    "auc",
]

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

Reductions are :mod:`sealloss.metrics.reduction`'s (the metric of no sample is NaN); input
checks are :mod:`sealloss.pose.checks`'s. One concept, hence one module past 400 lines: the
per-sample pose metrics (position errors, then bone-structure errors).

Example:
    >>> import torch
    >>> gt = torch.zeros(2, 3, 3)
    >>> pred = gt.clone(); pred[0, :, 0] = 1.0
    >>> mpjpe(pred, gt, reduction="none")
    tensor([1., 0.])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from ..errors import DegeneratePoseError, PoseShapeError, SkeletonMismatchError
from ..pose.canonical import root_relative
from ..pose.checks import check_finite, check_pose, check_pose_pair, joint_indices
from ..pose.kinematics import bone_lengths, limb_pair_lengths
from ..pose.skeleton import Skeleton, get_skeleton
from .reduction import NoReducer, Reducer, Reduction, get_reducer

__all__ = [
    "joint_errors",
    "mpjpe",
    "procrustes_align",
    "p_mpjpe",
    "n_mpjpe",
    "pck",
    "auc",
    "bone_subset",
    "lse",
    "bsle",
    "lse_ratio",
    "bsle_ratio",
    "ratio_stats",
    "degenerate_bones",
    "lse_ratio_stats",
    "bsle_ratio_stats",
]

_TINY = 1e-12  # guards 0/0 in ratios and degenerate Procrustes; far below any real length
# a ground-truth bone shorter than this fraction of its pose's longest bone is degenerate
_MIN_BONE_FRACTION = 1e-6


def _reducer(reduction: Reduction) -> Reducer:
    """The metrics' reducer: a metric of no sample is undefined (NaN)."""
    return get_reducer(reduction, empty=math.nan)


# --------------------------------------------------------------------------- position errors
def joint_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Euclidean error per joint: ``(..., J, D)`` x2 -> ``(..., J)``, units of the inputs.

    Raises:
        NonFiniteError: NaN/Inf in ``pred`` or ``gt`` (select the valid joints or samples
            first; a NaN would otherwise turn the whole mean into NaN, silently).
    """
    check_pose_pair(pred, gt)
    return (pred - gt).norm(dim=-1)


def mpjpe(pred: torch.Tensor, gt: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """Mean per-joint position error, no alignment.

    Args:
        pred, gt: ``(..., J, D)`` poses in the same units (usually root-relative).
        reduction: ``"none"`` -> ``(...)`` per sample; ``"mean"`` | ``"sum"`` -> scalar.

    Example:
        >>> gt = torch.zeros(2, 3, 3)
        >>> pred = gt.clone(); pred[0, :, 0] = 1.0
        >>> mpjpe(pred, gt, reduction="none")
        tensor([1., 0.])
    """
    reducer = _reducer(reduction)
    return reducer(joint_errors(pred, gt).mean(-1))


def procrustes_align(pred: torch.Tensor, gt: torch.Tensor, scale: bool = True) -> torch.Tensor:
    """Align each ``pred`` onto its ``gt`` by the least-squares similarity transform.

    Solves ``min_{s, R, t} sum_j |s R pred_j + t - gt_j|^2`` with ``R`` a proper rotation
    (``det R = +1``; reflections are refused by flipping the smallest singular direction,
    Umeyama 1991) and ``s = 1`` when ``scale=False``. Computed in float64 with
    ``torch.linalg.svd`` and returned in ``pred``'s dtype.

    Args:
        pred, gt: ``(..., J, D)``.

    Returns:
        ``(..., J, D)`` aligned copy of ``pred``. The gradient is undefined where ``pred``'s
        cross-covariance with ``gt`` has repeated singular values (SVD backward).

    Raises:
        NonFiniteError: NaN/Inf in ``pred`` or ``gt`` (the SVD would fail on them).
    """
    check_pose_pair(pred, gt)
    dtype = pred.dtype
    x = pred.to(torch.float64)
    y = gt.to(torch.float64)
    mu_x = x.mean(-2, keepdim=True)
    mu_y = y.mean(-2, keepdim=True)
    x0 = x - mu_x
    y0 = y - mu_y
    cov = y0.transpose(-1, -2) @ x0  # (..., D, D): sum_j y_j x_j^T
    u, s, vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    sign = torch.ones_like(s)
    sign[..., -1] = d
    rot = (u * sign.unsqueeze(-2)) @ vh  # U diag(1, .., d) V^T
    aligned = x0 @ rot.transpose(-1, -2)
    if scale:
        var_x = x0.pow(2).sum(dim=(-2, -1))
        k = (s * sign).sum(-1) / var_x.clamp_min(_TINY)
        aligned = aligned * k[..., None, None]
    return (aligned + mu_y).to(dtype)


def p_mpjpe(pred: torch.Tensor, gt: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """MPJPE after similarity Procrustes alignment (:func:`procrustes_align`, "protocol #2").

    Args:
        pred, gt: ``(..., J, D)``. Returns ``(...)`` for ``reduction="none"``.
    """
    reducer = _reducer(reduction)
    aligned = procrustes_align(pred, gt, scale=True)
    return reducer((aligned - gt).norm(dim=-1).mean(-1))


def n_mpjpe(
    pred: torch.Tensor,
    gt: torch.Tensor,
    reduction: Reduction = "mean",
    root: int | None = 0,
) -> torch.Tensor:
    """MPJPE after root alignment and the optimal scale of ``pred``.

    Both poses are made relative to joint ``root``; then ``s = <pred, gt> / <pred, pred>``
    (sums over joints and coordinates, per sample) and the error of ``s * pred`` is returned.
    No rotation is applied.

    Args:
        pred, gt: ``(..., J, D)``. Returns ``(...)`` for ``reduction="none"``.
        root: index of the root joint (``skeleton.root``); ``None`` skips the translation
            (inputs already root-relative, as in the VideoPose3D definition).
    """
    reducer = _reducer(reduction)
    check_pose_pair(pred, gt)
    if root is not None and not -pred.shape[-2] <= root < pred.shape[-2]:
        raise PoseShapeError(f"root {root} out of range for {pred.shape[-2]} joints")
    if root is None:
        p, g = pred, gt
    else:
        p, g = root_relative(pred, root), root_relative(gt, root)
    num = (p * g).sum(dim=(-2, -1))
    den = p.pow(2).sum(dim=(-2, -1)).clamp_min(_TINY)
    s = (num / den)[..., None, None]
    return reducer((s * p - g).norm(dim=-1).mean(-1))


# --------------------------------------------------------------------------- PCK / AUC
def pck(
    pred: torch.Tensor,
    gt: torch.Tensor,
    threshold: float = 0.150,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Percentage of correct keypoints as a fraction: share of joints with error ``< threshold``.

    ``threshold`` is in the inputs' units: the default 0.150 is 150 mm for metre poses (pass
    150.0 for millimetres). Returns ``(...)`` per sample for ``reduction="none"``.
    """
    reducer = _reducer(reduction)
    err = joint_errors(pred, gt)
    return reducer((err < threshold).to(err.dtype).mean(-1))


def auc(
    pred: torch.Tensor,
    gt: torch.Tensor,
    max_threshold: float = 0.150,
    steps: int = 31,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Area under the PCK curve: mean PCK over ``linspace(0, max_threshold, steps)`` (fraction).

    MPI-INF-3DHP style: 0..150 mm in 5 mm steps (31 thresholds); units as in :func:`pck`.
    """
    reducer = _reducer(reduction)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    err = joint_errors(pred, gt)
    t = torch.linspace(0.0, max_threshold, steps, dtype=torch.float64, device=err.device)
    hit = (err.to(torch.float64).unsqueeze(-1) < t).to(err.dtype)  # (..., J, steps)
    return reducer(hit.mean(dim=(-2, -1)))


# --------------------------------------------------------------------------- structure errors
def bone_subset(
    skeleton: Skeleton | str,
    joints: Sequence[int] | torch.Tensor | None = None,
    require: Literal["bones", "pairs"] | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Bones and symmetric pairs that lie inside a joint subset.

    Returns:
        ``(bones, pairs)``: indices into ``skeleton.bones`` of the bones whose parent and child
        are both in ``joints``, and indices into ``skeleton.symmetric_bone_pairs`` of the pairs
        whose two bones are both kept. ``joints=None`` keeps everything.

    Raises:
        SkeletonMismatchError: ``require="bones"`` (``"pairs"``) and no bone (symmetric pair)
            is kept.
    """
    sk = get_skeleton(skeleton)
    keep = joint_indices(joints, sk.num_joints)
    if keep is None:
        bones = tuple(range(len(sk.bones)))
        pairs = tuple(range(len(sk.symmetric_bone_pairs)))
    else:
        ks = set(keep)
        bones = tuple(i for i, (p, c) in enumerate(sk.bones) if p in ks and c in ks)
        kept = set(bones)
        pairs = tuple(
            i for i, (bl, br) in enumerate(sk.symmetric_bone_pairs) if bl in kept and br in kept
        )
    if require is not None and not (bones if require == "bones" else pairs):
        what = "bones" if require == "bones" else "symmetric bone pairs"
        sub = "" if keep is None else f" inside joints {keep}"
        raise SkeletonMismatchError(f"skeleton {sk.name!r} has no {what}{sub}")
    return bones, pairs


def _per_item(values: torch.Tensor, per_item: bool, reducer: Reducer) -> torch.Tensor:
    """``values`` ``(..., K)``: per-item output reduces over samples only and keeps K;
    otherwise take the mean over K per sample, then reduce."""
    if not per_item:
        return reducer(values.mean(-1))
    if isinstance(reducer, NoReducer):
        return values
    return reducer(values.reshape(-1, values.shape[-1]), dim=0)


def _symmetry_inputs(
    pred: torch.Tensor, skeleton: Skeleton | str, joints: Sequence[int] | torch.Tensor | None
) -> tuple[Skeleton, tuple[int, ...]]:
    """Checks of a one-pose structure metric; its skeleton and kept symmetric pairs."""
    sk = get_skeleton(skeleton)
    check_pose(pred, sk.num_joints, 3, "pred", finite=False)
    keep = joint_indices(joints, sk.num_joints)
    check_finite(pred, "pred", keep)
    return sk, bone_subset(sk, keep, require="pairs")[1]


def _length_inputs(
    pred: torch.Tensor,
    gt: torch.Tensor,
    skeleton: Skeleton | str,
    joints: Sequence[int] | torch.Tensor | None,
) -> tuple[Skeleton, tuple[int, ...]]:
    """Checks of a (pred, gt) structure metric; its skeleton and kept bones."""
    sk = get_skeleton(skeleton)
    check_pose_pair(pred, gt, sk.num_joints, 3, finite=False)
    keep = joint_indices(joints, sk.num_joints)
    check_finite(pred, "pred", keep)
    check_finite(gt, "gt", keep)
    return sk, bone_subset(sk, keep, require="bones")[0]


def lse(
    pred: torch.Tensor,
    skeleton: Skeleton | str,
    reduction: Reduction = "mean",
    per_pair: bool = False,
    joints: Sequence[int] | torch.Tensor | None = None,
    eps: float = 0.0,
) -> torch.Tensor:
    """Limb symmetry error: mean over symmetric bone pairs of ``| |b_left| - |b_right| |``.

    Args:
        pred: ``(..., J, 3)`` pose (any units; output in the same units).
        skeleton: gives bones and left/right pairs (``skeleton.symmetric_bone_pairs``).
        reduction: over samples; ``"none"`` -> ``(...)``.
        per_pair: keep the pair axis: ``(..., P)`` (``"mean"``/``"sum"`` -> ``(P,)``).
        joints: only pairs whose bones lie inside this joint subset (see module doc).
        eps: ``> 0`` makes bone lengths ``sqrt(|b|^2 + eps^2)`` (finite gradients at zero
            length; used by :mod:`sealloss.metrics.structural`).

    Raises:
        SkeletonMismatchError: the skeleton (or subset) has no symmetric pairs.
    """
    reducer = _reducer(reduction)
    sk, pairs = _symmetry_inputs(pred, skeleton, joints)
    left, right = limb_pair_lengths(pred, sk, eps, pairs)
    return _per_item((left - right).abs(), per_pair, reducer)


def bsle(
    pred: torch.Tensor,
    gt: torch.Tensor,
    skeleton: Skeleton | str,
    reduction: Reduction = "mean",
    per_bone: bool = False,
    joints: Sequence[int] | torch.Tensor | None = None,
    eps: float = 0.0,
) -> torch.Tensor:
    """Body segment length error: mean over bones of ``| |b_pred| - |b_gt| |``, per sample.

    Args:
        pred, gt: ``(..., J, 3)`` poses in the same units.
        per_bone: keep the bone axis ``(..., B)`` (B = kept bones, in ``skeleton.bones`` order).
        joints, eps: as in :func:`lse`.
    """
    reducer = _reducer(reduction)
    sk, bones = _length_inputs(pred, gt, skeleton, joints)
    diff = (bone_lengths(pred, sk, eps, bones) - bone_lengths(gt, sk, eps, bones)).abs()
    return _per_item(diff, per_bone, reducer)


def lse_ratio(
    pred: torch.Tensor,
    skeleton: Skeleton | str,
    reduction: Reduction = "mean",
    per_pair: bool = False,
    joints: Sequence[int] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetry ratio: mean over pairs of ``| |b_l| - |b_r| | / (|b_l| + |b_r|)`` (fraction).

    A pair of two zero-length bones counts as 0. Arguments as in :func:`lse`.
    """
    reducer = _reducer(reduction)
    sk, pairs = _symmetry_inputs(pred, skeleton, joints)
    left, right = limb_pair_lengths(pred, sk, 0.0, pairs)
    ratio = (left - right).abs() / (left + right).clamp_min(_TINY)
    return _per_item(ratio, per_pair, reducer)


def bsle_ratio(
    pred: torch.Tensor,
    gt: torch.Tensor,
    skeleton: Skeleton | str,
    reduction: Reduction = "mean",
    per_bone: bool = False,
    joints: Sequence[int] | torch.Tensor | None = None,
    degenerate: Literal["raise", "mask"] = "raise",
) -> torch.Tensor:
    """Segment length ratio: mean over bones of ``| |b_pred| - |b_gt| | / |b_gt|`` (fraction).

    Arguments as in :func:`bsle`. ``degenerate="mask"`` returns NaN for the ratio of each
    zero-length ground-truth bone instead of raising (use ``torch.nanmean`` over bones; the
    evaluator does, see :class:`~sealloss.metrics.PoseEvaluator`).

    Raises:
        DegeneratePoseError: a ground-truth bone has (near-)zero length, shorter than
            ``1e-6`` times the longest ground-truth bone of its sample: the ratio is undefined
            there (dividing by it gave values like 1e15 % that swamped a whole summary). The
            message names the bone and the first such sample; drop those samples, or use
            :func:`bsle` (an absolute length error, defined everywhere).
    """
    reducer = _reducer(reduction)
    sk, bones = _length_inputs(pred, gt, skeleton, joints)
    lp = bone_lengths(pred, sk, 0.0, bones)
    lg = bone_lengths(gt, sk, 0.0, bones)
    if degenerate not in ("raise", "mask"):
        raise ValueError(f"degenerate must be 'raise' or 'mask', got {degenerate!r}")
    short = degenerate_bones(lg)
    if degenerate == "mask":
        ratio = (lp - lg).abs() / lg.clamp_min(_TINY)
        ratio = ratio.masked_fill(short, float("nan"))
        return _per_item(ratio, per_bone, reducer)
    if lg.numel():
        if bool(short.any()):
            flat = short.reshape(-1, short.shape[-1])
            sample = int(flat.any(-1).nonzero()[0, 0])
            k = int(flat[sample].nonzero()[0, 0])
            p, c = sk.bones[bones[k]]
            raise DegeneratePoseError(
                f"gt has {int(flat.any(-1).sum())} sample(s) with a zero-length bone (first: "
                f"sample {sample}, bone {sk.joint_names[p]}-{sk.joint_names[c]}): the BSLE ratio "
                "|b_pred - b_gt| / |b_gt| is undefined there; drop those samples or use bsle"
            )
    ratio = (lp - lg).abs() / lg.clamp_min(_TINY)
    return _per_item(ratio, per_bone, reducer)


def degenerate_bones(lengths: torch.Tensor) -> torch.Tensor:
    """``(..., B)`` bool: bones shorter than ``1e-6`` times the longest bone of their sample
    (zero-length ground-truth bones, where a length ratio is undefined)."""
    if lengths.numel() == 0:
        return torch.zeros_like(lengths, dtype=torch.bool)
    d = lengths.detach()
    return d <= _MIN_BONE_FRACTION * d.amax(-1, keepdim=True)


def ratio_stats(ratios: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``ratios`` (any shape, one value per pair or bone) -> (mean %, % of values > threshold)."""
    r = ratios.detach().to(torch.float64)
    if r.numel() == 0:
        raise PoseShapeError("ratio_stats needs at least one ratio")
    return r.mean() * 100.0, (r > threshold).to(torch.float64).mean() * 100.0


def lse_ratio_stats(
    pred: torch.Tensor,
    skeleton: Skeleton | str,
    threshold: float = 0.01,
    joints: Sequence[int] | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetry ratio over all samples and pairs: (mean %, % of pairs above ``threshold``)."""
    return ratio_stats(lse_ratio(pred, skeleton, "none", per_pair=True, joints=joints), threshold)


def bsle_ratio_stats(
    pred: torch.Tensor,
    gt: torch.Tensor,
    skeleton: Skeleton | str,
    threshold: float = 0.1,
    joints: Sequence[int] | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Length ratio over all samples and bones: (mean %, % of bones above ``threshold``)."""
    return ratio_stats(
        bsle_ratio(pred, gt, skeleton, "none", per_bone=True, joints=joints), threshold
    )

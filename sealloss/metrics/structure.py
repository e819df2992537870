"""Structure metrics (LSE, BSLE and their ratio forms); see
:mod:`sealloss.metrics.functional` for the definitions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from ..errors import DegeneratePoseError, PoseShapeError, SkeletonMismatchError
from ..pose.kinematics import bone_lengths
from ..pose.skeleton import Skeleton, get_skeleton
from ._checks import (
    _MIN_BONE_FRACTION,
    _TINY,
    Reduction,
    _check_finite_on,
    _check_one,
    _check_reduction,
    _check_two,
    _joint_list,
    reduce,
)


def bone_subset(
    skeleton: Skeleton | str, joints: Sequence[int] | torch.Tensor | None = None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Bones and symmetric pairs that lie inside a joint subset.

    Returns:
        ``(bones, pairs)``: indices into ``skeleton.bones`` of the bones whose parent and child
        are both in ``joints``, and indices into ``skeleton.symmetric_bone_pairs`` of the pairs
        whose two bones are both kept. ``joints=None`` keeps everything.
    """
    sk = get_skeleton(skeleton)
    keep = _joint_list(joints, sk.num_joints)
    if keep is None:
        return tuple(range(len(sk.bones))), tuple(range(len(sk.symmetric_bone_pairs)))
    ks = set(keep)
    bones = tuple(i for i, (p, c) in enumerate(sk.bones) if p in ks and c in ks)
    kept = set(bones)
    pairs = tuple(
        i for i, (bl, br) in enumerate(sk.symmetric_bone_pairs) if bl in kept and br in kept
    )
    return bones, pairs


def _lengths(
    y: torch.Tensor, sk: Skeleton, bones: Sequence[int], eps: float
) -> torch.Tensor:
    idx = torch.tensor(bones, dtype=torch.long, device=y.device)
    return bone_lengths(y, sk, eps).index_select(-1, idx)


def _pair_lengths(
    y: torch.Tensor, sk: Skeleton, pairs: Sequence[int], eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    table = torch.tensor(sk.symmetric_bone_pairs, dtype=torch.long, device=y.device).reshape(-1, 2)
    sel = table[torch.tensor(pairs, dtype=torch.long, device=y.device)]
    lengths = bone_lengths(y, sk, eps)
    return lengths.index_select(-1, sel[:, 0]), lengths.index_select(-1, sel[:, 1])


def _per_item(values: torch.Tensor, per_item: bool, reduction: Reduction) -> torch.Tensor:
    """``values`` ``(..., K)``: per-item output reduces over samples only and keeps K;
    otherwise take the mean over K per sample, then reduce."""
    if not per_item:
        return reduce(values.mean(-1), reduction)
    if reduction == "none":
        return values
    flat = values.reshape(-1, values.shape[-1])
    return flat.mean(0) if reduction == "mean" else flat.sum(0)


def _require_items(n: int, what: str, sk: Skeleton, joints: list[int] | None) -> None:
    if n == 0:
        sub = "" if joints is None else f" inside joints {joints}"
        raise SkeletonMismatchError(f"skeleton {sk.name!r} has no {what}{sub}")


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
    _check_reduction(reduction)
    sk = get_skeleton(skeleton)
    _check_one(pred, "pred", sk.num_joints)
    keep = _joint_list(joints, sk.num_joints)
    _check_finite_on(pred, keep, "pred")
    _, pairs = bone_subset(sk, keep)
    _require_items(len(pairs), "symmetric bone pairs", sk, keep)
    left, right = _pair_lengths(pred, sk, pairs, eps)
    return _per_item((left - right).abs(), per_pair, reduction)


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
    _check_reduction(reduction)
    sk = get_skeleton(skeleton)
    _check_two(pred, gt, sk.num_joints)
    keep = _joint_list(joints, sk.num_joints)
    _check_finite_on(pred, keep, "pred")
    _check_finite_on(gt, keep, "gt")
    bones, _ = bone_subset(sk, keep)
    _require_items(len(bones), "bones", sk, keep)
    diff = (_lengths(pred, sk, bones, eps) - _lengths(gt, sk, bones, eps)).abs()
    return _per_item(diff, per_bone, reduction)


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
    _check_reduction(reduction)
    sk = get_skeleton(skeleton)
    _check_one(pred, "pred", sk.num_joints)
    keep = _joint_list(joints, sk.num_joints)
    _check_finite_on(pred, keep, "pred")
    _, pairs = bone_subset(sk, keep)
    _require_items(len(pairs), "symmetric bone pairs", sk, keep)
    left, right = _pair_lengths(pred, sk, pairs, 0.0)
    ratio = (left - right).abs() / (left + right).clamp_min(_TINY)
    return _per_item(ratio, per_pair, reduction)


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
    _check_reduction(reduction)
    sk = get_skeleton(skeleton)
    _check_two(pred, gt, sk.num_joints)
    keep = _joint_list(joints, sk.num_joints)
    _check_finite_on(pred, keep, "pred")
    _check_finite_on(gt, keep, "gt")
    bones, _ = bone_subset(sk, keep)
    _require_items(len(bones), "bones", sk, keep)
    lp = _lengths(pred, sk, bones, 0.0)
    lg = _lengths(gt, sk, bones, 0.0)
    if degenerate not in ("raise", "mask"):
        raise ValueError(f"degenerate must be 'raise' or 'mask', got {degenerate!r}")
    short = degenerate_bones(lg)
    if degenerate == "mask":
        ratio = (lp - lg).abs() / lg.clamp_min(_TINY)
        ratio = ratio.masked_fill(short, float("nan"))
        return _per_item(ratio, per_bone, reduction)
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
    return _per_item(ratio, per_bone, reduction)


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

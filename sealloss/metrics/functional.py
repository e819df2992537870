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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from ..checks import check_finite
from ..errors import DegeneratePoseError, PoseShapeError, SkeletonMismatchError
from ..kinematics import bone_lengths
from ..skeleton import Skeleton, get_skeleton

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

Reduction = Literal["none", "mean", "sum"]
_REDUCTIONS = ("none", "mean", "sum")
_TINY = 1e-12  # guards 0/0 in ratios and degenerate Procrustes; far below any real length
# a ground-truth bone shorter than this fraction of its pose's longest bone is degenerate
_MIN_BONE_FRACTION = 1e-6


# --------------------------------------------------------------------------- helpers
def reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Reduce per-sample ``values`` of shape ``(...)``: ``"none"`` | ``"mean"`` | ``"sum"``."""
    if reduction == "none":
        return values
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_one(x: torch.Tensor, what: str, num_joints: int | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise PoseShapeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise PoseShapeError(f"{what} must have shape (..., J, D), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise PoseShapeError(f"{what} must be a floating tensor, got dtype {x.dtype}")
    if num_joints is not None and x.shape[-2] != num_joints:
        raise PoseShapeError(
            f"{what} must have {num_joints} joints (skeleton), got {x.shape[-2]} "
            f"(shape {tuple(x.shape)})"
        )


def _check_two(
    pred: torch.Tensor,
    gt: torch.Tensor,
    num_joints: int | None = None,
    dim: int | None = None,
    finite: bool = False,
) -> None:
    """Shapes and dtypes of a (pred, gt) pair; ``finite=True`` also refuses NaN/Inf anywhere
    (:class:`NonFiniteError`) instead of returning NaN or crashing inside an SVD."""
    _check_one(pred, "pred", num_joints)
    _check_one(gt, "gt", num_joints)
    if pred.shape != gt.shape:
        raise PoseShapeError(
            f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must have the same shape"
        )
    if dim is not None and pred.shape[-1] != dim:
        raise PoseShapeError(
            f"poses must have {dim} coordinates per joint, got shape {tuple(pred.shape)}"
        )
    if finite:
        check_finite(pred.detach(), "pred")
        check_finite(gt.detach(), "gt")


def _joint_list(joints: Sequence[int] | torch.Tensor | None, num_joints: int) -> list[int] | None:
    if joints is None:
        return None
    out = [int(j) for j in (joints.tolist() if isinstance(joints, torch.Tensor) else joints)]
    bad = [j for j in out if not 0 <= j < num_joints]
    if bad:
        raise PoseShapeError(f"joint indices {bad} out of range for {num_joints} joints")
    if len(set(out)) != len(out):
        raise PoseShapeError(f"joint indices must be unique, got {out}")
    return out


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


def _check_finite_on(x: torch.Tensor, joints: list[int] | None, what: str) -> None:
    check_finite(x if joints is None else x[..., joints, :], what)


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


# --------------------------------------------------------------------------- position errors
def joint_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Euclidean error per joint: ``(..., J, D)`` x2 -> ``(..., J)``, units of the inputs.

    Raises:
        NonFiniteError: NaN/Inf in ``pred`` or ``gt`` (select the valid joints or samples
            first; a NaN would otherwise turn the whole mean into NaN, silently).
    """
    _check_two(pred, gt, finite=True)
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
    _check_reduction(reduction)
    return reduce(joint_errors(pred, gt).mean(-1), reduction)


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
    _check_two(pred, gt, finite=True)
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
    _check_reduction(reduction)
    aligned = procrustes_align(pred, gt, scale=True)
    return reduce((aligned - gt).norm(dim=-1).mean(-1), reduction)


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
    _check_reduction(reduction)
    _check_two(pred, gt, finite=True)
    if root is not None and not -pred.shape[-2] <= root < pred.shape[-2]:
        raise PoseShapeError(f"root {root} out of range for {pred.shape[-2]} joints")
    if root is None:
        p, g = pred, gt
    else:
        p = pred - pred[..., root : root + 1, :]
        g = gt - gt[..., root : root + 1, :]
    num = (p * g).sum(dim=(-2, -1))
    den = p.pow(2).sum(dim=(-2, -1)).clamp_min(_TINY)
    s = (num / den)[..., None, None]
    return reduce((s * p - g).norm(dim=-1).mean(-1), reduction)


# --------------------------------------------------------------------------- structure
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
            length; used by :mod:`sealloss.structural`).

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
    _check_reduction(reduction)
    err = joint_errors(pred, gt)
    return reduce((err < threshold).to(err.dtype).mean(-1), reduction)


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
    _check_reduction(reduction)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    err = joint_errors(pred, gt)
    t = torch.linspace(0.0, max_threshold, steps, dtype=torch.float64, device=err.device)
    hit = (err.to(torch.float64).unsqueeze(-1) < t).to(err.dtype)  # (..., J, steps)
    return reduce(hit.mean(dim=(-2, -1)), reduction)

"""Shared argument checks and reduction for :mod:`sealloss.metrics.functional`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from ..errors import PoseShapeError
from ..pose.checks import check_finite

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


def _check_finite_on(x: torch.Tensor, joints: list[int] | None, what: str) -> None:
    check_finite(x if joints is None else x[..., joints, :], what)

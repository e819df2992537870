"""Explicit, hand-made structural losses: the rival a user could write in ten lines.

Pure functions on canonical poses ``(..., J, 3)`` (root-relative metres; any units work and the
losses come out in them) with thin :class:`torch.nn.Module` wrappers. Every term is computed
**per sample** (never from batch means of bone lengths) and reduced by ``reduction``:

- bone length: :func:`~sealloss.metrics.functional.bsle` with ``eps`` (:class:`BoneLengthLoss`),
  the mean over bones of ``| |b_pred| - |b_gt| |``;
- symmetry: :func:`~sealloss.metrics.functional.lse` with ``eps`` (:class:`SymmetryLoss`), the
  mean over symmetric bone pairs of ``| |b_left| - |b_right| |``;
- :func:`kcs_loss`: ``|| B_pred^T B_pred - B_gt^T B_gt ||_F`` with ``B`` the ``3 x bones``
  matrix of bone vectors (kinematic chain space, RepNet; Wandt & Rosenhahn, CVPR 2019).

The bone and symmetry terms are the BSLE / LSE metrics themselves (one implementation): as
losses they take ``eps=DEFAULT_EPS``. All three are invariant to global rotation and
translation. Bone lengths are ``sqrt(|b|^2 + eps^2)`` so gradients stay finite for zero-length
bones; the Frobenius norm has a zero subgradient at zero (torch), so :func:`kcs_loss` is
differentiable at the ground truth.

Example:
    >>> gt = torch.zeros(1, 17, 3); gt[..., 1:, 0] = torch.arange(1.0, 17.0)
    >>> pred = gt.clone(); pred[..., 10, 0] += 0.16  # Head: one bone 0.16 longer
    >>> round(BoneLengthLoss("h36m17")(pred, gt).item(), 6)
    0.01
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import SkeletonMismatchError
from ..pose.checks import check_pose_pair
from ..pose.kinematics import bone_vectors
from ..pose.skeleton import Skeleton, get_skeleton
from .functional import bsle, lse
from .reduction import Reduction, get_reducer

__all__ = [
    "DEFAULT_EPS",
    "kcs_loss",
    "kcs_gram",
    "BoneLengthLoss",
    "SymmetryLoss",
    "KCSLoss",
    "StructuralLoss",
]

DEFAULT_EPS = 1e-6  # 1 micrometre for metre poses: keeps d|b|/db finite at |b| = 0


def kcs_gram(y: torch.Tensor, skeleton: Skeleton | str) -> torch.Tensor:
    """Kinematic-chain-space Gram matrix ``B^T B``: ``(..., J, 3)`` -> ``(..., nb, nb)``.

    Entry ``(i, k)`` is the dot product of bones ``i`` and ``k`` (lengths on the diagonal,
    squared; angles off it), in squared units of ``y``.
    """
    b = bone_vectors(y, skeleton)  # (..., nb, 3) = B^T
    return b @ b.transpose(-1, -2)


def kcs_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    skeleton: Skeleton | str,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Per-sample ``|| B_pred^T B_pred - B_gt^T B_gt ||_F`` (squared units of the poses).

    Args:
        pred, gt: ``(..., J, 3)`` poses in the same units.
        skeleton: gives the bones.
        reduction: ``"none"`` -> ``(...)``; ``"mean"`` | ``"sum"`` -> scalar (or a
            :class:`~sealloss.metrics.reduction.Reducer`).
    """
    reducer = get_reducer(reduction, empty=math.nan)
    sk = get_skeleton(skeleton)
    check_pose_pair(pred, gt, sk.num_joints, 3)
    if not sk.bones:
        raise SkeletonMismatchError(f"skeleton {sk.name!r} has no bones")
    diff = kcs_gram(pred, sk) - kcs_gram(gt, sk)
    return reducer(torch.linalg.vector_norm(diff, dim=(-2, -1)))


# --------------------------------------------------------------------------- modules
class _LengthTermLoss(nn.Module):
    """Options of a bone-length term: skeleton, reduction and the length ``eps``."""

    def __init__(
        self, skeleton: Skeleton | str, reduction: Reduction = "mean", eps: float = DEFAULT_EPS
    ) -> None:
        super().__init__()
        self.skeleton = get_skeleton(skeleton)
        self.reduction = reduction
        self.eps = eps

    def extra_repr(self) -> str:
        return f"skeleton={self.skeleton.name!r}, reduction={self.reduction!r}, eps={self.eps}"


class BoneLengthLoss(_LengthTermLoss):
    """:func:`~sealloss.metrics.functional.bsle` as a loss (``eps`` default
    :data:`DEFAULT_EPS`); ``forward(pred (..., J, 3), gt (..., J, 3))``."""

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        return bsle(pred, gt, self.skeleton, self.reduction, eps=self.eps)


class SymmetryLoss(_LengthTermLoss):
    """:func:`~sealloss.metrics.functional.lse` as a loss (``eps`` default
    :data:`DEFAULT_EPS`); ``forward(pred (..., J, 3))``."""

    def forward(self, pred: torch.Tensor) -> torch.Tensor:
        return lse(pred, self.skeleton, self.reduction, eps=self.eps)


class KCSLoss(nn.Module):
    """Module form of :func:`kcs_loss`; ``forward(pred, gt)``."""

    def __init__(self, skeleton: Skeleton | str, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.skeleton = get_skeleton(skeleton)
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        return kcs_loss(pred, gt, self.skeleton, self.reduction)

    def extra_repr(self) -> str:
        return f"skeleton={self.skeleton.name!r}, reduction={self.reduction!r}"


class StructuralLoss(nn.Module):
    """Weighted sum ``w_bone * bone + w_sym * symmetry + w_kcs * kcs`` (per sample, reduced).

    Terms with weight 0 are not computed. Add it to the supervised loss of a pose-net as the
    explicit structural baseline against which the learned loss is compared.

    Args:
        skeleton: skeleton of the poses.
        w_bone, w_sym, w_kcs: term weights (non-negative).
        reduction: ``"none"`` -> ``(...)``; ``"mean"`` | ``"sum"`` -> scalar.
        eps: bone-length eps of the bone and symmetry terms.

    Shapes:
        ``forward(pred (..., J, 3), gt (..., J, 3))`` -> scalar or ``(...)``.
    """

    def __init__(
        self,
        skeleton: Skeleton | str,
        w_bone: float = 1.0,
        w_sym: float = 1.0,
        w_kcs: float = 0.0,
        reduction: Reduction = "mean",
        eps: float = DEFAULT_EPS,
    ) -> None:
        super().__init__()
        for name, w in (("w_bone", w_bone), ("w_sym", w_sym), ("w_kcs", w_kcs)):
            if w < 0:
                raise ValueError(f"{name} must be >= 0, got {w}")
        self._reducer = get_reducer(reduction, empty=math.nan)
        self.skeleton = get_skeleton(skeleton)
        self.w_bone, self.w_sym, self.w_kcs = float(w_bone), float(w_sym), float(w_kcs)
        self.reduction = reduction
        self.eps = eps

    def terms(self, pred: torch.Tensor, gt: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unweighted per-sample terms with non-zero weight: name -> ``(...)``."""
        sk, out = self.skeleton, {}
        check_pose_pair(pred, gt, sk.num_joints, 3)
        if self.w_bone:
            out["bone"] = bsle(pred, gt, sk, "none", eps=self.eps)
        if self.w_sym:
            out["sym"] = lse(pred, sk, "none", eps=self.eps)
        if self.w_kcs:
            out["kcs"] = kcs_loss(pred, gt, sk, "none")
        return out

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        weights = {"bone": self.w_bone, "sym": self.w_sym, "kcs": self.w_kcs}
        total = pred.new_zeros(pred.shape[:-2])
        for name, value in self.terms(pred, gt).items():
            total = total + weights[name] * value
        return self._reducer(total)

    def extra_repr(self) -> str:
        return (
            f"skeleton={self.skeleton.name!r}, w_bone={self.w_bone}, w_sym={self.w_sym}, "
            f"w_kcs={self.w_kcs}, reduction={self.reduction!r}"
        )

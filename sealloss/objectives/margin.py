"""SEAL margin-rescaled hinge with a per-sample task cost.

``loss_b = mean_k max(0, m * Delta(y_bk, y*_b) - E(x_b, y_bk) + E(x_b, y*_b))``

The cost ``Delta`` is per sample and per negative (default: MPJPE in metres between the negative
and its ground truth). A batch-scalar cost collapses as the pose-net improves (METHOD.md s.3).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import PoseShapeError
from ..metrics.functional import bsle
from ..metrics.reduction import Reducer, Reduction, reduce
from ..pose.checks import check_energies
from ..pose.skeleton import Skeleton

__all__ = ["COST_KINDS", "task_cost", "margin_loss", "MarginObjective"]

COST_KINDS = ("mpjpe", "mse", "bone", "mpjpe+bone")


def task_cost(
    y_neg: torch.Tensor,
    y_gt: torch.Tensor,
    kind: str = "mpjpe",
    skeleton: Skeleton | str | None = None,
) -> torch.Tensor:
    """Per-negative task cost between negatives and their ground truth.

    Args:
        y_neg: ``(B, K, J, 3)`` negatives, canonical metres.
        y_gt: ``(B, J, 3)`` ground truth, canonical metres.
        kind: ``"mpjpe"``: ``mean_j ||y_neg_j - y_gt_j||`` (metres);
            ``"mse"``: ``mean_j ||y_neg_j - y_gt_j||^2`` (square metres, summed over x, y, z);
            ``"bone"``: ``mean_b | |b_neg| - |b_gt| |`` over the skeleton's bones (metres);
            ``"mpjpe+bone"``: the sum of the two (metres).
        skeleton: needed by the bone kinds (its parent list defines the bones).

    Returns:
        ``(B, K)`` costs (differentiable; :func:`margin_loss` detaches them).
    """
    if kind not in COST_KINDS:
        raise ValueError(f"unknown task cost {kind!r}; use one of {COST_KINDS}")
    if "bone" in kind and skeleton is None:
        raise ValueError(f"task cost {kind!r} needs the skeleton (its bones)")
    if y_neg.dim() != 4 or y_gt.dim() != 3 or y_neg.shape[-1] != 3 or y_gt.shape[-1] != 3:
        raise PoseShapeError(
            "task_cost: expected y_neg (B, K, J, 3) and y_gt (B, J, 3), got "
            f"{tuple(y_neg.shape)} and {tuple(y_gt.shape)}"
        )
    if y_neg.shape[0] != y_gt.shape[0] or y_neg.shape[2] != y_gt.shape[1]:
        raise PoseShapeError(
            f"task_cost: y_neg {tuple(y_neg.shape)} and y_gt {tuple(y_gt.shape)} disagree in "
            "batch size or joint count"
        )
    sq = (y_neg - y_gt.unsqueeze(1)).pow(2).sum(-1)
    if kind == "mse":
        return sq.mean(-1)
    mpjpe = sq.sqrt().mean(-1)
    if kind == "mpjpe":
        return mpjpe
    # per-sample mean bone-length error, as the BSLE metric (checks the joint count)
    bone = bsle(y_neg, y_gt.unsqueeze(1).expand_as(y_neg), skeleton, reduction="none")
    return bone if kind == "bone" else mpjpe + bone


def _as_cost(cost: torch.Tensor | float, e_neg: torch.Tensor) -> torch.Tensor:
    if not isinstance(cost, torch.Tensor):
        return e_neg.new_full(e_neg.shape, float(cost))
    if cost.shape != e_neg.shape:
        raise PoseShapeError(
            f"margin_loss: cost must have the shape of e_neg {tuple(e_neg.shape)} (one cost per "
            f"sample and negative), got {tuple(cost.shape)}"
        )
    return cost.detach().to(e_neg.dtype)


def margin_loss(
    e_pos: torch.Tensor,
    e_neg: torch.Tensor,
    cost: torch.Tensor | float,
    margin: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""SEAL margin-rescaled hinge, averaged over the K negatives of each sample.

    .. math:: \ell_b = \frac{1}{K}\sum_k \max(0,\ m\,\Delta_{bk} - E^-_{bk} + E^+_b)

    Args:
        e_pos: ``(B,)`` energies of the ground truth.
        e_neg: ``(B, K)`` energies of the negatives.
        cost: ``(B, K)`` per-sample task cost (e.g. :func:`task_cost`, metres), or a float used
            for every entry. Detached: the cost is a target, not something to optimise.
        margin: scale ``m`` of the cost (energy units per cost unit).
        reduction: ``"mean" | "sum" | "none"`` or a :class:`~sealloss.metrics.reduction.Reducer`.

    Returns:
        ``(B,)`` per-sample losses for ``"none"``, else a 0-dim tensor.

    Example:
        >>> e_pos = torch.tensor([0.0]); e_neg = torch.tensor([[0.5, 3.0]])
        >>> margin_loss(e_pos, e_neg, torch.tensor([[1.0, 1.0]]), reduction="none")
        tensor([0.2500])
    """
    check_energies(e_pos, e_neg, "margin_loss")
    c = _as_cost(cost, e_neg)
    hinge = torch.relu(margin * c - e_neg + e_pos.unsqueeze(1))
    per_sample = hinge.mean(1) if hinge.shape[1] else hinge.sum(1)
    return reduce(per_sample, reduction)


class MarginObjective(nn.Module):
    """Module form of :func:`margin_loss`; computes the task cost from poses when not given.

    Args:
        margin: scale ``m`` of the task cost.
        cost: one of :data:`COST_KINDS` (see :func:`task_cost`).
        skeleton: needed by the bone kinds.
        reducer: a :class:`~sealloss.metrics.reduction.Reducer` (default: mean).

    Shapes:
        ``forward(e_pos (B,), e_neg (B, K), y_neg (B, K, J, 3), y_gt (B, J, 3))`` or
        ``forward(e_pos, e_neg, cost=(B, K))`` -> scalar (or ``(B,)`` with ``NoReducer``).
    """

    def __init__(
        self,
        margin: float = 1.0,
        cost: str = "mpjpe",
        reducer: Reducer | None = None,
        skeleton: Skeleton | str | None = None,
    ) -> None:
        super().__init__()
        if cost not in COST_KINDS:
            raise ValueError(f"unknown task cost {cost!r}; use one of {COST_KINDS}")
        if "bone" in cost and skeleton is None:
            raise ValueError(f"task cost {cost!r} needs the skeleton (its bones)")
        self.margin = float(margin)
        self.cost = cost
        self.skeleton = skeleton
        self.reducer: Reduction = reducer if reducer is not None else "mean"

    def forward(
        self,
        e_pos: torch.Tensor,
        e_neg: torch.Tensor,
        y_neg: torch.Tensor | None = None,
        y_gt: torch.Tensor | None = None,
        cost: torch.Tensor | float | None = None,
    ) -> torch.Tensor:
        if cost is None:
            if y_neg is None or y_gt is None:
                raise ValueError("MarginObjective needs either cost or both y_neg and y_gt")
            cost = task_cost(y_neg.detach(), y_gt.detach(), self.cost, skeleton=self.skeleton)
        return margin_loss(e_pos, e_neg, cost, self.margin, self.reducer)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, cost={self.cost!r}, reducer={self.reducer!r}"

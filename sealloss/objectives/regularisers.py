"""Regularisers of the loss-net's energy: magnitude and gradient penalties (per sample)."""

from __future__ import annotations

import torch

from ..errors import PoseShapeError
from ..metrics.reduction import Reduction, reduce
from ..pose.checks import check_energies

__all__ = ["energy_magnitude", "gradient_penalty"]


def energy_magnitude(
    e_pos: torch.Tensor, e_neg: torch.Tensor | None = None, reduction: Reduction = "none"
) -> torch.Tensor:
    """Mean of squared energies per sample: ``(E+^2 + sum_k E-_k^2) / (1 + K)``.

    Keeps the energy scale (and so the gap) from drifting while the ranking loss only constrains
    differences (METHOD.md s.3).

    Args:
        e_pos: ``(B,)``; e_neg: optional ``(B, K)``.

    Returns:
        ``(B,)`` for ``reduction="none"`` (default), else 0-dim.
    """
    if e_neg is None:
        if e_pos.dim() != 1:
            raise PoseShapeError(
                f"energy_magnitude: e_pos must have shape (B,), got {tuple(e_pos.shape)}"
            )
        return reduce(e_pos.pow(2), reduction)
    check_energies(e_pos, e_neg, "energy_magnitude")
    total = e_pos.pow(2) + e_neg.pow(2).sum(1)
    return reduce(total / (1 + e_neg.shape[1]), reduction)


def gradient_penalty(
    energy: torch.Tensor, y: torch.Tensor, reduction: Reduction = "none"
) -> torch.Tensor:
    """Squared norm of ``dE/dy`` per energy entry, with a graph for double backward.

    Args:
        energy: ``(B,)`` or ``(B, K)`` energies computed from ``y``.
        y: ``(B, J, 3)`` or ``(B, K, J, 3)`` poses with ``requires_grad=True``; its leading dims
            match ``energy``'s.

    Returns:
        ``||dE_i/dy_i||^2`` of shape ``energy.shape`` for ``"none"``, else 0-dim.
    """
    if not y.requires_grad:
        raise ValueError("gradient_penalty: y must require grad (call y.requires_grad_())")
    if y.shape[: energy.dim()] != energy.shape or y.dim() != energy.dim() + 2:
        raise PoseShapeError(
            f"gradient_penalty: energy {tuple(energy.shape)} must be the leading shape of y "
            f"(..., J, 3), got y {tuple(y.shape)}"
        )
    (g,) = torch.autograd.grad(energy.sum(), y, create_graph=True)
    return reduce(g.pow(2).sum((-1, -2)), reduction)

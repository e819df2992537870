"""Reducers: per-sample losses ``(B,)`` (or any shape) in, one scalar out.

Objectives return per-sample losses; a reducer decides how they become the training scalar
(the pytorch-metric-learning split). Each reducer is a plain callable; the ``reduction`` strings
``"mean" | "sum" | "none"`` accepted by the functional objectives map onto them through
:func:`reduce_loss`.
"""

from __future__ import annotations

import torch

from ..errors import PoseShapeError

__all__ = [
    "Reducer",
    "MeanReducer",
    "SumReducer",
    "NoReducer",
    "ThresholdReducer",
    "AvgNonZeroReducer",
    "Reduction",
    "reduce_loss",
    "check_energies",
]


class Reducer:
    """Base class: ``reducer(losses) -> 0-dim tensor`` (``NoReducer`` returns its input)."""

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanReducer(Reducer):
    """Mean of all entries (``0`` for an empty tensor, keeping the graph)."""

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        if losses.numel() == 0:
            return losses.sum()
        return losses.mean()


class SumReducer(Reducer):
    """Sum of all entries."""

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        return losses.sum()


class NoReducer(Reducer):
    """Returns the per-sample losses unchanged."""

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        return losses


class ThresholdReducer(Reducer):
    """Mean over the entries with ``low < loss`` (and ``loss < high`` when ``high`` is given).

    Entries outside the window contribute neither to the sum nor to the count, so easy samples
    (a zero hinge) do not dilute the gradient of the hard ones. When no entry qualifies the
    result is ``0`` (still connected to the graph, so ``backward`` works).
    """

    def __init__(self, low: float = 0.0, high: float | None = None) -> None:
        if high is not None and high <= low:
            raise ValueError(f"ThresholdReducer: high ({high}) must exceed low ({low})")
        self.low = float(low)
        self.high = None if high is None else float(high)

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        keep = losses > self.low
        if self.high is not None:
            keep = keep & (losses < self.high)
        count = keep.sum().clamp_min(1).to(losses.dtype)
        return (losses * keep.to(losses.dtype)).sum() / count

    def __repr__(self) -> str:
        return f"{type(self).__name__}(low={self.low}, high={self.high})"


class AvgNonZeroReducer(ThresholdReducer):
    """Mean over the entries that are ``> 0`` (``ThresholdReducer(low=0)``)."""

    def __init__(self) -> None:
        super().__init__(low=0.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


Reduction = str | Reducer

_BY_NAME: dict[str, Reducer] = {
    "mean": MeanReducer(),
    "sum": SumReducer(),
    "none": NoReducer(),
}


def reduce_loss(losses: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """Apply ``reduction`` (``"mean" | "sum" | "none"`` or a :class:`Reducer`) to ``losses``."""
    if isinstance(reduction, Reducer):
        return reduction(losses)
    try:
        return _BY_NAME[reduction](losses)
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown reduction {reduction!r}; use 'mean', 'sum', 'none' or a Reducer"
        ) from None


def check_energies(
    e_pos: torch.Tensor, e_neg: torch.Tensor, what: str = "objective"
) -> None:
    """Check ``e_pos`` is ``(B,)`` and ``e_neg`` is ``(B, K)`` floating tensors with the same B.

    Raises :class:`~sealloss.errors.PoseShapeError` naming the offending argument.
    """
    for name, t in (("e_pos", e_pos), ("e_neg", e_neg)):
        if not isinstance(t, torch.Tensor):
            raise PoseShapeError(f"{what}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise PoseShapeError(f"{what}: {name} must be floating, got dtype {t.dtype}")
    if e_pos.dim() != 1:
        raise PoseShapeError(
            f"{what}: e_pos (ground-truth energies) must have shape (B,), got {tuple(e_pos.shape)}"
        )
    if e_neg.dim() != 2:
        raise PoseShapeError(
            f"{what}: e_neg (negative energies) must have shape (B, K), got {tuple(e_neg.shape)}"
        )
    if e_neg.shape[0] != e_pos.shape[0]:
        raise PoseShapeError(
            f"{what}: e_pos has B={e_pos.shape[0]} but e_neg has B={e_neg.shape[0]} "
            f"(shapes {tuple(e_pos.shape)} and {tuple(e_neg.shape)})"
        )

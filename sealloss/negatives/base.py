"""Common parts of the negative samplers: the output record, the sampler base, distances.

Samplers are "miners" (pytorch-metric-learning): they run under ``torch.no_grad()``, take the
ground truth ``y_gt (B, J, 3)`` in canonical metres (root joint exactly zero), and return
``K`` negatives per sample ``(B, K, J, 3)`` in the same frame. The 2D input of a negative is
always that of its ground truth, so samplers only produce 3D.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import PoseShapeError
from ..pose.checks import check_finite, check_pose
from ..pose.skeleton import Skeleton, get_skeleton

__all__ = ["NegativeSample", "Sampler", "perturbation_size", "check_gt", "check_k"]


@dataclass
class NegativeSample:
    """Negatives drawn for a batch.

    Attributes:
        poses: ``(B, K, J, 3)`` canonical metres, detached.
        kind: sampler name (``"mixed"`` for a :class:`~.mix.NegativeMixer`).
        log_q: ``(B, K)`` sampler log density relative to the ground truth, or ``None`` where
            unknown (see :func:`sealloss.objectives.nce_loss`).
        kinds: one label per negative column (length K); defaults to ``(kind,) * K``.
    """

    poses: torch.Tensor
    kind: str
    log_q: torch.Tensor | None = None
    kinds: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        k = self.poses.shape[1]
        if not self.kinds:
            self.kinds = (self.kind,) * k
        if len(self.kinds) != k:
            raise PoseShapeError(f"NegativeSample: {len(self.kinds)} kind labels for K={k}")
        if self.log_q is not None and self.log_q.shape != self.poses.shape[:2]:
            raise PoseShapeError(
                f"NegativeSample: log_q {tuple(self.log_q.shape)} must be (B, K) = "
                f"{tuple(self.poses.shape[:2])}"
            )

    @property
    def k(self) -> int:
        return self.poses.shape[1]


def check_k(k: int) -> int:
    """Validate the number of negatives per sample (an ``int >= 0``)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"number of negatives k must be an int >= 0, got {k!r}")
    return k


def check_gt(y_gt: torch.Tensor, skeleton: Skeleton | str | None, what: str = "y_gt") -> None:
    """``y_gt`` must be a finite ``(B, J, 3)`` floating tensor (J from ``skeleton`` if given)."""
    if not isinstance(y_gt, torch.Tensor) or y_gt.dim() != 3:
        shape = tuple(y_gt.shape) if isinstance(y_gt, torch.Tensor) else type(y_gt).__name__
        raise PoseShapeError(f"{what} must have shape (B, J, 3), got {shape}")
    j = get_skeleton(skeleton).num_joints if skeleton is not None else y_gt.shape[1]
    check_pose(y_gt, j, 3, what)


def perturbation_size(y_neg: torch.Tensor, y_gt: torch.Tensor) -> torch.Tensor:
    """Per-negative MPJPE in **millimetres**: ``(B, K, J, 3), (B, J, 3) -> (B, K)``."""
    if y_neg.dim() != 4 or y_gt.dim() != 3 or y_neg.shape[2:] != y_gt.shape[1:]:
        raise PoseShapeError(
            f"perturbation_size: expected (B, K, J, 3) and (B, J, 3), got {tuple(y_neg.shape)} "
            f"and {tuple(y_gt.shape)}"
        )
    return (y_neg - y_gt.unsqueeze(1)).norm(dim=-1).mean(-1) * 1000.0


class Sampler:
    """Base of every sampler: ``sampler(y_gt, k, generator, **context) -> NegativeSample``.

    Subclasses implement :meth:`sample`; ``__call__`` checks the input, runs ``sample`` under
    ``no_grad`` and checks the output (shape, finiteness), like a metric-learning miner.
    ``context`` carries batch extras some samplers need (``y_hat`` for prediction negatives);
    the others ignore it.
    """

    kind: str = "sampler"
    skeleton: Skeleton | None = None

    def sample(
        self, y_gt: torch.Tensor, k: int, generator: torch.Generator | None, **context
    ) -> NegativeSample:
        raise NotImplementedError

    def __call__(
        self,
        y_gt: torch.Tensor,
        k: int,
        generator: torch.Generator | None = None,
        **context,
    ) -> NegativeSample:
        check_k(k)
        check_gt(y_gt, self.skeleton)
        with torch.no_grad():
            out = self.sample(y_gt.detach(), k, generator, **context)
        expect = (y_gt.shape[0], k) + tuple(y_gt.shape[1:])
        if tuple(out.poses.shape) != expect:
            raise PoseShapeError(
                f"{type(self).__name__} returned {tuple(out.poses.shape)}, expected {expect}"
            )
        check_finite(out.poses, f"{type(self).__name__} negatives")
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r})"

"""Dynamic negatives: the pose-net's own current predictions, detached."""

from __future__ import annotations

import torch

from ..errors import PoseShapeError
from ..pose.skeleton import Skeleton, get_skeleton
from ._random import randn
from .base import NegativeSample, Sampler

__all__ = ["prediction_negatives", "PredictionNegatives"]


def prediction_negatives(y_hat: torch.Tensor) -> torch.Tensor:
    """``(B, J, 3)`` canonical predictions -> ``(B, 1, J, 3)`` detached negatives."""
    if y_hat.dim() != 3 or y_hat.shape[-1] != 3:
        raise PoseShapeError(
            f"prediction_negatives: y_hat must have shape (B, J, 3), got {tuple(y_hat.shape)}"
        )
    return y_hat.detach().unsqueeze(1)


class PredictionNegatives(Sampler):
    """Sampler form: ``sampler(y_gt, k, gen, y_hat=...)``.

    The first negative is the prediction itself; with ``k > 1`` the others are the prediction
    plus Gaussian noise of ``jitter_m`` metres per coordinate (root kept), i.e. samples around
    the pose-net's current error. With ``jitter_m = 0`` they are copies.

    Args:
        skeleton: gives the joint count and root.
        jitter_m: per-coordinate noise of the extra copies (metres).
    """

    def __init__(
        self, skeleton: Skeleton | str, jitter_m: float = 0.0, kind: str = "prediction"
    ) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.jitter_m = float(jitter_m)
        self.kind = kind

    def sample(self, y_gt, k, generator, y_hat: torch.Tensor | None = None, **context):
        if y_hat is None:
            raise ValueError(
                "PredictionNegatives needs the pose-net's predictions: call it with y_hat=..."
            )
        if y_hat.shape != y_gt.shape:
            raise PoseShapeError(
                f"PredictionNegatives: y_hat {tuple(y_hat.shape)} must match y_gt "
                f"{tuple(y_gt.shape)}"
            )
        base = prediction_negatives(y_hat).to(y_gt.dtype)
        poses = base.expand(-1, k, -1, -1).clone()
        if k > 1 and self.jitter_m > 0:
            noise = randn(tuple(poses[:, 1:].shape), generator, poses) * self.jitter_m
            noise[:, :, self.skeleton.root] = 0
            poses[:, 1:] += noise
        return NegativeSample(poses, self.kind)

    def __repr__(self) -> str:
        return f"PredictionNegatives(jitter_m={self.jitter_m})"

"""Named mixtures of synthetic negatives: the wrapper's and pretraining's, in one place."""

from __future__ import annotations

from ..pose.skeleton import Skeleton, get_skeleton
from .mix import NegativeMixer
from .perturb import BoneDirectionNoise, BoneLengthNoise, GaussianNoise, LimbFlip, LimbSwap

__all__ = ["default_negatives", "pretraining_negatives"]


def default_negatives(skeleton: Skeleton | str = "h36m17") -> NegativeMixer:
    """Synthetic negatives used beside the pose-net's predictions in the wrapper.

    Gaussian joint noise (5-25 mm), bone-direction rotations with exact lengths, one-sided
    bone-length changes (break symmetry) and left/right limb swaps.
    """
    sk = get_skeleton(skeleton)
    return NegativeMixer(
        [
            (GaussianNoise(sk, sigma_m=(0.005, 0.025)), 1.0),
            (BoneDirectionNoise(sk, angle_rad=(0.05, 0.25)), 1.0),
            (BoneLengthNoise(sk, scale=(0.03, 0.15), side="one"), 1.0),
            (LimbSwap(sk), 0.5),
        ]
    )


def pretraining_negatives(skeleton: Skeleton | str = "h36m17") -> NegativeMixer:
    """Synthetic negatives of pretraining: small and large perturbations of every kind, with
    extra weight on those that keep MPJPE small but break lengths or symmetry."""
    sk = get_skeleton(skeleton)
    return NegativeMixer(
        [
            (GaussianNoise(sk, sigma_m=(0.004, 0.04)), 1.0),
            (BoneDirectionNoise(sk, angle_rad=(0.02, 0.3)), 1.5),
            (BoneLengthNoise(sk, scale=(0.02, 0.2), side="both"), 1.0),
            (BoneLengthNoise(sk, scale=(0.03, 0.25), side="one"), 1.5),
            (LimbSwap(sk), 0.5),
            (LimbFlip(sk, axis="depth"), 0.5),
        ]
    )

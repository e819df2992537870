"""Synthetic negatives: perturbations of the ground truth (functional cores + sampler classes).

All functions take canonical ground truth ``y (B, J, 3)`` (metres, root joint zero) and return
``(B, K, J, 3)`` in the same frame with the root kept at zero. Randomness comes only from the
passed ``torch.Generator``. Magnitudes are a float, a ``(lo, hi)`` range drawn log-uniformly per
negative, or a tensor broadcastable to ``(B, K)``.

- :func:`gaussian_joint_noise`: i.i.d. noise on every non-root coordinate.
- :func:`bone_direction_noise`: rotate bone directions, every bone length kept exactly
  (forward kinematics), so the perturbation is pure pose.
- :func:`bone_length_noise`: scale bone lengths (one side only to break symmetry).
- :func:`swap_limbs` / :func:`limb_swap`: exchange left/right limb labels (an involution).
- :func:`flip_limbs` / :func:`limb_flip`: mirror a whole limb about a plane through its first
  joint (depth flip: the lifting ambiguity; lateral flip: about the body plane).
"""

from __future__ import annotations

from ..pose.skeleton import Skeleton, get_skeleton
from ._random import Magnitude
from .base import NegativeSample, Sampler
from .perturb_functional import (  # noqa: F401  (re-exported: private names kept importable here)
    _FLIP_AXES,
    _SIDES,
    _at_least_one,
    _flip_parts,
    _side_bones,
    _unit,
    bone_direction_noise,
    bone_length_noise,
    flip_limbs,
    gaussian_joint_noise,
    gaussian_log_q,
    limb_flip,
    limb_swap,
    skeleton_limbs,
    swap_limbs,
)

__all__ = [
    "gaussian_joint_noise",
    "gaussian_log_q",
    "bone_direction_noise",
    "bone_length_noise",
    "skeleton_limbs",
    "swap_limbs",
    "limb_swap",
    "flip_limbs",
    "limb_flip",
    "GaussianNoise",
    "BoneDirectionNoise",
    "BoneLengthNoise",
    "LimbSwap",
    "LimbFlip",
]


# --------------------------------------------------------------------------- sampler classes
class GaussianNoise(Sampler):
    """Joint noise sampler (:func:`gaussian_joint_noise`). ``log_q`` is returned for a fixed
    ``sigma_m`` (see :func:`gaussian_log_q`); ``None`` for a range."""

    def __init__(
        self, skeleton: Skeleton | str, sigma_m: Magnitude = 0.02, kind: str = "gaussian"
    ) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.sigma_m = sigma_m
        self.kind = kind

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        poses = gaussian_joint_noise(y_gt, self.sigma_m, k, generator, self.skeleton.root)
        log_q = None
        if isinstance(self.sigma_m, int | float) and self.sigma_m > 0:
            log_q = gaussian_log_q(poses, y_gt, float(self.sigma_m))
        return NegativeSample(poses, self.kind, log_q)

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma_m={self.sigma_m}, kind={self.kind!r})"


class BoneDirectionNoise(Sampler):
    """Bone-direction rotations with exact bone lengths (:func:`bone_direction_noise`)."""

    def __init__(
        self,
        skeleton: Skeleton | str,
        angle_rad: Magnitude = 0.15,
        p_bone: float = 1.0,
        kind: str = "bone_direction",
    ) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.angle_rad = angle_rad
        self.p_bone = p_bone
        self.kind = kind

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        poses = bone_direction_noise(
            y_gt, self.skeleton, self.angle_rad, k, generator, self.p_bone
        )
        return NegativeSample(poses, self.kind)

    def __repr__(self) -> str:
        return f"BoneDirectionNoise(angle_rad={self.angle_rad}, p_bone={self.p_bone})"


class BoneLengthNoise(Sampler):
    """Bone-length scaling (:func:`bone_length_noise`); ``side="one"`` breaks symmetry."""

    def __init__(
        self,
        skeleton: Skeleton | str,
        scale: Magnitude = 0.1,
        side: str = "both",
        kind: str | None = None,
    ) -> None:
        if side not in _SIDES:
            raise ValueError(f"unknown side {side!r}; use one of {_SIDES}")
        self.skeleton = get_skeleton(skeleton)
        self.scale = scale
        self.side = side
        self.kind = kind or ("bone_length" if side == "both" else f"bone_length_{side}")

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        poses = bone_length_noise(y_gt, self.skeleton, self.scale, k, generator, self.side)
        return NegativeSample(poses, self.kind)

    def __repr__(self) -> str:
        return f"BoneLengthNoise(scale={self.scale}, side={self.side!r})"


class LimbSwap(Sampler):
    """Left/right limb swaps (:func:`limb_swap`)."""

    def __init__(self, skeleton: Skeleton | str, p: float = 0.5, kind: str = "limb_swap") -> None:
        self.skeleton = get_skeleton(skeleton)
        self.p = p
        self.kind = kind

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        return NegativeSample(limb_swap(y_gt, self.skeleton, k, generator, self.p), self.kind)


class LimbFlip(Sampler):
    """Whole-limb mirror flips (:func:`limb_flip`)."""

    def __init__(
        self,
        skeleton: Skeleton | str,
        axis: str = "depth",
        p: float = 0.5,
        kind: str | None = None,
    ) -> None:
        if axis not in _FLIP_AXES:
            raise ValueError(f"unknown flip axis {axis!r}; use one of {_FLIP_AXES}")
        self.skeleton = get_skeleton(skeleton)
        self.axis = axis
        self.p = p
        self.kind = kind or f"limb_flip_{axis}"

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        poses = limb_flip(y_gt, self.skeleton, k, generator, self.axis, self.p)
        return NegativeSample(poses, self.kind)

"""Negative samplers ("miners"): ground truth ``(B, J, 3)`` in, ``(B, K, J, 3)`` negatives out.

All poses are canonical (root-relative metres). Samplers run under ``no_grad`` and are seeded
only through a passed ``torch.Generator``.
"""

from .base import NegativeSample, Sampler, perturbation_size
from .calibrate import Calibration, calibrate, median_perturbation_mm
from .hard import HardNegatives, hard_negatives, project_min_distance
from .mix import NegativeMixer, allocate
from .perturb import (
    BoneDirectionNoise,
    BoneLengthNoise,
    GaussianNoise,
    LimbFlip,
    LimbSwap,
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
from .prediction import PredictionNegatives, prediction_negatives
from .presets import default_negatives, pretraining_negatives

__all__ = [
    "default_negatives",
    "pretraining_negatives",
    "NegativeSample",
    "Sampler",
    "perturbation_size",
    "gaussian_joint_noise",
    "gaussian_log_q",
    "bone_direction_noise",
    "bone_length_noise",
    "skeleton_limbs",
    "swap_limbs",
    "limb_swap",
    "flip_limbs",
    "limb_flip",
    "prediction_negatives",
    "hard_negatives",
    "project_min_distance",
    "allocate",
    "calibrate",
    "median_perturbation_mm",
    "Calibration",
    "GaussianNoise",
    "BoneDirectionNoise",
    "BoneLengthNoise",
    "LimbSwap",
    "LimbFlip",
    "PredictionNegatives",
    "HardNegatives",
    "NegativeMixer",
]

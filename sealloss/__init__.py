"""sealloss: a drop-in learned structural loss (SEAL-pose) for 3D human pose lifting."""

from __future__ import annotations

import logging

from .canonical import canonical_2d, canonical_3d, pixels_to_screen, screen_to_pixels
from .errors import (
    DataNotFoundError,
    NonFiniteError,
    PoseShapeError,
    SealLossError,
    SkeletonMismatchError,
    UnitsWarning,
    WeightsFileError,
)
from .hub import build_lossnet, list_pretrained, load_lossnet, save_lossnet
from .metrics import PoseEvaluator, evaluate
from .nn import EnergyOutput, GraphormerLossNet, LossNet, MLPLossNet
from .skeleton import Skeleton, get_skeleton, joint_map, list_skeletons
from .structural import StructuralLoss, bone_length_loss, symmetry_loss
from .wrapper import AlternatingWrapper

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AlternatingWrapper",
    "GraphormerLossNet",
    "MLPLossNet",
    "LossNet",
    "EnergyOutput",
    "build_lossnet",
    "load_lossnet",
    "save_lossnet",
    "list_pretrained",
    "evaluate",
    "PoseEvaluator",
    "StructuralLoss",
    "bone_length_loss",
    "symmetry_loss",
    "Skeleton",
    "get_skeleton",
    "joint_map",
    "list_skeletons",
    "canonical_2d",
    "canonical_3d",
    "pixels_to_screen",
    "screen_to_pixels",
    "SealLossError",
    "PoseShapeError",
    "NonFiniteError",
    "SkeletonMismatchError",
    "WeightsFileError",
    "DataNotFoundError",
    "UnitsWarning",
]

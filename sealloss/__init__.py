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
from .skeleton import Skeleton, get_skeleton, joint_map, list_skeletons

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
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

"""sealloss: a drop-in learned structural loss (SEAL-pose) for 3D human pose lifting."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from .canonical import canonical_2d, canonical_3d, pixels_to_screen, screen_to_pixels
from .defaults import RECOMMENDED
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


def from_pretrained(name_or_path: Any, **kwargs: Any) -> LossNet:
    """Load a loss-net: a registered name (``"h36m17"``, the shipped weights) or a
    ``.safetensors`` file. A thin alias of :func:`sealloss.hub.load_lossnet` (same arguments)."""
    return load_lossnet(name_or_path, **kwargs)


#: sub-modules loaded on first attribute access (``sealloss.adapters.get(...)`` works after a
#: plain ``import sealloss``), so that ``import sealloss`` stays as fast as it was
_LAZY_SUBMODULES = ("adapters", "plots", "scoring", "data", "integrations", "experiment",
                    "pretrain", "baselines", "cli")


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AlternatingWrapper",
    "RECOMMENDED",
    "from_pretrained",
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

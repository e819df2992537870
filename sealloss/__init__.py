"""sealloss: a drop-in learned structural loss (SEAL-pose) for 3D human pose lifting.

The package root is lazy: each public name below is imported from its module on first use, so
``import sealloss.errors`` or ``import sealloss.metrics`` does not load the loss-nets (and
torch-geometric), and ``sealloss --help`` starts quickly. ``from sealloss import X`` and
``sealloss.X`` work as usual.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: public name -> the module that defines it (imported on first access)
_EXPORTS: dict[str, str] = {
    "canonical_2d": ".canonical",
    "canonical_3d": ".canonical",
    "pixels_to_screen": ".canonical",
    "screen_to_pixels": ".canonical",
    "RECOMMENDED": ".defaults",
    "CheckpointError": ".errors",
    "DataFormatError": ".errors",
    "DataNotFoundError": ".errors",
    "DegeneratePoseError": ".errors",
    "NonFiniteError": ".errors",
    "PoseShapeError": ".errors",
    "SealLossError": ".errors",
    "SkeletonMismatchError": ".errors",
    "UnitsWarning": ".errors",
    "WeightsFileError": ".errors",
    "build_lossnet": ".hub",
    "list_pretrained": ".hub",
    "load_lossnet": ".hub",
    "save_lossnet": ".hub",
    "PoseEvaluator": ".metrics",
    "evaluate": ".metrics",
    "EnergyOutput": ".nn",
    "GraphormerLossNet": ".nn",
    "LossNet": ".nn",
    "MLPLossNet": ".nn",
    "Skeleton": ".skeleton",
    "get_skeleton": ".skeleton",
    "joint_map": ".skeleton",
    "list_skeletons": ".skeleton",
    "StructuralLoss": ".structural",
    "bone_length_loss": ".structural",
    "symmetry_loss": ".structural",
    "AlternatingWrapper": ".wrapper",
    "refine": ".refinement",
    "RefineResult": ".refinement",
    "ClipSettings": ".clip_refinement",
}

#: sub-modules loaded on first attribute access (``sealloss.adapters.get(...)`` works after a
#: plain ``import sealloss``)
_LAZY_SUBMODULES = ("adapters", "scoring", "data", "integrations", "pretrain", "cli", "demo",
                    "hub", "nn", "metrics", "wrapper", "refinement", "objectives",
                    "clip_refinement")

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names come from __getattr__
    from .canonical import canonical_2d, canonical_3d, pixels_to_screen, screen_to_pixels
    from .clip_refinement import ClipSettings
    from .defaults import RECOMMENDED
    from .errors import (
        CheckpointError,
        DataFormatError,
        DataNotFoundError,
        DegeneratePoseError,
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
    from .refinement import RefineResult, refine
    from .skeleton import Skeleton, get_skeleton, joint_map, list_skeletons
    from .structural import StructuralLoss, bone_length_loss, symmetry_loss
    from .wrapper import AlternatingWrapper


def from_pretrained(name_or_path: Any, **kwargs: Any) -> LossNet:
    """Load a loss-net: a registered name (``"h36m17"``, the shipped weights) or a
    ``.safetensors`` file. A thin alias of :func:`sealloss.hub.load_lossnet` (same arguments)."""
    from .hub import load_lossnet

    return load_lossnet(name_or_path, **kwargs)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_LAZY_SUBMODULES))


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
    "DataFormatError",
    "CheckpointError",
    "DegeneratePoseError",
    "UnitsWarning",
    "refine",
    "RefineResult",
    "ClipSettings",
]

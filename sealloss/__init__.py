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

from .version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: public name -> the module that defines it (imported on first access)
_EXPORTS: dict[str, str] = {
    "canonical_2d": ".pose.canonical",
    "canonical_3d": ".pose.canonical",
    "pixels_to_screen": ".pose.canonical",
    "screen_to_pixels": ".pose.canonical",
    "RECOMMENDED": ".defaults",
    "TRAIN": ".defaults",
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
    "build_lossnet": ".io.weights",
    "list_pretrained": ".io.weights",
    "load_lossnet": ".io.weights",
    "save_lossnet": ".io.weights",
    "PoseEvaluator": ".metrics",
    "evaluate": ".metrics",
    "EnergyOutput": ".nn",
    "GraphormerLossNet": ".nn",
    "LossNet": ".nn",
    "MLPLossNet": ".nn",
    "Skeleton": ".pose.skeleton",
    "get_skeleton": ".pose.skeleton",
    "joint_map": ".pose.skeleton",
    "list_skeletons": ".pose.skeleton",
    "StructuralLoss": ".metrics.structural",
    "bsle": ".metrics.functional",
    "lse": ".metrics.functional",
    "AlternatingWrapper": ".training.wrapper",
    "build_wrapper": ".training.settings",
    "refine": ".posthoc.refinement",
    "RefineResult": ".posthoc.refinement",
    "ClipSettings": ".posthoc.clip_refinement",
}

#: sub-modules loaded on first attribute access (``sealloss.adapters.get(...)`` works after a
#: plain ``import sealloss``)
_LAZY_SUBMODULES = ("adapters", "data", "integrations", "cli", "demo", "io", "nn", "metrics",
                    "negatives", "objectives", "pose", "posthoc", "training")

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names come from __getattr__
    from .defaults import RECOMMENDED, TRAIN
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
    from .io.weights import build_lossnet, list_pretrained, load_lossnet, save_lossnet
    from .metrics import PoseEvaluator, evaluate
    from .metrics.functional import bsle, lse
    from .metrics.structural import StructuralLoss
    from .nn import EnergyOutput, GraphormerLossNet, LossNet, MLPLossNet
    from .pose.canonical import canonical_2d, canonical_3d, pixels_to_screen, screen_to_pixels
    from .pose.skeleton import Skeleton, get_skeleton, joint_map, list_skeletons
    from .posthoc.clip_refinement import ClipSettings
    from .posthoc.refinement import RefineResult, refine
    from .training.settings import build_wrapper
    from .training.wrapper import AlternatingWrapper


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
    "__version__",
    "AlternatingWrapper",
    "build_wrapper",
    "RECOMMENDED",
    "TRAIN",
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
    "bsle",
    "lse",
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

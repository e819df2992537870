"""sealloss.nn: loss-nets ``E(x2d, y3d)`` and their building blocks.

Names are loaded on first use, so ``sealloss.nn.base`` and the MLP loss-net never import
torch-geometric; the graph loss-net and its attention layer do.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "EnergyOutput",
    "LossNet",
    "GraphormerLossNet",
    "GraphormerBlock",
    "MLPLossNet",
    "SkeletonAttention",
    "EdgePattern",
    "JointEncoder",
    "HopBias",
    "GraphToken",
    "hop_codes",
    "poses_to_batch",
]

_WHERE = {
    "EnergyOutput": "base",
    "LossNet": "base",
    "GraphormerLossNet": "graphormer",
    "GraphormerBlock": "graphormer",
    "poses_to_batch": "graph_batch",
    "MLPLossNet": "mlp",
    "SkeletonAttention": "attention",
    "EdgePattern": "attention",
    "JointEncoder": "encodings",
    "HopBias": "encodings",
    "GraphToken": "encodings",
    "hop_codes": "encodings",
}


def __getattr__(name: str) -> Any:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'sealloss.nn' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""sealloss.nn: loss-nets ``E(x2d, y3d)`` and their building blocks."""

from .attention import EdgePattern, SkeletonAttention
from .base import EnergyOutput, LossNet
from .encodings import GraphToken, HopBias, JointEncoder, hop_codes
from .graphormer import GraphormerBlock, GraphormerLossNet, poses_to_batch
from .mlp import MLPLossNet

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

"""Skeletons: joint names, parents, left/right sides, and everything derived from them.

A :class:`Skeleton` owns a joint order. Bones, symmetric bone pairs, node degrees and the
hop-distance (shortest path) matrix are derived from ``parents`` and the left/right lists, so no
other module keeps a joint order of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import SkeletonMismatchError
from .skeleton_base import Skeleton
from .skeleton_presets import (  # noqa: F401  (re-exported: private names kept importable here)
    _H36M16,
    _H36M17,
    _HUMANEVA15,
    _MPI3DHP17,
    _MPII16,
    _REGISTRY,
    _wholebody133,
    get_skeleton,
    list_skeletons,
    register_skeleton,
)

__all__ = [
    "Skeleton",
    "get_skeleton",
    "list_skeletons",
    "joint_map",
    "JointMap",
    "register_skeleton",
]


# --------------------------------------------------------------------------- joint maps

@dataclass(frozen=True)
class JointMap:
    """Maps poses of ``source`` onto ``target`` joint order.

    ``index[k]`` is the source joint for target joint ``k`` or ``-1`` where the target joint has
    no counterpart; ``missing`` names those target joints.
    """

    source: str
    target: str
    index: tuple[int, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        tgt = get_skeleton(self.target)
        return tuple(tgt.joint_names[k] for k, i in enumerate(self.index) if i < 0)

    @property
    def valid_target(self) -> tuple[int, ...]:
        """Target joints that have a source joint."""
        return tuple(k for k, i in enumerate(self.index) if i >= 0)

    @property
    def valid_source(self) -> tuple[int, ...]:
        return tuple(i for i in self.index if i >= 0)

    def apply(self, poses: torch.Tensor, fill: float = float("nan")) -> torch.Tensor:
        """``(..., J_source, D)`` -> ``(..., J_target, D)``; unmapped joints get ``fill``."""
        src = get_skeleton(self.source)
        if poses.shape[-2] != src.num_joints:
            raise SkeletonMismatchError(
                f"joint map {self.source}->{self.target}: expected {src.num_joints} joints, "
                f"got shape {tuple(poses.shape)}"
            )
        idx = torch.tensor([max(i, 0) for i in self.index], device=poses.device)
        out = poses.index_select(-2, idx).clone()
        miss = [k for k, i in enumerate(self.index) if i < 0]
        if miss:
            out[..., miss, :] = fill
        return out


# Explicit correspondences by joint name: target name -> source name.
_NAME_MAPS: dict[tuple[str, str], dict[str, str]] = {
    ("humaneva15", "h36m17"): {
        "Hip": "Pelvis", "RHip": "RHip", "RKnee": "RKnee", "RFoot": "RAnkle", "LHip": "LHip",
        "LKnee": "LKnee", "LFoot": "LAnkle", "Thorax": "Thorax", "Head": "Head",
        "LShoulder": "LShoulder", "LElbow": "LElbow", "LWrist": "LWrist",
        "RShoulder": "RShoulder", "RElbow": "RElbow", "RWrist": "RWrist",
    },
    ("mpi3dhp17", "h36m17"): {
        "Hip": "Pelvis", "RHip": "RHip", "RKnee": "RKnee", "RFoot": "RAnkle", "LHip": "LHip",
        "LKnee": "LKnee", "LFoot": "LAnkle", "Spine": "Spine", "Thorax": "Neck",
        "Neck/Nose": "Head", "Head": "HeadTop", "LShoulder": "LShoulder", "LElbow": "LElbow",
        "LWrist": "LWrist", "RShoulder": "RShoulder", "RElbow": "RElbow", "RWrist": "RWrist",
    },
    ("wholebody133", "h36m17"): {
        "RHip": "right_hip", "RKnee": "right_knee", "RFoot": "right_ankle", "LHip": "left_hip",
        "LKnee": "left_knee", "LFoot": "left_ankle", "Neck/Nose": "nose",
        "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
        "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
    },
}


def joint_map(source: str | Skeleton, target: str | Skeleton) -> JointMap:
    """Joint-order map from ``source`` to ``target``.

    Same-named joints correspond (H36M-16, MPII-16 -> H36M-17 and back); explicit tables cover
    HumanEva-15, MPI-INF-3DHP-17 and COCO-WholeBody-133 onto H36M-17. Target joints without a
    counterpart are listed in :attr:`JointMap.missing`.
    """
    src, tgt = get_skeleton(source), get_skeleton(target)
    table = _NAME_MAPS.get((src.name, tgt.name))
    if table is None:
        rev = _NAME_MAPS.get((tgt.name, src.name))
        table = {v: k for k, v in rev.items()} if rev is not None else None
    index = []
    for name in tgt.joint_names:
        src_name = table.get(name) if table is not None else name
        index.append(src.joint_names.index(src_name) if src_name in src.joint_names else -1)
    if all(i < 0 for i in index):
        raise SkeletonMismatchError(f"no joints of {src.name!r} correspond to {tgt.name!r}")
    return JointMap(src.name, tgt.name, tuple(index))

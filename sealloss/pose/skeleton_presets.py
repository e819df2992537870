"""Preset skeletons (H36M-17/16, MPI-INF-3DHP-17, HumanEva-15, MPII-16, COCO-WholeBody-133)
and the name -> skeleton table behind :func:`get_skeleton`."""

from __future__ import annotations

from ..errors import SkeletonMismatchError
from .skeleton_base import Skeleton

__all__ = ["get_skeleton", "list_skeletons", "register_skeleton"]

# --------------------------------------------------------------------------- presets

_H36M17 = Skeleton(
    name="h36m17",
    joint_names=(
        "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
        "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    left=(4, 5, 6, 11, 12, 13),
    right=(1, 2, 3, 14, 15, 16),
)

# H36M-17 without Neck/Nose (joint 9): SemGCN / 3d-pose-baseline 2D layout. Head hangs on Thorax.
_H36M16 = Skeleton(
    name="h36m16",
    joint_names=(
        "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
        "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14),
    left=(4, 5, 6, 10, 11, 12),
    right=(1, 2, 3, 13, 14, 15),
)

# MPI-INF-3DHP 17-joint test layout (as used by the VideoPose3D-family 3DHP loaders):
# 0 head_top, 1 neck, 2 R-shoulder, 3 R-elbow, 4 R-wrist, 5 L-shoulder, 6 L-elbow, 7 L-wrist,
# 8 R-hip, 9 R-knee, 10 R-ankle, 11 L-hip, 12 L-knee, 13 L-ankle, 14 pelvis(root), 15 spine, 16 head
_MPI3DHP17 = Skeleton(
    name="mpi3dhp17",
    joint_names=(
        "HeadTop", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
        "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Pelvis", "Spine", "Head",
    ),
    parents=(16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1),
    left=(5, 6, 7, 11, 12, 13),
    right=(2, 3, 4, 8, 9, 10),
)

# HumanEva-I, VideoPose3D "humaneva15" layout.
_HUMANEVA15 = Skeleton(
    name="humaneva15",
    joint_names=(
        "Pelvis", "Thorax", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
        "LHip", "LKnee", "LAnkle", "RHip", "RKnee", "RAnkle", "Head",
    ),
    parents=(-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1),
    left=(2, 3, 4, 8, 9, 10),
    right=(5, 6, 7, 11, 12, 13),
)

# MPII-16 order of the Stacked-Hourglass detections (no Neck/Nose).
_MPII16 = Skeleton(
    name="mpii16",
    joint_names=(
        "RFoot", "RKnee", "RHip", "LHip", "LKnee", "LFoot", "Hip", "Spine", "Thorax", "Head",
        "RWrist", "RElbow", "RShoulder", "LShoulder", "LElbow", "LWrist",
    ),
    parents=(1, 2, 6, 6, 3, 4, -1, 6, 7, 8, 11, 12, 8, 8, 13, 14),
    left=(3, 4, 5, 13, 14, 15),
    right=(2, 1, 0, 12, 11, 10),
)


def _wholebody133() -> Skeleton:
    """COCO-WholeBody 133 keypoints (the layout of H3WB): 17 body, 6 feet, 68 face, 2 x 21 hands.

    The tree is rooted at the left hip (COCO has no pelvis joint); face points hang on the nose
    chain, hand points on the wrists, feet on the ankles.
    """
    names: list[str] = [
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
        "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
        "right_heel",
    ]
    names += [f"face_{i}" for i in range(68)]
    hand = ["wrist"] + [f"{f}_{k}" for f in ("thumb", "index", "middle", "ring", "pinky")
                        for k in range(1, 5)]
    names += [f"left_hand_{h}" for h in hand]
    names += [f"right_hand_{h}" for h in hand]
    parents = [-2] * 133
    # body: root left_hip(11)
    body = {11: -1, 12: 11, 13: 11, 15: 13, 14: 12, 16: 14, 5: 11, 6: 12, 7: 5, 9: 7,
            8: 6, 10: 8, 0: 5, 1: 0, 2: 0, 3: 1, 4: 2}
    for j, p in body.items():
        parents[j] = p
    # feet
    for j in (17, 18, 19):
        parents[j] = 15
    for j in (20, 21, 22):
        parents[j] = 16
    # face (23..90): jaw contour chain 23..39, others attach to the nose
    for i in range(68):
        j = 23 + i
        if i == 0:
            parents[j] = 0
        elif i < 17:
            parents[j] = j - 1
        else:
            parents[j] = 0
    # hands: left 91..111, right 112..132; hand root attaches to body wrist
    for base, wrist in ((91, 9), (112, 10)):
        parents[base] = wrist
        for f in range(5):
            for k in range(4):
                j = base + 1 + f * 4 + k
                parents[j] = base if k == 0 else j - 1
    assert all(p != -2 for p in parents)
    left = [1, 3, 5, 7, 9, 11, 13, 15, 17, 18, 19] + list(range(91, 112))
    right = [2, 4, 6, 8, 10, 12, 14, 16, 20, 21, 22] + list(range(112, 133))
    return Skeleton("wholebody133", tuple(names), tuple(parents), tuple(left), tuple(right))


_REGISTRY: dict[str, Skeleton] = {
    s.name: s for s in (_H36M17, _H36M16, _MPI3DHP17, _HUMANEVA15, _MPII16, _wholebody133())
}


def register_skeleton(skeleton: Skeleton, overwrite: bool = False) -> None:
    """Add a custom skeleton to the preset table (for ``get_skeleton`` and weights files)."""
    if skeleton.name in _REGISTRY and not overwrite:
        raise SkeletonMismatchError(f"a skeleton named {skeleton.name!r} is already registered")
    _REGISTRY[skeleton.name] = skeleton


def list_skeletons() -> list[str]:
    return sorted(_REGISTRY)


def get_skeleton(name: str | Skeleton) -> Skeleton:
    """Preset by name (``h36m17``, ``h36m16``, ``mpi3dhp17``, ``humaneva15``, ``mpii16``,
    ``wholebody133``), or the skeleton itself."""
    if isinstance(name, Skeleton):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SkeletonMismatchError(
            f"unknown skeleton {name!r}; presets: {', '.join(list_skeletons())}"
        ) from None

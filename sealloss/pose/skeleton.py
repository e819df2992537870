# One concept past 400 lines: the skeleton class, its preset table and the joint maps.
"""Skeletons: joint names, parents, left/right sides, and everything derived from them.

A :class:`Skeleton` owns a joint order. Bones, symmetric bone pairs, node degrees and the
hop-distance (shortest path) matrix are derived from ``parents`` and the left/right lists, so no
other module keeps a joint order of its own. The presets (H36M-17/16, MPI-INF-3DHP-17,
HumanEva-15, MPII-16, COCO-WholeBody-133) are a name -> skeleton table behind
:func:`get_skeleton`; :func:`joint_map` maps poses from one preset's joint order onto another's.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import cached_property

import torch

from ..errors import SkeletonMismatchError

__all__ = [
    "Skeleton",
    "get_skeleton",
    "list_skeletons",
    "joint_map",
    "JointMap",
    "register_skeleton",
]


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree of named joints.

    Args:
        name: preset name (used in weights metadata to refuse mismatched files).
        joint_names: one name per joint, in the skeleton's order.
        parents: parent index per joint, ``-1`` for the root.
        left: indices of the left-side joints.
        right: indices of the right-side joints, paired with ``left`` position by position.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    left: tuple[int, ...] = ()
    right: tuple[int, ...] = ()
    _cache: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n:
            raise SkeletonMismatchError(
                f"skeleton {self.name!r}: {n} joint names but {len(self.parents)} parents"
            )
        roots = [j for j, p in enumerate(self.parents) if p < 0]
        if len(roots) != 1:
            raise SkeletonMismatchError(
                f"skeleton {self.name!r}: needs exactly one root (parent -1), found {roots}"
            )
        for j, p in enumerate(self.parents):
            if p >= n:
                raise SkeletonMismatchError(
                    f"skeleton {self.name!r}: parent {p} of joint {j} >= {n}"
                )
        if len(self.left) != len(self.right):
            raise SkeletonMismatchError(
                f"skeleton {self.name!r}: {len(self.left)} left joints but {len(self.right)} right"
            )
        # every joint must reach the root (no cycles)
        for j in range(n):
            seen = 0
            k = j
            while self.parents[k] >= 0:
                k = self.parents[k]
                seen += 1
                if seen > n:
                    raise SkeletonMismatchError(f"skeleton {self.name!r}: cycle through joint {j}")

    # ----------------------------------------------------------------- basic facts
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def __len__(self) -> int:
        return self.num_joints

    @property
    def root(self) -> int:
        return next(j for j, p in enumerate(self.parents) if p < 0)

    def index(self, joint_name: str) -> int:
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise SkeletonMismatchError(
                f"skeleton {self.name!r} has no joint {joint_name!r}; joints: {self.joint_names}"
            ) from None

    # ----------------------------------------------------------------- derived
    @cached_property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) index pairs, one per non-root joint, in child order."""
        return tuple((p, j) for j, p in enumerate(self.parents) if p >= 0)

    @cached_property
    def bone_index(self) -> dict[int, int]:
        """child joint -> bone index."""
        return {c: i for i, (_, c) in enumerate(self.bones)}

    @cached_property
    def symmetric_bone_pairs(self) -> tuple[tuple[int, int], ...]:
        """(left bone, right bone) index pairs: bones whose child joints are a left/right pair.

        The parent may be shared (e.g. Hip->LHip and Hip->RHip) or mirrored (LHip->LKnee,
        RHip->RKnee).
        """
        pairs = []
        mirror = dict(zip(self.left, self.right))
        mirror.update({r: l for l, r in zip(self.left, self.right)})
        for l_joint, r_joint in zip(self.left, self.right):
            if l_joint not in self.bone_index or r_joint not in self.bone_index:
                continue
            pl, pr = self.parents[l_joint], self.parents[r_joint]
            if pl == pr or mirror.get(pl) == pr:
                pairs.append((self.bone_index[l_joint], self.bone_index[r_joint]))
        return tuple(pairs)

    @cached_property
    def flip_permutation(self) -> tuple[int, ...]:
        """Joint permutation that swaps left and right joints."""
        perm = list(range(self.num_joints))
        for l_joint, r_joint in zip(self.left, self.right):
            perm[l_joint], perm[r_joint] = r_joint, l_joint
        return tuple(perm)

    @cached_property
    def children(self) -> tuple[tuple[int, ...], ...]:
        ch: list[list[int]] = [[] for _ in range(self.num_joints)]
        for p, c in self.bones:
            ch[p].append(c)
        return tuple(tuple(c) for c in ch)

    @cached_property
    def degrees(self) -> tuple[int, ...]:
        """Number of bones touching each joint."""
        deg = [0] * self.num_joints
        for p, c in self.bones:
            deg[p] += 1
            deg[c] += 1
        return tuple(deg)

    @cached_property
    def topological_order(self) -> tuple[int, ...]:
        """Joint indices ordered so that every parent precedes its children (BFS from root)."""
        order = []
        queue = deque([self.root])
        while queue:
            j = queue.popleft()
            order.append(j)
            queue.extend(self.children[j])
        return tuple(order)

    @cached_property
    def _hops(self) -> tuple[tuple[int, ...], ...]:
        n = self.num_joints
        out = []
        for s in range(n):
            dist = [-1] * n
            dist[s] = 0
            queue = deque([s])
            while queue:
                u = queue.popleft()
                nbrs = list(self.children[u])
                if self.parents[u] >= 0:
                    nbrs.append(self.parents[u])
                for v in nbrs:
                    if dist[v] < 0:
                        dist[v] = dist[u] + 1
                        queue.append(v)
            out.append(tuple(dist))
        return tuple(out)

    def hop_distance(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Shortest-path (hop) distances between joints, ``(J, J)`` long tensor."""
        return torch.tensor(self._hops, dtype=torch.long, device=device)

    @property
    def max_hop(self) -> int:
        return max(max(r) for r in self._hops)

    def bone_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """``(num_bones, 2)`` long tensor of (parent, child) pairs."""
        return torch.tensor(self.bones, dtype=torch.long, device=device).reshape(-1, 2)

    def edge_index(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Fully connected directed edges ``(2, J*J)`` (source, target), self loops included.

        The loss-net attends over all joint pairs; hop distance distinguishes them.
        """
        j = self.num_joints
        src = torch.arange(j, device=device).repeat_interleave(j)
        dst = torch.arange(j, device=device).repeat(j)
        return torch.stack([src, dst])

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "joint_names": list(self.joint_names),
            "parents": list(self.parents),
            "left": list(self.left),
            "right": list(self.right),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Skeleton:
        return cls(
            name=str(d["name"]),
            joint_names=tuple(d["joint_names"]),
            parents=tuple(int(p) for p in d["parents"]),
            left=tuple(int(i) for i in d.get("left", ())),
            right=tuple(int(i) for i in d.get("right", ())),
        )

    def same_structure(self, other: Skeleton) -> bool:
        return (
            self.joint_names == other.joint_names
            and self.parents == other.parents
            and self.left == other.left
            and self.right == other.right
        )

    def check_compatible(self, other: Skeleton, what: str = "input") -> None:
        if not self.same_structure(other):
            raise SkeletonMismatchError(
                f"skeleton mismatch: {what} uses {other.name!r} ({other.num_joints} joints) "
                f"but this object expects {self.name!r} ({self.num_joints} joints)"
            )


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

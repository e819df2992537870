"""The :class:`Skeleton` class: a kinematic tree of named joints and what derives from it
(bones, symmetric pairs, degrees, hop distances). Presets live in
:mod:`sealloss.pose.skeleton_presets`; :mod:`sealloss.pose.skeleton` is the public face of both."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import cached_property

import torch

from ..errors import SkeletonMismatchError

__all__ = ["Skeleton"]


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

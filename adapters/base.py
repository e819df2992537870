"""The adapter protocol: one upstream repository's tensors <-> sealloss's canonical poses.

Canonical 3D is ``(..., 17, 3)`` root-relative **metres** in H36M-17 order (camera frame);
canonical 2D is ``(..., 17, 2)`` in the normalised screen frame ``xy / w * 2 - [1, h / w]``
(see :mod:`sealloss.pose.canonical`). An adapter converts an upstream batch into that form
(``inputs_2d``, ``pred_3d``, ``target_3d``) and back (``to_upstream_2d``, ``to_upstream_3d``).
All conversions are pure torch and differentiable in the prediction.

Root convention (METHOD.md s.7): ``pred_3d`` subtracts a *detached* predicted root and zeroes
the root slot, so the energy's gradient never reaches the root output; ``target_3d`` follows
the upstream target's own convention (VideoPose3D-family targets carry the global trajectory
in slot 0, which is zeroed, not subtracted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from sealloss.errors import PoseShapeError
from sealloss.pose.checks import check_pose
from sealloss.pose.skeleton import get_skeleton, joint_map

__all__ = [
    "Adapter",
    "CanonicalBatch",
    "LAYOUTS",
    "flip_canonical",
    "joints_to_canonical_2d",
    "joints_from_canonical",
]

LAYOUTS = ("flat", "single", "center", "seq2seq")


@dataclass(frozen=True)
class CanonicalBatch:
    """One training batch in canonical form.

    Attributes:
        x2d: ``(..., 17, 2)`` screen-normalised 2D, frames matching ``pred``.
        pred: ``(..., 17, 3)`` metres, root slot zero, differentiable in the prediction.
        target: ``(..., 17, 3)`` metres, root slot zero, or ``None`` when no target was given.
    """

    x2d: torch.Tensor
    pred: torch.Tensor
    target: torch.Tensor | None


def _raw_flip(pose: torch.Tensor, skeleton: str, what: str) -> torch.Tensor:
    sk = get_skeleton(skeleton)
    if not isinstance(pose, torch.Tensor) or pose.dim() < 2:
        raise PoseShapeError(f"{what} must be a tensor (..., {sk.num_joints}, C)")
    check_pose(pose, sk.num_joints, pose.shape[-1], what)
    perm = torch.tensor(sk.flip_permutation, device=pose.device)
    sign = torch.ones(pose.shape[-1], dtype=pose.dtype, device=pose.device)
    sign[0] = -1
    return pose.index_select(-2, perm) * sign


def flip_canonical(pose: torch.Tensor, skeleton: str = "h36m17") -> torch.Tensor:
    """Mirror a canonical pose ``(..., J, D)``: negate x and swap left/right joints."""
    return _raw_flip(pose, skeleton, "pose to flip")


def joints_to_canonical_2d(x: torch.Tensor, source: str, target: str = "h36m17") -> torch.Tensor:
    """Reorder 2D joints ``(..., J_src, 2)`` into ``target`` order ``(..., J_tgt, 2)``.

    A target joint the source lacks (Neck/Nose for 16-joint layouts) is filled with the mean of
    its tree neighbours that the source has (for Neck/Nose: the Thorax-Head midpoint). This is
    an explicit, documented fill: the loss-net needs every joint.
    """
    if source == target:
        return x
    jm = joint_map(source, target)
    out = jm.apply(x, fill=0.0)
    missing = [k for k, i in enumerate(jm.index) if i < 0]
    if not missing:
        return out
    sk = get_skeleton(target)
    have = set(jm.valid_target)
    cols = []
    for k in range(sk.num_joints):
        if k not in missing:
            cols.append(out[..., k, :])
            continue
        nbrs = [n for n in (sk.parents[k], *sk.children[k]) if n >= 0 and n in have]
        if not nbrs:
            raise PoseShapeError(
                f"cannot fill joint {sk.joint_names[k]!r}: none of its neighbours is in {source!r}"
            )
        cols.append(out[..., nbrs, :].mean(dim=-2))
    return torch.stack(cols, dim=-2)


def joints_from_canonical(x: torch.Tensor, target: str, source: str = "h36m17") -> torch.Tensor:
    """Reorder canonical joints ``(..., J_src, D)`` into the ``target`` layout (every target
    joint must exist in ``source``)."""
    if source == target:
        return x
    jm = joint_map(source, target)
    if jm.missing:
        raise PoseShapeError(f"layout {target!r} has joints {jm.missing} absent from {source!r}")
    return jm.apply(x)


class Adapter:
    """Base class of every backbone adapter.

    Subclasses set the class attributes and implement the five conversions. ``convert`` is the
    one call a training wrapper needs: it converts a whole batch consistently (adapters whose
    units depend on the ground truth, e.g. the MotionBERT family, override it).

    Class attributes:
        name: registry name (``sealloss.adapters.get(name)``).
        upstream: ``"owner/name"`` of the GitHub repository.
        commit: the 40-hex upstream commit the adapter (and its example patch) was written
            against.
        skeleton: canonical skeleton preset (always ``"h36m17"`` here).
        layout: ``"flat"`` ``(B, J*3)``, ``"single"`` ``(B, J, 3)``, ``"center"`` (window in,
            ``(B, 1, J, 3)`` out) or ``"seq2seq"`` ``(B, T, J, 3)``.
        script: the upstream training entry file the example patch hooks into.
        input_shape, output_shape, joint_order, units: one-line descriptions (README table).
        missing_2d: canonical joints the upstream 2D input does not carry (filled by the
            adapter; see the subclass docstring for how).
    """

    name: ClassVar[str] = ""
    upstream: ClassVar[str] = ""
    commit: ClassVar[str] = ""
    skeleton: ClassVar[str] = "h36m17"
    layout: ClassVar[str] = ""
    script: ClassVar[str] = ""
    input_shape: ClassVar[str] = ""
    output_shape: ClassVar[str] = ""
    joint_order: ClassVar[str] = "H36M-17"
    units: ClassVar[str] = "m"
    missing_2d: tuple[int, ...] = ()

    @property
    def num_joints(self) -> int:
        """Joints of the canonical skeleton this adapter produces."""
        return get_skeleton(self.skeleton).num_joints

    # ------------------------------------------------------------------ to canonical
    def inputs_2d(self, x: torch.Tensor) -> torch.Tensor:
        """Upstream 2D input -> canonical ``(..., 17, 2)`` matching the prediction's frames."""
        raise NotImplementedError

    def pred_3d(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Upstream prediction -> canonical ``(..., 17, 3)`` metres, root slot zero and
        detached (the energy never pushes the root)."""
        raise NotImplementedError

    def target_3d(self, y: torch.Tensor) -> torch.Tensor:
        """Upstream target -> canonical ``(..., 17, 3)`` metres, root slot zero."""
        raise NotImplementedError

    def convert(
        self, x: torch.Tensor, y_hat: torch.Tensor, y: torch.Tensor | None = None
    ) -> CanonicalBatch:
        """Convert one upstream batch (2D input, prediction, optional target) consistently."""
        x2d = self.inputs_2d(x)
        pred = self.pred_3d(y_hat)
        target = self.target_3d(y) if y is not None else None
        if x2d.shape[:-1] != pred.shape[:-1]:
            raise PoseShapeError(
                f"{self.name}: canonical 2D input {tuple(x2d.shape)} does not match the "
                f"canonical prediction {tuple(pred.shape)} (batch/frame dimensions differ)"
            )
        if target is not None and target.shape != pred.shape:
            raise PoseShapeError(
                f"{self.name}: target {tuple(target.shape)} and prediction {tuple(pred.shape)} "
                "have different shapes"
            )
        return CanonicalBatch(x2d, pred, target)

    # ------------------------------------------------------------------ back to upstream
    def to_upstream_3d(self, y_canon: torch.Tensor) -> torch.Tensor:
        """Canonical ``(..., 17, 3)`` metres -> the upstream 3D layout and units."""
        raise NotImplementedError

    def to_upstream_2d(self, x_canon: torch.Tensor) -> torch.Tensor:
        """Canonical ``(..., 17, 2)`` per-frame 2D -> the upstream 2D layout and units (frame
        axes are kept as given: pass a whole window for window-input models)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ test-time flip
    @property
    def skeleton_2d(self) -> str:
        """Skeleton preset of the upstream 2D input's joint order."""
        return self.skeleton

    def flip_upstream_2d(self, x: torch.Tensor) -> torch.Tensor:
        """The upstream horizontal flip of a 2D input ``(..., J, C)``: negate channel 0 (x)
        and swap left/right joints; other channels (confidence) move with their joints."""
        return _raw_flip(x, self.skeleton_2d, "upstream 2D input")

    def flip_upstream_3d(self, y: torch.Tensor) -> torch.Tensor:
        """The upstream horizontal flip of a 3D pose ``(..., J, 3)``: negate x, swap left/right."""
        return _raw_flip(y, self.skeleton, "upstream 3D pose")

    # ------------------------------------------------------------------ description
    def describe(self) -> dict[str, str]:
        """One row of the README table."""
        return {
            "name": self.name,
            "upstream": self.upstream,
            "commit": self.commit,
            "layout": self.layout,
            "input": self.input_shape,
            "output": self.output_shape,
            "joints": self.joint_order,
            "units": self.units,
        }

    def __repr__(self) -> str:
        cls = type(self).__name__
        return f"{cls}(name={self.name!r}, upstream={self.upstream}@{self.commit[:8]})"

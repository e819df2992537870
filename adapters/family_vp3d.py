"""Shared conversions of the VideoPose3D data pipeline (VideoPose3D, PoseFormer, PoseFormerV2,
MixSTE, KTPFormer).

Upstream conventions (BACKBONES.md s.0.1, s.2):
- 3D: camera frame, **metres**, H36M-17 order; joints 1..16 root-relative while slot 0 holds
  the global trajectory until the training loop zeroes it (``inputs_3d[:, :, 0] = 0``).
- 2D: the screen normalisation ``xy / w * 2 - [1, h / w]`` (already canonical), H36M-17 order
  (or MPII-16 for VideoPose3D's Stacked-Hourglass detections).
- Horizontal flip (training augmentation and test-time): negate x, swap left/right joints.

Two layouts:
- ``center``: a window ``(B, F, J, 2)`` in, the centre frame ``(B, 1, 17, 3)`` out (VideoPose3D
  with its optimised 1-frame model, PoseFormer, PoseFormerV2). The 2D frame matching output
  frame ``t`` is ``t + pad + causal_shift``; with VideoPose3D's ``--stride > 1`` model the output
  has ``F - 2 * pad`` frames and the same rule applies.
- ``seq2seq``: ``(B, T, J, 2)`` in, ``(B, T, 17, 3)`` out (MixSTE, KTPFormer).
"""

from __future__ import annotations

import torch

from sealloss.errors import PoseShapeError
from sealloss.pose.canonical import to_canonical_3d
from sealloss.pose.checks import check_last_dims
from sealloss.pose.skeleton import get_skeleton, joint_map

from .base import Adapter, joints_from_canonical, joints_to_canonical_2d

__all__ = ["VideoPose3DFamilyAdapter"]


class VideoPose3DFamilyAdapter(Adapter):
    """Adapter for the VideoPose3D data pipeline (metres, screen-normalised 2D).

    Args:
        pad: frames on each side of the output frame(s) in a ``center`` window
            (``(receptive_field - 1) // 2``); ``None`` infers ``(F - 1) // 2`` from the
            window length, i.e. a single output frame. Ignored for ``seq2seq``.
        causal_shift: VideoPose3D's ``causal_shift`` (``pad`` with ``--causal``, else 0).
        keypoints_2d: skeleton preset of the upstream 2D input: ``"h36m17"`` (GT/CPN/Detectron
            files) or ``"mpii16"`` (VideoPose3D's ``sh_ft_h36m`` Stacked-Hourglass file, whose
            Neck/Nose is filled with the Thorax-Head midpoint).
    """

    units = "m (camera frame, root-relative; GT slot 0 = trajectory until zeroed)"

    def __init__(
        self, pad: int | None = None, causal_shift: int = 0, keypoints_2d: str = "h36m17"
    ) -> None:
        if pad is not None and pad < 0:
            raise PoseShapeError(f"pad must be >= 0, got {pad}")
        if causal_shift < 0:
            raise PoseShapeError(f"causal_shift must be >= 0, got {causal_shift}")
        self.pad = pad
        self.causal_shift = causal_shift
        sk2 = get_skeleton(keypoints_2d)
        self._skeleton_2d = sk2.name
        self.missing_2d = tuple(
            k for k, i in enumerate(joint_map(sk2, self.skeleton).index) if i < 0
        )

    @property
    def skeleton_2d(self) -> str:
        """Skeleton preset of the upstream 2D input (``keypoints_2d``)."""
        return self._skeleton_2d

    @property
    def _j2d(self) -> int:
        return get_skeleton(self._skeleton_2d).num_joints

    # ------------------------------------------------------------------ to canonical
    def frame_slice(self, window: int) -> slice:
        """Input frames matching the output frames of a ``center`` window of ``window`` frames."""
        pad = (window - 1) // 2 if self.pad is None else self.pad
        out_frames = window - 2 * pad
        if out_frames < 1:
            raise PoseShapeError(
                f"{self.name}: a window of {window} frames is shorter than 2 * pad + 1 = "
                f"{2 * pad + 1}"
            )
        start = pad + self.causal_shift
        if start + out_frames > window:
            raise PoseShapeError(
                f"{self.name}: pad {pad} + causal_shift {self.causal_shift} leaves no room for "
                f"{out_frames} output frame(s) in a window of {window}"
            )
        return slice(start, start + out_frames)

    def inputs_2d(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, F, J, 2)`` screen-normalised -> ``(B, F_out, 17, 2)`` (``center``: the frame(s)
        matching the output; ``seq2seq``: every frame)."""
        check_last_dims(x, (self._j2d, 2), f"{self.name} 2D input")
        if x.dim() != 4:
            raise PoseShapeError(
                f"{self.name} 2D input must be (B, F, {self._j2d}, 2), got {tuple(x.shape)}"
            )
        if self.layout == "center":
            x = x[:, self.frame_slice(x.shape[1])]
        return joints_to_canonical_2d(x, self._skeleton_2d, self.skeleton)

    def pred_3d(self, y_hat: torch.Tensor) -> torch.Tensor:
        """``(B, T, 17, 3)`` metres -> canonical: the predicted root is subtracted detached and
        its slot zeroed, so no energy gradient reaches the root output."""
        self._check_3d(y_hat, "prediction")
        return to_canonical_3d(y_hat, self.skeleton, units="m", root="detach")

    def target_3d(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, T, 17, 3)`` upstream target -> canonical by **zeroing** slot 0 (it holds the
        global trajectory before the loop's ``inputs_3d[:, :, 0] = 0``; joints 1..16 are
        already root-relative, so subtracting slot 0 would be wrong)."""
        self._check_3d(y, "target")
        return to_canonical_3d(y, self.skeleton, units="m", root="zero")

    # ------------------------------------------------------------------ back to upstream
    def to_upstream_3d(self, y_canon: torch.Tensor) -> torch.Tensor:
        """Canonical metres -> upstream metres: the same tensor (root slot zero)."""
        check_last_dims(y_canon, (self.num_joints, 3), "canonical 3D pose")
        return y_canon

    def to_upstream_2d(self, x_canon: torch.Tensor) -> torch.Tensor:
        """Canonical ``(..., 17, 2)`` -> upstream ``(..., J, 2)`` (reordered for MPII-16)."""
        check_last_dims(x_canon, (self.num_joints, 2), "canonical 2D input")
        return joints_from_canonical(x_canon, self._skeleton_2d, self.skeleton)

    # ------------------------------------------------------------------ helpers
    def _check_3d(self, y: torch.Tensor, what: str) -> None:
        check_last_dims(y, (self.num_joints, 3), f"{self.name} {what}")
        if y.dim() != 4:
            raise PoseShapeError(
                f"{self.name} {what} must be (B, T, {self.num_joints}, 3), got {tuple(y.shape)}"
            )
        if self.layout == "center" and self.pad is None and y.shape[1] != 1:
            raise PoseShapeError(
                f"{self.name} {what} has {y.shape[1]} frames; a centre-frame model outputs 1 "
                "(pass pad= for VideoPose3D's --stride > 1 model)"
            )

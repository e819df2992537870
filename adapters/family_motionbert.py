"""Shared conversions of the MotionBERT data pipeline (MotionBERT, MotionAGFormer).

Upstream conventions (BACKBONES.md s.3, s.4):
- 2D input ``(B, T, 17, C)``: channels (x, y, confidence) with x, y in the screen normalisation
  ``xy / w * 2 - [1, h / w]``; ``C = 2`` with ``no_conf``; MotionAGFormer's ``add_velocity``
  appends (vx, vy) (``C = 5``, accepted as input only).
- 3D ``(B, T, 17, 3)``: **2.5D image units**, not metres: x, y are the normalised pixel
  coordinates and z is depth scaled by the same ``2 / res_w`` factor (weak perspective). One unit
  is about 2.27 m (median over the shared Human3.6M data and cameras; 5-95 %: 1.68-2.75 m), so
  a constant factor carries about +-20 % scale error. The loop makes the target root-relative
  (``rootrel``/``root_rel``); the prediction's root is only pushed to zero by the loss.
- Horizontal flip: negate channel 0 of every joint and swap left/right (``flip_data``).

Scale policy (``scale=``):
- ``"gt"``: per frame, scale prediction **and** target by
  ``ref_bone_m / mean_bone_length(target)`` so that both are in metres at a reference body size
  (BACKBONES.md s.3.3 (c)). Needs the target: use :meth:`convert`, or pass ``ref=``.
- ``"constant"``: multiply by ``unit_m`` metres per unit (s.3.3 (a); works without a target,
  e.g. for unlabelled clips; about +-20 % scale error).
- ``"auto"`` (default): ``"gt"`` whenever the target is at hand (:meth:`convert`, or ``ref=``
  given), ``"constant"`` for a call without one. Either way prediction and target of one call
  path share a factor: :meth:`convert` scales both from the target, and the one-argument calls
  ``pred_3d(y_hat)`` / ``target_3d(y)`` both use ``unit_m``.
"""

from __future__ import annotations

import torch

from sealloss.errors import PoseShapeError
from sealloss.pose.canonical import to_canonical_3d
from sealloss.pose.checks import check_last_dims
from sealloss.pose.kinematics import bone_lengths

from .base import Adapter, CanonicalBatch

__all__ = ["MotionBERTFamilyAdapter", "UNIT_M_MEDIAN", "REF_BONE_M"]

#: Median metres per 2.5D unit over the shared Human3.6M poses x 4 cameras (500 px * Z_root / f).
UNIT_M_MEDIAN = 2.27
#: Mean Human3.6M-17 bone length (16 bones) over the training subjects S1/S5/S6/S7/S8, metres.
REF_BONE_M = 0.2591


class MotionBERTFamilyAdapter(Adapter):
    """Adapter for the MotionBERT data pipeline (2.5D units, confidence channel, seq2seq).

    Args:
        scale: ``"auto"``, ``"gt"`` (per-frame factor from the target's mean bone length) or
            ``"constant"`` (``unit_m``); see the module docstring.
        unit_m: metres per 2.5D unit for ``scale="constant"``.
        ref_bone_m: mean bone length, metres, that ``scale="gt"`` maps every target onto.
        channels: 2D channels :meth:`to_upstream_2d` produces: 3 (x, y, confidence = 1) or 2
            (``no_conf``).
    """

    layout = "seq2seq"
    units = "2.5D image units (~2.27 m/unit; scale policy)"

    def __init__(
        self,
        scale: str = "auto",
        unit_m: float = UNIT_M_MEDIAN,
        ref_bone_m: float = REF_BONE_M,
        channels: int = 3,
    ) -> None:
        if scale not in ("auto", "gt", "constant"):
            raise PoseShapeError(f"scale must be 'auto', 'gt' or 'constant', got {scale!r}")
        if unit_m <= 0 or ref_bone_m <= 0:
            raise PoseShapeError(f"unit_m and ref_bone_m must be > 0, got {unit_m}, {ref_bone_m}")
        if channels not in (2, 3):
            raise PoseShapeError(f"channels must be 2 or 3, got {channels}")
        self.scale = scale
        self.unit_m = float(unit_m)
        self.ref_bone_m = float(ref_bone_m)
        self.channels = channels

    # ------------------------------------------------------------------ scale
    def metres_per_unit(self, ref: torch.Tensor | None = None) -> torch.Tensor | float:
        """Metres per upstream unit: ``unit_m`` (``constant``, or ``auto`` without ``ref``) or a
        ``(..., 1, 1)`` per-frame factor from the upstream-unit target ``ref`` (detached)."""
        if self.scale == "constant" or (self.scale == "auto" and ref is None):
            return self.unit_m
        if ref is None:
            raise PoseShapeError(
                f"{self.name}: scale='gt' needs the target to set the metric scale; call "
                "adapter.convert(x, y_hat, y) or pass ref=<upstream target>, or build the adapter "
                "with scale='constant'"
            )
        self._check_3d(ref, "reference target")
        mean_bone = bone_lengths(ref.detach(), self.skeleton).mean(dim=-1)
        if not bool((mean_bone > 0).all()):
            raise PoseShapeError(f"{self.name}: reference target has a frame with zero bones")
        return (self.ref_bone_m / mean_bone)[..., None, None]

    # ------------------------------------------------------------------ to canonical
    def inputs_2d(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, 17, C)`` -> ``(B, T, 17, 2)``: the (x, y) channels (screen-normalised)."""
        self._check_2d(x)
        return x[..., :2]

    def confidence(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, 17)`` detection confidence of the 2D input (ones when ``C = 2``)."""
        self._check_2d(x)
        if x.shape[-1] >= 3:
            return x[..., 2]
        return torch.ones(x.shape[:-1], dtype=x.dtype, device=x.device)

    def pred_3d(self, y_hat: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, 17, 3)`` 2.5D -> canonical metres (root detached and zeroed).

        ``ref``: the upstream target that sets the scale (needed for ``scale="gt"``).
        """
        self._check_3d(y_hat, "prediction")
        s = self.metres_per_unit(ref)
        return to_canonical_3d(y_hat * s, self.skeleton, units="m", root="detach")

    def target_3d(self, y: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, 17, 3)`` 2.5D target -> canonical metres (root subtracted: the upstream
        target is root-relative only with ``rootrel``). ``scale="gt"`` uses ``y`` itself when
        ``ref`` is not given."""
        self._check_3d(y, "target")
        if ref is None and self.scale == "gt":
            ref = y
        s = self.metres_per_unit(ref)
        return to_canonical_3d(y * s, self.skeleton, units="m", root="subtract")

    def convert(
        self, x: torch.Tensor, y_hat: torch.Tensor, y: torch.Tensor | None = None
    ) -> CanonicalBatch:
        """Convert a batch with one scale for prediction and target (from ``y`` unless
        ``scale="constant"``)."""
        x2d = self.inputs_2d(x)
        pred = self.pred_3d(y_hat, ref=y)
        target = self.target_3d(y, ref=y) if y is not None else None
        bad_target = target is not None and target.shape != pred.shape
        if x2d.shape[:-1] != pred.shape[:-1] or bad_target:
            raise PoseShapeError(
                f"{self.name}: 2D {tuple(x.shape)}, prediction {tuple(y_hat.shape)} and target "
                f"{None if y is None else tuple(y.shape)} disagree in batch/frame dimensions"
            )
        return CanonicalBatch(x2d, pred, target)

    # ------------------------------------------------------------------ back to upstream
    def to_upstream_3d(
        self, y_canon: torch.Tensor, ref: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Canonical metres -> 2.5D units (root at 0); ``ref`` as in :meth:`pred_3d`."""
        check_last_dims(y_canon, (self.num_joints, 3), "canonical 3D pose")
        return y_canon / self.metres_per_unit(ref)

    def to_upstream_2d(
        self, x_canon: torch.Tensor, confidence: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Canonical ``(..., 17, 2)`` -> ``(..., 17, channels)``; confidence defaults to 1
        (MotionBERT's value for ground-truth 2D)."""
        check_last_dims(x_canon, (self.num_joints, 2), "canonical 2D input")
        if self.channels == 2:
            return x_canon
        if confidence is None:
            confidence = torch.ones(x_canon.shape[:-1], dtype=x_canon.dtype, device=x_canon.device)
        return torch.cat([x_canon, confidence[..., None].to(x_canon)], dim=-1)

    # ------------------------------------------------------------------ helpers
    def _check_2d(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[-2] != self.num_joints:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise PoseShapeError(
                f"{self.name} 2D input must be (B, T, {self.num_joints}, C), got {shape}"
            )
        if x.shape[-1] < 2:
            raise PoseShapeError(f"{self.name} 2D input needs >= 2 channels, got {x.shape[-1]}")

    def _check_3d(self, y: torch.Tensor, what: str) -> None:
        check_last_dims(y, (self.num_joints, 3), f"{self.name} {what}")
        if y.dim() != 4:
            raise PoseShapeError(
                f"{self.name} {what} must be (B, T, {self.num_joints}, 3), got {tuple(y.shape)}"
            )

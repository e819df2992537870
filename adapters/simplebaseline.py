"""SimpleBaseline, PyTorch port (``weigq/3d_pose_baseline_pytorch``): flat vectors, z-scores.

Upstream conventions (BACKBONES.md s.1):
- Input ``(B, 32)``: 16 joints x (x, y) **pixels**, z-scored per dimension; the joints are
  H36M-17 without Neck/Nose (canonical ``[0..8, 10..16]``).
- Output/target ``(B, 48)``: 16 joints x (x, y, z) **millimetres**, camera frame, root-relative,
  z-scored per dimension; the joints are H36M-17 without the root (canonical ``[1..16]``, the
  root is implicitly zero).
- No flip augmentation upstream.

The z-score statistics are not stored in the model, so the adapter needs them: the upstream
``stat_3d.pth.tar`` dict (``mean``, ``std`` over 96 dims, ``dim_use``) via
:meth:`SimpleBaselineAdapter.from_stats`, or statistics fitted on canonical data with
:meth:`SimpleBaselineAdapter.fit`. weigq ships no 2D statistics (the TensorFlow
``normalization_stats`` returns them); they must be passed in. Neck/Nose, absent from the 2D
input, is filled with the Thorax-Head midpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sealloss.errors import PoseShapeError
from sealloss.pose.canonical import pixels_to_screen, root_relative, screen_to_pixels
from sealloss.pose.checks import check_last_dims

from .base import (
    Adapter,
    flip_canonical,
    joints_from_canonical,
    joints_to_canonical_2d,
)

__all__ = ["SimpleBaselineAdapter"]

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]


def _compact(
    mean: ArrayLike, std: ArrayLike, dim_use: ArrayLike | None, n: int, what: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n,)`` float64 mean/std of the used dimensions (select ``dim_use`` from full vectors)."""
    m = torch.as_tensor(np.asarray(mean, dtype=np.float64)).reshape(-1)
    s = torch.as_tensor(np.asarray(std, dtype=np.float64)).reshape(-1)
    if m.shape != s.shape:
        raise PoseShapeError(f"{what}: mean {tuple(m.shape)} and std {tuple(s.shape)} differ")
    if dim_use is not None:
        idx = torch.as_tensor(np.asarray(dim_use, dtype=np.int64)).reshape(-1)
        if idx.numel() != n:
            raise PoseShapeError(f"{what}: dim_use has {idx.numel()} entries, expected {n}")
        if not bool((idx[1:] > idx[:-1]).all()):
            raise PoseShapeError(f"{what}: dim_use must be strictly increasing")
        m, s = m[idx], s[idx]
    if m.numel() != n:
        raise PoseShapeError(
            f"{what}: expected {n} used dimensions, got {m.numel()} (pass dim_use= to select "
            "them from a full-length vector)"
        )
    if not bool((s > 0).all()):
        raise PoseShapeError(f"{what}: std must be > 0 on every used dimension")
    return m, s


class SimpleBaselineAdapter(Adapter):
    """Adapter for weigq's SimpleBaseline (flat, z-scored pixels in, z-scored mm out).

    Unlike the other adapters it needs four statistics, because the upstream model works on
    z-scored vectors and does not store their mean and std: ``get("simplebaseline", mean_3d=...,
    std_3d=..., mean_2d=..., std_2d=...)``. Get them from upstream's ``stat_3d.pth.tar`` plus a
    2D dict of the same form (:meth:`from_stats`), or fit them on canonical training pairs
    (:meth:`fit`)::

        adapter = SimpleBaselineAdapter.fit(x2d_train, y3d_train)  # (N,17,2), (N,17,3) metres

    Args:
        mean_3d, std_3d: 3D statistics, millimetres: 48 used dims, or 96 with ``dim_use_3d``.
        mean_2d, std_2d: 2D statistics, pixels: 32 used dims, or 64 with ``dim_use_2d``.
        dim_use_3d, dim_use_2d: indices of the used dims in the full 32-joint vectors.
        width, height: image size in pixels for the screen normalisation (Human3.6M:
            1000 x 1000 or 1000 x 1002; the loss-net root-centres 2D, so ``height`` only shifts
            an offset that cancels). Scalars or tensors of the batch shape.
    """

    name = "simplebaseline"
    upstream = "weigq/3d_pose_baseline_pytorch"
    commit = "a03094bb479770abc43dc5b87ad394b85bb6dcab"
    layout = "flat"
    script = "main_seal.py (new file; main.py does not parse on Python >= 3.7)"
    input_shape = "[B,32] (16 joints x 2)"
    output_shape = "[B,48] (16 joints x 3)"
    joint_order = "H36M-17 minus Neck/Nose (2D), minus root (3D)"
    units = "z-scored px (2D), z-scored mm root-relative (3D)"
    missing_2d = (9,)
    #: canonical index of each upstream joint
    joints_2d: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16)
    joints_3d: tuple[int, ...] = tuple(range(1, 17))

    def __init__(
        self,
        mean_3d: ArrayLike,
        std_3d: ArrayLike,
        mean_2d: ArrayLike,
        std_2d: ArrayLike,
        dim_use_3d: ArrayLike | None = None,
        dim_use_2d: ArrayLike | None = None,
        width: float | torch.Tensor = 1000.0,
        height: float | torch.Tensor = 1000.0,
    ) -> None:
        self.mean_3d, self.std_3d = _compact(mean_3d, std_3d, dim_use_3d, 48, "3D statistics")
        self.mean_2d, self.std_2d = _compact(mean_2d, std_2d, dim_use_2d, 32, "2D statistics")
        self.width = width
        self.height = height

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_stats(cls, stat_3d: dict, stat_2d: dict, **kwargs: object) -> SimpleBaselineAdapter:
        """From the upstream ``stat_3d`` dict and a 2D dict of the same form (``mean``, ``std``,
        ``dim_use``)."""
        return cls(
            stat_3d["mean"], stat_3d["std"], stat_2d["mean"], stat_2d["std"],
            dim_use_3d=stat_3d.get("dim_use"), dim_use_2d=stat_2d.get("dim_use"), **kwargs,
        )

    @classmethod
    def fit(
        cls,
        x2d: torch.Tensor,
        y3d: torch.Tensor,
        width: float = 1000.0,
        height: float = 1000.0,
    ) -> SimpleBaselineAdapter:
        """Fit z-score statistics on canonical data: ``x2d (N, 17, 2)`` screen-normalised,
        ``y3d (N, 17, 3)`` root-relative metres (all frames from one image size)."""
        check_last_dims(x2d, (17, 2), "x2d")
        check_last_dims(y3d, (17, 3), "y3d")
        px = screen_to_pixels(x2d.double(), width, height)[..., list(cls.joints_2d), :]
        mm = (y3d.double() * 1000.0)[..., list(cls.joints_3d), :]
        px, mm = px.reshape(-1, 32), mm.reshape(-1, 48)
        return cls(
            mm.mean(0), mm.std(0).clamp_min(1e-6), px.mean(0), px.std(0).clamp_min(1e-6),
            width=width, height=height,
        )

    # ------------------------------------------------------------------ to canonical
    def inputs_2d(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 32)`` z-scored pixels -> ``(B, 17, 2)`` screen frame (Neck/Nose = Thorax-Head
        midpoint)."""
        check_last_dims(x, (32,), f"{self.name} 2D input")
        px = (x * self.std_2d.to(x) + self.mean_2d.to(x)).unflatten(-1, (16, 2))
        uv = pixels_to_screen(px, self.width, self.height)
        return joints_to_canonical_2d(uv, "h36m16", self.skeleton)

    def pred_3d(self, y_hat: torch.Tensor) -> torch.Tensor:
        """``(B, 48)`` z-scored mm -> ``(B, 17, 3)`` metres with the implicit zero root."""
        return self._unnormalise_3d(y_hat, "prediction")

    def target_3d(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, 48)`` z-scored mm -> ``(B, 17, 3)`` metres with the implicit zero root."""
        return self._unnormalise_3d(y, "target")

    # ------------------------------------------------------------------ back to upstream
    def to_upstream_3d(self, y_canon: torch.Tensor) -> torch.Tensor:
        """``(..., 17, 3)`` metres -> ``(..., 48)`` z-scored mm (made root-relative first)."""
        check_last_dims(y_canon, (self.num_joints, 3), "canonical 3D pose")
        mm = root_relative(y_canon) * 1000.0
        flat = mm[..., 1:, :].flatten(-2)
        return (flat - self.mean_3d.to(flat)) / self.std_3d.to(flat)

    def to_upstream_2d(self, x_canon: torch.Tensor) -> torch.Tensor:
        """``(..., 17, 2)`` screen frame -> ``(..., 32)`` z-scored pixels (Neck/Nose dropped)."""
        check_last_dims(x_canon, (self.num_joints, 2), "canonical 2D input")
        px = screen_to_pixels(joints_from_canonical(x_canon, "h36m16"), self.width, self.height)
        flat = px.flatten(-2)
        return (flat - self.mean_2d.to(flat)) / self.std_2d.to(flat)

    # ------------------------------------------------------------------ flip
    def flip_upstream_2d(self, x: torch.Tensor) -> torch.Tensor:
        """Mirror a z-scored 2D input about the image centre (through the canonical frame)."""
        return self.to_upstream_2d(flip_canonical(self.inputs_2d(x), self.skeleton))

    def flip_upstream_3d(self, y: torch.Tensor) -> torch.Tensor:
        """Mirror a z-scored 3D pose (negate camera x, swap left/right)."""
        return self.to_upstream_3d(flip_canonical(self.target_3d(y), self.skeleton))

    # ------------------------------------------------------------------ helpers
    def _unnormalise_3d(self, y: torch.Tensor, what: str) -> torch.Tensor:
        check_last_dims(y, (48,), f"{self.name} {what}")
        mm = (y * self.std_3d.to(y) + self.mean_3d.to(y)).unflatten(-1, (16, 3))
        root = torch.zeros(*mm.shape[:-2], 1, 3, dtype=mm.dtype, device=mm.device)
        return torch.cat([root, mm], dim=-2) / 1000.0

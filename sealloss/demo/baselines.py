"""A SimpleBaseline lifter of our own (Martinez et al., ICCV 2017), from the paper's description.

Linear -> BatchNorm -> ReLU -> Dropout residual MLP on the flattened 2D pose; predicts the
non-root joints of a root-relative 3D pose (the root is exactly zero, so no loss or energy can
move it). Inputs are z-scored with statistics of the training set kept as buffers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..pose.skeleton import Skeleton, get_skeleton

__all__ = ["SimpleBaseline"]


class _Block(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(width, width),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )

    def forward(self, h: Tensor) -> Tensor:
        return h + self.net(h)


class SimpleBaseline(nn.Module):
    """2D ``(B, J, 2)`` (screen frame) -> 3D ``(B, J, 3)`` root-relative metres.

    Args:
        skeleton: joint layout of input and output.
        width: hidden width (1024 in the paper).
        blocks: residual stages (2 in the paper).
        dropout: dropout probability (0.5 in the paper).
    """

    def __init__(
        self,
        skeleton: Skeleton | str = "h36m17",
        width: int = 1024,
        blocks: int = 2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.skeleton = get_skeleton(skeleton)
        j = self.skeleton.num_joints
        self.inp = nn.Sequential(
            nn.Linear(2 * j, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.blocks = nn.Sequential(*[_Block(width, dropout) for _ in range(blocks)])
        self.out = nn.Linear(width, 3 * (j - 1))
        self.register_buffer("x_mean", torch.zeros(2 * j))
        self.register_buffer("x_std", torch.ones(2 * j))
        self.register_buffer("y_scale", torch.tensor(0.25))
        keep = [i for i in range(j) if i != self.skeleton.root]
        self.register_buffer("_keep", torch.tensor(keep), persistent=False)

    @torch.no_grad()
    def set_input_stats(self, x2d: Tensor) -> None:
        """Z-score statistics from training inputs ``(N, J, 2)``."""
        flat = x2d.reshape(x2d.shape[0], -1).float()
        self.x_mean.copy_(flat.mean(0))
        self.x_std.copy_(flat.std(0).clamp_min(1e-6))

    def forward(self, x2d: Tensor) -> Tensor:
        b = x2d.shape[0]
        h = (x2d.reshape(b, -1) - self.x_mean) / self.x_std
        out = self.out(self.blocks(self.inp(h))).reshape(b, -1, 3) * self.y_scale
        y = out.new_zeros(b, self.skeleton.num_joints, 3)
        return y.index_copy(1, self._keep, out)

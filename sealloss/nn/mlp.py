"""Residual-MLP loss-net (Martinez-style) on flattened canonical 2D and 3D poses."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..pose.canonical import CanonicalSpec
from ..pose.skeleton import Skeleton
from ._common import MAX_LAYERS, MAX_WIDTH, check_int_arg, make_activation
from .base import LossNet

__all__ = ["MLPLossNet", "ResidualBlock"]


class ResidualBlock(nn.Module):
    """``h + W_2 act(W_1 act(LN(h)))``: pre-LN residual block, no BatchNorm, no dropout."""

    def __init__(self, width: int, activation: str = "gelu") -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, width),
            make_activation(activation),
            nn.Linear(width, width),
            make_activation(activation),
        )

    def forward(self, h: Tensor) -> Tensor:
        return h + self.net(h)


class MLPLossNet(LossNet):
    r"""Energy from a residual MLP on ``[vec(x) \| vec(y)]`` (canonical 2D and 3D, flattened).

    .. math::
        E(x, y) = w^\top \mathrm{LN}(R_K \circ \dots \circ R_1(W_0 [\mathrm{vec}\,x \,\|\,
        \mathrm{vec}\,y] + b_0)) + b

    The baseline of METHOD.md s.2 (it sees no skeleton structure beyond the joint order).
    ``per_joint`` is not supported: :meth:`forward` returns ``per_joint=None`` even when asked.

    Args:
        skeleton: skeleton (or preset name) of the poses.
        width: hidden width (default 256), 1..8192.
        blocks: residual blocks (default 2), 0..128 (0: one linear layer and the head).
        activation: smooth activation name (default ``gelu``).
        spec: canonicalisation of the inputs (default metres, root detached).

    Shapes:
        - x2d ``(..., J, 2)``, y3d ``(..., J, 3)`` -> energy ``(...)``.
    """

    kind = "mlp"
    has_per_joint = False

    def __init__(
        self,
        skeleton: Skeleton | str = "h36m17",
        width: int = 256,
        blocks: int = 2,
        activation: str = "gelu",
        spec: CanonicalSpec | None = None,
    ) -> None:
        width = check_int_arg("width", width, 1, MAX_WIDTH)
        blocks = check_int_arg("blocks", blocks, 0, MAX_LAYERS)
        if not isinstance(activation, str):
            raise ValueError(f"activation must be a name, got {activation!r}")
        make_activation(activation)  # validate early
        super().__init__(skeleton, spec)
        self._hp = {"width": width, "blocks": blocks, "activation": activation}
        j = self.skeleton.num_joints
        self.inp = nn.Linear(5 * j, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width, activation) for _ in range(blocks)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 1)

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self._hp)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def _energy(self, x2d: Tensor, y3d: Tensor, per_joint: bool) -> tuple[Tensor, None]:
        n = x2d.shape[0]
        h = self.inp(torch.cat([x2d.reshape(n, -1), y3d.reshape(n, -1)], dim=-1))
        return self.head(self.norm(self.blocks(h))).squeeze(-1), None


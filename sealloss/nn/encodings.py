"""Token and bias encodings of the Graphormer loss-net (METHOD.md s.2).

- :class:`JointEncoder`: early fusion of each joint's canonical 2D and 3D position, plus a learned
  joint-identity embedding and a centrality (degree) embedding.
- :class:`HopBias`: learned per-head attention-logit bias indexed by hop distance, with separate
  entries for the virtual graph token.
- :class:`GraphToken`: the learned initial state of the virtual graph token.

Hop codes. Pairs are coded by :func:`hop_codes` as a long tensor: ``d >= 0`` is the hop distance
between two joints; three negative codes mark the pairs that involve the virtual graph token
(:data:`TOKEN_TO_JOINT` for token query / joint key, :data:`JOINT_TO_TOKEN` for joint query /
token key, :data:`TOKEN_SELF`). :meth:`HopBias.bucket` maps codes to rows of its table, clamping
distances at ``max_hop``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..skeleton import Skeleton

__all__ = [
    "TOKEN_TO_JOINT",
    "JOINT_TO_TOKEN",
    "TOKEN_SELF",
    "hop_codes",
    "JointEncoder",
    "HopBias",
    "GraphToken",
]

TOKEN_TO_JOINT = -1
JOINT_TO_TOKEN = -2
TOKEN_SELF = -3


def hop_codes(skeleton: Skeleton, device: torch.device | str | None = None) -> Tensor:
    """Pair codes ``(J+1, J+1)`` (query, key) for a skeleton with the graph token at index 0.

    ``codes[1 + i, 1 + j]`` is the hop distance between joints ``i`` and ``j``; row and column 0
    hold the token codes (see the module docstring).
    """
    j = skeleton.num_joints
    codes = torch.empty(j + 1, j + 1, dtype=torch.long, device=device)
    codes[1:, 1:] = skeleton.hop_distance(device)
    codes[0, 1:] = TOKEN_TO_JOINT
    codes[1:, 0] = JOINT_TO_TOKEN
    codes[0, 0] = TOKEN_SELF
    return codes


class JointEncoder(nn.Module):
    r"""Early-fusion joint tokens.

    .. math::
        h_j = W [x_j \,\|\, y_j] + b + e^{\text{id}}_{\text{id}(j)} + e^{\text{deg}}_{\deg(j)}

    with ``x_j`` the canonical 2D position (screen frame, root-centred) and ``y_j`` the canonical
    3D position (metres, root-relative) of joint ``j``; degrees are clamped at ``max_degree``.

    Args:
        width: token width ``C``.
        num_joint_ids: size of the joint-identity vocabulary.
        max_degree: largest degree with its own embedding (default 8).

    Shapes:
        - x2d ``(..., 2)``, y3d ``(..., 3)``, joint_ids ``(...)`` or broadcastable, degrees idem.
        - output ``(..., C)``.
    """

    def __init__(self, width: int, num_joint_ids: int, max_degree: int = 8) -> None:
        super().__init__()
        self.width = width
        self.num_joint_ids = num_joint_ids
        self.max_degree = max_degree
        self.proj = nn.Linear(5, width)
        self.joint_embedding = nn.Embedding(num_joint_ids, width)
        self.degree_embedding = nn.Embedding(max_degree + 1, width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.proj.reset_parameters()
        nn.init.normal_(self.joint_embedding.weight, std=0.02)
        nn.init.normal_(self.degree_embedding.weight, std=0.02)

    def embeddings(self, joint_ids: Tensor, degrees: Tensor) -> Tensor:
        """Identity + centrality embedding ``(..., C)`` (independent of the pose)."""
        return self.joint_embedding(joint_ids) + self.degree_embedding(
            degrees.clamp(max=self.max_degree)
        )

    def forward(self, x2d: Tensor, y3d: Tensor, joint_ids: Tensor, degrees: Tensor) -> Tensor:
        return self.proj(torch.cat([x2d, y3d], dim=-1)) + self.embeddings(joint_ids, degrees)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.width}, num_joint_ids={self.num_joint_ids}, "
            f"max_degree={self.max_degree})"
        )


class HopBias(nn.Module):
    r"""Spatial encoding: a learned per-head scalar added to the attention logits.

    .. math::
        b_h(i, j) = B[\text{bucket}(i, j), h]

    where the bucket is ``min(spd(i, j), max_hop)`` between joints and one of three separate
    buckets for token-joint, joint-token and token-token pairs.

    Args:
        heads: number of attention heads ``H``.
        max_hop: largest hop distance with its own bias; longer distances share it.

    Shapes:
        - codes: any shape ``(...)`` of pair codes (:func:`hop_codes`).
        - output: ``(..., H)``.
    """

    def __init__(self, heads: int, max_hop: int) -> None:
        super().__init__()
        self.heads = heads
        self.max_hop = max_hop
        self.table = nn.Embedding(max_hop + 4, heads)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.table.weight)

    def bucket(self, codes: Tensor) -> Tensor:
        """Pair codes -> table rows: ``[0, max_hop]`` joints, ``max_hop + 1..3`` token pairs."""
        return torch.where(codes >= 0, codes.clamp(max=self.max_hop), self.max_hop - codes)

    def forward(self, buckets: Tensor) -> Tensor:
        """Bias ``(..., H)`` for table rows ``buckets`` (from :meth:`bucket`)."""
        return self.table(buckets)

    def dense(self, buckets: Tensor) -> Tensor:
        """``(L, L)`` buckets -> ``(H, L, L)`` bias (the layout of ``forward_dense``)."""
        return self.table(buckets).permute(2, 0, 1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(heads={self.heads}, max_hop={self.max_hop})"


class GraphToken(nn.Module):
    """Learned initial state ``(C,)`` of the virtual graph token that reads out the energy.

    ``forward(n)`` returns ``(n, 1, C)`` (dense layout, token at position 0).
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.weight = nn.Parameter(torch.empty(width))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, n: int) -> Tensor:
        return self.weight.view(1, 1, -1).expand(n, 1, -1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.width})"

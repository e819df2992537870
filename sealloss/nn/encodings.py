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

from ..pose.skeleton import Skeleton

__all__ = [
    "TOKEN_TO_JOINT",
    "JOINT_TO_TOKEN",
    "TOKEN_SELF",
    "hop_codes",
    "JointEncoder",
    "joint_features",
    "FEATURE_SETS",
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


FEATURE_SETS = {"positions": 5, "structural": 12}


def joint_features(
    x2d: Tensor,
    y3d: Tensor,
    parent: Tensor,
    mirror: Tensor,
    features: str = "structural",
    coord_scale: float = 10.0,
    eps: float = 1e-4,
) -> Tensor:
    r"""Per-joint input features of the early-fusion encoder.

    ``"positions"``: ``[x_j, s y_j]`` (5). ``"structural"`` adds each joint's bone to its parent
    in 3D (``s (y_j - y_{p(j)})``, 3) and 2D (``x_j - x_{p(j)}``, 2), the bone length
    ``s |y_j - y_{p(j)}|`` (1, smoothed by ``eps`` so its gradient is finite at zero) and the
    difference between that length and the mirror joint's (1), so bone lengths and left/right
    symmetry are visible to the first layer (12 in all). ``s = coord_scale`` (default 10:
    decimetres) keeps centimetre differences from vanishing beside the embeddings.

    Args:
        x2d: ``(..., J, 2)`` canonical 2D (dense) or ``(N, 2)`` node features (graph).
        y3d: ``(..., J, 3)`` or ``(N, 3)`` canonical metres.
        parent: ``(J,)`` or ``(N,)`` index (along dim -2) of each joint's parent (root: itself).
        mirror: same layout: index of each joint's left/right mirror (itself if none).

    Returns:
        ``(..., J, F)`` or ``(N, F)`` features, ``F = FEATURE_SETS[features]``.
    """
    y = y3d * coord_scale
    if features == "positions":
        return torch.cat([x2d, y], dim=-1)
    if features != "structural":
        raise ValueError(f"unknown feature set {features!r}; use one of {sorted(FEATURE_SETS)}")
    b3 = y - y.index_select(-2, parent)
    b2 = x2d - x2d.index_select(-2, parent)
    length = (b3.pow(2).sum(-1, keepdim=True) + eps * eps).sqrt() - eps
    asym = length - length.index_select(-2, mirror)
    return torch.cat([x2d, y, b3, b2, length, asym], dim=-1)


class JointEncoder(nn.Module):
    r"""Early-fusion joint tokens.

    .. math::
        h_j = W f_j + b + e^{\text{id}}_{\text{id}(j)} + e^{\text{deg}}_{\deg(j)}

    with ``f_j`` the per-joint features of :func:`joint_features` (built from the canonical 2D
    and 3D position of joint ``j`` and of its parent and mirror joints); degrees are clamped at
    ``max_degree``.

    Args:
        width: token width ``C``.
        num_joint_ids: size of the joint-identity vocabulary.
        max_degree: largest degree with its own embedding (default 8).
        in_features: feature width ``F`` (5 for positions only, 12 for structural features).

    Shapes:
        - features ``(..., F)``, joint_ids ``(...)`` or broadcastable, degrees idem.
        - output ``(..., C)``.
    """

    def __init__(
        self, width: int, num_joint_ids: int, max_degree: int = 8, in_features: int = 5
    ) -> None:
        super().__init__()
        self.width = width
        self.num_joint_ids = num_joint_ids
        self.max_degree = max_degree
        self.in_features = in_features
        self.proj = nn.Linear(in_features, width)
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

    def forward(self, features: Tensor, joint_ids: Tensor, degrees: Tensor) -> Tensor:
        return self.proj(features) + self.embeddings(joint_ids, degrees)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.width}, num_joint_ids={self.num_joint_ids}, "
            f"max_degree={self.max_degree}, in_features={self.in_features})"
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

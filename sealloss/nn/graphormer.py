"""Graphormer loss-net over the skeleton graph (METHOD.md s.2); PyG batching of poses lives in
:mod:`sealloss.nn.graph_batch`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from ..errors import PoseShapeError, SkeletonMismatchError
from ..pose.canonical import UNIT_SCALE, CanonicalSpec
from ..pose.checks import check_finite
from ..pose.skeleton import Skeleton, get_skeleton
from ._common import (
    MAX_COORD_SCALE,
    MAX_DEGREE,
    MAX_HEADS,
    MAX_HOP,
    MAX_LAYERS,
    MAX_MLP_RATIO,
    MAX_WIDTH,
    check_float_arg,
    check_int_arg,
    make_activation,
)
from .attention import EdgePattern, SkeletonAttention
from .base import EnergyOutput, LossNet
from .encodings import FEATURE_SETS, GraphToken, HopBias, JointEncoder, hop_codes, joint_features

__all__ = ["GraphormerBlock", "GraphormerLossNet"]


class GraphormerBlock(nn.Module):
    """Pre-LayerNorm transformer block: ``h + Attn(LN(h))`` then ``h + MLP(LN(h))``.

    No BatchNorm and no dropout: the energy gradient must be deterministic and independent of
    the other poses in the batch.

    Shapes: dense ``(B, L, C)`` with ``bias (H, L, L)``, or graph ``(N, C)`` with
    ``edge_index (2, E)`` and ``edge_bias (E, H)``.
    """

    def __init__(self, width: int, heads: int, mlp_ratio: float = 2, activation: str = "gelu"):
        super().__init__()
        hidden = int(round(width * mlp_ratio))
        self.norm1 = nn.LayerNorm(width)
        self.attn = SkeletonAttention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden), make_activation(activation), nn.Linear(hidden, width)
        )

    def forward(
        self,
        h: Tensor,
        bias: Tensor | None = None,
        edge_index: Tensor | None = None,
        edge_bias: Tensor | None = None,
        pattern: EdgePattern | None = None,
    ) -> Tensor:
        h = h + self.attn(
            self.norm1(h), edge_index=edge_index, edge_bias=edge_bias, bias=bias, pattern=pattern
        )
        return h + self.mlp(self.norm2(h))


class GraphormerLossNet(LossNet):
    r"""Graph-transformer energy ``E(x, y)`` over the joints of a skeleton.

    Tokens: early fusion of each joint's canonical 2D and 3D position
    (:class:`~sealloss.nn.JointEncoder`, with joint-identity and degree embeddings) and one
    virtual graph token. ``layers`` pre-LN blocks of :class:`~sealloss.nn.SkeletonAttention`
    over all pairs with a learned hop-distance bias (:class:`~sealloss.nn.HopBias`, shared by
    the layers), then a final LayerNorm and two linear heads:

    .. math::
        E(x, y) = w_g^\top \hat h_{\text{token}} + b_g + \sum_{j=1}^{J} w_n^\top \hat h_j,
        \qquad e_j = w_n^\top \hat h_j + \frac{w_g^\top \hat h_{\text{token}} + b_g}{J}

    so the per-joint energies ``e_j`` sum exactly to ``E``: the token's share is spread evenly
    and the differences between joints are the node heads' blame.

    Paths: :meth:`forward` (one skeleton, dense batches) uses the dense attention path;
    :meth:`forward_graph` scores a PyG ``Batch`` (:func:`~sealloss.nn.poses_to_batch`) of any of
    the net's skeletons by message passing. Both share all parameters and agree to float rounding.

    Joint identities are embedded by joint **name**: the vocabulary is the union of the joint
    names of ``skeleton`` and ``extra_skeletons`` (same-named joints share an embedding), so
    one net can score several skeletons.

    Args:
        skeleton: main skeleton (or preset name); :meth:`forward` scores poses of it.
        width: token width ``C`` (default 64), 1..8192, divisible by ``heads``.
        heads: attention heads (default 4), 1..256.
        layers: transformer blocks (default 3), 1..128.
        mlp_ratio: MLP hidden width / ``C`` (default 2), in (0, 16].
        activation: smooth activation name (``gelu``, ``silu``, ``tanh``, ``softplus``).
        extra_skeletons: further skeletons :meth:`forward_graph` accepts.
        max_hop: hop distances above it share one bias (default: the largest in the skeletons),
            1..1024.
        max_degree: degrees above it share one centrality embedding (default 8), 1..1024.
        spec: canonicalisation of the inputs (default ``CanonicalSpec()``: metres, root detached).

    Shapes:
        - x2d ``(..., J, 2)``, y3d ``(..., J, 3)`` -> energy ``(...)``, per_joint ``(..., J)``.
    """

    kind = "graphormer"
    has_per_joint = True

    def __init__(
        self,
        skeleton: Skeleton | str = "h36m17",
        width: int = 64,
        heads: int = 4,
        layers: int = 3,
        mlp_ratio: float = 2,
        activation: str = "gelu",
        extra_skeletons: Sequence[Skeleton | str | dict] = (),
        max_hop: int | None = None,
        max_degree: int = 8,
        spec: CanonicalSpec | None = None,
        features: str = "structural",
        coord_scale: float = 10.0,
    ) -> None:
        """Raises ValueError naming the argument for an out-of-range hyper-parameter."""
        width = check_int_arg("width", width, 1, MAX_WIDTH)
        heads = check_int_arg("heads", heads, 1, MAX_HEADS)
        if width % heads:
            raise ValueError(f"width ({width}) must be divisible by heads ({heads})")
        layers = check_int_arg("layers", layers, 1, MAX_LAYERS)
        mlp_ratio = check_float_arg("mlp_ratio", mlp_ratio, 0.0, MAX_MLP_RATIO)
        if int(round(width * mlp_ratio)) < 1:
            raise ValueError(f"mlp_ratio {mlp_ratio} gives an empty MLP for width {width}")
        if max_hop is not None:
            max_hop = check_int_arg("max_hop", max_hop, 1, MAX_HOP)
        max_degree = check_int_arg("max_degree", max_degree, 1, MAX_DEGREE)
        coord_scale = check_float_arg("coord_scale", coord_scale, 0.0, MAX_COORD_SCALE)
        if not isinstance(activation, str):
            raise ValueError(f"activation must be a name, got {activation!r}")
        if not isinstance(features, str) or features not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {features!r}; use one of {sorted(FEATURE_SETS)}")
        super().__init__(skeleton, spec)
        known: dict[str, Skeleton] = {self.skeleton.name: self.skeleton}
        for s in extra_skeletons:
            sk = Skeleton.from_dict(s) if isinstance(s, dict) else get_skeleton(s)
            if sk.name in known:
                known[sk.name].check_compatible(sk, f"extra skeleton {sk.name!r}")
                continue
            known[sk.name] = sk
        self.skeletons: dict[str, Skeleton] = known
        vocab: list[str] = []
        for sk in known.values():
            vocab.extend(n for n in sk.joint_names if n not in vocab)
        self.joint_vocab: tuple[str, ...] = tuple(vocab)
        self._hp = {
            "width": int(width),
            "heads": int(heads),
            "layers": int(layers),
            "mlp_ratio": mlp_ratio,
            "activation": activation,
            "extra_skeletons": [sk.to_dict() for sk in list(known.values())[1:]],
            "max_hop": int(
                max_hop if max_hop is not None else max(s.max_hop for s in known.values())
            ),
            "max_degree": int(max_degree),
            "features": features,
            "coord_scale": float(coord_scale),
        }
        make_activation(activation)  # validate early
        self.encoder = JointEncoder(
            width, len(vocab), self._hp["max_degree"], FEATURE_SETS[features]
        )
        self.token = GraphToken(width)
        self.hop_bias = HopBias(heads, self._hp["max_hop"])
        self.blocks = nn.ModuleList(
            GraphormerBlock(width, heads, mlp_ratio, activation) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(width)
        self.token_head = nn.Linear(width, 1)
        self.joint_head = nn.Linear(width, 1, bias=False)
        self.reset_parameters()

        # index tensors, cached once (not saved: they follow from the skeletons)
        ids, deg, par, mir, self._offset = [], [], [], [], {}
        for name, sk in known.items():
            self._offset[name] = sum(len(i) for i in ids)
            ids.append([vocab.index(n) for n in sk.joint_names])
            deg.append(list(sk.degrees))
            par.append([p if p >= 0 else j for j, p in enumerate(sk.parents)])
            mir.append(list(sk.flip_permutation))

        def flat(rows: list[list[int]]) -> Tensor:
            return torch.tensor([i for row in rows for i in row], dtype=torch.long)

        flat_ids, flat_deg = flat(ids), flat(deg)
        self.register_buffer("_lut_ids", flat_ids, persistent=False)
        self.register_buffer("_lut_deg", flat_deg, persistent=False)
        self.register_buffer("_lut_parent", flat(par), persistent=False)
        self.register_buffer("_lut_mirror", flat(mir), persistent=False)
        j = self.skeleton.num_joints
        self.register_buffer("_dense_ids", flat_ids[:j].clone(), persistent=False)
        self.register_buffer("_dense_deg", flat_deg[:j].clone(), persistent=False)
        self.register_buffer("_dense_parent", flat(par)[:j].clone(), persistent=False)
        self.register_buffer("_dense_mirror", flat(mir)[:j].clone(), persistent=False)
        self.register_buffer(
            "_dense_buckets", self.hop_bias.bucket(hop_codes(self.skeleton)), persistent=False
        )

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self._hp)

    def reset_parameters(self) -> None:
        """Re-initialise every sub-module; the two heads start small (std 0.02, zero bias) so
        the initial energy is O(1) whatever the joint count."""
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        nn.init.normal_(self.token_head.weight, std=0.02)
        nn.init.zeros_(self.token_head.bias)
        nn.init.normal_(self.joint_head.weight, std=0.02)

    # ------------------------------------------------------------------ dense path
    def _energy(self, x2d: Tensor, y3d: Tensor, per_joint: bool) -> tuple[Tensor, Tensor | None]:
        n, j = x2d.shape[0], x2d.shape[1]
        f = joint_features(
            x2d, y3d, self._dense_parent, self._dense_mirror, self._hp["features"],
            self._hp["coord_scale"],
        )
        h = self.encoder(f, self._dense_ids, self._dense_deg)  # (N, J, C)
        h = torch.cat([self.token(n).to(h.dtype), h], dim=1)  # (N, J + 1, C)
        bias = self.hop_bias.dense(self._dense_buckets).to(h.dtype)  # (H, L, L)
        bias = bias.expand(n, -1, -1, -1).contiguous()  # once for all layers (fused SDPA)
        for blk in self.blocks:
            h = blk(h, bias=bias)
        h = self.norm(h)
        e_tok = self.token_head(h[:, 0]).squeeze(-1)  # (N,)
        e_j = self.joint_head(h).squeeze(-1)[:, 1:]  # (N, J); a strided 3D input would be slow
        energy = e_tok + e_j.sum(-1)
        pj = e_j + (e_tok / j).unsqueeze(-1) if per_joint else None
        return energy, pj

    # ------------------------------------------------------------------ graph path
    def _check_batch_skeletons(self, skeletons: Sequence[Skeleton]) -> list[int]:
        offs = []
        for sk in skeletons:
            mine = self.skeletons.get(sk.name)
            if mine is None:
                raise SkeletonMismatchError(
                    f"this loss-net knows the skeletons {sorted(self.skeletons)}, not "
                    f"{sk.name!r}; build it with extra_skeletons=[...] to score that skeleton"
                )
            mine.check_compatible(sk, "graph batch")
            offs.append(self._offset[sk.name])
        return offs

    def _canonical_nodes(self, batch: Batch, x: Tensor, y: Tensor, token: Tensor):
        """Node-level canonicalisation, the same arithmetic as ``canonical_2d/3d``."""
        spec = self.spec
        if spec.units_3d != "m":
            y = y * UNIT_SCALE[spec.units_3d]
        is_root = batch.is_root.to(x.device)
        node_graph = batch.batch.to(x.device)
        keep = (~(is_root | token)).to(y.dtype).unsqueeze(-1)
        not_tok = (~token).to(y.dtype).unsqueeze(-1)
        r3 = y[is_root][node_graph]
        if spec.root == "detach":
            y = (y - r3.detach()) * keep
        elif spec.root == "subtract":
            y = (y - r3) * not_tok
        elif spec.root == "zero":
            y = y * keep
        else:
            raise PoseShapeError(f"unknown root mode {spec.root!r}")
        x = (x - x[is_root][node_graph]) * not_tok
        return x, y

    def forward_graph(
        self, batch: Batch, per_joint: bool = False, fused: bool = True
    ) -> EnergyOutput:
        """Score a PyG ``Batch`` from :func:`~sealloss.nn.poses_to_batch` by message passing.

        Graphs may use different skeletons (each must be one of :attr:`skeletons`).
        ``fused=True`` computes the edge messages with sparse kernels
        (:class:`~sealloss.nn.attention.EdgePattern`; first-order gradients only);
        ``fused=False`` uses PyG ``propagate`` (slower, twice differentiable, e.g. for gradient
        penalties).

        Returns:
            :class:`EnergyOutput` with ``energy (G,)`` in the batch's graph order and
            ``per_joint (N_joints,)`` (flat, joints of graph 0 first, token nodes left out), in
            the module's dtype on the module's device.
        """
        dtype, device = self.dtype, self.device
        offs = self._check_batch_skeletons(batch.skeletons)
        x = batch.x2d.to(device=device, dtype=dtype)
        y = batch.y3d.to(device=device, dtype=dtype)
        check_finite(x, "2D input")
        check_finite(y, "3D pose")
        jidx = batch.joint_index.to(device)
        token = jidx < 0
        lut = torch.tensor(offs, dtype=torch.long, device=device)[batch.slot.to(device)]
        lut = lut + jidx.clamp(min=0)
        x, y = self._canonical_nodes(batch, x, y, token)
        # parent / mirror joints as node indices: node = graph start + 1 + joint index
        node = torch.arange(x.shape[0], device=device)
        start = node - jidx - 1  # the graph's token node
        par = torch.where(token, node, start + 1 + self._lut_parent[lut])
        mir = torch.where(token, node, start + 1 + self._lut_mirror[lut])
        f = joint_features(x, y, par, mir, self._hp["features"], self._hp["coord_scale"])
        h = self.encoder(f, self._lut_ids[lut], self._lut_deg[lut])
        h = torch.where(token.unsqueeze(-1), self.token.weight.to(h.dtype), h)
        edge_index = batch.edge_index.to(device)
        edge_bias = self.hop_bias(self.hop_bias.bucket(batch.hop.to(device)))  # (E, H)
        pattern = None
        if fused:
            rev = getattr(batch, "reverse_edge", None)
            rev = rev.to(device) if rev is not None else None
            heads = self._hp["heads"]
            pattern = EdgePattern.from_edge_index(edge_index, h.shape[0], heads, reverse=rev)
        for blk in self.blocks:
            h = blk(h, edge_index=edge_index, edge_bias=edge_bias, pattern=pattern)
        h = self.norm(h)
        e_tok = self.token_head(h[token]).squeeze(-1)  # (G,), one token per graph, in order
        e_j = self.joint_head(h[~token]).squeeze(-1)  # (N_joints,)
        graph_of_joint = batch.batch.to(device)[~token]
        energy = e_tok.index_add(0, graph_of_joint, e_j)
        pj = None
        if per_joint:
            counts = torch.bincount(graph_of_joint, minlength=e_tok.numel()).to(dtype)
            pj = e_j + (e_tok / counts)[graph_of_joint]
        return EnergyOutput(energy, pj)

"""Multi-head self-attention over skeleton joints with a hop-distance bias (METHOD.md s.2)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import segment, softmax

__all__ = ["SkeletonAttention", "EdgePattern"]


@dataclass(frozen=True)
class EdgePattern:
    """CSR form of a graph's edges, replicated once per attention head, for fused message passing.

    The ``H`` heads are laid out as ``H`` disjoint copies of the graph (node ``h * N + i``), so
    one sparse kernel call serves all heads. Built once per graph batch by
    :meth:`from_edge_index` and shared by every layer with that many heads.

    Attributes:
        num_nodes: ``N``. heads: ``H``. num_edges: ``E``.
        order: ``(E,)`` permutation putting the edges in CSR order (sorted by target, then
            source), or None when ``edge_index`` is already in that order.
        crow, col, row: ``(H N + 1,)`` row pointer, ``(H E,)`` source and target node of each
            stacked edge in CSR order (row = target).
        tperm: ``(H E,)`` for each position of the transposed pattern, the CSR edge it holds.
        crow_t, col_t: the transposed pattern's row pointer and columns.
    """

    num_nodes: int
    heads: int
    num_edges: int
    order: Tensor | None
    crow: Tensor
    col: Tensor
    row: Tensor
    tperm: Tensor
    crow_t: Tensor
    col_t: Tensor

    @classmethod
    def from_edge_index(
        cls,
        edge_index: Tensor,
        num_nodes: int,
        heads: int = 1,
        reverse: Tensor | None = None,
    ) -> EdgePattern:
        """Pattern of ``edge_index (2, E)`` (row 0 source, row 1 target) for ``heads`` heads.

        ``reverse`` (optional, ``(E,)``, edges already in CSR order, pattern symmetric): index
        of the reverse edge of each edge, as :func:`~sealloss.nn.poses_to_batch` provides; it
        saves two sorts.
        """
        n = num_nodes
        src, dst = edge_index[0], edge_index[1]
        key = dst * n + src
        order = None
        if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
            order = torch.argsort(key)
            src, dst = src[order], dst[order]
            reverse = None
        e = src.numel()
        if reverse is not None:
            tperm, src_t, dst_t = reverse, src, dst
        else:
            tperm = torch.argsort(src * n + dst)
            src_t, dst_t = dst[tperm], src[tperm]  # transposed: rows are sources
        hn = n * torch.arange(heads, device=src.device).view(-1, 1)
        he = e * torch.arange(heads, device=src.device).view(-1, 1)

        def crow_of(rows: Tensor) -> Tensor:
            counts = torch.bincount(rows, minlength=n).repeat(heads)
            return torch.cat([counts.new_zeros(1), counts.cumsum(0)])

        return cls(
            num_nodes=n,
            heads=heads,
            num_edges=e,
            order=order,
            crow=crow_of(dst),
            col=(src.view(1, -1) + hn).reshape(-1),
            row=(dst.view(1, -1) + hn).reshape(-1),
            tperm=(tperm.view(1, -1) + he).reshape(-1),
            crow_t=crow_of(dst_t),
            col_t=(src_t.view(1, -1) + hn).reshape(-1),
        )

    def matrix(self, values: Tensor, transpose: bool = False) -> Tensor:
        """Sparse CSR ``(H N, H N)`` matrix with ``values (H E,)`` (CSR order) at the pattern."""
        size = (self.heads * self.num_nodes,) * 2
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            if transpose:
                return torch.sparse_csr_tensor(
                    self.crow_t, self.col_t, values[self.tperm], size, check_invariants=False
                )
            return torch.sparse_csr_tensor(
                self.crow, self.col, values, size, check_invariants=False
            )

    def sddmm(self, a: Tensor, b: Tensor) -> Tensor:
        """``a @ b.T`` at the pattern: ``(H E,)`` values ``<a[row], b[col]>``; ``a, b (H N, D)``."""
        zeros = a.new_zeros(self.col.numel())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse.sampled_addmm(self.matrix(zeros), a, b.T, beta=0.0).values()

    def segment_sum(self, s: Tensor) -> Tensor:
        """Sum of ``s (H E,)`` over each stacked target's incoming edges, back on the edges."""
        return segment(s, self.crow, reduce="sum").index_select(0, self.row)

    def segment_softmax(self, s: Tensor) -> Tensor:
        """Softmax of ``s (H E,)`` over each stacked target's incoming edges."""
        mx = segment(s.detach(), self.crow, reduce="max").index_select(0, self.row)
        ex = (s - mx).exp()
        return ex / self.segment_sum(ex)


class _FusedEdgeAttention(torch.autograd.Function):
    """Edge-wise attention without ``(E, H, D)`` message tensors.

    Logits by SDDMM at the edge pattern, softmax over each target's incoming edges, aggregation
    by SpMM; the backward pass uses the same kernels (SpMM with the transposed pattern).
    Inputs ``q, k, v (H N, D)`` head-major, ``bias (H E,)`` head-major in CSR order; output
    ``(H N, D)``. First-order gradients only.
    """

    @staticmethod
    def forward(ctx, q, k, v, bias, pattern: EdgePattern, scale: float):
        alpha = pattern.segment_softmax(pattern.sddmm(q, k) * scale + bias)
        ctx.save_for_backward(q, k, v, alpha)
        ctx.pattern, ctx.scale = pattern, scale
        return pattern.matrix(alpha) @ v

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        q, k, v, alpha = ctx.saved_tensors
        p, scale = ctx.pattern, ctx.scale
        grad_out = grad_out.contiguous()
        grad_v = p.matrix(alpha, transpose=True) @ grad_out
        grad_alpha = p.sddmm(grad_out, v)
        grad_s = alpha * (grad_alpha - p.segment_sum(alpha * grad_alpha))  # d logits
        gs = grad_s * scale
        grad_q = p.matrix(gs) @ k
        grad_k = p.matrix(gs, transpose=True) @ q
        return grad_q, grad_k, grad_v, grad_s, None, None


class SkeletonAttention(MessagePassing):
    r"""Graphormer-style attention over all joint pairs of one or more skeletons.

    .. math::
        \alpha^h_{ij} = \operatorname{softmax}_{j \in \mathcal{N}(i)}\Big(
            \frac{(W_Q h_i)_h^\top (W_K h_j)_h}{\sqrt{d}} + b_h(i, j)\Big), \qquad
        h'_i = W_O \big\Vert_{h=1}^{H} \sum_{j \in \mathcal{N}(i)} \alpha^h_{ij} (W_V h_j)_h

    where ``b_h(i, j)`` is the spatial (hop-distance) bias of :class:`~sealloss.nn.HopBias`,
    ``d = C / H``, and ``N(i)`` is every node of ``i``'s graph (joints and the virtual graph
    token), ``i`` itself included.

    Two paths share the same parameters and agree to float rounding:

    - **message passing** (``x`` of shape ``(N, C)``): a PyG ``Batch`` of any skeletons. Each edge
      ``j -> i`` carries its bias ``b(i, j)``; the logits are normalised over each node's incoming
      edges (:func:`torch_geometric.utils.softmax`), and the messages ``alpha * v_j`` are summed.
      Given an :class:`EdgePattern`, the same edge-wise computation runs fused on sparse kernels
      (SDDMM logits, CSR segment softmax, SpMM aggregation; first-order gradients only), about
      8x faster than ``propagate`` on CPU (``bench/lossnet_speed.py``); without one it runs
      through PyG ``propagate`` / :meth:`message` (twice differentiable).
    - **dense** (``x`` of shape ``(B, L, C)``): one skeleton, ``L = J + 1`` nodes per graph;
      :func:`torch.nn.functional.scaled_dot_product_attention` with the bias ``(H, L, L)`` as a
      float attention mask. :meth:`forward` picks it from the input's rank.

    Args:
        channels: node width ``C``.
        heads: number of heads ``H`` (``C`` must be divisible by ``H``).
        bias: learn additive biases in the projections (default True).

    Shapes:
        - message passing: x ``(N, C)``, edge_index ``(2, E)`` (row 0 source/key ``j``, row 1
          target/query ``i``), edge_bias ``(E, H)`` -> ``(N, C)``.
        - dense: x ``(B, L, C)``, bias ``(H, L, L)`` indexed (head, query, key), or already
          expanded to ``(B, H, L, L)`` (faster on CPU when several layers share it)
          -> ``(B, L, C)``.
    """

    def __init__(self, channels: int, heads: int = 4, bias: bool = True) -> None:
        super().__init__(aggr="add", node_dim=0)
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.channels = channels
        self.heads = heads
        self.head_dim = channels // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv = nn.Linear(channels, 3 * channels, bias=bias)
        self.out = nn.Linear(channels, channels, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.qkv.reset_parameters()
        self.out.reset_parameters()

    # ------------------------------------------------------------------ dispatch
    def forward(
        self,
        x: Tensor,
        edge_index: Tensor | None = None,
        edge_bias: Tensor | None = None,
        bias: Tensor | None = None,
        pattern: EdgePattern | None = None,
    ) -> Tensor:
        """Dense path for ``x`` of rank 3 (needs ``bias``), message passing for rank 2."""
        if x.dim() == 3:
            if bias is None:
                raise ValueError("dense SkeletonAttention needs bias (H, L, L)")
            return self.forward_dense(x, bias)
        if edge_index is None or edge_bias is None:
            raise ValueError("message-passing SkeletonAttention needs edge_index and edge_bias")
        return self.forward_graph(x, edge_index, edge_bias, pattern)

    # ------------------------------------------------------------------ dense
    def forward_dense(self, h: Tensor, bias: Tensor) -> Tensor:
        """Dense fast path: ``h (B, L, C)``, bias ``(H, L, L)`` or ``(B, H, L, L)``."""
        b, n, c = h.shape
        qkv = self.qkv(h).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, H, L, D)
        if bias.dim() == 3:
            # a batch-broadcast mask sends CPU SDPA to its slow math kernel; a full-size one
            # keeps the fused kernel (callers with several layers materialise it once)
            bias = bias.expand(b, -1, -1, -1)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.out(o.transpose(1, 2).reshape(b, n, c))

    # ------------------------------------------------------------------ message passing
    def forward_graph(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_bias: Tensor,
        pattern: EdgePattern | None = None,
    ) -> Tensor:
        """Message-passing path: ``x (N, C)``, ``edge_index (2, E)``, ``edge_bias (E, H)``.

        With ``pattern`` (:class:`EdgePattern` of ``edge_index``) the messages are computed
        fused (sparse SDDMM/SpMM kernels, no ``(E, H, D)`` tensors; first-order gradients only);
        without it, by PyG ``propagate`` (:meth:`message`, twice differentiable).
        """
        n = x.size(0)
        if pattern is None:
            q, k, v = self.qkv(x).view(n, 3, self.heads, self.head_dim).unbind(1)
            out = self.propagate(edge_index, query=q, key=k, value=v, edge_bias=edge_bias)
            return self.out(out.reshape(n, self.channels))
        if pattern.heads != self.heads or pattern.num_nodes != n:
            raise ValueError(
                f"EdgePattern built for {pattern.heads} heads and {pattern.num_nodes} nodes, "
                f"layer has {self.heads} heads and the input {n} nodes"
            )
        hd = self.head_dim
        qkv = self.qkv(x).view(n, 3, self.heads, hd).permute(1, 2, 0, 3)
        q, k, v = (t.reshape(self.heads * n, hd) for t in qkv.unbind(0))  # (H N, D) head-major
        bias = edge_bias.to(x.dtype)
        if pattern.order is not None:
            bias = bias.index_select(0, pattern.order)
        bias = bias.T.reshape(-1)  # (H E,) head-major
        out = _FusedEdgeAttention.apply(q, k, v, bias, pattern, self.scale)  # (H N, D)
        return self.out(out.view(self.heads, n, hd).transpose(0, 1).reshape(n, self.channels))

    def message(
        self,
        query_i: Tensor,
        key_j: Tensor,
        value_j: Tensor,
        edge_bias: Tensor,
        index: Tensor,
        ptr: Tensor | None,
        size_i: int | None,
    ) -> Tensor:
        logits = torch.einsum("ehd,ehd->eh", query_i, key_j)  # no (E, H, D) product tensor
        alpha = logits * self.scale + edge_bias.to(query_i.dtype)  # (E, H)
        alpha = softmax(alpha, index, ptr, size_i)
        return value_j * alpha.unsqueeze(-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.heads})"


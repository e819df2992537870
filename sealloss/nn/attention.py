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
    """CSR form of a graph's edges (grouped by target node), for the fused message passing.

    Built once per graph batch by :meth:`from_edge_index` and shared by every layer.

    Attributes:
        num_nodes: ``N``.
        order: ``(E,)`` permutation putting the edges in CSR order (sorted by target, then
            source), or None when ``edge_index`` is already in that order.
        crow: ``(N + 1,)`` row pointer (row = target node).
        col: ``(E,)`` source node of each edge in CSR order.
        row: ``(E,)`` target node of each edge in CSR order.
        tperm: ``(E,)`` CSR position of each edge of the transposed pattern (rows = sources).
        crow_t, col_t: the transposed pattern's row pointer and columns.
    """

    num_nodes: int
    order: Tensor | None
    crow: Tensor
    col: Tensor
    row: Tensor
    tperm: Tensor
    crow_t: Tensor
    col_t: Tensor

    @classmethod
    def from_edge_index(
        cls, edge_index: Tensor, num_nodes: int, reverse: Tensor | None = None
    ) -> EdgePattern:
        """CSR pattern of ``edge_index (2, E)`` (row 0 source, row 1 target).

        ``reverse`` (optional, ``(E,)``, edges already in CSR order): index of the reverse edge
        of each edge in a symmetric pattern (as :func:`~sealloss.nn.poses_to_batch` provides);
        it saves a sort.
        """
        src, dst = edge_index[0], edge_index[1]
        key = dst * num_nodes + src
        order = None
        if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
            order = torch.argsort(key)
            src, dst = src[order], dst[order]
            reverse = None
        counts = torch.bincount(dst, minlength=num_nodes)
        crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        if reverse is not None:
            return cls(num_nodes, order, crow, src, dst, reverse, crow, src)
        tperm = torch.argsort(src * num_nodes + dst)
        counts_t = torch.bincount(src, minlength=num_nodes)
        crow_t = torch.cat([counts_t.new_zeros(1), counts_t.cumsum(0)])
        return cls(num_nodes, order, crow, src, dst, tperm, crow_t, dst[tperm])

    def matrix(self, values: Tensor, transpose: bool = False) -> Tensor:
        """Sparse CSR ``(N, N)`` matrix with ``values (E,)`` (CSR order) at the pattern."""
        n = self.num_nodes
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            if transpose:
                return torch.sparse_csr_tensor(
                    self.crow_t, self.col_t, values[self.tperm], (n, n), check_invariants=False
                )
            return torch.sparse_csr_tensor(
                self.crow, self.col, values, (n, n), check_invariants=False
            )

    def sddmm(self, a: Tensor, b: Tensor) -> Tensor:
        """``a @ b.T`` at the pattern: ``(E,)`` values ``<a[row], b[col]>``; ``a, b (N, D)``."""
        zeros = a.new_zeros(self.col.numel())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse.sampled_addmm(self.matrix(zeros), a, b.T, beta=0.0).values()

    def segment_softmax(self, s: Tensor) -> Tensor:
        """Softmax of ``s (E, H)`` over each target's incoming edges."""
        return softmax(s, ptr=self.crow)


class _FusedEdgeAttention(torch.autograd.Function):
    """Edge-wise attention without ``(E, H, D)`` message tensors.

    Per head: logits by SDDMM at the edge pattern, softmax over each target's incoming edges,
    aggregation by SpMM; the backward pass uses the same kernels (and the transposed pattern).
    Inputs ``q, k, v (H, N, D)``, ``bias (E, H)`` in CSR order; output ``(H, N, D)``.
    """

    @staticmethod
    def forward(ctx, q, k, v, bias, pattern: EdgePattern, scale: float):
        heads = q.shape[0]
        logits = torch.stack([pattern.sddmm(q[h], k[h]) for h in range(heads)], 1) * scale
        alpha = pattern.segment_softmax(logits + bias)  # (E, H)
        alpha_h = alpha.T.contiguous()  # (H, E)
        out = torch.stack([pattern.matrix(alpha_h[h]) @ v[h] for h in range(heads)])
        ctx.save_for_backward(q, k, v, alpha)
        ctx.pattern, ctx.scale = pattern, scale
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        q, k, v, alpha = ctx.saved_tensors
        p, scale = ctx.pattern, ctx.scale
        heads = q.shape[0]
        grad_out = grad_out.contiguous()
        alpha_h = alpha.T.contiguous()
        grad_v = torch.stack([p.matrix(alpha_h[h], True) @ grad_out[h] for h in range(heads)])
        grad_alpha = torch.stack([p.sddmm(grad_out[h], v[h]) for h in range(heads)], 1)  # (E, H)
        dot = segment(alpha * grad_alpha, p.crow, reduce="sum")  # (N, H)
        grad_s = alpha * (grad_alpha - dot.index_select(0, p.row))  # (E, H): d logits
        gs_h = grad_s.T.contiguous() * scale
        grad_q = torch.stack([p.matrix(gs_h[h]) @ k[h] for h in range(heads)])
        grad_k = torch.stack([p.matrix(gs_h[h], True) @ q[h] for h in range(heads)])
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
      (SDDMM logits, CSR segment softmax, SpMM aggregation), several times faster on CPU;
      without one it runs through PyG ``propagate`` / :meth:`message`.
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
        - dense: x ``(B, L, C)``, bias ``(H, L, L)`` indexed (head, query, key) -> ``(B, L, C)``.
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
        qkv = self.qkv(x).view(n, 3, self.heads, self.head_dim).permute(1, 2, 0, 3)
        q, k, v = (t.contiguous() for t in qkv.unbind(0))  # (H, N, D)
        bias = edge_bias.to(x.dtype)
        if pattern.order is not None:
            bias = bias.index_select(0, pattern.order)
        out = _FusedEdgeAttention.apply(q, k, v, bias, pattern, self.scale)  # (H, N, D)
        return self.out(out.permute(1, 0, 2).reshape(n, self.channels))

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


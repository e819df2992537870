"""PyG batching of poses for the message-passing path of
:meth:`~sealloss.nn.GraphormerLossNet.forward_graph` (imports torch-geometric)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch

from ..errors import PoseShapeError
from ..pose.checks import check_pair
from ..pose.skeleton import Skeleton, get_skeleton
from .encodings import hop_codes

__all__ = ["poses_to_batch"]


def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def poses_to_batch(
    x2d: Tensor | Sequence[Tensor],
    y3d: Tensor | Sequence[Tensor],
    skeletons: Skeleton | str | Sequence[Skeleton | str],
) -> Batch:
    """Build a PyG ``Batch`` of pose graphs for :meth:`GraphormerLossNet.forward_graph`.

    Each pose becomes one graph of ``J + 1`` nodes: the virtual graph token (node 0 of the graph)
    then the joints in skeleton order; edges connect every ordered pair (self loops included),
    sorted by target node, with ``hop`` = the pair code of :func:`~sealloss.nn.hop_codes`.

    Args:
        x2d: ``(..., J, 2)`` 2D inputs (screen frame) of one skeleton, or a list of such tensors,
            one per entry of ``skeletons``.
        y3d: ``(..., J, 3)`` 3D poses (the loss-net's ``spec.units_3d``), matching ``x2d``.
        skeletons: one skeleton, or a list (one per tensor).

    Returns:
        ``Batch`` with node attributes ``x2d (N, 2)``, ``y3d (N, 3)`` (zeros on token nodes;
        raw, canonicalised by the loss-net), ``joint_index (N,)`` (-1 on token nodes),
        ``is_root (N,)``, ``slot (N,)`` (index into ``batch.skeletons``), ``batch``, ``ptr``,
        ``edge_index (2, E)``, ``hop (E,)``, ``reverse_edge (E,)`` (index of the edge ``i -> j``
        for edge ``j -> i``); graphs are ordered group by group. Gradients flow
        from the result back to ``x2d`` and ``y3d``.
    """
    xs, ys, sks = _as_list(x2d), _as_list(y3d), [get_skeleton(s) for s in _as_list(skeletons)]
    if not (len(xs) == len(ys) == len(sks)):
        raise PoseShapeError(
            f"poses_to_batch: {len(xs)} 2D tensors, {len(ys)} 3D tensors, {len(sks)} skeletons"
        )
    nx, ny, nj, nr, ns, nb, ei, hops, rev = [], [], [], [], [], [], [], [], []
    node_off = graph_off = edge_off = 0
    for slot, (x, y, sk) in enumerate(zip(xs, ys, sks)):
        j = sk.num_joints
        check_pair(x, y, j)
        x = x.reshape(-1, j, 2)
        y = y.reshape(-1, j, 3)
        b, n = x.shape[0], j + 1
        dev = y.device
        nx.append(torch.cat([x.new_zeros(b, 1, 2), x], 1).reshape(b * n, 2))
        ny.append(torch.cat([y.new_zeros(b, 1, 3), y], 1).reshape(b * n, 3))
        jidx = torch.arange(-1, j, device=dev)
        nj.append(jidx.repeat(b))
        nr.append((jidx == sk.root).repeat(b))
        ns.append(torch.full((b * n,), slot, dtype=torch.long, device=dev))
        nb.append(torch.arange(graph_off, graph_off + b, device=dev).repeat_interleave(n))
        dst = torch.arange(n, device=dev).repeat_interleave(n)
        src = torch.arange(n, device=dev).repeat(n)
        offsets = node_off + n * torch.arange(b, device=dev)
        tmpl = torch.stack([src, dst])  # (2, n*n), sorted by target
        ei.append((tmpl.unsqueeze(1) + offsets.view(1, b, 1)).reshape(2, -1))
        hops.append(hop_codes(sk, dev)[dst, src].repeat(b))
        rev_t = src * n + dst  # within a graph, edge (dst, src) sits at dst * n + src
        e_offsets = edge_off + n * n * torch.arange(b, device=dev)
        rev.append((rev_t.unsqueeze(0) + e_offsets.view(b, 1)).reshape(-1))
        edge_off += b * n * n
        node_off += b * n
        graph_off += b
    batch_vec = torch.cat(nb)
    counts = torch.bincount(batch_vec, minlength=graph_off)
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    return Batch(
        x2d=torch.cat(nx),
        y3d=torch.cat(ny),
        joint_index=torch.cat(nj),
        is_root=torch.cat(nr),
        slot=torch.cat(ns),
        edge_index=torch.cat(ei, 1),
        hop=torch.cat(hops),
        reverse_edge=torch.cat(rev),
        batch=batch_vec,
        ptr=ptr,
        skeletons=sks,
        num_nodes=node_off,
    )

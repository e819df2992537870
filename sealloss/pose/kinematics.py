"""Bones, bone lengths and forward kinematics as pure functions on ``(..., J, 3)`` tensors."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .skeleton import Skeleton, get_skeleton

__all__ = ["bone_vectors", "bone_lengths", "forward_kinematics", "limb_pair_lengths",
           "pair_mean_lengths"]


def bone_vectors(y: torch.Tensor, skeleton: Skeleton | str) -> torch.Tensor:
    """``(..., J, D)`` -> ``(..., num_bones, D)``: child minus parent, in ``skeleton.bones``
    order."""
    sk = get_skeleton(skeleton)
    b = sk.bone_tensor(y.device)
    return y.index_select(-2, b[:, 1]) - y.index_select(-2, b[:, 0])


def bone_lengths(
    y: torch.Tensor,
    skeleton: Skeleton | str,
    eps: float = 0.0,
    bones: Sequence[int] | None = None,
) -> torch.Tensor:
    """``(..., J, D)`` -> ``(..., num_bones)`` Euclidean bone lengths (same units as ``y``).

    ``eps > 0`` keeps the gradient finite for zero-length bones: ``sqrt(|b|^2 + eps^2)``.
    ``bones``: only these bones (indices into ``skeleton.bones``): ``(..., len(bones))``.
    """
    v = bone_vectors(y, skeleton)
    if eps > 0:
        lengths = (v.pow(2).sum(-1) + eps * eps).sqrt()
    else:
        lengths = v.norm(dim=-1)
    if bones is None:
        return lengths
    return lengths.index_select(-1, torch.tensor(bones, dtype=torch.long, device=y.device))


def limb_pair_lengths(
    y: torch.Tensor,
    skeleton: Skeleton | str,
    eps: float = 0.0,
    pairs: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lengths of the (left, right) bones of each symmetric pair: two ``(..., P)`` tensors.

    ``pairs``: only these pairs (indices into ``skeleton.symmetric_bone_pairs``); ``eps`` as in
    :func:`bone_lengths`.
    """
    sk = get_skeleton(skeleton)
    lengths = bone_lengths(y, sk, eps)
    table = torch.tensor(sk.symmetric_bone_pairs, dtype=torch.long, device=y.device).reshape(-1, 2)
    if pairs is not None:
        table = table[torch.tensor(pairs, dtype=torch.long, device=y.device)]
    return lengths.index_select(-1, table[:, 0]), lengths.index_select(-1, table[:, 1])


def pair_mean_lengths(lengths: torch.Tensor, skeleton: Skeleton | str) -> torch.Tensor:
    """``(..., num_bones)`` lengths with both bones of each symmetric pair set to their mean."""
    sk = get_skeleton(skeleton)
    pairs = torch.tensor(sk.symmetric_bone_pairs, dtype=torch.long,
                         device=lengths.device).reshape(-1, 2)
    mean = 0.5 * (lengths[..., pairs[:, 0]] + lengths[..., pairs[:, 1]])
    out = lengths.clone()
    out[..., pairs[:, 0]] = mean
    out[..., pairs[:, 1]] = mean
    return out


def forward_kinematics(
    directions: torch.Tensor, lengths: torch.Tensor, skeleton: Skeleton | str
) -> torch.Tensor:
    """Rebuild joint positions from unit bone directions and lengths.

    Args:
        directions: ``(..., num_bones, 3)`` bone directions (normalised inside).
        lengths: ``(..., num_bones)`` bone lengths.
        skeleton: gives the bone order (``skeleton.bones``) and the tree.

    Returns:
        ``(..., J, 3)`` positions with the root at the origin.
    """
    sk = get_skeleton(skeleton)
    unit = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    vecs = unit * lengths.unsqueeze(-1)
    shape = vecs.shape[:-2] + (sk.num_joints, 3)
    joints: list[torch.Tensor | None] = [None] * sk.num_joints
    joints[sk.root] = vecs.new_zeros(shape[:-2] + (3,))
    for j in sk.topological_order:
        if j == sk.root:
            continue
        joints[j] = joints[sk.parents[j]] + vecs[..., sk.bone_index[j], :]
    return torch.stack(joints, dim=-2)  # type: ignore[arg-type]

"""Bone-length priors: the mean bone lengths of a skeleton's training population.

A lifter trained with a mean-squared-style loss predicts bones that are too short and vary from
frame to frame (averaging over plausible directions shortens them); a clip's median of those
lengths inherits the shortening. The training subjects' mean lengths carry no test-time ground
truth and, on Human3.6M S8 detections (a lifter trained on S1/S5/S6/S7, the prior from their GT),
imposing them on every frame lowered BSLE from 17.2 mm (clip medians) to 10.9 mm
(``bench/clip_refinement.py``). Used by clip refinement
(:class:`sealloss.posthoc.clip_refinement.ClipSettings` ``prior_weight``) and its rivals.

The module imports only torch and the skeleton presets.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import torch
from torch import Tensor

from .kinematics import bone_lengths, pair_mean_lengths
from .skeleton import Skeleton, get_skeleton

__all__ = ["BONE_LENGTH_PRIORS", "bone_length_prior", "mean_bone_lengths"]

#: skeleton name -> ``(B,)`` mean bone lengths in metres, in ``skeleton.bones`` order, left and
#: right bones of each symmetric pair averaged. ``h36m17``: Human3.6M's training subjects S1, S5,
#: S6, S7, S8 (ground-truth 3D, every 10th 10 Hz frame of every camera, 29,564 poses; no S9/S11).
#: Derived from Human3.6M: research use only, like the shipped weights.
BONE_LENGTH_PRIORS: MappingProxyType[str, tuple[float, ...]] = MappingProxyType({
    "h36m17": (0.1345, 0.4499, 0.4459, 0.1345, 0.4499, 0.4459, 0.2393, 0.2554, 0.1163, 0.1150,
               0.1493, 0.2804, 0.2496, 0.1493, 0.2804, 0.2496),
})


def mean_bone_lengths(y: Tensor, skeleton: Skeleton | str) -> Tensor:
    """``(B,)`` mean bone lengths of training poses ``y (N, J, 3)`` (metres), the two bones of
    each symmetric pair averaged: how a prior of :data:`BONE_LENGTH_PRIORS` is made."""
    return pair_mean_lengths(bone_lengths(y, skeleton).mean(0), skeleton)


def bone_length_prior(skeleton: Skeleton | str, lengths: Sequence[float] | Tensor | None = None,
                      *, device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float32) -> Tensor:
    """``(B,)`` prior bone lengths (metres) of ``skeleton``: ``lengths`` if given (checked),
    else the shipped :data:`BONE_LENGTH_PRIORS` entry.

    Raises:
        ValueError: ``lengths`` has the wrong size or a non-positive or non-finite value; no
            prior ships for the skeleton and none is given.
    """
    sk = get_skeleton(skeleton)
    if lengths is None:
        if sk.name not in BONE_LENGTH_PRIORS:
            raise ValueError(f"no bone-length prior ships for skeleton {sk.name!r} (known: "
                             f"{', '.join(BONE_LENGTH_PRIORS)}); pass the mean bone lengths of "
                             f"your training poses (metres, {len(sk.bones)} values in "
                             "skeleton.bones order)")
        lengths = BONE_LENGTH_PRIORS[sk.name]
    out = torch.as_tensor(lengths, dtype=dtype, device=device).reshape(-1)
    if out.numel() != len(sk.bones) or not bool(torch.isfinite(out).all()) or bool(
            (out <= 0).any()):
        raise ValueError(f"bone-length prior of {sk.name!r} must be {len(sk.bones)} finite "
                         f"lengths > 0 (metres), got {tuple(out.tolist())}")
    return out

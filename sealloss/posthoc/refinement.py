"""Test-time refinement: walk predicted poses down a loss-net's energy, and the ground-truth-free
rivals a user could write instead (symmetric bone lengths, per-sequence median bone lengths).

Refinement is **opt-in**: it gives up SEAL's "nothing changes at test time" for a cost per pose
(``RefineResult.seconds``). Everything here works on canonical poses: 2D ``(N, J, 2)`` in the
normalised screen frame, 3D ``(N, J, 3)`` in metres (any root position; the root is never
moved).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ..defaults import refine_defaults
from ..nn.base import LossNet
from ..pose.checks import check_descent_inputs, check_pair
from ..pose.kinematics import (
    bone_lengths,
    bone_vectors,
    forward_kinematics,
    pair_mean_lengths,
)
from ..pose.skeleton import Skeleton, get_skeleton
from .clip_refinement import ClipSettings, refine_clips

if TYPE_CHECKING:
    from .clip_refinement import ClipRefineResult

__all__ = [
    "RefineResult",
    "refine",
    "set_bone_lengths",
    "symmetrise_bones",
    "sequence_median_bones",
]

log = logging.getLogger(__name__)


@dataclass
class RefineResult:
    """What :func:`refine` returns.

    Attributes:
        poses: ``(N, J, 3)`` refined poses (metres, the input's root position kept).
        energy_before: ``(N,)`` energies of the input poses.
        energy_after: ``(N,)`` energies of the refined poses.
        seconds: wall time of the refinement.
        snapshots: ``{step: (N, J, 3)}`` poses after each requested step count.
    """

    poses: Tensor
    energy_before: Tensor
    energy_after: Tensor
    seconds: float
    snapshots: dict[int, Tensor] = field(default_factory=dict)

    @property
    def ms_per_1000(self) -> float:
        """Cost in milliseconds per 1,000 poses."""
        n = max(1, self.poses.shape[0])
        return 1000.0 * self.seconds * 1000.0 / n


def _check_options(steps: int, lr: float, pull: float, batch_size: int) -> None:
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"refine: steps must be an integer >= 0, got {steps!r}")
    if not (lr > 0 and np.isfinite(lr)):
        raise ValueError(f"refine: lr must be a finite number > 0 (metres per step), got {lr!r}")
    if not (pull >= 0 and np.isfinite(pull)):
        raise ValueError(f"refine: pull must be a finite number >= 0, got {pull!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"refine: batch_size must be an integer >= 1, got {batch_size!r}")


def refine(
    lossnet: LossNet | str | None,
    x2d: Tensor,
    y_hat: Tensor,
    steps: int | None = None,
    lr: float | None = None,
    pull: float | None = None,
    batch_size: int = 4096,
    snapshots: Sequence[int] = (),
    progress: Callable[[int, int], None] | None = None,
    inputs: str = "gt",
    clips: Sequence | np.ndarray | Tensor | None = None,
    frames: Sequence | np.ndarray | Tensor | None = None,
    clip: ClipSettings | None | bool = None,
) -> RefineResult | ClipRefineResult:
    r"""Refine poses by Adam descent on ``E(x, y) + pull * mean_j ||y_j - y_hat_j||^2``.

    Each pose moves independently (Adam is elementwise and the energy is summed over poses, so
    results do not depend on ``batch_size``); the root joint never moves. Every setting left at
    ``None`` takes the recommended value for the 2D input kind ``inputs``
    (:func:`sealloss.defaults.refine_defaults`, the same defaults as ``sealloss refine``).

    Args:
        lossnet: the energy (put in eval mode; its parameters are not changed), a registered
            weights name or ``.safetensors`` path, or ``None`` for the input kind's weights.
        x2d: ``(N, J, 2)`` canonical 2D inputs.
        y_hat: ``(N, J, 3)`` predictions, metres.
        steps: Adam steps (0 returns the input).
        lr: Adam learning rate: about the largest move of a coordinate per step, metres.
        pull: weight of the squared distance to ``y_hat`` (per square metre, averaged over
            joints): keeps the refined pose near the prediction.
        inputs: ``"gt"`` (GT-projected 2D) or ``"detected"`` (a detector's 2D): which
            recommended weights and settings fill the ``None`` arguments.
        batch_size: poses refined together.
        snapshots: also return the poses after these step counts (``<= steps``).
        progress: called as ``progress(done_poses, total_poses)`` after each batch.
        clips: ``(N,)`` or ``(N, K)`` clip id of each pose (e.g. ``[seq_id, camera]``): refine
            each clip jointly instead, with one set of bone lengths per clip
            (:func:`sealloss.posthoc.clip_refinement.refine_clips`; returns a ``ClipRefineResult``).
        frames: ``(N,)`` frame index of each pose (clip refinement's smoothness term).
        clip: the clip terms (:class:`sealloss.posthoc.clip_refinement.ClipSettings`). Without
            ``clips=`` they apply to each pose alone (its own bone lengths, starting at the
            prior as ``prior_weight`` says, and its own 2D term; no smoothness). ``None``: with
            ``clips=``, the input kind's (``ClipSettings.recommended(inputs)``); without, the
            input kind's per-pose terms (:data:`sealloss.defaults.REFINE` ``"pose_terms"``;
            none: plain descent). ``False``: plain descent (energy and pull only), whatever the
            input kind recommends.

    Returns:
        :class:`RefineResult`; with clip terms (``clips=``, or per-pose terms) a
        ``ClipRefineResult``: the same fields plus each clip's (or pose's) bone lengths.

    Raises:
        PoseShapeError / NonFiniteError: bad shapes or non-finite inputs (nothing is changed).
        ValueError: bad options.
    """
    rec = refine_defaults(inputs)
    steps = rec["steps"] if steps is None else steps
    lr = rec["lr"] if lr is None else lr
    pull = rec["pull"] if pull is None else pull
    _check_options(steps, lr, pull, batch_size)
    if lossnet is None or isinstance(lossnet, (str, os.PathLike)):
        from ..io.weights import load_lossnet

        lossnet = load_lossnet(rec["weights"] if lossnet is None else lossnet)
    sk = lossnet.skeleton
    check_pair(x2d, y_hat, sk.num_joints)
    check_descent_inputs(lossnet, y_hat, "refine")  # blame the dtype or the net, not the poses
    if x2d.dim() != 3:
        raise ValueError(f"refine: expected (N, J, 2) and (N, J, 3), got {tuple(x2d.shape)}")
    bad = [s for s in snapshots if not (0 <= int(s) <= steps)]
    if bad:
        raise ValueError(f"refine: snapshots {bad} are outside 0..steps={steps}")
    if not (clip is None or clip is False or isinstance(clip, ClipSettings)):
        raise ValueError(f"refine: clip= must be a ClipSettings, None or False, got {clip!r}")
    if clips is None and frames is not None:
        raise ValueError("refine: frames= needs clips= (one clip id per pose)")
    if clip is False and clips is not None:
        raise ValueError("refine: clip=False (plain descent) cannot refine clips (clips=)")
    terms = None if clip is False else clip
    if clips is None and clip is None and rec.get("pose_terms") is not None:
        terms = ClipSettings(**rec["pose_terms"])
    if clips is not None and terms is None:
        terms = ClipSettings.recommended(inputs)
    if clips is not None or terms is not None:
        if clips is None:  # per-pose terms: each pose its own clip
            if terms.smooth > 0:
                raise ValueError("refine: the smoothness term (ClipSettings.smooth > 0) needs "
                                 "clips= and frames=; per-pose terms take smooth=0")
            clips = np.arange(y_hat.shape[0])
        return refine_clips(lossnet, x2d, y_hat, clips, frames, steps=steps, lr=lr, pull=pull,
                            settings=terms, batch_size=batch_size, snapshots=snapshots,
                            progress=progress)
    was_training = lossnet.training
    lossnet.eval()
    req = [p.requires_grad for p in lossnet.parameters()]
    lossnet.requires_grad_(False)
    n = y_hat.shape[0]
    mask = torch.ones(sk.num_joints, 1, dtype=y_hat.dtype, device=y_hat.device)
    mask[sk.root] = 0
    outs, e0s, e1s = [], [], []
    snaps: dict[int, list[Tensor]] = {int(s): [] for s in snapshots}
    t0 = time.perf_counter()
    try:
        for i in range(0, n, batch_size):
            x = x2d[i : i + batch_size].detach()
            y0 = y_hat[i : i + batch_size].detach()
            delta = torch.zeros_like(y0, requires_grad=True)
            opt = torch.optim.Adam([delta], lr=lr)
            with torch.no_grad():
                e0s.append(lossnet.energy(x, y0).detach())
            if 0 in snaps:
                snaps[0].append(y0.clone())
            for k in range(1, steps + 1):
                with torch.enable_grad():
                    y = y0 + delta * mask
                    obj = lossnet.energy(x, y).sum()
                    if pull > 0:
                        obj = obj + pull * (delta * mask).pow(2).sum(-1).mean(-1).sum()
                    opt.zero_grad(set_to_none=True)
                    obj.backward()
                opt.step()
                if k in snaps:
                    snaps[k].append((y0 + delta.detach() * mask).clone())
            y1 = (y0 + delta.detach() * mask).detach()
            with torch.no_grad():
                e1s.append(lossnet.energy(x, y1).detach())
            outs.append(y1)
            if progress is not None:
                progress(min(n, i + batch_size), n)
    finally:
        lossnet.train(was_training)
        for p, r in zip(lossnet.parameters(), req):
            p.requires_grad_(r)
    seconds = time.perf_counter() - t0
    empty = y_hat.new_zeros((0,))
    return RefineResult(
        poses=torch.cat(outs) if outs else y_hat.detach().clone(),
        energy_before=torch.cat(e0s) if e0s else empty,
        energy_after=torch.cat(e1s) if e1s else empty,
        seconds=seconds,
        snapshots={k: torch.cat(v) for k, v in snaps.items() if v},
    )


# ------------------------------------------------------------------ ground-truth-free rivals
def set_bone_lengths(y: Tensor, lengths: Tensor, skeleton: Skeleton | str) -> Tensor:
    """Keep each bone's direction, set its length; the root stays where it is.

    Args:
        y: ``(..., J, 3)`` poses, metres.
        lengths: ``(..., num_bones)`` (or broadcastable) bone lengths, metres.

    Returns:
        ``(..., J, 3)`` poses rebuilt by forward kinematics from the root.
    """
    sk = get_skeleton(skeleton)
    dirs = bone_vectors(y, sk)
    lengths = lengths.to(y.dtype).expand(dirs.shape[:-1])
    return forward_kinematics(dirs, lengths, sk) + y[..., sk.root : sk.root + 1, :]


def symmetrise_bones(y: Tensor, skeleton: Skeleton | str) -> Tensor:
    """Give the left and right bone of each symmetric pair their mean length (no ground truth).

    ``(..., J, 3)`` -> ``(..., J, 3)``, metres; LSE of the result is 0.
    """
    sk = get_skeleton(skeleton)
    return set_bone_lengths(y, pair_mean_lengths(bone_lengths(y, sk), sk), sk)


def sequence_median_bones(
    y: Tensor, groups: Tensor | np.ndarray, skeleton: Skeleton | str, symmetric: bool = True
) -> Tensor:
    """Set every bone to its median length over the poses of the same sequence (a
    bone-length-adjustment baseline that needs no ground truth).

    Args:
        y: ``(N, J, 3)`` poses, metres.
        groups: ``(N,)`` integer sequence ids (e.g. subject x action x camera).
        symmetric: also average the left/right medians of each symmetric pair.

    Returns:
        ``(N, J, 3)`` poses.
    """
    sk = get_skeleton(skeleton)
    g = torch.as_tensor(np.asarray(groups)).to(y.device)
    if g.shape != y.shape[:1]:
        raise ValueError(f"groups must have shape ({y.shape[0]},), got {tuple(g.shape)}")
    lengths = bone_lengths(y, sk)
    out = lengths.clone()
    for gid in torch.unique(g):
        sel = g == gid
        out[sel] = lengths[sel].median(dim=0).values
    if symmetric:
        out = pair_mean_lengths(out, sk)
    return set_bone_lengths(y, out, sk)

"""Clip refinement: refine the poses of a clip (a run of frames of one video) jointly, with one set
of bone lengths for the whole clip, and the ground-truth-free temporal rivals.

Called through :func:`sealloss.refine` with ``clips=`` (and ``frames=``, ``clip=``
:class:`ClipSettings`). Each clip ``c`` with frames ``t`` is parametrised by

- ``log_len_c`` ``(B,)``: the clip's log bone lengths, shared by all its frames (left and right
  bones of a pair share one when ``symmetric``), initialised at the log of the clip's per-bone
  median length of the input poses (the :func:`~sealloss.posthoc.refinement.sequence_median_bones`
  rival);
- ``b_t`` ``(B, 3)``: per-frame bone vectors (metres), initialised at the input's; only their
  directions count.

The pose is ``y_t = root_t + FK(b_t / |b_t|, exp(log_len_c))`` (:func:`sealloss.pose.kinematics.\
forward_kinematics`); the root ``root_t`` is the input's and never moves. Adam minimises, summed
over the clip's frames,

.. math::

    E(x_t, y_t) + w_{2d}\\, r_{2d}(x_t, y_t) + \\text{pull}\\, \\overline{|y_t - \\hat y_t|^2}
    + \\text{smooth} \\sum_{k} \\overline{|y_{k+1} - y_k|^2} / \\Delta t_k

- ``r_2d`` is the 2D consistency of a weak-perspective camera (no camera is known): with
  ``u = x - x_root`` (the 2D relative to its root) and ``p = (y - y_root)_{x,y}``, the scale
  ``s = <u, p> / <p, p>`` is solved in closed form per frame and
  ``r_2d = |u - s p|^2 / |u|^2``, a fraction that does not change with the scale of the 2D or
  the 3D (GT-projected Human3.6M 2D fits its own 3D to about 0.002; 1 cm of noise per
  coordinate adds about 0.0007);
- the smoothness sum runs over neighbouring samples ``k, k+1`` of a clip in frame order
  (``frames=``, not row order) with their real gap ``dt_k = (frame_{k+1} - frame_k) / fps``
  seconds: a discretised ``integral |dy/dt|^2 dt``, so a gap twice as long costs half as much for
  the same move (root-relative poses; the root is fixed anyway);
- bars are means over joints, as in :func:`sealloss.refine`'s pull.

No ground truth is taken anywhere. Every term is a sum over clips and Adam is elementwise, so a
batch of clips gives the result of each clip refined alone (up to float rounding).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..defaults import CLIP, clip_defaults
from ..metrics.temporal import ClipIndex, clip_index
from ..nn.base import LossNet
from ..pose.canonical import root_relative
from ..pose.kinematics import bone_lengths, bone_vectors, forward_kinematics
from ..pose.priors import bone_length_prior
from ..pose.skeleton import Skeleton, get_skeleton

__all__ = [
    "ClipSettings",
    "ClipRefineResult",
    "refine_clips",
    "clip_median_lengths",
    "moving_average",
    "median_bones_moving_average",
    "weak_perspective_residual",
]

log = logging.getLogger(__name__)

_TINY = 1e-12


@dataclass(frozen=True)
class ClipSettings:
    """The clip terms of clip refinement (the energy's ``steps``, ``lr`` and ``pull`` are
    :func:`sealloss.refine`'s). The field defaults are ``sealloss.defaults.CLIP["detected"]``;
    :meth:`recommended` gives those of either input kind (what :func:`sealloss.refine` and
    ``sealloss refine --clip-key`` use), chosen on S8 by ``bench/clip_refinement.py``.

    Attributes:
        w2d: weight of the 2D consistency fraction ``r_2d`` per frame (module docstring).
        smooth: weight of the velocity term, per m^2/s (0: off, and ``frames`` is not needed).
        fps: frames per second of ``frames`` (Human3.6M's frame indices are 50 Hz video
            frames, whatever rate the rows were sampled at).
        symmetric: the left and right bone of each symmetric pair share one length.
        length_lr: Adam learning rate of the log-lengths (relative change per step);
            ``None``: the bone vectors' ``lr``; ``0``: the lengths stay at their start.
        prior_weight: where the clip's lengths start, in ``[0, 1]``: ``(1 - w) * median + w *
            prior`` (0: the clip's median of the input, 1: the prior alone).
        prior: ``(B,)`` prior bone lengths, metres, ``skeleton.bones`` order (the mean lengths
            of the training poses); ``None``: the skeleton's shipped prior
            (:data:`sealloss.pose.priors.BONE_LENGTH_PRIORS`), read only when
            ``prior_weight > 0``.
    """

    w2d: float = CLIP["detected"]["w2d"]
    smooth: float = CLIP["detected"]["smooth"]
    fps: float = 50.0
    symmetric: bool = True
    length_lr: float | None = CLIP["detected"]["length_lr"]
    prior_weight: float = CLIP["detected"]["prior_weight"]
    prior: tuple[float, ...] | None = None

    @classmethod
    def recommended(cls, inputs: str = "gt", **overrides: Any) -> ClipSettings:
        """The clip terms chosen on S8 for the 2D input kind ``inputs``
        (:data:`sealloss.defaults.CLIP`), with ``overrides`` applied."""
        return cls(**{**clip_defaults(inputs), **overrides})

    def __post_init__(self) -> None:
        for name in ("w2d", "smooth"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"ClipSettings.{name} must be a finite number >= 0, got {v!r}")
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"ClipSettings.fps must be a finite number > 0, got {self.fps!r}")
        lr = self.length_lr
        if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
            raise ValueError(f"ClipSettings.length_lr must be None or a number >= 0, got {lr!r}")
        w = self.prior_weight
        if not (isinstance(w, (int, float)) and 0.0 <= w <= 1.0):
            raise ValueError(f"ClipSettings.prior_weight must be a number in [0, 1], got {w!r}")
        if self.prior is not None:
            object.__setattr__(self, "prior", tuple(float(v) for v in self.prior))


@dataclass
class ClipRefineResult:
    """What clip refinement returns: the fields of
    :class:`~sealloss.posthoc.refinement.RefineResult`
    (same meaning) and the clips' bone lengths.

    Attributes:
        poses: ``(N, J, 3)`` refined poses (metres, the input's root kept), input row order.
        energy_before, energy_after: ``(N,)`` energies of the input and the refined poses.
        seconds: wall time of the refinement.
        snapshots: ``{step: (N, J, 3)}`` poses after each requested step count.
        lengths: ``(C, B)`` bone lengths of each clip after refinement, metres (clip ``c`` is
            ``clip_of_row == c``; bones in ``skeleton.bones`` order).
        clip_of_row: ``(N,)`` int64 clip number of each row.
    """

    poses: Tensor
    energy_before: Tensor
    energy_after: Tensor
    seconds: float
    snapshots: dict[int, Tensor] = field(default_factory=dict)
    lengths: Tensor | None = None
    clip_of_row: np.ndarray | None = None

    @property
    def ms_per_1000(self) -> float:
        """Cost in milliseconds per 1,000 poses."""
        return 1000.0 * self.seconds * 1000.0 / max(1, self.poses.shape[0])


# ------------------------------------------------------------------ helpers
def _length_groups(sk: Skeleton, symmetric: bool) -> tuple[list[int], int]:
    """Bone -> length parameter (left/right pairs share one when ``symmetric``)."""
    group = list(range(len(sk.bones)))
    if symmetric:
        for left, right in sk.symmetric_bone_pairs:
            group[right] = group[left]
    uniq = sorted(set(group))
    remap = {g: i for i, g in enumerate(uniq)}
    return [remap[g] for g in group], len(uniq)


def _grouped_median(lengths: Tensor, index: ClipIndex, groups: list[int], n_groups: int
                    ) -> Tensor:
    """``(N, B)`` lengths -> ``(C, G)``: per clip the (lower) median of each bone, then the mean
    over the bones of a group."""
    c = index.num_clips
    if c == lengths.shape[0]:  # one row per clip (poses refined alone): the row is the median
        med = lengths[torch.as_tensor(index.order[index.starts[:-1]], device=lengths.device)]
    else:
        med = lengths.new_zeros(c, lengths.shape[-1])
        for k in range(c):
            rows = torch.as_tensor(index.rows(k), device=lengths.device)
            med[k] = lengths[rows].median(dim=0).values
    return _group_mean(med, groups, n_groups)


def _group_mean(lengths: Tensor, groups: list[int], n_groups: int) -> Tensor:
    """``(..., B)`` bone lengths -> ``(..., G)``: the mean over the bones of each group."""
    g = torch.as_tensor(groups, device=lengths.device)
    out = lengths.new_zeros(*lengths.shape[:-1], n_groups).index_add_(-1, g, lengths)
    return out / torch.bincount(g, minlength=n_groups).to(lengths.dtype)


def _start_lengths(lengths: Tensor, index: ClipIndex, groups: list[int], n_groups: int,
                   sk: Skeleton, prior_weight: float, prior: Sequence[float] | None) -> Tensor:
    """``(C, G)`` start lengths of each clip: ``(1 - w)`` clip median + ``w`` prior."""
    med = _grouped_median(lengths, index, groups, n_groups)
    if prior_weight == 0:
        return med
    p = bone_length_prior(sk, prior, device=lengths.device, dtype=lengths.dtype)
    return (1.0 - prior_weight) * med + prior_weight * _group_mean(p, groups, n_groups)


def clip_median_lengths(
    y: Tensor, clips: Sequence | np.ndarray | Tensor | ClipIndex, skeleton: Skeleton | str,
    symmetric: bool = True, prior_weight: float = 0.0, prior: Sequence[float] | None = None,
) -> Tensor:
    """Each row's clip's per-bone median length (no ground truth).

    Args:
        y: ``(N, J, 3)`` poses, metres.
        clips: ``(N,)`` / ``(N, K)`` clip ids, or a :class:`~sealloss.metrics.ClipIndex`.
        symmetric: average the left/right medians of each symmetric pair.
        prior_weight, prior: blend the medians with a prior, ``(1 - w) * median + w * prior``
            (as :class:`ClipSettings`; 0, the default, is the medians alone).

    Returns:
        ``(N, B)`` lengths (the same for all rows of a clip); imposed with
        :func:`~sealloss.posthoc.refinement.set_bone_lengths` they give
        :func:`~sealloss.posthoc.refinement.sequence_median_bones` for any clip ids.
    """
    sk = get_skeleton(skeleton)
    index = clips if isinstance(clips, ClipIndex) else clip_index(clips, n=y.shape[0])
    groups, n_groups = _length_groups(sk, symmetric)
    per_clip = _start_lengths(bone_lengths(y.detach(), sk), index, groups, n_groups, sk,
                              prior_weight, prior)
    ids = torch.as_tensor(index.ids, device=y.device)
    return per_clip[ids][:, torch.as_tensor(groups, device=y.device)]


def weak_perspective_residual(x2d: Tensor, y3d: Tensor, root: int = 0) -> Tensor:
    """Scale-free 2D consistency of a pose under a weak-perspective camera (module docstring).

    Args:
        x2d: ``(..., J, 2)`` 2D; y3d: ``(..., J, 3)`` poses (any units for both).
        root: the root joint.

    Returns:
        ``(...)`` fraction ``|u - s p|^2 / |u|^2`` with ``s`` the least-squares scale.
    """
    u = root_relative(x2d, root)
    p = root_relative(y3d[..., :2], root)
    s = (u * p).sum((-1, -2)) / p.pow(2).sum((-1, -2)).clamp_min(_TINY)
    r = (u - s[..., None, None] * p).pow(2).sum((-1, -2))
    return r / u.pow(2).sum((-1, -2)).clamp_min(_TINY)


@contextlib.contextmanager
def _frozen(net: LossNet) -> Iterator[None]:
    """Eval mode and no parameter gradients inside; the net's own state restored after."""
    was_training, req = net.training, [p.requires_grad for p in net.parameters()]
    net.eval().requires_grad_(False)
    try:
        yield
    finally:
        net.train(was_training)
        for p, r in zip(net.parameters(), req):
            p.requires_grad_(r)


def _batches(index: ClipIndex, batch_size: int) -> list[list[int]]:
    """Whole clips per batch, up to ``batch_size`` rows (a longer clip goes alone)."""
    out: list[list[int]] = []
    cur: list[int] = []
    rows = 0
    for c, size in enumerate(index.sizes.tolist()):
        if cur and rows + size > batch_size:
            out.append(cur)
            cur, rows = [], 0
        cur.append(c)
        rows += size
    if cur:
        out.append(cur)
    return out


# ------------------------------------------------------------------ clip refinement
def refine_clips(
    lossnet: LossNet,
    x2d: Tensor,
    y_hat: Tensor,
    clips: Sequence | np.ndarray | Tensor,
    frames: Sequence | np.ndarray | Tensor | None = None,
    *,
    steps: int,
    lr: float,
    pull: float,
    settings: ClipSettings | None = None,
    batch_size: int = 4096,
    snapshots: Sequence[int] = (),
    progress: Callable[[int, int], None] | None = None,
) -> ClipRefineResult:
    """Refine each clip jointly (module docstring); use it through :func:`sealloss.refine`.

    Args:
        lossnet: the energy (eval mode inside; its parameters are not changed).
        x2d: ``(N, J, 2)`` canonical 2D; y_hat: ``(N, J, 3)`` predictions, metres (checked by
            the caller, :func:`sealloss.refine`).
        clips: ``(N,)`` or ``(N, K)`` clip id of each row (e.g. ``[seq_id, camera]``).
        frames: ``(N,)`` frame indices (needed when ``settings.smooth > 0``).
        steps, lr, pull: Adam steps (0 returns the input), the bone vectors' learning rate
            (metres per step) and the pull's weight (per m^2, mean over joints).
        settings: the clip terms (:class:`ClipSettings`; default ``ClipSettings()``).
        batch_size: rows refined together (whole clips; a longer clip goes alone).
        snapshots: also return the poses after these step counts (0: the input).
        progress: called as ``progress(done_rows, total_rows)`` after each batch.

    Returns:
        :class:`ClipRefineResult`, rows in the input's order; ``seconds`` is the wall time
        (``ms_per_1000``: the cost per 1,000 poses).

    Raises:
        PoseShapeError: bad clips or frames (e.g. a frame twice in one clip).
        ValueError: ``smooth > 0`` without ``frames``.
    """
    st = settings if settings is not None else ClipSettings()
    if not isinstance(st, ClipSettings):
        raise ValueError(f"refine: clip= must be a ClipSettings, got {type(st).__name__}")
    if st.smooth > 0 and frames is None:
        raise ValueError("refine: the smoothness term (ClipSettings.smooth > 0) needs frames= "
                         "(the frame index of every pose): time gaps are not read from row order")
    sk = lossnet.skeleton
    n = y_hat.shape[0]
    index = clip_index(clips, frames, st.fps, n=n)
    groups, n_groups = _length_groups(sk, st.symmetric)
    out = y_hat.detach().clone()
    e0 = y_hat.new_zeros(n)
    e1 = y_hat.new_zeros(n)
    lengths = y_hat.new_zeros(index.num_clips, len(sk.bones))
    snaps = {int(s): y_hat.detach().clone() for s in snapshots}
    t0 = time.perf_counter()
    done = 0
    with _frozen(lossnet):
        for batch in _batches(index, batch_size):
            rows = np.concatenate([index.rows(c) for c in batch])
            local = ClipIndex(
                ids=np.repeat(np.arange(len(batch)), index.sizes[batch]),
                order=np.arange(rows.size), starts=np.concatenate(
                    [[0], np.cumsum(index.sizes[batch])]).astype(np.int64),
                times=None if index.times is None else index.times[rows], labels=batch)
            r = torch.as_tensor(rows, device=y_hat.device)
            res = _refine_batch(lossnet, x2d[r].detach(), y_hat[r].detach(), local, groups,
                                n_groups, steps, lr, pull, st, sorted(snaps))
            out[r], e0[r], e1[r] = res["poses"], res["e0"], res["e1"]
            lengths[torch.as_tensor(batch, device=y_hat.device)] = res["lengths"]
            for k, v in res["snapshots"].items():
                snaps[k][r] = v
            done += rows.size
            if progress is not None:
                progress(done, n)
    return ClipRefineResult(poses=out, energy_before=e0, energy_after=e1,
                            seconds=time.perf_counter() - t0, snapshots=snaps, lengths=lengths,
                            clip_of_row=index.ids)


def _refine_batch(net: LossNet, x: Tensor, y0: Tensor, index: ClipIndex, groups: list[int],
                  n_groups: int, steps: int, lr: float, pull: float, st: ClipSettings,
                  snapshots: list[int]) -> dict:
    """One batch of whole clips, rows in clip-then-time order (``index`` is local)."""
    sk = net.skeleton
    root = y0[:, sk.root : sk.root + 1]
    with torch.no_grad():
        e0 = net.energy(x, y0).detach()
    ids = torch.as_tensor(index.ids, device=y0.device)
    g = torch.as_tensor(groups, device=y0.device)
    lengths0 = bone_lengths(y0, sk)
    snaps = {k: y0.clone() for k in snapshots if k == 0}
    if steps == 0:
        med = _grouped_median(lengths0, index, groups, n_groups)[:, g]
        return {"poses": y0.clone(), "e0": e0, "e1": e0.clone(), "lengths": med,
                "snapshots": snaps}
    log_len = _start_lengths(lengths0, index, groups, n_groups, sk, st.prior_weight,
                             st.prior).clamp_min(1e-6).log()
    vec = bone_vectors(y0, sk).clone().requires_grad_(True)
    groups_opt: list[dict] = [{"params": [vec], "lr": lr}]
    if st.length_lr != 0:  # 0: the lengths stay at their start
        log_len.requires_grad_(True)
        groups_opt.append({"params": [log_len], "lr": st.length_lr or lr})
    opt = torch.optim.Adam(groups_opt)
    pa = pb = dt = None
    if st.smooth > 0:
        a, b, gap = index.pairs()
        pa, pb = torch.as_tensor(a, device=y0.device), torch.as_tensor(b, device=y0.device)
        dt = torch.as_tensor(gap, dtype=y0.dtype, device=y0.device)

    def pose() -> tuple[Tensor, Tensor]:
        rel = forward_kinematics(vec, log_len.exp()[ids][:, g], sk)
        return rel + root, rel

    for k in range(1, steps + 1):
        with torch.enable_grad():
            y, rel = pose()
            obj = net.energy(x, y).sum()
            if st.w2d > 0:
                obj = obj + st.w2d * weak_perspective_residual(x, y, sk.root).sum()
            if pull > 0:
                obj = obj + pull * (y - y0).pow(2).sum(-1).mean(-1).sum()
            if pa is not None:
                move = (rel[pb] - rel[pa]).pow(2).sum(-1).mean(-1)
                obj = obj + st.smooth * (move / dt).sum()
            opt.zero_grad(set_to_none=True)
            obj.backward()
        opt.step()
        if k in snapshots:
            with torch.no_grad():
                snaps[k] = pose()[0].detach().clone()
    with torch.no_grad():
        y1 = pose()[0].detach()
        y1[:, sk.root] = y0[:, sk.root]  # exactly the input's root (FK adds 0 there)
        e1 = net.energy(x, y1).detach()
        lens = log_len.detach().exp()[:, g]
    return {"poses": y1, "e0": e0, "e1": e1, "lengths": lens, "snapshots": snaps}


# ------------------------------------------------------------------ ground-truth-free rivals
def moving_average(
    y: Tensor,
    clips: Sequence | np.ndarray | Tensor | ClipIndex,
    frames: Sequence | np.ndarray | Tensor | None = None,
    fps: float = 50.0,
    half_window: float = 0.1,
    skeleton: Skeleton | str = "h36m17",
) -> Tensor:
    """Moving average over time within each clip, in real time (the usual "smooth it afterwards").

    Each pose is replaced by the mean of the root-relative poses of its clip whose time is
    within ``half_window`` seconds of its own (``|t_k - t| <= half_window``, ``t = frames /
    fps``); a sparse clip averages the samples it has, never reaching across a clip boundary.
    The root stays where it is.

    Args:
        y: ``(N, J, 3)`` poses, metres.
        clips: ``(N,)`` / ``(N, K)`` clip ids or a :class:`~sealloss.metrics.ClipIndex` (with
            times).
        frames: ``(N,)`` frame indices; fps: their frames per second.
        half_window: seconds (0 returns the input).
        skeleton: gives the root.

    Returns:
        ``(N, J, 3)`` poses.
    """
    sk = get_skeleton(skeleton)
    if not (math.isfinite(half_window) and half_window >= 0):
        raise ValueError(f"half_window must be a number of seconds >= 0, got {half_window!r}")
    index = clips if isinstance(clips, ClipIndex) else clip_index(clips, frames, fps, n=len(y))
    if index.times is None:
        raise ValueError("moving_average needs frames= (the frame index of every pose)")
    root = y[:, sk.root : sk.root + 1]
    rel = (y - root).detach().to(torch.float64)
    out = rel.clone()
    for c in range(index.num_clips):
        rows = index.rows(c)
        t = index.times[rows]
        lo = np.searchsorted(t, t - half_window * (1 + 1e-9), side="left")
        hi = np.searchsorted(t, t + half_window * (1 + 1e-9), side="right")
        r = torch.as_tensor(rows, device=y.device)
        cs = torch.cat([rel.new_zeros(1, *rel.shape[1:]), rel[r].cumsum(0)])
        lo_t, hi_t = torch.as_tensor(lo, device=y.device), torch.as_tensor(hi, device=y.device)
        out[r] = (cs[hi_t] - cs[lo_t]) / (hi_t - lo_t).to(rel.dtype)[:, None, None]
    return out.to(y.dtype) + root


def median_bones_moving_average(
    y: Tensor,
    clips: Sequence | np.ndarray | Tensor | ClipIndex,
    frames: Sequence | np.ndarray | Tensor | None = None,
    fps: float = 50.0,
    half_window: float = 0.1,
    skeleton: Skeleton | str = "h36m17",
    symmetric: bool = True,
    prior_weight: float = 0.0,
    prior: Sequence[float] | None = None,
) -> Tensor:
    """"Median bones + moving average": the directions of :func:`moving_average`, each bone set
    to its clip's median length of the *input* poses (:func:`clip_median_lengths`; averaging
    positions shortens bones, the medians of the input do not). Arguments as there;
    ``prior_weight > 0`` blends the medians with a bone-length prior (the "prior bones" rival,
    :func:`clip_median_lengths`).

    Returns:
        ``(N, J, 3)`` poses whose bone lengths are constant within each clip.
    """
    sk = get_skeleton(skeleton)
    index = clips if isinstance(clips, ClipIndex) else clip_index(clips, frames, fps, n=len(y))
    smooth = moving_average(y, index, fps=fps, half_window=half_window, skeleton=sk)
    lengths = clip_median_lengths(y, index, sk, symmetric, prior_weight, prior).to(y.dtype)
    root = smooth[:, sk.root : sk.root + 1]
    return forward_kinematics(bone_vectors(smooth, sk), lengths, sk) + root

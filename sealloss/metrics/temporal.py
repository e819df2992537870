"""Temporal metrics of pose clips: bone lengths that should hold over time, velocity and
acceleration errors.

A **clip** is the set of rows that share a clip id (``clips=``: one id per row, e.g. a sequence
id, or an ``(N, K)`` array such as ``[seq_id, camera]``). Inside a clip the rows are put in time
order by their frame indices (``frames=``), never by row order, and time is ``frames / fps``
seconds. Clips may be sparse (frames dropped with a failed detection, every 5th frame of a
video kept): a finite difference only joins *neighbouring samples of the same clip* and divides
by their real time gap.

Definitions (inputs in any length unit; outputs in that unit, per second for rates):

- **bone-length spread**: per clip, the standard deviation over its samples (population, ddof 0)
  of each bone's length, then the mean over bones. A clip of one sample has no spread (NaN,
  left out of means). The truth's is about 0 (rigid bones; marker placement gives a few mm).
- **MPJVE**: for neighbouring samples ``a, b`` of a clip, ``v = (y_b - y_a) / dt`` with
  ``dt = (frame_b - frame_a) / fps``; per pair, the mean over joints of ``|v_pred - v_gt|``.
- **acceleration error**: for three neighbouring samples ``a, b, c`` with gaps ``h1, h2``,
  ``acc = 2 ((y_c - y_b) / h2 - (y_b - y_a) / h1) / (h1 + h2)`` (the second derivative of the
  parabola through the three samples; ``(y_a - 2 y_b + y_c) / h^2`` for equal gaps); per triple,
  the mean over joints of ``|acc_pred - acc_gt|``.

The functions return one value per clip, pair or triple (``reduction="none"``) or their mean.
:func:`evaluate_temporal` reports ``BoneStd`` / ``BoneStd_gt`` (mm, mean over clips), ``MPJVE``
(mm/s, mean over pairs) and ``AccErr`` (mm/s^2, mean over triples) as an
:class:`~sealloss.metrics.EvalResult` with per-action rows, like :func:`sealloss.metrics.evaluate`;
:func:`join_results` puts both in one table.

Example:
    >>> import torch
    >>> y = torch.zeros(3, 17, 3); y[:, 1:, 2] = 0.1
    >>> mpjve(y, y, clips=[0, 0, 0], frames=[0, 5, 10], fps=50.0)
    tensor(0., dtype=torch.float64)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import PoseShapeError
from ..pose.canonical import root_relative
from ..pose.checks import check_finite, check_pose, check_pose_pair, joint_indices
from ..pose.kinematics import bone_lengths
from ..pose.skeleton import Skeleton, get_skeleton
from .eval_result import EvalResult
from .functional import bone_subset
from .reduction import NoReducer, Reducer, Reduction, get_reducer

__all__ = [
    "ClipIndex",
    "clip_index",
    "clips_from_arrays",
    "bone_length_spread",
    "mpjve",
    "acceleration_error",
    "evaluate_temporal",
    "join_results",
    "TEMPORAL_KEYS",
]

#: the keys :func:`evaluate_temporal` reports (mm, mm, mm/s, mm/s^2)
TEMPORAL_KEYS: tuple[str, ...] = ("BoneStd", "BoneStd_gt", "MPJVE", "AccErr")
_TO_MM = {"m": 1000.0, "cm": 10.0, "mm": 1.0}


# --------------------------------------------------------------------------- clips
@dataclass(frozen=True, eq=False)
class ClipIndex:
    """Rows grouped into clips and put in time order (built by :func:`clip_index`).

    Attributes:
        ids: ``(N,)`` int64 clip number of each row, ``0 .. num_clips - 1`` (clips numbered in
            the sorted order of their ids).
        order: ``(N,)`` int64 row indices sorted by clip, then time (then row, for ties of
            rows without frames).
        starts: ``(num_clips + 1,)`` offsets: clip ``c``'s rows, in time order, are
            ``order[starts[c]:starts[c + 1]]``.
        times: ``(N,)`` float64 time of each row in seconds (``frames / fps``), or ``None``
            when no frames were given (rows of a clip are then in row order, and there are no
            time gaps: :meth:`pairs` and :meth:`triples` refuse).
        labels: the clip id of each clip (``num_clips`` entries, as given).
    """

    ids: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    times: np.ndarray | None
    labels: list

    @property
    def num_clips(self) -> int:
        """Number of clips."""
        return len(self.starts) - 1

    @property
    def sizes(self) -> np.ndarray:
        """``(num_clips,)`` samples per clip."""
        return np.diff(self.starts)

    def rows(self, c: int) -> np.ndarray:
        """Row indices of clip ``c`` in time order."""
        return self.order[self.starts[c] : self.starts[c + 1]]

    def _neighbours(self, k: int) -> np.ndarray:
        """``(M, k)`` rows of every ``k`` consecutive samples of one clip (time order)."""
        if self.times is None:
            raise PoseShapeError("velocities need frames= (frame indices of every row)")
        n = self.order.size
        if n < k:
            return np.zeros((0, k), dtype=np.int64)
        sid = self.ids[self.order]
        same = np.ones(n - k + 1, dtype=bool)
        for d in range(1, k):
            same &= sid[d : n - k + 1 + d] == sid[: n - k + 1]
        first = np.flatnonzero(same)
        return np.stack([self.order[first + d] for d in range(k)], axis=1)

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Neighbouring samples of one clip: rows ``a, b`` ``(M,)`` and gaps ``dt`` ``(M,)``
        seconds (``> 0``)."""
        nb = self._neighbours(2)
        assert self.times is not None
        return nb[:, 0], nb[:, 1], self.times[nb[:, 1]] - self.times[nb[:, 0]]

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Three neighbouring samples of one clip: rows ``a, b, c`` ``(M,)`` and gaps ``h1``
        (``a`` to ``b``), ``h2`` (``b`` to ``c``) ``(M,)`` seconds."""
        nb = self._neighbours(3)
        assert self.times is not None
        t = self.times
        return nb[:, 0], nb[:, 1], nb[:, 2], t[nb[:, 1]] - t[nb[:, 0]], t[nb[:, 2]] - t[nb[:, 1]]


def _as_numpy(x: object, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as e:
        raise PoseShapeError(f"{what} must be an array of one entry per row ({e})") from None


def clip_index(
    clips: Sequence | np.ndarray | torch.Tensor,
    frames: Sequence | np.ndarray | torch.Tensor | None = None,
    fps: float = 1.0,
    n: int | None = None,
) -> ClipIndex:
    """Group rows into clips and order each clip by time.

    Args:
        clips: ``(N,)`` clip id of each row (ints or strings), or ``(N, K)`` ids whose rows
            are the ids (e.g. ``np.stack([seq_id, camera], 1)``).
        frames: ``(N,)`` frame index (or any time stamp in frames) of each row; ``None``: the
            rows of a clip are taken in row order, without times.
        fps: frames per second of ``frames`` (``times = frames / fps``); e.g. 50 for
            Human3.6M's video frame indices, whatever the rate the rows were sampled at.
        n: expected number of rows (checked when given).

    Raises:
        PoseShapeError: wrong lengths, non-finite frames, or a frame that occurs twice in one
            clip (the message names the clip and the frame: the clip id probably lacks a part,
            e.g. the camera).
        ValueError: ``fps`` not a finite number > 0.
    """
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a finite number > 0 (frames per second), got {fps!r}")
    c = _as_numpy(clips, "clips")
    if c.ndim not in (1, 2) or (n is not None and c.shape[0] != n):
        want = f"({n},) or ({n}, K)" if n is not None else "(N,) or (N, K)"
        raise PoseShapeError(f"clips must have shape {want} (one clip id per row), got {c.shape}")
    try:
        if c.ndim == 2:
            uniq, ids = np.unique(c, axis=0, return_inverse=True)
            labels = [tuple(u.tolist()) for u in uniq]
        else:
            uniq, ids = np.unique(c, return_inverse=True)
            labels = uniq.tolist()
    except TypeError:  # mixed types in an object array: compare them as strings
        uniq, ids = np.unique(c.astype(str), axis=0 if c.ndim == 2 else None, return_inverse=True)
        labels = [tuple(u.tolist()) for u in uniq] if c.ndim == 2 else uniq.tolist()
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    rows = np.arange(ids.size)
    times = None
    if frames is None:
        order = np.lexsort((rows, ids))
    else:
        f = _as_numpy(frames, "frames")
        if f.shape != (ids.size,):
            raise PoseShapeError(
                f"frames must have shape ({ids.size},) (one frame index per row), got {f.shape}"
            )
        if not np.issubdtype(f.dtype, np.number) or not np.isfinite(f.astype(np.float64)).all():
            raise PoseShapeError("frames must be finite numbers (frame indices)")
        f = f.astype(np.float64)
        order = np.lexsort((rows, f, ids))
        so, fo = ids[order], f[order]
        dup = np.flatnonzero((so[1:] == so[:-1]) & (fo[1:] == fo[:-1]))
        if dup.size:
            k = int(dup[0])
            raise PoseShapeError(
                f"frames: clip {labels[int(so[k])]!r} has frame {fo[k]:g} twice (rows "
                f"{int(order[k])} and {int(order[k + 1])}; {dup.size} such repeat(s)): frames "
                "must be unique within a clip; does the clip id lack a part (e.g. the camera)?"
            )
        times = f / float(fps)
    counts = np.bincount(ids, minlength=len(labels))
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return ClipIndex(ids=ids, order=order.astype(np.int64), starts=starts, times=times,
                     labels=list(labels))


def clips_from_arrays(arrays: Mapping[str, np.ndarray], keys: Sequence[str], n: int,
                      where: str = "the file") -> np.ndarray:
    """Clip ids from named per-row arrays (e.g. a file's ``seq_id`` and ``camera``).

    Args:
        arrays: name -> array; each named array has ``n`` entries (any shape of that size,
            e.g. the leading dims of ``(B, T, J, 3)`` poses).
        keys: the names whose values together name a row's clip.
        n: rows.
        where: what ``arrays`` is, for the messages (e.g. the file name).

    Returns:
        ``(n, len(keys))`` ids: int64 when every array is integer, else strings.

    Raises:
        PoseShapeError: a missing name (the message lists the names there are) or an array
            without one entry per row.
    """
    if not keys:
        raise PoseShapeError("clip keys: name at least one array (e.g. seq_id camera)")
    cols = []
    for k in keys:
        if k not in arrays:
            raise PoseShapeError(f"clip key {k!r} is not in {where}; it has {sorted(arrays)}")
        a = np.asarray(arrays[k])
        if a.size != n:
            raise PoseShapeError(f"clip key {k!r} in {where} has shape {a.shape}: one entry "
                                 f"per pose ({n}) is needed")
        cols.append(a.reshape(-1))
    if all(np.issubdtype(c.dtype, np.integer) or c.dtype == bool for c in cols):
        return np.stack([c.astype(np.int64) for c in cols], 1)
    return np.stack([c.astype(str) for c in cols], 1)


# --------------------------------------------------------------------------- functions
def _index(clips: object, frames: object, fps: float, n: int) -> ClipIndex:
    if isinstance(clips, ClipIndex):
        if clips.ids.size != n:
            raise PoseShapeError(f"the ClipIndex has {clips.ids.size} rows, the poses {n}")
        return clips
    return clip_index(clips, frames, fps, n=n)  # type: ignore[arg-type]


def _spread_per_clip(lengths: torch.Tensor, index: ClipIndex) -> torch.Tensor:
    """``(N, B)`` lengths -> ``(C, B)`` float64 population std per clip (NaN for 1 sample)."""
    ln = lengths.to(torch.float64)
    ids = torch.as_tensor(index.ids, device=ln.device)
    counts = torch.as_tensor(index.sizes, dtype=torch.float64, device=ln.device)[:, None]
    c = index.num_clips
    mean = ln.new_zeros(c, ln.shape[1]).index_add_(0, ids, ln) / counts.clamp_min(1)
    dev = (ln - mean[ids]).pow(2)
    var = ln.new_zeros(c, ln.shape[1]).index_add_(0, ids, dev) / counts.clamp_min(1)
    return var.sqrt().masked_fill(counts < 2, float("nan"))


def bone_length_spread(
    pred: torch.Tensor,
    clips: Sequence | np.ndarray | torch.Tensor | ClipIndex,
    skeleton: Skeleton | str,
    reduction: Reduction = "mean",
    per_bone: bool = False,
    joints: Sequence[int] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-clip standard deviation of each bone's length (module docstring), float64.

    Args:
        pred: ``(N, J, 3)`` poses (any units; output in the same units).
        clips: ``(N,)`` or ``(N, K)`` clip ids (or a :class:`ClipIndex`); no frames needed.
        skeleton: gives the bones.
        reduction: ``"none"`` -> ``(C,)`` one value per clip (NaN for a clip of one sample);
            ``"mean"`` / ``"sum"`` over the clips that have a spread.
        per_bone: keep the bone axis: ``(C, B)`` (``"mean"`` -> ``(B,)``).
        joints: only bones whose both end joints are in this subset.
    """
    # a clip of one sample has no spread (NaN): left out of the mean and the sum
    reducer = get_reducer(reduction, skip_nan=True)
    sk = get_skeleton(skeleton)
    check_pose(pred, sk.num_joints, None, "pred", finite=False)
    if pred.dim() != 3:
        raise PoseShapeError(f"pred must have shape (N, J, 3), got {tuple(pred.shape)}")
    keep = joint_indices(joints, sk.num_joints)
    check_finite(pred.detach(), "pred", keep)
    bones, _ = bone_subset(sk, keep, require="bones")
    index = _index(clips, None, 1.0, pred.shape[0])
    per = _spread_per_clip(bone_lengths(pred.detach(), sk, 0.0, bones), index)
    return reducer(per if per_bone else per.mean(-1), dim=0)


def _check_motion(pred: torch.Tensor, gt: torch.Tensor) -> None:
    check_pose_pair(pred, gt)
    if pred.dim() != 3:
        raise PoseShapeError(f"poses must have shape (N, J, D), got {tuple(pred.shape)}")


def _velocity_errors(pred: torch.Tensor, gt: torch.Tensor, index: ClipIndex
                     ) -> tuple[torch.Tensor, np.ndarray]:
    """Per pair error ``(M,)`` float64 and the pairs' first rows ``(M,)``."""
    a, b, dt = index.pairs()
    d = (pred.to(torch.float64) - gt.to(torch.float64))
    ia, ib = torch.as_tensor(a, device=d.device), torch.as_tensor(b, device=d.device)
    h = torch.as_tensor(dt, dtype=torch.float64, device=d.device)[:, None, None]
    return ((d[ib] - d[ia]) / h).norm(dim=-1).mean(-1), a


def _acceleration_errors(pred: torch.Tensor, gt: torch.Tensor, index: ClipIndex
                         ) -> tuple[torch.Tensor, np.ndarray]:
    """Per triple error ``(M,)`` float64 and the triples' first rows ``(M,)``."""
    a, b, c, h1, h2 = index.triples()
    d = (pred.to(torch.float64) - gt.to(torch.float64))
    dev = d.device
    ia, ib, ic = (torch.as_tensor(r, device=dev) for r in (a, b, c))
    t1 = torch.as_tensor(h1, dtype=torch.float64, device=dev)[:, None, None]
    t2 = torch.as_tensor(h2, dtype=torch.float64, device=dev)[:, None, None]
    acc = 2.0 * ((d[ic] - d[ib]) / t2 - (d[ib] - d[ia]) / t1) / (t1 + t2)
    return acc.norm(dim=-1).mean(-1), a


def _mean(values: torch.Tensor, reducer: Reducer) -> torch.Tensor:
    """Reduce per-pair (per-triple) errors; with none, the mean and the sum are NaN."""
    if values.numel() == 0 and not isinstance(reducer, NoReducer):
        return values.new_tensor(float("nan"))
    return reducer(values)


def _motion_index(name: str, pred: torch.Tensor, gt: torch.Tensor, clips, frames, fps: float,
                  ) -> ClipIndex:
    """The checks shared by the motion metrics, then the clip index they are computed on."""
    _check_motion(pred, gt)
    if frames is None and not isinstance(clips, ClipIndex):
        raise PoseShapeError(f"{name} needs frames= (frame indices of every row), not row order")
    return _index(clips, frames, fps, len(pred))


def mpjve(
    pred: torch.Tensor,
    gt: torch.Tensor,
    clips: Sequence | np.ndarray | torch.Tensor | ClipIndex,
    frames: Sequence | np.ndarray | torch.Tensor | None = None,
    fps: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Mean per-joint velocity error (module docstring), float64, units per second.

    Args:
        pred, gt: ``(N, J, D)`` poses in the same units (pass root-relative poses).
        clips: ``(N,)`` / ``(N, K)`` clip ids, or a :class:`ClipIndex` (then ``frames`` and
            ``fps`` are ignored).
        frames: ``(N,)`` frame indices (required unless ``clips`` is a :class:`ClipIndex`).
        fps: frames per second of ``frames``.
        reduction: ``"none"`` -> ``(M,)`` one value per neighbouring pair (in clip, then time
            order); ``"mean"`` (NaN when no clip has two samples) / ``"sum"``.
    """
    reducer = get_reducer(reduction)
    index = _motion_index("mpjve", pred, gt, clips, frames, fps)
    err, _ = _velocity_errors(pred.detach(), gt.detach(), index)
    return _mean(err, reducer)


def acceleration_error(
    pred: torch.Tensor,
    gt: torch.Tensor,
    clips: Sequence | np.ndarray | torch.Tensor | ClipIndex,
    frames: Sequence | np.ndarray | torch.Tensor | None = None,
    fps: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Mean per-joint acceleration error (module docstring), float64, units per second^2.

    Arguments as in :func:`mpjve`; ``"none"`` gives one value per triple of neighbouring
    samples ``(M,)``.
    """
    reducer = get_reducer(reduction)
    index = _motion_index("acceleration_error", pred, gt, clips, frames, fps)
    err, _ = _acceleration_errors(pred.detach(), gt.detach(), index)
    return _mean(err, reducer)


# --------------------------------------------------------------------------- evaluation
def _prepare(x: torch.Tensor | np.ndarray, sk: Skeleton, keep: list[int] | None, what: str,
             scale: float, root_align: bool) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dim() != 3 or t.shape[1:] != (sk.num_joints, 3) or not t.is_floating_point():
        raise PoseShapeError(
            f"{what} must be a floating (N, {sk.num_joints}, 3) array for skeleton {sk.name!r}, "
            f"got {tuple(t.shape)} {t.dtype}")
    t = t.detach().to("cpu", torch.float64)
    check_finite(t, what, keep)
    if root_align:
        check_finite(t[:, sk.root], f"{what} root joint")
        t = root_relative(t, sk.root)
    return t * scale


def evaluate_temporal(
    pred: torch.Tensor | np.ndarray,
    gt: torch.Tensor | np.ndarray,
    skeleton: Skeleton | str,
    clips: Sequence | np.ndarray | torch.Tensor,
    frames: Sequence | np.ndarray | torch.Tensor,
    fps: float,
    actions: str | Sequence[str] | np.ndarray | None = None,
    units: str = "m",
    joints: Sequence[int] | torch.Tensor | None = None,
    root_align: bool = True,
) -> EvalResult:
    """Temporal metrics of ``(N, J, 3)`` predictions in mm, mm/s and mm/s^2, per action.

    Keys (:data:`TEMPORAL_KEYS`): ``BoneStd`` / ``BoneStd_gt`` (bone-length spread of the
    prediction / the ground truth, mean over clips), ``MPJVE`` (mean over neighbouring pairs),
    ``AccErr`` (mean over triples); NaN where there is no clip of 2 (3) samples.

    Args:
        pred, gt: ``(N, J, 3)`` poses in ``units``.
        skeleton: the poses' skeleton.
        clips: ``(N,)`` or ``(N, K)`` clip ids (e.g. ``[seq_id, camera]``).
        frames: ``(N,)`` frame indices; ``fps``: their frames per second.
        actions: one label, or one per row. A clip that changes action is split there: each
            (clip, action) part counts in its action's row.
        units: ``"m"``, ``"cm"`` or ``"mm"``.
        joints: evaluate only these joints (and the bones between them); others may be NaN.
        root_align: subtract each pose's root joint first (velocities of the root-relative
            pose, as the position metrics).

    Returns:
        :class:`~sealloss.metrics.EvalResult` (``per_joint`` empty; ``count`` = rows).
    """
    if units not in _TO_MM:
        raise PoseShapeError(f"unknown units {units!r}; use one of {sorted(_TO_MM)}")
    sk = get_skeleton(skeleton)
    keep = joint_indices(joints, sk.num_joints)
    p = _prepare(pred, sk, keep, "pred", _TO_MM[units], root_align)
    g = _prepare(gt, sk, keep, "gt", _TO_MM[units], root_align)
    if p.shape != g.shape:
        raise PoseShapeError(f"pred {tuple(p.shape)} and gt {tuple(g.shape)} must match")
    n = p.shape[0]
    bones, _ = bone_subset(sk, keep, require="bones")
    acts: list[str] | None = None
    if actions is not None:
        acts = ([actions] * n if isinstance(actions, str)
                else [str(a) for a in np.asarray(actions, dtype=object).reshape(-1).tolist()])
        if len(acts) != n:
            raise PoseShapeError(f"actions has {len(acts)} entries; expected {n} (one per row)")
    base = clip_index(clips, frames, fps, n=n)
    if acts is None:
        index, act_of = base, np.zeros(n, dtype=np.int64)
        names = ["All"]
    else:
        names, act_of = np.unique(np.asarray(acts), return_inverse=True)
        names = [str(a) for a in names]
        act_of = np.asarray(act_of, dtype=np.int64).reshape(-1)
        index = clip_index(np.stack([base.ids, act_of], 1), frames, fps, n=n)
    ps, gs = (p, g) if keep is None else (p[:, keep], g[:, keep])
    spread = _spread_per_clip(bone_lengths(p, sk, 0.0, bones), index).mean(-1)
    spread_gt = _spread_per_clip(bone_lengths(g, sk, 0.0, bones), index).mean(-1)
    vel, vel_rows = _velocity_errors(ps, gs, index)
    acc, acc_rows = _acceleration_errors(ps, gs, index)
    clip_act = np.zeros(index.num_clips, dtype=np.int64)
    clip_act[index.ids] = act_of

    def summary(sel_clip: np.ndarray | None, sel_v: np.ndarray | None,
                sel_a: np.ndarray | None) -> dict[str, float]:
        def mean(v: torch.Tensor, sel: np.ndarray | None) -> float:
            v = v if sel is None else v[torch.as_tensor(sel)]
            v = v[~v.isnan()]
            return float(v.mean()) if v.numel() else float("nan")

        return {"BoneStd": mean(spread, sel_clip), "BoneStd_gt": mean(spread_gt, sel_clip),
                "MPJVE": mean(vel, sel_v), "AccErr": mean(acc, sel_a)}

    per_action: dict[str, dict[str, float]] = {}
    per_action_count: dict[str, int] = {}
    if acts is not None:
        for k, name in enumerate(names):
            per_action[name] = summary(clip_act == k, act_of[vel_rows] == k,
                                       act_of[acc_rows] == k)
            per_action_count[name] = int((act_of == k).sum())
    return EvalResult(summary=summary(None, None, None), per_action=per_action, per_joint={},
                      count=n, per_action_count=per_action_count)


def join_results(first: EvalResult, second: EvalResult) -> EvalResult:
    """One :class:`EvalResult` with the keys of both (e.g. :func:`sealloss.metrics.evaluate`'s
    and :func:`evaluate_temporal`'s of the same rows): summaries and per-action rows are merged
    (an action missing from one side gets NaN for its keys).

    Raises:
        ValueError: the two results count different rows.
    """
    if first.count != second.count:
        raise ValueError(f"cannot join results of {first.count} and {second.count} rows")
    nan2 = dict.fromkeys(second.summary, float("nan"))
    nan1 = dict.fromkeys(first.summary, float("nan"))
    acts = list(first.per_action) + [a for a in second.per_action if a not in first.per_action]
    per_action = {a: {**first.per_action.get(a, nan1), **second.per_action.get(a, nan2)}
                  for a in acts}
    counts = {a: first.per_action_count.get(a, second.per_action_count.get(a, 0)) for a in acts}
    return EvalResult(summary={**first.summary, **second.summary}, per_action=per_action,
                      per_joint=dict(first.per_joint), count=first.count,
                      per_action_count=counts)

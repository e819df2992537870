"""Temporal windows for multi-frame backbones, never crossing a video boundary.

A pairs dict (see :mod:`.h36m`) holds one row per (frame, camera), with each video, i.e. each
run of equal ``(seq_id, camera)``, stored contiguously in frame order. A window of ``T`` frames
is centred on its target frame (offset ``T // 2`` frames before it); near a video's ends it is
padded by repeating the first/last frame (``pad="edge"``) or dropped (``pad=None``).
"""

from __future__ import annotations

import numpy as np

from ..errors import PoseShapeError

__all__ = ["video_bounds", "window_index", "sliding_windows"]


def video_bounds(pairs: dict[str, np.ndarray]) -> np.ndarray:
    """``(V, 2)`` [start, end) row ranges of the contiguous runs of equal ``(seq_id, camera)``.

    Raises:
        PoseShapeError: when a video's rows are not contiguous (the same key appears twice).
    """
    seq = np.asarray(pairs["seq_id"])
    cam = np.asarray(pairs["camera"]) if "camera" in pairs else np.zeros_like(seq)
    n = seq.shape[0]
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    change = np.r_[True, (seq[1:] != seq[:-1]) | (cam[1:] != cam[:-1])]
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], n]
    keys = np.stack([seq[starts], cam[starts]], axis=1)
    if np.unique(keys, axis=0).shape[0] != keys.shape[0]:
        raise PoseShapeError(
            "pairs are not grouped by video: some (seq_id, camera) runs are split; sort rows by "
            "sequence, camera, frame first"
        )
    return np.stack([starts, ends], axis=1).astype(np.int64)


def window_index(
    pairs: dict[str, np.ndarray], T: int, stride: int = 1, pad: str | None = "edge"
) -> np.ndarray:
    """``(M, T)`` row indices of the windows (the functional core of :func:`sliding_windows`).

    Row ``m`` lists the rows of window ``m``; its target (centre) is column ``T // 2``. Targets
    are every ``stride``-th frame of each video, starting at its first frame (``pad="edge"``)
    or at the first frame with a full window (``pad=None``).
    """
    if T < 1 or stride < 1:
        raise PoseShapeError(f"T and stride must be >= 1, got T={T}, stride={stride}")
    if pad not in ("edge", None):
        raise PoseShapeError(f"pad must be 'edge' or None, got {pad!r}")
    before = T // 2
    offs = np.arange(T) - before
    out = []
    for start, end in video_bounds(pairs):
        length = end - start
        if pad == "edge":
            centres = np.arange(0, length, stride)
        else:
            centres = np.arange(before, length - (T - 1 - before), stride)
        if centres.size == 0:
            continue
        idx = np.clip(centres[:, None] + offs[None, :], 0, length - 1) + start
        out.append(idx)
    if not out:
        return np.zeros((0, T), dtype=np.int64)
    return np.concatenate(out).astype(np.int64)


def sliding_windows(
    pairs: dict[str, np.ndarray], T: int, stride: int = 1, pad: str | None = "edge"
) -> dict[str, np.ndarray]:
    """Windowed copy of a pairs dict.

    Arrays with more than one dimension (``x2d``, ``y3d``, ``root_cam`` ...) become
    ``(M, T, ...)``; one-dimensional metadata (``subject``, ``frame`` ...) keeps the target
    frame's value, ``(M,)``. Adds ``index`` ``(M, T)`` (source rows) and ``center`` ``(M,)``.

    Memory grows ``T``-fold; for long windows over large sets, gather batches lazily with
    :func:`window_index` instead.
    """
    idx = window_index(pairs, T, stride, pad)
    centre = idx[:, T // 2]
    out: dict[str, np.ndarray] = {}
    for key, val in pairs.items():
        arr = np.asarray(val)
        out[key] = arr[idx] if arr.ndim > 1 else arr[centre]
    out["index"] = idx
    out["center"] = centre
    return out

"""MPI-INF-3DHP readers for the npz files of the VideoPose3D / P-STMO family of lifting repos.

Layout (entry ``data``: a pickled dict, read by :func:`._npz.load_npz_entry`, which runs no
pickled code):

- ``data_train_3dhp.npz``: ``{"S1 Seq1": [ {camera: {"data_3d": (T, 17, 3) mm,
  "data_2d": (T, 17, 2) px}} ], ...}`` (the per-sequence value is a one-element list holding a
  dict keyed by camera index; a bare dict is accepted too); images 2048x2048.
- ``data_test_3dhp.npz``: ``{"TS1": {"data_3d", "data_2d", "valid": (T,)}, ...}``; TS1-TS4 are
  2048x2048, TS5/TS6 1920x1080.

Joints follow the ``mpi3dhp17`` skeleton (root: pelvis, index 14); 3D is camera-frame mm. The
dataset itself is not shipped or downloaded; point ``path`` or ``$SEALLOSS_DATA`` at a copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, DataNotFoundError, PoseShapeError
from ..pose.skeleton import get_skeleton, joint_map
from ._npz import load_npz_entry, npz_entries
from .h36m import to_screen
from .paths import find_data_file

__all__ = ["MPI3DHP_TEST_RESOLUTION", "mpi3dhp_pairs", "mpi3dhp_to_h36m17"]

MPI3DHP_TEST_RESOLUTION: dict[str, tuple[int, int]] = {
    "TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048), "TS4": (2048, 2048),
    "TS5": (1920, 1080), "TS6": (1920, 1080),
}
_TRAIN_RES = (2048, 2048)
_FILES = {"train": "data_train_3dhp.npz", "test": "data_test_3dhp.npz"}
_SUBDIRS = ("mpi_inf_3dhp", "mpi3dhp", "3dhp")
_SK = get_skeleton("mpi3dhp17")


def _locate(split: str, path, root) -> Path:
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise DataNotFoundError(f"MPI-INF-3DHP file {str(p)!r} not found")
        return p
    errors = []
    for sub in _SUBDIRS:
        try:
            return find_data_file(_FILES[split], sub, root)
        except DataNotFoundError as e:
            errors.append(str(e))
    raise DataNotFoundError(errors[-1])


def _arr(a, dim: int, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 3 or a.shape[1] != _SK.num_joints or a.shape[2] < dim:
        raise PoseShapeError(f"{what}: expected (T, 17, {dim}), got {a.shape}")
    return a[..., :dim]


def _rows(name: str, seq: int, cam: int, subject: str, d3, d2, valid, res) -> dict:
    y = _arr(d3, 3, f"{name} data_3d")
    x = _arr(d2, 2, f"{name} data_2d")
    if x.shape[0] != y.shape[0]:
        raise PoseShapeError(f"{name}: {x.shape[0]} 2D frames but {y.shape[0]} 3D frames")
    n = y.shape[0]
    root = y[:, _SK.root]
    valid = np.ones(n, bool) if valid is None else np.asarray(valid).reshape(-1).astype(bool)
    if valid.shape[0] != n:
        raise PoseShapeError(f"{name}: 'valid' has {valid.shape[0]} entries for {n} frames")
    return {
        "x2d": to_screen(x, res[0], res[1]).astype(np.float32),
        "y3d": ((y - root[:, None]) / 1000.0).astype(np.float32),
        "root_cam": (root / 1000.0).astype(np.float32),
        "subject": np.full(n, subject),
        "action": np.full(n, name),
        "camera": np.full(n, cam, dtype=np.int64),
        "seq_id": np.full(n, seq, dtype=np.int64),
        "frame": np.arange(n, dtype=np.int64),
        "res_w": np.full(n, res[0], dtype=np.int64),
        "res_h": np.full(n, res[1], dtype=np.int64),
        "valid": valid,
    }


def mpi3dhp_pairs(
    split: str = "test",
    path: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    valid_only: bool = False,
) -> dict[str, np.ndarray]:
    """MPI-INF-3DHP pairs (``mpi3dhp17`` joints) in the pairs-dict layout of :mod:`.h36m`.

    Args:
        split: ``"train"`` or ``"test"``.
        path: the npz file; default ``data_{split}_3dhp.npz`` under ``root`` /
            ``$SEALLOSS_DATA`` (directly or in ``mpi_inf_3dhp/``, ``mpi3dhp/``, ``3dhp/``).
        valid_only: drop test frames flagged invalid.

    Returns ``x2d`` (screen frame), ``y3d`` (root-relative metres, root = pelvis),
    ``root_cam``, ``subject`` (``"S1"``... or ``"TS1"``...), ``action`` (the sequence key,
    e.g. ``"S1 Seq1"`` / ``"TS1"``), ``camera`` (0 for test), ``seq_id``, ``frame``, ``res_w``,
    ``res_h`` and ``valid`` (all True for train).
    """
    if split not in _FILES:
        raise PoseShapeError(f"split must be 'train' or 'test', got {split!r}")
    file = _locate(split, path, root)
    files = npz_entries(file)
    if "data" not in files:
        raise DataNotFoundError(f"{file}: no 'data' entry (keys {files})")
    data = load_npz_entry(file, "data")  # nested dicts, read without running pickled code
    if not isinstance(data, dict):
        raise DataFormatError(f"{file}: 'data' holds a {type(data).__name__}, not a dict")
    parts = []
    seq = 0
    for name in sorted(data):
        entry = data[name]
        if split == "test":
            res = MPI3DHP_TEST_RESOLUTION.get(name, _TRAIN_RES)
            parts.append(_rows(name, seq, 0, name, entry["data_3d"], entry["data_2d"],
                               entry.get("valid"), res))
            seq += 1
            continue
        cams = entry if isinstance(entry, dict) else entry[0]
        subject = name.split(" ")[0]
        for cam in sorted(cams, key=int):
            a = cams[cam]
            parts.append(_rows(name, seq, int(cam), subject, a["data_3d"], a["data_2d"], None,
                               _TRAIN_RES))
        seq += 1
    if not parts:
        raise PoseShapeError(f"{file}: no sequences")
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if valid_only:
        out = {k: v[out["valid"]] for k, v in out.items()}
    return out


def mpi3dhp_to_h36m17(pairs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reorder ``x2d``/``y3d`` of MPI-INF-3DHP pairs into the H36M-17 joint order (all 17
    joints have a counterpart: Thorax=Neck, Neck/Nose=Head, Head=HeadTop, as in the usual
    cross-dataset protocol); other keys are copied."""
    idx = np.asarray(joint_map("mpi3dhp17", "h36m17").index)
    if (idx < 0).any():
        raise PoseShapeError("mpi3dhp17 -> h36m17 map has missing joints")
    out = dict(pairs)
    out["x2d"] = pairs["x2d"][:, idx]
    out["y3d"] = pairs["y3d"][:, idx]
    return out

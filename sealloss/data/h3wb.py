"""H3WB (Human3.6M 3D WholeBody, Zhu et al. ICCV 2023) readers: 133 COCO-WholeBody keypoints.

Two official layouts are read (the dataset is not shipped or downloaded):

- JSON (``2Dto3D_train.json``, ``RGBto3D_train.json``, ``*_test_*.json``):
  ``{sample_id: {"keypoints_2d": {"0": {"x", "y"}, ...}, "keypoints_3d": {"0": {"x", "y",
  "z"}, ...}, "image_path"?, "bbox"?}}``; 2D in pixels, 3D in millimetres. Test files lack
  ``keypoints_3d`` (their ``y3d`` is NaN).
- npz (``h3wb_train.npz``, the "format commonly employed for 3D pose estimation"):
  ``metadata`` (dict: per subject and camera id the calibration, plus keypoint groups) and
  ``train_data``: ``{subject: {action: {"global_3d": (N, 133, 3), "frame_id": (N,),
  camera_id: {"camera_3d": (N, 133, 3), "pose_2d": (N, 133, 2)}}}}`` (extra singleton axes
  are squeezed).

:func:`h3wb_pairs` returns the pairs-dict layout of :mod:`.h36m` with 133 joints in the
``wholebody133`` order. ``y3d`` is relative to that skeleton's root, the LEFT HIP (COCO has no
pelvis); the H3WB benchmark itself centres on the hip midpoint, so compute its metrics after
re-centring both prediction and target.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, DataNotFoundError, PoseShapeError
from ..pose.canonical import root_relative
from ..pose.skeleton import get_skeleton
from ._npz import load_npz_entry, npz_entries
from .h36m import CAMERA_ORDER, to_screen

__all__ = ["H3WB_NUM_JOINTS", "load_h3wb_json", "load_h3wb_npz", "h3wb_pairs"]

H3WB_NUM_JOINTS = 133
_SK = get_skeleton("wholebody133")
# Human3.6M image sizes per camera id (1000x1002 for two of them).
_H36M_RES = {"54138969": (1000, 1002), "55011271": (1000, 1000), "58860488": (1000, 1000),
             "60457274": (1000, 1002)}


def _open(path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"H3WB file {str(p)!r} not found")
    return p


def load_h3wb_json(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an official H3WB JSON file.

    Returns ``sample_id`` (N,) int (sorted), ``x2d_px`` (N, 133, 2) (NaN if absent),
    ``y3d_file`` (N, 133, 3) in the file's units, mm for the official files (NaN if
    absent), ``bbox`` (N, 4) x_min, y_min, x_max, y_max (NaN if absent) and ``image_path``
    (N,) str ('' if absent).
    """
    with open(_open(path)) as fh:
        raw = json.load(fh)
    ids = sorted(raw, key=int)
    n = len(ids)
    x2d = np.full((n, H3WB_NUM_JOINTS, 2), np.nan)
    y3d = np.full((n, H3WB_NUM_JOINTS, 3), np.nan)
    bbox = np.full((n, 4), np.nan)
    img = np.full(n, "", dtype=object)
    for i, sid in enumerate(ids):
        s = raw[sid]
        for key, arr, axes in (("keypoints_2d", x2d, "xy"), ("keypoints_3d", y3d, "xyz")):
            kp = s.get(key)
            if kp is None:
                continue
            for j, v in kp.items():
                arr[i, int(j)] = [v[a] for a in axes]
        if "bbox" in s:
            b = s["bbox"]
            bbox[i] = [b["x_min"], b["y_min"], b["x_max"], b["y_max"]]
        img[i] = s.get("image_path", "")
    return {"sample_id": np.asarray(ids, dtype=np.int64), "x2d_px": x2d, "y3d_file": y3d,
            "bbox": bbox, "image_path": img.astype(str)}


def _squeeze(a, dim: int, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    a = a.reshape(a.shape[0], -1, a.shape[-1]) if a.ndim > 3 else a
    if a.ndim != 3 or a.shape[1:] != (H3WB_NUM_JOINTS, dim):
        raise PoseShapeError(f"{what}: expected (N, 133, {dim}), got {a.shape}")
    return a


def load_h3wb_npz(path: str | os.PathLike) -> tuple[dict, list[dict]]:
    """Read ``h3wb_train.npz``: ``(metadata, records)`` with one record per (subject, action,
    camera): ``subject``, ``action``, ``camera`` (id), ``frame_id`` (N,), ``camera_3d``
    (N, 133, 3), ``pose_2d`` (N, 133, 2)."""
    p = _open(path)
    files = npz_entries(p)
    if "train_data" not in files:
        raise DataNotFoundError(f"{path}: no 'train_data' entry (keys {files})")
    meta = load_npz_entry(p, "metadata") if "metadata" in files else {}
    data = load_npz_entry(p, "train_data")  # nested dicts, read without running pickled code
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: 'train_data' holds a {type(data).__name__}, not a dict")
    records = []
    for subject in sorted(data, key=lambda s: int(str(s).lstrip("S") or 0)):
        for action in sorted(data[subject]):
            act = data[subject][action]
            for cam in [c for c in CAMERA_ORDER if c in act]:
                c3 = _squeeze(act[cam]["camera_3d"], 3, f"{subject}/{action}/{cam} camera_3d")
                p2 = _squeeze(act[cam]["pose_2d"], 2, f"{subject}/{action}/{cam} pose_2d")
                n = c3.shape[0]
                fid = np.asarray(act.get("frame_id", np.arange(n))).reshape(-1)
                records.append({"subject": str(subject), "action": str(action), "camera": cam,
                                "frame_id": fid.astype(np.int64), "camera_3d": c3,
                                "pose_2d": p2})
    return meta, records


def _to_metres(y_rel: np.ndarray, units: str) -> float:
    if units == "auto":
        dist = np.linalg.norm(y_rel, axis=-1)
        dist = dist[np.isfinite(dist)]
        if dist.size == 0:  # no 3D in the file (test JSON): the official unit
            return 1e-3
        med = np.median(dist)
        return 1e-3 if med > 5.0 else 1.0
    scale = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}
    if units not in scale:
        raise PoseShapeError(f"units must be 'auto', 'm', 'mm' or 'cm', got {units!r}")
    return scale[units]


def h3wb_pairs(
    path: str | os.PathLike,
    units: str = "auto",
    res: tuple[int, int] = (1000, 1000),
) -> dict[str, np.ndarray]:
    """H3WB pairs from a JSON or npz file (chosen by suffix), pairs-dict layout, 133 joints.

    Args:
        path: an official ``.json`` or ``.npz`` file.
        units: 3D units in the file (``"auto"``: millimetres when the median joint distance
            from the root exceeds 5, else metres).
        res: image size for the JSON layout (which does not say which camera); the npz layout
            takes it from the camera id.

    Returns ``x2d`` (screen), ``y3d`` (relative to the left hip, metres), ``root_cam``,
    ``subject``, ``action``, ``camera`` (index into the H36M camera order, -1 for JSON),
    ``seq_id``, ``frame`` (frame id, or the sample id for JSON), ``res_w``, ``res_h``.
    """
    path = Path(path)
    root = _SK.root
    if path.suffix == ".json":
        d = load_h3wb_json(path)
        y = d["y3d_file"]
        n = y.shape[0]
        rel = root_relative(y, root)
        s = _to_metres(rel, units)
        return {
            "x2d": to_screen(d["x2d_px"], res[0], res[1]).astype(np.float32),
            "y3d": (rel * s).astype(np.float32),
            "root_cam": (y[:, root] * s).astype(np.float32),
            "subject": np.full(n, ""),
            "action": np.full(n, ""),
            "camera": np.full(n, -1, dtype=np.int64),
            "seq_id": d["sample_id"],
            "frame": d["sample_id"],
            "res_w": np.full(n, res[0], dtype=np.int64),
            "res_h": np.full(n, res[1], dtype=np.int64),
        }
    _, records = load_h3wb_npz(path)
    if not records:
        raise PoseShapeError(f"{path}: no records")
    seq_of: dict[tuple[str, str], int] = {}
    parts = []
    for r in records:
        y = r["camera_3d"]
        rel = root_relative(y, root)
        s = _to_metres(rel, units)
        w, h = _H36M_RES[r["camera"]]
        n = y.shape[0]
        seq = seq_of.setdefault((r["subject"], r["action"]), len(seq_of))
        parts.append({
            "x2d": to_screen(r["pose_2d"], w, h).astype(np.float32),
            "y3d": (rel * s).astype(np.float32),
            "root_cam": (y[:, root] * s).astype(np.float32),
            "subject": np.full(n, r["subject"]),
            "action": np.full(n, r["action"]),
            "camera": np.full(n, CAMERA_ORDER.index(r["camera"]), dtype=np.int64),
            "seq_id": np.full(n, seq, dtype=np.int64),
            "frame": r["frame_id"],
            "res_w": np.full(n, w, dtype=np.int64),
            "res_h": np.full(n, h, dtype=np.int64),
        })
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

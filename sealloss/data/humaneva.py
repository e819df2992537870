"""HumanEva-I (2D, 3D) pairs, 15 joints, for cross-dataset EVALUATION ONLY.

HumanEva-I (Sigal, Balan, Black, IJCV 2010) is never used to train or to choose anything in
sealloss: it is a held-out test of how a Human3.6M-trained pose-net (and loss-net) transfers.

Files (VideoPose3D's preparation; research-only, never shipped or downloaded):
``data_3d_humaneva15.npz`` (world metres, ``{"Train/S1": {"Walking 1 chunk0": (T, 15, 3)}}``),
``data_2d_humaneva15_gt.npz`` (pixels, 640x480, three cameras per chunk) and
``humaneva_cameras.json`` (extrinsics ``X_cam = R_world_to_cam @ (1000 * X_world_m - t)``,
plus *fitted*, non-official pinhole intrinsics).

:func:`humaneva_pairs` returns the pairs-dict layout of :mod:`.h36m` with 15 joints in the
``humaneva15`` order. To feed an H36M-17 model, :func:`humaneva_as_h36m17` builds a 17-joint
2D input (Spine and Neck/Nose filled by rules fitted on Human3.6M training subjects) and
:func:`to_h36m17_eval` says which 17-joint outputs to score against the 15 GT joints.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError, DataNotFoundError, PoseShapeError
from ..pose.skeleton import joint_map
from ._npz import load_npz_entry
from .h36m import SegmentRule, to_screen
from .paths import find_data_file

__all__ = [
    "HUMANEVA_ACTIONS",
    "HUMANEVA_SUBJECTS",
    "humaneva_cameras",
    "humaneva_pairs",
    "H36M17Correspondence",
    "to_h36m17_eval",
    "humaneva_as_h36m17",
]

HUMANEVA_ACTIONS: tuple[str, ...] = ("Walking", "Jog", "Box", "Gestures", "ThrowCatch")
HUMANEVA_SUBJECTS: tuple[str, ...] = ("S1", "S2", "S3")
_SPLITS = ("Train", "Validate")
_ROOT = 0  # pelvis
MIDPOINT = SegmentRule(0.5, 0.0)


def humaneva_cameras(root: str | os.PathLike | None = None) -> dict[str, list[dict]]:
    """``{subject: [camera dict x 3]}`` from ``humaneva_cameras.json``; each dict has ``R``
    (3, 3) world->camera, ``t`` (3,) mm, ``f`` (2,) and ``c`` (2,) fitted pixels, ``res_w``,
    ``res_h``, ``id``."""
    path = find_data_file("humaneva_cameras.json", "humaneva", root)
    try:
        with open(path) as fh:
            raw = json.load(fh)["cameras"]
        return _parse_cameras(raw)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise DataFormatError(
            f"{str(path)!r} is not a valid HumanEva camera file ({type(e).__name__}: {e})"
        ) from None


def _parse_cameras(raw: dict) -> dict[str, list[dict]]:
    out = {}
    for subject, cams in raw.items():
        out[subject] = [
            {
                "id": c["id"],
                "R": np.asarray(c["R_world_to_cam"], dtype=np.float64),
                "t": np.asarray(c["translation_mm"], dtype=np.float64),
                "f": np.asarray(c["fitted_focal_px"], dtype=np.float64),
                "c": np.asarray(c["fitted_center_px"], dtype=np.float64),
                "res_w": int(c["res_w"]),
                "res_h": int(c["res_h"]),
            }
            for c in cams
        ]
    return out


def _action_of(chunk: str) -> str:
    base = chunk.split(" ")[0]
    if base not in HUMANEVA_ACTIONS:
        raise PoseShapeError(f"unknown HumanEva action in {chunk!r}")
    return base


def humaneva_pairs(
    root: str | os.PathLike | None = None,
    split: str | None = "Validate",
    subjects=HUMANEVA_SUBJECTS,
    actions=None,
    cameras=None,
) -> dict[str, np.ndarray]:
    """HumanEva-I pairs: 15 joints (``humaneva15``), one row per (frame, camera).

    Args:
        root: data folder (holding ``humaneva/``) or the humaneva folder; default
            ``$SEALLOSS_DATA``.
        split: ``"Validate"`` (the usual test split), ``"Train"``, or ``None`` for both.
        subjects: subset of ``("S1", "S2", "S3")``.
        actions: subset of :data:`HUMANEVA_ACTIONS` (default all).
        cameras: camera indices 0..2 (C1..C3), default all.

    Returns the pairs dict of :mod:`.h36m` (``x2d`` screen-normalised from 640x480 pixels,
    ``y3d`` camera-frame root-relative metres, ``root_cam`` metres, ``subject``, ``action``,
    ``camera``, ``seq_id`` (one per split/subject/chunk), ``frame`` (index in the chunk),
    ``res_w``, ``res_h``) plus ``split`` and ``chunk`` (N,) strings.
    """
    if split is not None and split not in _SPLITS:
        raise PoseShapeError(f"split must be 'Train', 'Validate' or None, got {split!r}")
    splits = _SPLITS if split is None else (split,)
    subjects = (subjects,) if isinstance(subjects, str) else tuple(subjects)
    for s in subjects:
        if s not in HUMANEVA_SUBJECTS:
            raise DataNotFoundError(f"HumanEva-I has subjects {HUMANEVA_SUBJECTS}, not {s!r}")
    if actions is not None:
        actions = {actions} if isinstance(actions, str) else set(actions)
        unknown = actions - set(HUMANEVA_ACTIONS)
        if unknown:
            raise PoseShapeError(f"unknown HumanEva actions {sorted(unknown)}")
    cam_idx = [0, 1, 2] if cameras is None else [int(c) for c in cameras]
    if any(not 0 <= c < 3 for c in cam_idx):
        raise PoseShapeError(f"HumanEva camera indices are 0, 1, 2; got {cam_idx}")

    # VideoPose3D stores nested dicts as pickled object arrays: read them without running code
    p3 = load_npz_entry(find_data_file("data_3d_humaneva15.npz", "humaneva", root),
                        "positions_3d")
    p2 = load_npz_entry(find_data_file("data_2d_humaneva15_gt.npz", "humaneva", root),
                        "positions_2d")
    for name, d in (("data_3d_humaneva15.npz", p3), ("data_2d_humaneva15_gt.npz", p2)):
        if not isinstance(d, dict):
            raise DataFormatError(f"{name}: expected a dict of sequences, got {type(d).__name__}")
    cams = humaneva_cameras(root)

    rows: dict[str, list[np.ndarray]] = {k: [] for k in (
        "x2d", "y3d", "root_cam", "subject", "action", "camera", "seq_id", "frame", "res_w",
        "res_h", "split", "chunk")}
    seq = 0
    for sp in splits:
        for subject in subjects:
            key = f"{sp}/{subject}"
            if key not in p3:
                continue
            for chunk in sorted(p3[key]):
                action = _action_of(chunk)
                if actions is not None and action not in actions:
                    seq += 1
                    continue
                xw = np.asarray(p3[key][chunk], dtype=np.float64) * 1000.0  # (T, 15, 3) mm
                if xw.ndim != 3 or xw.shape[1:] != (15, 3):
                    raise DataFormatError(
                        f"3D of {key} {chunk}: expected (T, 15, 3), got {xw.shape}"
                    )
                if not np.isfinite(xw).all():
                    raise DataFormatError(f"3D of {key} {chunk} has NaN/Inf values")
                n = xw.shape[0]
                if subject not in cams or len(cams[subject]) < 3:
                    raise DataFormatError(f"humaneva_cameras.json has no 3 cameras for {subject}")
                try:
                    views = p2[key][chunk]
                except KeyError:
                    raise DataFormatError(
                        f"data_2d_humaneva15_gt.npz has no 2D for {key} {chunk}"
                    ) from None
                for ci in cam_idx:
                    cam = cams[subject][ci]
                    xc = (xw - cam["t"]) @ cam["R"].T
                    px = np.asarray(views[ci], dtype=np.float64)
                    if px.shape != (n, 15, 2):
                        raise DataFormatError(
                            f"2D of {key} {chunk} cam {ci}: expected {(n, 15, 2)}, got {px.shape}"
                        )
                    rc = xc[:, _ROOT]
                    rows["x2d"].append(to_screen(px, cam["res_w"], cam["res_h"]))
                    rows["y3d"].append((xc - rc[:, None]) / 1000.0)
                    rows["root_cam"].append(rc / 1000.0)
                    rows["subject"].append(np.full(n, subject))
                    rows["action"].append(np.full(n, action))
                    rows["camera"].append(np.full(n, ci, dtype=np.int64))
                    rows["seq_id"].append(np.full(n, seq, dtype=np.int64))
                    rows["frame"].append(np.arange(n, dtype=np.int64))
                    rows["res_w"].append(np.full(n, cam["res_w"], dtype=np.int64))
                    rows["res_h"].append(np.full(n, cam["res_h"], dtype=np.int64))
                    rows["split"].append(np.full(n, sp))
                    rows["chunk"].append(np.full(n, chunk))
                seq += 1
    if not rows["x2d"]:
        raise PoseShapeError("no HumanEva rows selected")
    out = {k: np.concatenate(v) for k, v in rows.items()}
    for k in ("x2d", "y3d", "root_cam"):
        out[k] = out[k].astype(np.float32)
    return out


@dataclass(frozen=True)
class H36M17Correspondence:
    """How HumanEva-15 joints line up with H36M-17 outputs.

    Attributes:
        h36m_index: ``(15,)`` for each ``humaneva15`` joint, the H36M-17 joint that stands for
            it: score ``pred17[..., h36m_index, :]`` against ``y3d15``.
        missing: H36M-17 joints with no HumanEva counterpart (``Spine``, ``Neck/Nose``).
        comparable: the 15 H36M-17 joint indices that are scored, ascending.
    """

    h36m_index: tuple[int, ...]
    missing: tuple[str, ...]
    comparable: tuple[int, ...]


def to_h36m17_eval() -> H36M17Correspondence:
    """Which H36M-17 joints are comparable with HumanEva-15 (15 shared; Spine and Neck/Nose
    missing), and the index map to score a 17-joint prediction on the 15 GT joints."""
    to_he = joint_map("h36m17", "humaneva15")
    missing = joint_map("humaneva15", "h36m17").missing
    return H36M17Correspondence(
        h36m_index=tuple(to_he.index), missing=missing, comparable=tuple(sorted(to_he.index))
    )


def humaneva_as_h36m17(
    pairs: dict[str, np.ndarray],
    neck_rule: SegmentRule,
    spine_rule: SegmentRule = MIDPOINT,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A copy of HumanEva ``pairs`` whose ``x2d`` is a 17-joint H36M-17 input, and the index
    map for scoring.

    The 15 shared joints are copied; Spine = ``spine_rule(Hip, Thorax)`` (default: midpoint);
    Neck/Nose = ``neck_rule(Thorax, Head)`` (fit it with
    :func:`~sealloss.data.h36m.fit_neck_nose_rule` on Human3.6M TRAINING subjects).
    ``y3d`` stays 15-joint and ``x2d_he15`` keeps the original input.

    Returns:
        ``(pairs17, eval_index)``: score ``pred17[:, eval_index]`` against ``pairs17["y3d"]``.
    """
    x = np.asarray(pairs["x2d"])
    if x.ndim != 3 or x.shape[1:] != (15, 2):
        raise PoseShapeError(f"pairs['x2d'] must be HumanEva-15 (N, 15, 2), got {x.shape}")
    jm = joint_map("humaneva15", "h36m17")
    x17 = x[:, np.maximum(np.asarray(jm.index), 0)].astype(np.float64)
    x17[:, 7] = spine_rule(x17[:, 0], x17[:, 8])
    x17[:, 9] = neck_rule(x17[:, 8], x17[:, 10])
    out = dict(pairs)
    out["x2d_he15"] = x
    out["x2d"] = x17.astype(np.float32)
    return out, np.asarray(to_h36m17_eval().h36m_index, dtype=np.int64)

"""VideoPose3D's Human3.6M files, read into sealloss's canonical (2D, 3D) pairs.

Most 3D lifting repositories read the files that VideoPose3D's preparation scripts write:

- ``data_3d_h36m.npz``, entry ``positions_3d``: ``{subject: {action: (F, 32 or 17, 3)}}``,
  world coordinates in **metres** (z up), 50 Hz; subjects ``"S1"`` ..., actions as the raw
  trial names (``"Walking 1"``, ``"Directions"``, ``"TakingPhoto 1"`` ...).
- ``data_2d_h36m_<source>.npz`` (``gt``, ``cpn_ft_h36m_dbb``, or any detector written in this
  layout), entry ``positions_2d``: ``{subject: {action: [4 arrays (F, 17, 2)]}}``, pixels, one
  array per camera in the camera order of the calibration (``54138969``, ``55011271``,
  ``58860488``, ``60457274``); entry ``metadata``: ``{"layout_name": "h36m", "num_joints": 17,
  "keypoints_symmetry": [left, right]}``.

Both entries are pickled Python objects inside the ``.npz``. They are read with
:func:`sealloss.data._npz.load_npz_entry`, whose unpickler admits only dicts, lists, tuples,
strings, numbers and numpy's array/dtype rebuilders: a crafted file that would call
``os.system`` (or anything else) is refused before any of it runs. ``allow_pickle=True`` is
never used.

The 17 joints are VideoPose3D's (the ``h36m17`` order); a 32-joint 3D file keeps the raw
joints :data:`VP3D_KEEP_32`. The files hold no camera parameters: they come from
``h36m_cameras.json`` (:func:`~sealloss.data.cameras.load_h36m_cameras`; ``T`` in
millimetres, ``X_cam = R @ (X_world - T)``), found in the data folder (``root=`` or
``$SEALLOSS_DATA``) unless given.

:func:`vp3d_pairs` returns the pairs-dict layout of :mod:`.h36m`:

- ``x2d`` (N, 17, 2) float32: the file's pixels in the normalised screen frame, with the
  camera's ``res_w`` x ``res_h`` (:func:`sealloss.pose.canonical.pixels_to_screen`)
- ``y3d`` (N, 17, 3) float32 and ``root_cam`` (N, 3) float32, only with a 3D file: camera
  frame, root-relative, metres; the root's camera-frame position
- ``subject`` (N,) str, ``action`` (N,) str (one of :data:`.h36m.ACTIONS` when the name is a
  Human3.6M action, else the file's name), ``trial`` (N,) str (the file's action key, e.g.
  ``"Walking 1"``), ``camera`` (N,) int64 (index into the calibration's camera order),
  ``seq_id`` (N,) int64 (one per subject and trial), ``frame`` (N,) int64 (index in the 50 Hz
  sequence), ``res_w``, ``res_h`` (N,) int64.

**Row order** (what a row-aligned prediction file must follow): subjects in the order asked
for (default: the 2D file's order), then the trials in the 2D file's order, then cameras, then
frames. With a 3D file, a camera's 2D that is longer than the 3D is cut to the 3D's length (as
VideoPose3D does for detections); a shorter one is an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError, DataNotFoundError, PoseShapeError
from ._npz import load_npz_entry
from .cameras import Camera, load_h36m_cameras, world_to_camera
from .h36m import canonical_action, to_screen
from .paths import find_data_file

__all__ = [
    "VP3D_KEEP_32",
    "VP3D_LAYOUT",
    "VP3D_SYMMETRY",
    "load_vp3d_2d",
    "load_vp3d_3d",
    "vp3d_pairs",
]

logger = logging.getLogger(__name__)

#: the 17 of Human3.6M's 32 raw joints that VideoPose3D keeps, in ``h36m17`` order
VP3D_KEEP_32: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
#: the 2D layout this reader accepts (``metadata["layout_name"]``)
VP3D_LAYOUT = "h36m"
#: ``metadata["keypoints_symmetry"]`` of that layout: (left joints, right joints) of ``h36m17``
VP3D_SYMMETRY: tuple[tuple[int, ...], tuple[int, ...]] = ((4, 5, 6, 11, 12, 13),
                                                           (1, 2, 3, 14, 15, 16))
_J = 17
_ROOT = 0
_CAMERA_FILE = "h36m_cameras.json"
# a person's median joint distance from the pelvis, metres (VideoPose3D's 3D is in metres)
_PLAUSIBLE_M = (0.05, 2.5)


def _dict(obj: Any, where: str, what: str) -> dict:
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected {what}, got {type(obj).__name__}")
    return obj


def load_vp3d_3d(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """``positions_3d`` of a ``data_3d_h36m.npz``: ``{subject: {trial: (F, 17, 3)}}`` float64
    world metres, 32-joint arrays cut to :data:`VP3D_KEEP_32`.

    Raises:
        FileNotFoundError: no file at ``path``.
        DataFormatError: not that layout (names the file, subject and trial), NaN/Inf values,
            poses that are not person-sized in metres, or a pickle that would run code.
    """
    where = f"{str(path)!r} entry 'positions_3d'"
    top = _dict(load_npz_entry(path, "positions_3d"), where, "a dict {subject: {action: "
                "(frames, 32 or 17, 3)}} (VideoPose3D's data_3d layout)")
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, trials in top.items():
        trials = _dict(trials, f"{where}[{subject!r}]", "a dict {action: array}")
        out[str(subject)] = {}
        for trial, arr in trials.items():
            w = f"{where}[{subject!r}][{trial!r}]"
            if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.number):
                raise DataFormatError(f"{w}: expected a numeric array, got {type(arr).__name__}")
            if arr.ndim != 3 or arr.shape[1] not in (17, 32) or arr.shape[2] != 3:
                raise DataFormatError(f"{w}: expected (frames, 32 or 17, 3), got {arr.shape}")
            a = arr.astype(np.float64)
            if arr.shape[1] == 32:
                a = a[:, list(VP3D_KEEP_32)]
            if not np.isfinite(a).all():
                raise DataFormatError(f"{w}: {int((~np.isfinite(a)).sum())} NaN/Inf values")
            out[str(subject)][str(trial)] = a
    _check_metres(out, str(path))
    return out


def _check_metres(p3: dict[str, dict[str, np.ndarray]], name: str) -> None:
    """Refuse 3D whose median joint distance from the root is not a person's in metres."""
    dists = [np.linalg.norm(a - a[:, _ROOT:_ROOT + 1], axis=-1).ravel()
             for trials in p3.values() for a in trials.values() if a.size]
    if not dists:
        return
    med = float(np.median(np.concatenate(dists)))
    lo, hi = _PLAUSIBLE_M
    if med and not lo <= med <= hi:
        hint = ("it looks like millimetres" if med > hi else "check its scale")
        raise DataFormatError(
            f"{name!r}: the joints' median distance from the root is {med:.4g}, not a person's "
            f"size in metres ({lo}-{hi}); VideoPose3D's data_3d files are in metres: {hint}")


def load_vp3d_2d(
    path: str | os.PathLike,
) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict[str, Any]]:
    """``(positions_2d, metadata)`` of a ``data_2d_h36m_<source>.npz``.

    ``positions_2d`` is ``{subject: {trial: [(F, 17, 2) float64 pixels per camera]}}``;
    ``metadata`` the file's dict (``layout_name``, ``num_joints``, ``keypoints_symmetry``).

    Raises:
        FileNotFoundError: no file at ``path``.
        DataFormatError: another layout (e.g. Detectron's ``coco``: another joint order),
            arrays that are not ``(frames, 17, 2)``, or a pickle that would run code.
    """
    name = str(path)
    meta = _dict(load_npz_entry(path, "metadata"), f"{name!r} entry 'metadata'",
                 "a dict with layout_name, num_joints, keypoints_symmetry")
    layout = meta.get("layout_name")
    if layout != VP3D_LAYOUT or meta.get("num_joints") != _J:
        hint = ("for HumanEva-I use sealloss.data.humaneva_pairs" if layout == "humaneva15"
                else "map other layouts (e.g. 'coco') to it first")
        raise DataFormatError(
            f"{name!r}: metadata says layout {layout!r} with {meta.get('num_joints')!r} joints; "
            f"this reader takes VideoPose3D's {VP3D_LAYOUT!r} layout with {_J} joints (GT, "
            f"CPN or any detector written in it); {hint}")
    sym = meta.get("keypoints_symmetry")
    if sym is not None:
        try:
            got = tuple(tuple(int(i) for i in side) for side in sym)
        except (TypeError, ValueError):
            got = None
        if got != VP3D_SYMMETRY:
            raise DataFormatError(
                f"{name!r}: keypoints_symmetry {sym!r} is not the h36m layout's "
                f"{[list(s) for s in VP3D_SYMMETRY]}: the joints are in another order")
    where = f"{name!r} entry 'positions_2d'"
    top = _dict(load_npz_entry(path, "positions_2d"), where,
                "a dict {subject: {action: [array per camera]}} (VideoPose3D's data_2d layout)")
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, trials in top.items():
        trials = _dict(trials, f"{where}[{subject!r}]", "a dict {action: [array per camera]}")
        out[str(subject)] = {}
        for trial, views in trials.items():
            w = f"{where}[{subject!r}][{trial!r}]"
            if not isinstance(views, (list, tuple)):
                raise DataFormatError(f"{w}: expected a list of per-camera arrays, got "
                                      f"{type(views).__name__}")
            arrs = []
            for ci, v in enumerate(views):
                if (not isinstance(v, np.ndarray) or not np.issubdtype(v.dtype, np.number)
                        or v.ndim != 3 or v.shape[1:] != (_J, 2)):
                    shape = getattr(v, "shape", type(v).__name__)
                    raise DataFormatError(f"{w}[{ci}]: expected (frames, 17, 2) pixels, got "
                                          f"{shape}")
                arrs.append(v.astype(np.float64))
            out[str(subject)][str(trial)] = arrs
    return out, dict(meta)


def _action_name(trial: str) -> str:
    try:
        return canonical_action(trial)
    except PoseShapeError:
        return trial


def _load_cameras(
    cameras: str | os.PathLike | tuple[dict[str, dict[str, Camera]], Sequence[str]] | None,
    root: str | os.PathLike | None,
) -> tuple[dict[str, dict[str, Camera]], list[str], str]:
    if isinstance(cameras, tuple):
        cams, order = cameras
        return cams, [str(c) for c in order], "the cameras given"
    path = (Path(cameras) if cameras is not None
            else find_data_file(_CAMERA_FILE, "h36m", root))
    try:
        cams, order = load_h36m_cameras(path)
    except (KeyError, TypeError, ValueError) as e:
        raise DataFormatError(f"{str(path)!r} is not a camera file in the layout of "
                              f"{_CAMERA_FILE} ({type(e).__name__}: {e})") from None
    return cams, order, str(path)


def vp3d_pairs(
    path_2d: str | os.PathLike,
    path_3d: str | os.PathLike | None = None,
    cameras: str | os.PathLike | tuple[dict[str, dict[str, Camera]], Sequence[str]] | None = None,
    *,
    root: str | os.PathLike | None = None,
    subjects: Sequence[str] | None = None,
    every: int = 1,
) -> dict[str, np.ndarray]:
    """(2D, 3D) pairs of a VideoPose3D-layout file set (module docstring: keys and row order).

    Args:
        path_2d: ``data_2d_h36m_<source>.npz`` (any 2D source in the ``h36m`` layout).
        path_3d: ``data_3d_h36m.npz``; without it the pairs have no ``y3d``/``root_cam``.
        cameras: ``h36m_cameras.json`` (``T`` in mm), or the ``(cameras, camera_order)`` pair
            of :func:`~sealloss.data.cameras.load_h36m_cameras`; default ``h36m_cameras.json``
            in the data folder (``root`` or ``$SEALLOSS_DATA``, also under ``h36m/``).
        root: data folder searched for the camera file when ``cameras`` is ``None``.
        subjects: subjects to keep, in this order (default: all of the 2D file, its order).
        every: keep frames whose 50 Hz index is a multiple of ``every``.

    Raises:
        DataFormatError: a file not in the layout, a subject or trial of the 2D file missing
            from the 3D file or the camera file, or 2D shorter than its 3D.
        DataNotFoundError: a subject asked for that the 2D file does not hold; no camera file.
    """
    if every < 1:
        raise PoseShapeError(f"every must be >= 1, got {every}")
    p2, _ = load_vp3d_2d(path_2d)
    p3 = load_vp3d_3d(path_3d) if path_3d is not None else None
    cams, order, cam_name = _load_cameras(cameras, root)
    if subjects is None:
        subjects = list(p2)
    else:
        subjects = list(dict.fromkeys(str(s) for s in subjects))
        missing = [s for s in subjects if s not in p2]
        if missing:
            raise DataNotFoundError(f"{str(path_2d)!r} has no subject {missing}; it holds "
                                    f"{list(p2)}")
    rows: dict[str, list[np.ndarray]] = {}
    seq = 0
    for subject in subjects:
        if subject not in cams:
            raise DataFormatError(f"the camera file ({cam_name}) has no cameras for subject "
                                  f"{subject!r}; it holds {sorted(cams)}")
        if p3 is not None and subject not in p3:
            raise DataFormatError(f"{str(path_3d)!r} has no subject {subject!r} (the 2D file "
                                  f"has it); it holds {list(p3)}")
        for trial, views in p2[subject].items():
            if len(views) > len(order):
                raise DataFormatError(
                    f"{str(path_2d)!r} [{subject!r}][{trial!r}] has {len(views)} cameras; the "
                    f"camera file ({cam_name}) has {len(order)}")
            world = None
            if p3 is not None:
                if trial not in p3[subject]:
                    raise DataFormatError(
                        f"{str(path_3d)!r} has no trial {trial!r} for {subject!r} (the 2D file "
                        f"has it); it holds {list(p3[subject])}")
                world = p3[subject][trial] * 1000.0  # metres -> the cameras' millimetres
            for ci, px in enumerate(views):
                cid = order[ci]
                if cid not in cams[subject]:
                    raise DataFormatError(f"the camera file ({cam_name}) has no camera {cid!r} "
                                          f"for {subject!r}")
                cam = cams[subject][cid]
                n = px.shape[0]
                if world is not None:
                    if n < world.shape[0]:
                        raise DataFormatError(
                            f"{str(path_2d)!r} [{subject!r}][{trial!r}] camera {ci} has {n} "
                            f"frames, fewer than the {world.shape[0]} of its 3D")
                    n = world.shape[0]
                keep = np.arange(0, n, every)
                new = {"x2d": to_screen(px[keep], cam.res_w, cam.res_h).astype(np.float32)}
                if world is not None:
                    xc = world_to_camera(world[keep], cam) / 1000.0
                    rc = xc[:, _ROOT]
                    new["y3d"] = (xc - rc[:, None]).astype(np.float32)
                    new["root_cam"] = rc.astype(np.float32)
                k = keep.size
                new.update({
                    "subject": np.full(k, subject),
                    "action": np.full(k, _action_name(trial)),
                    "trial": np.full(k, trial),
                    "camera": np.full(k, ci, dtype=np.int64),
                    "seq_id": np.full(k, seq, dtype=np.int64),
                    "frame": keep.astype(np.int64),
                    "res_w": np.full(k, cam.res_w, dtype=np.int64),
                    "res_h": np.full(k, cam.res_h, dtype=np.int64),
                })
                for key, val in new.items():
                    rows.setdefault(key, []).append(val)
            seq += 1
    if not rows:
        raise PoseShapeError(f"no rows selected from {str(path_2d)!r}")
    out = {k: np.concatenate(v) for k, v in rows.items()}
    logger.info("%s: %d rows, %d subjects, %d sequences", path_2d, out["x2d"].shape[0],
                len(subjects), seq)
    return out

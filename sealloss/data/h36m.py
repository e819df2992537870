"""Human3.6M (2D, 3D) pairs from the shared 10 Hz files, in sealloss's canonical frames.

Files (research-only; never shipped, never downloaded; see the data folder's ``SOURCES.md``):

- ``h36m_3d17_world_10hz.npz``: world 3D (mm, z up), 17 joints (``h36m17``), every 5th frame.
- ``h36m_cameras.json``: calibration, ``X_cam = R @ (X_world - T)`` (see :mod:`.cameras`).
- ``h36m_test_S9S11_sh2d_10hz.npz``: Stacked-Hourglass 2D detections (MPII-16) for S9/S11
  (evaluation only).
- ``h36m_train_S1-S8_sh2d_10hz.npz``: the same detector's 2D for S1/S5/S6/S7/S8 (may be used for
  training, S8 validation and loss-net pretraining).

Every loader here returns a *pairs dict* of numpy arrays with one row per (frame, camera):

- ``x2d`` (N, 17, 2) float32: 2D in the normalised screen frame (``xy / w * 2 - [1, h / w]``)
- ``y3d`` (N, 17, 3) float32: camera-frame 3D, root-relative, metres (canonical 3D)
- ``root_cam`` (N, 3) float32: camera-frame position of the root (pelvis), metres
- ``subject`` (N,) str: ``"S1"`` ...
- ``action`` (N,) str: one of :data:`ACTIONS` (trial suffix stripped)
- ``camera`` (N,) int64: index into :data:`CAMERA_ORDER`
- ``seq_id`` (N,) int64: sequence index (unique per subject and trial)
- ``frame`` (N,) int64: frame index in the original 50 Hz video
- ``res_w``, ``res_h`` (N,) int64: image size in pixels (for
  :func:`~sealloss.pose.canonical.screen_to_pixels`)

Rows are ordered by subject (as requested), sequence, camera, then frame, so that a run of
equal ``(seq_id, camera)`` is one contiguous video (see :func:`.windows.sliding_windows`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataFormatError, DataNotFoundError, PoseShapeError
from ..pose.canonical import pixels_to_screen, root_relative
from ..pose.skeleton import joint_map
from ._npz import load_npz_entry, npz_entries
from .cameras import Camera, load_h36m_cameras, project_camera_points, world_to_camera
from .paths import find_data_file

__all__ = [
    "TRAIN_SUBJECTS",
    "TEST_SUBJECTS",
    "ALL_SUBJECTS",
    "ACTIONS",
    "CAMERA_ORDER",
    "canonical_action",
    "H36MData",
    "load_h36m",
    "h36m_pairs",
    "SegmentRule",
    "NeckNoseRule",
    "fit_neck_nose_rule",
    "fit_spine_rule",
    "h36m_sh_detections",
    "h36m_detected_pairs",
    "h36m_input_pairs",
    "to_screen",
]

logger = logging.getLogger(__name__)

# the world file is in millimetres: a person's median joint distance from the pelvis is
# 200-900 mm; below this it is metres (or centimetres) and every derived pose would be wrong
_MIN_MEDIAN_MM = 50.0

TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")
ALL_SUBJECTS: tuple[str, ...] = TRAIN_SUBJECTS + TEST_SUBJECTS
ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
    "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking",
    "WalkTogether",
)
CAMERA_ORDER: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")

# Subject-specific spellings in the raw data -> the 15 standard names.
_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog", "WalkingTogether":
                   "WalkTogether", "Photos": "Photo"}

_FILE_3D = "h36m_3d17_world_10hz.npz"
_FILE_CAMS = "h36m_cameras.json"
_FILE_SH_TEST = "h36m_test_S9S11_sh2d_10hz.npz"
_FILE_SH_TRAIN = "h36m_train_S1-S8_sh2d_10hz.npz"
_ROOT = 0


def canonical_action(name: str) -> str:
    """``"Phoning 3"`` -> ``"Phoning"``, ``"TakingPhoto 1"`` -> ``"Photo"``.

    Raises:
        PoseShapeError: when the name is none of the 15 Human3.6M actions.
    """
    base = str(name).strip().split(" ")[0]
    base = _ACTION_ALIASES.get(base, base)
    if base not in ACTIONS:
        raise PoseShapeError(f"unknown Human3.6M action {name!r}; expected one of {ACTIONS}")
    return base


def to_screen(xy_px: np.ndarray, res_w: np.ndarray | int, res_h: np.ndarray | int) -> np.ndarray:
    """Pixels ``(N, J, 2)`` -> normalised screen frame (numpy wrapper of
    :func:`sealloss.pose.canonical.pixels_to_screen`); ``res_w``/``res_h`` scalars or ``(N,)``."""
    xy = torch.from_numpy(np.ascontiguousarray(xy_px, dtype=np.float64))
    w = torch.as_tensor(np.asarray(res_w, dtype=np.float64))
    h = torch.as_tensor(np.asarray(res_h, dtype=np.float64))
    return pixels_to_screen(xy, w, h).numpy()


@dataclass(frozen=True, eq=False)
class H36MData:
    """The shared Human3.6M files, loaded once (arrays kept here, never in module globals).

    Attributes:
        positions_world: ``(F, 17, 3)`` float32 world mm.
        seq_id: ``(F,)`` sequence index of each frame.
        frame: ``(F,)`` 50 Hz frame index.
        seq_subject: ``(S,)`` subject of each sequence.
        seq_action: ``(S,)`` raw action name of each sequence (e.g. ``"Walking 1"``).
        cameras: ``{subject: {camera_id: Camera}}``.
        folder: where the files were read.
    """

    positions_world: np.ndarray
    seq_id: np.ndarray
    frame: np.ndarray
    seq_subject: np.ndarray
    seq_action: np.ndarray
    cameras: dict[str, dict[str, Camera]]
    folder: Path

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(s for s in ALL_SUBJECTS if s in set(self.seq_subject.tolist()))

    @property
    def seq_action_canonical(self) -> np.ndarray:
        return np.array([canonical_action(a) for a in self.seq_action])


def load_h36m(root: str | os.PathLike | None = None) -> H36MData:
    """Read ``h36m_3d17_world_10hz.npz`` and ``h36m_cameras.json``.

    ``root`` is the data folder (holding ``h36m/``) or the ``h36m`` folder itself; default
    ``$SEALLOSS_DATA``.
    """
    path3d = find_data_file(_FILE_3D, "h36m", root)
    cams, order = load_h36m_cameras(find_data_file(_FILE_CAMS, "h36m", root))
    if tuple(order) != CAMERA_ORDER:
        raise DataNotFoundError(f"{_FILE_CAMS}: unexpected camera order {order}")
    entry = {k: load_npz_entry(path3d, k) for k in
             ("positions_3d", "seq_id", "frame_index_50hz", "seq_subject", "seq_action")}
    if "units" in npz_entries(path3d):
        units = str(np.asarray(load_npz_entry(path3d, "units")))
        if units != "mm":
            raise DataFormatError(f"{_FILE_3D}: units entry is {units!r}; this loader reads 'mm'")
    pos = np.asarray(entry["positions_3d"], dtype=np.float32)
    if pos.ndim != 3 or pos.shape[1:] != (17, 3):
        raise DataFormatError(
            f"{_FILE_3D}: positions_3d must be (N, 17, 3) H36M-17 world poses, got {pos.shape}"
        )
    n = pos.shape[0]
    if not np.isfinite(pos).all():
        raise DataFormatError(
            f"{_FILE_3D}: positions_3d has {int((~np.isfinite(pos)).sum())} NaN/Inf values"
        )
    if n:
        med = float(np.median(np.linalg.norm(root_relative(pos), axis=-1)))
        if med < _MIN_MEDIAN_MM:
            raise DataFormatError(
                f"{_FILE_3D}: median joint distance from the root is {med:.3g}; this file must "
                "be in millimetres (typical 200-900), it looks like metres"
            )
    seq_id = np.asarray(entry["seq_id"]).astype(np.int64)
    frame = np.asarray(entry["frame_index_50hz"]).astype(np.int64)
    if seq_id.shape != (n,) or frame.shape != (n,):
        raise DataFormatError(
            f"{_FILE_3D}: seq_id {seq_id.shape} and frame_index_50hz {frame.shape} must be ({n},)"
        )
    subj = np.asarray(entry["seq_subject"]).astype(str)
    act = np.asarray(entry["seq_action"]).astype(str)
    if subj.shape != act.shape or (n and not 0 <= seq_id.min() <= seq_id.max() < subj.size):
        raise DataFormatError(f"{_FILE_3D}: seq_id does not index seq_subject / seq_action")
    return H36MData(
        positions_world=pos,
        seq_id=seq_id,
        frame=frame,
        seq_subject=subj,
        seq_action=act,
        cameras=cams,
        folder=path3d.parent,
    )


def _camera_indices(cameras) -> list[int]:
    if cameras is None:
        return list(range(len(CAMERA_ORDER)))
    out = []
    for c in cameras:
        if isinstance(c, str):
            if c not in CAMERA_ORDER:
                raise PoseShapeError(f"unknown camera {c!r}; expected one of {CAMERA_ORDER}")
            out.append(CAMERA_ORDER.index(c))
        else:
            if not 0 <= int(c) < len(CAMERA_ORDER):
                raise PoseShapeError(f"camera index {c} out of range 0..{len(CAMERA_ORDER) - 1}")
            out.append(int(c))
    return out


def _check_subjects(data: H36MData, subjects) -> list[str]:
    if isinstance(subjects, str):
        subjects = (subjects,)
    subjects = list(dict.fromkeys(subjects))
    have = set(data.seq_subject.tolist())
    for s in subjects:
        if s not in have:
            raise DataNotFoundError(f"subject {s!r} not in {_FILE_3D}; available: {sorted(have)}")
    return subjects


def _select_rows(data: H36MData, subject: str, actions, every: int) -> np.ndarray:
    """Row indices of ``subject`` (file order: sequence, then frame), filtered and thinned."""
    seq_ok = data.seq_subject == subject
    if actions is not None:
        wanted = {canonical_action(a) for a in ([actions] if isinstance(actions, str)
                                                else actions)}
        seq_ok &= np.isin(data.seq_action_canonical, sorted(wanted))
    rows = np.flatnonzero(seq_ok[data.seq_id])
    if every > 1 and rows.size:
        seq = data.seq_id[rows]
        start = np.r_[True, seq[1:] != seq[:-1]]
        first = np.maximum.accumulate(np.where(start, np.arange(rows.size), 0))
        rows = rows[(np.arange(rows.size) - first) % every == 0]
    return rows


def _order_seq_cam_frame(seq: np.ndarray, n_cams: int) -> tuple[np.ndarray, np.ndarray]:
    """For ``n`` rows sorted by sequence, the (camera, row) gather order grouping rows by
    sequence, then camera, then frame: returns ``(cam_idx, row_idx)`` of length ``n_cams * n``."""
    n = seq.size
    cam = np.repeat(np.arange(n_cams), n)
    row = np.tile(np.arange(n), n_cams)
    order = np.lexsort((row, cam, np.tile(seq, n_cams)))
    return cam[order], row[order]


def h36m_pairs(
    subjects=TRAIN_SUBJECTS,
    root: str | os.PathLike | None = None,
    cameras=None,
    actions=None,
    every: int = 1,
    dataset: H36MData | None = None,
) -> dict[str, np.ndarray]:
    """GT-projected (2D, 3D) pairs for the given subjects and cameras (module docstring layout).

    Args:
        subjects: subject names, e.g. :data:`TRAIN_SUBJECTS`.
        root: data folder (default ``$SEALLOSS_DATA``); ignored when ``dataset`` is given.
        cameras: camera indices or ids (default all four).
        actions: canonical action names to keep (default all).
        every: keep every ``every``-th 10 Hz frame of each sequence.
        dataset: an already loaded :class:`H36MData` (saves re-reading the files).

    The 2D is the 3D projected with the full distortion model, then screen-normalised with
    the camera's ``res_w``/``res_h``; the 3D is ``R @ (X - T)`` minus the pelvis, in metres.
    """
    if every < 1:
        raise PoseShapeError(f"every must be >= 1, got {every}")
    data = dataset if dataset is not None else load_h36m(root)
    cam_idx = _camera_indices(cameras)
    parts: list[dict[str, np.ndarray]] = []
    for subject in _check_subjects(data, subjects):
        rows = _select_rows(data, subject, actions, every)
        x = data.positions_world[rows].astype(np.float64)
        px, xc = [], []
        for ci in cam_idx:
            cam = data.cameras[subject][CAMERA_ORDER[ci]]
            xcam = world_to_camera(x, cam)
            xc.append(xcam)
            px.append(project_camera_points(xcam, cam))
        c_local, r = _order_seq_cam_frame(data.seq_id[rows], len(cam_idx))
        xcam = np.stack(xc)[c_local, r]
        pix = np.stack(px)[c_local, r]
        cam_global = np.asarray(cam_idx, dtype=np.int64)[c_local]
        res = np.array([[data.cameras[subject][CAMERA_ORDER[ci]].res_w,
                         data.cameras[subject][CAMERA_ORDER[ci]].res_h] for ci in cam_idx])
        res_w, res_h = res[c_local, 0], res[c_local, 1]
        root_cam = xcam[:, _ROOT]
        parts.append({
            "x2d": to_screen(pix, res_w, res_h).astype(np.float32),
            "y3d": (root_relative(xcam, _ROOT) / 1000.0).astype(np.float32),
            "root_cam": (root_cam / 1000.0).astype(np.float32),
            **_row_columns(data, subject, rows, r, cam_global, res_w, res_h),
        })
    return _concat(parts)


def _row_columns(data: H36MData, subject: str, rows: np.ndarray, r: np.ndarray,
                 cam_global: np.ndarray, res_w: np.ndarray, res_h: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """The per-row columns every pair set carries (``rows[r]`` of ``subject``, one camera
    each): subject, canonical action, camera, sequence id, frame and image size."""
    seq = data.seq_id[rows][r]
    return {
        "subject": np.full(r.size, subject),
        "action": data.seq_action_canonical[seq],
        "camera": cam_global,
        "seq_id": seq,
        "frame": data.frame[rows][r],
        "res_w": res_w.astype(np.int64),
        "res_h": res_h.astype(np.int64),
    }


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        raise PoseShapeError("no rows selected")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# --------------------------------------------------------------------------- Neck/Nose rule


@dataclass(frozen=True)
class SegmentRule:
    """A 2D point from a segment ``base -> tip``: ``base + a * d + b * perp(d)``, with
    ``d = tip - base`` and ``perp(d) = (-d_y, d_x)``. Invariant to image translation, rotation
    and scale.

    Used to fill joints a 2D source lacks: Neck/Nose from (Thorax, Head) for MPII-16 detections
    and HumanEva-15, Spine from (Hip, Thorax). Constants come from :func:`fit_neck_nose_rule` /
    :func:`fit_spine_rule` on training subjects only; ``SegmentRule(0.5, 0.0)`` is the midpoint.
    """

    a: float
    b: float

    def __call__(self, base: np.ndarray, tip: np.ndarray) -> np.ndarray:
        """``(..., 2)`` base and tip -> ``(..., 2)`` point."""
        base = np.asarray(base)
        d = np.asarray(tip) - base
        perp = np.stack([-d[..., 1], d[..., 0]], axis=-1)
        return base + self.a * d + self.b * perp


NeckNoseRule = SegmentRule


def _fit_segment_rule(train_pairs: dict[str, np.ndarray], base: int, point: int,
                      tip: int) -> SegmentRule:
    x = np.asarray(train_pairs["x2d"], dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (17, 2):
        raise PoseShapeError(f"train_pairs['x2d'] must be (N, 17, 2) H36M-17, got {x.shape}")
    d = x[:, tip] - x[:, base]
    t = x[:, point] - x[:, base]
    perp = np.stack([-d[:, 1], d[:, 0]], axis=-1)
    den = (d * d).sum()
    if den <= 0:
        raise PoseShapeError("cannot fit the rule: the segment has zero length in every frame")
    return SegmentRule(a=float((d * t).sum() / den), b=float((perp * t).sum() / den))


def fit_neck_nose_rule(train_pairs: dict[str, np.ndarray]) -> SegmentRule:
    """Least-squares :class:`SegmentRule` for Neck/Nose from (Thorax, Head) on H36M-17 2D
    (``train_pairs["x2d"]``).

    Fit it on the TRAINING subjects' GT-projected 2D only (never on test subjects or
    detections). Closed form: ``d`` and ``perp(d)`` are orthogonal with equal norms, so
    ``a = sum(d . t) / sum|d|^2`` and ``b = sum(perp . t) / sum|d|^2`` with ``t = nose - thorax``.
    """
    return _fit_segment_rule(train_pairs, base=8, point=9, tip=10)


def fit_spine_rule(train_pairs: dict[str, np.ndarray]) -> SegmentRule:
    """Least-squares :class:`SegmentRule` for Spine from (Hip, Thorax); see
    :func:`fit_neck_nose_rule`."""
    return _fit_segment_rule(train_pairs, base=0, point=7, tip=8)


# --------------------------------------------------------------------------- SH detections


def _sh_file(subject: str) -> str:
    return _FILE_SH_TEST if subject in TEST_SUBJECTS else _FILE_SH_TRAIN


def _read_sh_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 4, 16, 2)`` detections (pixels, -1 where missing) and their ``seq * 1e6 + frame``
    keys; checks the layout and names the file when it is wrong."""
    sh = load_npz_entry(path, "sh_2d")
    key = (np.asarray(load_npz_entry(path, "seq_id")).astype(np.int64) * 1_000_000
           + np.asarray(load_npz_entry(path, "frame_index_50hz")))
    if tuple(np.asarray(load_npz_entry(path, "camera_order")).astype(str)) != CAMERA_ORDER:
        raise DataFormatError(f"{path.name}: unexpected camera order")
    if sh.ndim != 4 or sh.shape[2:] != (16, 2) or sh.shape[0] != key.shape[0]:
        raise DataFormatError(
            f"{path.name}: sh_2d must be (N, cameras, 16, 2) MPII-16 detections, got {sh.shape}"
        )
    if key.size > 1 and not (np.diff(key) > 0).all():
        order = np.argsort(key, kind="stable")
        sh, key = sh[order], key[order]
    return sh, key


def h36m_sh_detections(
    root: str | os.PathLike | None = None,
    subjects=TEST_SUBJECTS,
    cameras=None,
    actions=None,
    every: int = 1,
    neck_rule: SegmentRule | None = None,
    spine_rule: SegmentRule | None = None,
    dataset: H36MData | None = None,
) -> dict[str, np.ndarray]:
    """Stacked-Hourglass 2D detections mapped onto H36M-17, row-aligned with
    ``h36m_pairs(subjects, cameras=cameras, actions=actions, every=every)``.

    S9/S11 are read from the evaluation-only test file, S1/S5/S6/S7/S8 from the training file
    (module docstring); a subject list may mix both.

    MPII-16 joints go to their same-named H36M-17 slots (``joint_map("mpii16", "h36m17")``;
    note the detector's "Spine/Thorax/Head" are MPII thorax/upper-neck/head-top). Neck/Nose,
    absent from MPII-16, is filled by ``neck_rule``; when ``None``, the rule is fitted by
    :func:`fit_neck_nose_rule` on the training subjects' GT 2D (every 10th frame).
    ``spine_rule`` (default ``None``: keep the detector's own "Spine", which is MPII's thorax
    and lies well above H36M's Spine) replaces Spine by a rule on (Hip, Thorax), e.g. from
    :func:`fit_spine_rule` on training GT.

    Returns the pairs-dict metadata keys plus ``x2d`` (screen frame, NaN where invalid),
    ``x2d_px`` (pixels, NaN where invalid) and ``valid`` (N,) bool: False where the detector
    output is missing (S11 Directions, camera 54138969).
    """
    data = dataset if dataset is not None else load_h36m(root)
    subjects = _check_subjects(data, subjects)
    files: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in sorted({_sh_file(s) for s in subjects}):
        files[name] = _read_sh_file(find_data_file(name, "h36m", data.folder))
    if neck_rule is None:
        neck_rule = fit_neck_nose_rule(h36m_pairs(TRAIN_SUBJECTS, every=10, dataset=data))
        logger.info("Neck/Nose rule fitted on training GT: a=%.4f b=%.4f", neck_rule.a,
                    neck_rule.b)
    jm = np.asarray(joint_map("mpii16", "h36m17").index)
    cam_idx = _camera_indices(cameras)
    parts = []
    for subject in subjects:
        sh, sh_key = files[_sh_file(subject)]
        rows = _select_rows(data, subject, actions, every)
        key = data.seq_id[rows] * 1_000_000 + data.frame[rows]
        pos = np.searchsorted(sh_key, key)
        pos = np.minimum(pos, sh_key.size - 1)
        if not np.array_equal(sh_key[pos], key):
            raise DataNotFoundError(
                f"{_sh_file(subject)} has no detections for some {subject} frames")
        c_local, r = _order_seq_cam_frame(data.seq_id[rows], len(cam_idx))
        cam_global = np.asarray(cam_idx, dtype=np.int64)[c_local]
        det16 = sh[pos[r], cam_global].astype(np.float64)  # (n, 16, 2)
        valid = ~(det16 == -1).all(-1).any(-1)
        det = det16[:, np.maximum(jm, 0)]
        det[:, 9] = neck_rule(det[:, 8], det[:, 10])
        if spine_rule is not None:
            det[:, 7] = spine_rule(det[:, 0], det[:, 8])
        det[~valid] = np.nan
        res = np.array([[data.cameras[subject][c].res_w, data.cameras[subject][c].res_h]
                        for c in CAMERA_ORDER])
        res_w, res_h = res[cam_global, 0], res[cam_global, 1]
        parts.append({
            "x2d": to_screen(det, res_w, res_h).astype(np.float32),
            "x2d_px": det.astype(np.float32),
            "valid": valid,
            **_row_columns(data, subject, rows, r, cam_global, res_w, res_h),
        })
    return _concat(parts)


def h36m_detected_pairs(
    subjects,
    every: int = 1,
    dataset: H36MData | None = None,
    rules_from=None,
    root: str | os.PathLike | None = None,
) -> dict[str, np.ndarray]:
    """(Stacked-Hourglass 2D, GT 3D) pairs: :func:`h36m_pairs` with ``x2d`` replaced by the
    detections, and the rows whose detection is missing dropped.

    Args:
        subjects: the subjects to read (training subjects' detections may be trained on; S9/S11's
            are for evaluation only).
        every: keep every ``every``-th 10 Hz frame of each sequence.
        dataset: an already loaded :class:`H36MData`.
        rules_from: the *training* subjects whose GT-projected 2D fits the Neck/Nose and Spine
            rules (:func:`fit_neck_nose_rule`, :func:`fit_spine_rule`); never a scored subject.
            Default :data:`TRAIN_SUBJECTS`; for S8 validation pass ``("S1", "S5", "S6", "S7")``.

    Returns:
        the pairs dict of :func:`h36m_pairs` (``x2d`` in the screen frame).
    """
    data = dataset if dataset is not None else load_h36m(root)
    src = h36m_pairs(tuple(rules_from or TRAIN_SUBJECTS), every=10, dataset=data)
    gt = h36m_pairs(tuple(subjects), every=every, dataset=data)
    sh = h36m_sh_detections(dataset=data, subjects=tuple(subjects), every=every,
                            neck_rule=fit_neck_nose_rule(src), spine_rule=fit_spine_rule(src))
    keep = sh["valid"]
    out = {k: v[keep] for k, v in gt.items()}
    out["x2d"] = sh["x2d"][keep]
    return out


#: The 2D kinds of :func:`h36m_input_pairs`: GT-projected, or Stacked-Hourglass detections.
INPUT_SOURCES: tuple[str, ...] = ("gt", "sh")


def h36m_input_pairs(
    subjects,
    inputs: str,
    every: int = 1,
    dataset: H36MData | None = None,
    rules_from=None,
    root: str | os.PathLike | None = None,
) -> dict[str, np.ndarray]:
    """The pairs of ``subjects`` with the 2D kind ``inputs``: :func:`h36m_pairs` for ``"gt"``,
    :func:`h36m_detected_pairs` (rules fitted on ``rules_from``) for ``"sh"``.

    Raises:
        ValueError: ``inputs`` is not one of :data:`INPUT_SOURCES`.
    """
    if inputs not in INPUT_SOURCES:
        raise ValueError(f"inputs must be one of {INPUT_SOURCES}, got {inputs!r}")
    data = dataset if dataset is not None else load_h36m(root)
    if inputs == "gt":
        return h36m_pairs(tuple(subjects), dataset=data, every=every)
    return h36m_detected_pairs(tuple(subjects), every, data, rules_from=rules_from)

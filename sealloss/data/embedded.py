"""A small real-motion set shipped with sealloss: CMU mocap clips as H36M-17 (2D, 3D) pairs.

Six CMU Graphics Lab clips (subjects 1, 2, 5, 131: walking, jumping, hopping, dance; cgspeed
BVH conversions) converted to H36M-17 with :mod:`.bvh` (see its docstring for the joint
choices: CMU's torso proportions are not Human3.6M's), subsampled to 30 fps and filmed by four
virtual cameras each (about 1150 px focal, 1000x1000, 5-7 m). Built by
``bench/build_embedded_cmu.py``; the file stores world poses and cameras, the 2D is projected
on load. Use it for examples, smoke tests and pretraining demos that must run without the
research datasets; it is not a benchmark.

The data used in this project was obtained from mocap.cs.cmu.edu. The database was created
with funding from NSF EIA-0196217.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, DataNotFoundError, PoseShapeError
from ..pose.canonical import root_relative
from .cameras import Camera, project_camera_points, world_to_camera
from .h36m import to_screen

__all__ = ["EMBEDDED_FILE", "load_embedded"]

EMBEDDED_FILE = Path(__file__).resolve().parent / "embedded" / "cmu_h36m17.npz"


def load_embedded(
    split: str | None = "train", path: str | os.PathLike | None = None
) -> dict[str, np.ndarray]:
    """The embedded CMU pairs in the pairs-dict layout of :mod:`.h36m`.

    Args:
        split: ``"train"`` (all clips but the held-out one), ``"test"`` (the held-out clip,
            CMU subject 2 walking: a person absent from training), or ``None`` (all).
        path: another file of the same layout (default: the shipped one).

    Returns keys ``x2d`` (screen), ``y3d`` (camera frame, root-relative metres),
    ``root_cam``, ``subject`` (``"cmu02"``...), ``action`` (motion label), ``camera``,
    ``seq_id`` (clip index), ``frame`` (index in the 120 Hz clip), ``res_w``, ``res_h`` and
    ``clip`` (clip id such as ``"02_01"``). Rows are ordered by clip, camera, frame.

    Raises:
        DataNotFoundError: no such file.
        DataFormatError: a damaged archive, pickled (object) arrays, or a file of another layout
            (missing entries or entries of the wrong shape), naming the file and the entries.
    """
    if split not in ("train", "test", None):
        raise PoseShapeError(f"split must be 'train', 'test' or None, got {split!r}")
    path = Path(path) if path is not None else EMBEDDED_FILE
    if not path.is_file():
        raise DataNotFoundError(
            f"embedded data file {str(path)!r} is missing; rebuild it with "
            "bench/build_embedded_cmu.py"
        )
    d = _read_layout(path)
    names = d["clip_names"].astype(str)
    test = set(d["test_clips"].astype(str).tolist())
    res_w, res_h = (int(v) for v in d["res"])
    parts: dict[str, list[np.ndarray]] = {}
    for k, name in enumerate(names):
        if split == "train" and name in test or split == "test" and name not in test:
            continue
        rows = np.flatnonzero(d["frame_clip"] == k)
        world = d["world"][rows].astype(np.float64)
        for ci in range(d["cam_R"].shape[1]):
            cam = Camera(R=d["cam_R"][k, ci], T=d["cam_T"][k, ci], f=d["cam_f"][k, ci],
                         c=d["cam_c"][k, ci], res_w=res_w, res_h=res_h)
            xc = world_to_camera(world, cam)
            px = project_camera_points(xc, cam)
            n = rows.size
            new = {
                "x2d": to_screen(px, res_w, res_h).astype(np.float32),
                "y3d": root_relative(xc).astype(np.float32),
                "root_cam": xc[:, 0].astype(np.float32),
                "subject": np.full(n, str(d["clip_subject"][k])),
                "action": np.full(n, str(d["clip_motion"][k])),
                "camera": np.full(n, ci, dtype=np.int64),
                "seq_id": np.full(n, k, dtype=np.int64),
                "frame": d["frame_index_120hz"][rows].astype(np.int64),
                "res_w": np.full(n, res_w, dtype=np.int64),
                "res_h": np.full(n, res_h, dtype=np.int64),
                "clip": np.full(n, name),
            }
            for key, val in new.items():
                parts.setdefault(key, []).append(val)
    return {k: np.concatenate(v) for k, v in parts.items()}


#: entries of the embedded file, with their number of dimensions
_LAYOUT = {"clip_names": 1, "test_clips": 1, "res": 1, "frame_clip": 1, "world": 3, "cam_R": 4,
           "cam_T": 3, "cam_f": 3, "cam_c": 3, "clip_subject": 1, "clip_motion": 1,
           "frame_index_120hz": 1}


def _read_layout(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an embedded-layout file (never unpickled), checked against
    :data:`_LAYOUT` (DataFormatError naming what is wrong)."""
    where = f"embedded data file {str(path)!r}"
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataFormatError(f"{where} is damaged or not an .npz archive ({e})") from None
    except ValueError as e:  # object arrays: refused, never unpickled
        raise DataFormatError(f"{where} cannot be read without unpickling ({e})") from None
    missing = sorted(k for k in _LAYOUT if k not in d)
    if missing:
        raise DataFormatError(
            f"{where} is not an embedded CMU file: it lacks the entries {missing} (it holds "
            f"{sorted(d) or 'nothing'}); pass a file written by bench/build_embedded_cmu.py"
        )
    bad = sorted(k for k, nd in _LAYOUT.items() if d[k].ndim != nd)
    if bad or d["res"].shape != (2,) or d["world"].shape[-2:] != (17, 3):
        raise DataFormatError(
            f"{where}: entries of the wrong shape "
            f"({', '.join(f'{k} {d[k].shape}' for k in bad) or 'res/world'})"
        )
    return d

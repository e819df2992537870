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
from pathlib import Path

import numpy as np

from ..errors import DataNotFoundError, PoseShapeError
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
    """
    if split not in ("train", "test", None):
        raise PoseShapeError(f"split must be 'train', 'test' or None, got {split!r}")
    path = Path(path) if path is not None else EMBEDDED_FILE
    if not path.is_file():
        raise DataNotFoundError(
            f"embedded data file {str(path)!r} is missing; rebuild it with "
            "bench/build_embedded_cmu.py"
        )
    with np.load(path) as z:
        d = {k: z[k] for k in z.files}
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
                "y3d": (xc - xc[:, :1]).astype(np.float32),
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

"""Write small VideoPose3D-format data files from the shared Human3.6M data, to run a patched
VideoPose3D / PoseFormer / PoseFormerV2 training script end to end (a local check only).

    python examples/vp3d_test_data.py OUT_DIR --subjects S1,S9 --actions Walking,Eating
    ln -s OUT_DIR/data_3d_h36m.npz OUT_DIR/data_2d_h36m_gt.npz /path/to/VideoPose3D/data/
    python run.py -k gt -arc 3,3,3 -ch 64 -b 256 -e 1 -str S1 -ste S9 --seal

Writes ``data_3d_h36m.npz`` (``positions_3d[subject][sequence]``: world metres, 32-joint layout
with the 17 kept joints filled; the 15 joints VideoPose3D drops stay zero) and
``data_2d_h36m_gt.npz`` (GT projections in pixels per camera, full distortion model, H36M-17
order). The files are Human3.6M derivatives: research use only, never to be redistributed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sealloss.data.cameras import project_camera_points, world_to_camera
from sealloss.data.h36m import CAMERA_ORDER, load_h36m

# where the 17 joints sit in the 32-joint raw layout (shared data SOURCES.md)
RAW32 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]
SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
                    / "data")
    ap.add_argument("--subjects", default="S1,S9")
    ap.add_argument("--actions", default="Walking,Eating", help="action names (trial dropped)")
    args = ap.parse_args()
    ds = load_h36m(args.data)
    actions = set(args.actions.split(","))
    pos3d: dict = {}
    pos2d: dict = {}
    for subject in args.subjects.split(","):
        pos3d[subject], pos2d[subject] = {}, {}
        for sid in np.flatnonzero(ds.seq_subject == subject):
            seq = str(ds.seq_action[sid])
            if seq.split(" ")[0] not in actions:
                continue
            world = ds.positions_world[ds.seq_id == sid].astype(np.float64)  # mm
            full = np.zeros((world.shape[0], 32, 3), dtype=np.float32)
            full[:, RAW32] = world / 1000.0
            pos3d[subject][seq] = full
            pos2d[subject][seq] = [
                project_camera_points(world_to_camera(world, ds.cameras[subject][cid]),
                                      ds.cameras[subject][cid]).astype(np.float32)
                for cid in CAMERA_ORDER
            ]
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "data_3d_h36m.npz", positions_3d=pos3d)
    meta = {"num_joints": 17, "keypoints_symmetry": SYMMETRY}
    np.savez_compressed(args.out / "data_2d_h36m_gt.npz", positions_2d=pos2d, metadata=meta)
    print({s: sorted(v) for s, v in pos3d.items()})


if __name__ == "__main__":
    main()

"""Rebuild ``sealloss/data/embedded/cmu_h36m17.npz`` from the CMU BVH clips.

    python bench/build_embedded_cmu.py [--cmu-dir DIR] [--out FILE] [--fps 30] [--cams 4]

Each CMU clip (cgspeed MotionBuilder- and 3dsMax-friendly conversions; the retargeted iClone
clips are left out because their bone lengths are an avatar's) is converted to H36M-17 world
metres (Z up), subsampled from 120 fps, and filmed by virtual cameras (seeded per clip). The file
stores the world poses and the cameras; :func:`sealloss.data.embedded.load_embedded` projects
them on load. The data were obtained from mocap.cs.cmu.edu (NSF EIA-0196217).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np

from sealloss.data.bvh import bvh_to_h36m17, load_bvh, render_virtual_cameras

# clip -> (folder, subject, motion); the test split holds out subject 2 (a person unseen in
# training).
CLIPS: dict[str, tuple[str, str, str]] = {
    "01_01": ("bvh_mb", "cmu01", "jump"),
    "05_06": ("bvh_mb", "cmu05", "dance"),
    "131_01": ("bvh_3dsmax", "cmu131", "walk"),
    "131_02": ("bvh_3dsmax", "cmu131", "walk"),
    "131_03": ("bvh_3dsmax", "cmu131", "hop"),
    "02_01": ("bvh_mb", "cmu02", "walk"),
}
TEST_CLIPS = ("02_01",)

logger = logging.getLogger("build_embedded_cmu")


def build(cmu_dir: Path, out: Path, fps: float = 30.0, n_cams: int = 4, seed: int = 0) -> dict:
    world, frame_clip, frame_index = [], [], []
    cam_R, cam_T, cam_f, cam_c, follow = [], [], [], [], []
    for k, (clip_id, (folder, _, _)) in enumerate(CLIPS.items()):
        clip = load_bvh(cmu_dir / folder / f"{clip_id}.bvh")
        step = max(1, int(round(clip.fps / fps)))
        idx = np.arange(0, clip.num_frames, step)
        y = bvh_to_h36m17(clip, frames=idx)
        r = render_virtual_cameras(y, n_cams, np.random.default_rng([seed, k]))
        world.append(r["y_world"].astype(np.float32))
        frame_clip.append(np.full(idx.size, k, dtype=np.int16))
        frame_index.append(idx.astype(np.int32))
        cam_R.append(np.stack([c.R for c in r["cameras"]]))
        cam_T.append(np.stack([c.T for c in r["cameras"]]))
        cam_f.append(np.stack([c.f for c in r["cameras"]]))
        cam_c.append(np.stack([c.c for c in r["cameras"]]))
        follow.append(r["follow"])
        logger.info("%s: %d frames at %.0f fps, follow=%s", clip_id, idx.size,
                    clip.fps / step, r["follow"])
    arrays = {
        "world": np.concatenate(world),
        "frame_clip": np.concatenate(frame_clip),
        "frame_index_120hz": np.concatenate(frame_index),
        "clip_names": np.array(list(CLIPS)),
        "clip_source": np.array([v[0] for v in CLIPS.values()]),
        "clip_subject": np.array([v[1] for v in CLIPS.values()]),
        "clip_motion": np.array([v[2] for v in CLIPS.values()]),
        "clip_follow": np.array(follow),
        "test_clips": np.array(TEST_CLIPS),
        "cam_R": np.stack(cam_R),
        "cam_T": np.stack(cam_T),
        "cam_f": np.stack(cam_f),
        "cam_c": np.stack(cam_c),
        "res": np.array([1000, 1000]),
        "fps": np.array(fps),
        "seed": np.array(seed),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return arrays


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    default_root = Path(os.environ.get("SEALLOSS_DATA", Path(__file__).resolve().parents[2]
                                       / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmu-dir", type=Path, default=default_root / "cmu")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1]
                    / "sealloss" / "data" / "embedded" / "cmu_h36m17.npz")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--cams", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    arrays = build(args.cmu_dir, args.out, args.fps, args.cams, args.seed)
    logger.info("wrote %s: %d frames x %d cameras, %.0f KB", args.out, len(arrays["world"]),
                args.cams, args.out.stat().st_size / 1024)


if __name__ == "__main__":
    main()

"""BVH parser, forward kinematics, H36M-17 conversion and virtual cameras."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sealloss.data import (
    BVH_MAPPINGS,
    BVHParseError,
    bvh_forward_kinematics,
    bvh_to_h36m17,
    detect_mapping,
    load_bvh,
    parse_bvh,
    render_virtual_cameras,
)
from sealloss.data.bvh import euler_to_matrix, y_up_to_z_up
from sealloss.errors import PoseShapeError
from sealloss.pose.kinematics import bone_lengths
from sealloss.pose.skeleton import get_skeleton

TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Hand
    {
      OFFSET 0 2 0
      CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 0 3
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
10 20 30 0 0 0  0 0 0  0 2 0 0 0 0
10 20 30 90 0 0  0 90 0  0 2 0 0 0 0
"""


def test_parse_tiny_and_crlf():
    clip = parse_bvh(TINY.replace("\n", "\r\n"))
    assert clip.joint_names == ("Hips", "Arm", "Hand", "Hand_End")
    assert clip.parents == (-1, 0, 1, 2)
    assert clip.channels[2] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation",
                                "Yrotation")
    assert clip.motion.shape == (2, 15) and clip.fps == 2.0
    np.testing.assert_array_equal(clip.offsets[3], [0, 0, 3])


def test_forward_kinematics_by_hand():
    pos, rot = bvh_forward_kinematics(parse_bvh(TINY))
    # frame 0: no rotation; Hand's position channels (0, 2, 0) replace its offset
    np.testing.assert_allclose(pos[0], [[10, 20, 30], [11, 20, 30], [11, 22, 30], [11, 22, 33]])
    # frame 1: root Rz(90) maps x->y, y->-x; Arm Rx(90) maps y->z, z->-y
    # Arm = root + Rz(1,0,0) = (10, 21, 30); Hand = Arm + Rz Rx (0,2,0) = Arm + Rz(0,0,2)
    # End = Hand + Rz Rx (0,0,3) = Hand + Rz(0,-3,0) = Hand + (3, 0, 0)
    np.testing.assert_allclose(pos[1], [[10, 20, 30], [10, 21, 30], [10, 21, 32], [13, 21, 32]],
                               atol=1e-9)
    assert np.allclose(rot @ np.swapaxes(rot, -1, -2), np.eye(3), atol=1e-12)


def test_euler_order():
    a = np.array([30.0, -50.0, 70.0])
    r = euler_to_matrix(a, "ZYX")
    rz = euler_to_matrix(a[:1], "Z")
    ry = euler_to_matrix(a[1:2], "Y")
    rx = euler_to_matrix(a[2:], "X")
    np.testing.assert_allclose(r, rz @ ry @ rx, atol=1e-12)
    np.testing.assert_allclose(euler_to_matrix(np.array([90.0]), "Z") @ [1, 0, 0], [0, 1, 0],
                               atol=1e-12)


@pytest.mark.parametrize("bad, match", [
    (TINY.replace("MOTION", "MOTIO"), "MOTION"),
    (TINY.replace("CHANNELS 3 Zrotation", "CHANNELS 3 Wrotation"), "CHANNELS"),
    (TINY.replace("Frames: 2", "Frames: 3"), "expected 3 frames"),
    (TINY.replace("CHANNELS 3 Zrotation", "CHANNELS three Zrotation"), "count"),
    (TINY.replace("  }\n}\nMOTION", "  }\nMOTION"), "unbalanced"),
])
def test_parse_errors(bad, match):
    with pytest.raises(BVHParseError, match=match):
        parse_bvh(bad)


def test_axis_conversion_is_a_rotation():
    x = np.random.default_rng(0).normal(size=(10, 3))
    m = y_up_to_z_up(np.eye(3))
    assert np.isclose(np.linalg.det(m), 1.0)
    np.testing.assert_allclose(y_up_to_z_up(x), x @ m, atol=1e-12)
    np.testing.assert_allclose(y_up_to_z_up(np.array([0.0, 1.0, 0.0])), [0, 0, 1])


# --------------------------------------------------------------------------- real clips

CMU = ["bvh_mb/01_01", "bvh_mb/02_01", "bvh_mb/05_06", "bvh_3dsmax/131_01",
       "bvh_3dsmax/131_02", "bvh_3dsmax/131_03"]
WALKS = {"bvh_mb/02_01", "bandai:dataset-1_walk_normal_001", "bandai:dataset-1_run_normal_001"}


@pytest.fixture(scope="module")
def clips(data_root):
    out = {}
    for name in CMU:
        path = data_root / "cmu" / f"{name}.bvh"
        if path.is_file():
            out[name] = load_bvh(path)
    bandai = data_root / "bandai_namco" / "data"
    for stem in ("dataset-1_walk_normal_001", "dataset-1_run_normal_001",
                 "dataset-1_kick_normal_001", "dataset-1_dance-short_normal_001"):
        if (bandai / f"{stem}.bvh").is_file():
            out[f"bandai:{stem}"] = load_bvh(bandai / f"{stem}.bvh")
    if not out:
        pytest.skip("no BVH clips in the shared data folder")
    return out


@pytest.fixture(scope="module")
def converted(clips):
    return {k: bvh_to_h36m17(c) for k, c in clips.items()}


def test_mappings_detected(clips):
    for name, clip in clips.items():
        expect = "bandai" if name.startswith("bandai") else (
            "cmu_mb" if "bvh_mb" in name else "cmu_3dsmax")
        assert detect_mapping(clip).name == expect
    assert BVH_MAPPINGS["bandai"].evaluation_only
    with pytest.raises(PoseShapeError, match="no BVH mapping"):
        detect_mapping(parse_bvh(TINY))


def test_bone_lengths_constant(converted):
    sk = get_skeleton("h36m17")
    limbs = [sk.bone_index[j] for j in (1, 2, 3, 4, 5, 6, 7, 12, 13, 15, 16)]
    for name, y in converted.items():
        lengths = bone_lengths(torch.from_numpy(y), sk).numpy()
        spread = lengths.max(0) - lengths.min(0)
        if name.startswith("bandai"):
            # rigid in the BVH tree: legs, Hip->Spine, elbows, wrists; the torso bones pass
            # through the chest, clavicle and neck joints (documented)
            assert spread[limbs].max() < 1e-3, name
            assert spread.max() < 0.02, name
        else:
            assert spread.max() < 1e-6, name  # every bone is rigid in the CMU layouts
        assert np.all(np.median(lengths, 0) > 0.05), name


def test_heights_floor_and_chirality(clips, converted):
    for name, y in converted.items():
        # Head is the head joint for CMU (about 0.1 m below the top), the head top for Bandai
        head95 = np.percentile(y[:, 10, 2], 95)
        assert 1.3 < head95 < 1.9, (name, head95)
        feet = y[:, [3, 6], 2]
        assert -0.05 < feet.min() < 0.2, name  # ankles just above the floor (z = 0)
        if name in WALKS:
            # forward = left x up must agree with the walking direction (no mirror)
            left = y[:, 4] - y[:, 1]
            fwd = np.cross(left, [0.0, 0.0, 1.0])[:, :2]
            vel = np.gradient(y[:, 0, :2], axis=0)
            assert np.mean(np.sum(fwd * vel, -1)) > 0, name


def test_render_virtual_cameras(converted):
    y = converted[next(iter(converted))][::8]
    r = render_virtual_cameras(y, 4, np.random.default_rng(0))
    assert r["y_cam"].shape == (4,) + y.shape and r["x2d_px"].shape == (4, y.shape[0], 17, 2)
    assert np.all(r["y3d"][:, :, 0] == 0)
    for k, cam in enumerate(r["cameras"]):
        xc = r["y_cam"][k]
        np.testing.assert_allclose(r["x2d_px"][k], xc[..., :2] / xc[..., 2:] * cam.f + cam.c,
                                   atol=1e-9)
        np.testing.assert_allclose(np.linalg.norm(xc - xc[:, :1], axis=-1),
                                   np.linalg.norm(r["y_world"] - r["y_world"][:, :1], axis=-1),
                                   atol=1e-9)
        assert 1.2 <= cam.T[2] <= 1.8 and cam.f[0] == 1150.0
    assert 4.0 < r["root_cam"][..., 2].min() and r["root_cam"][..., 2].max() < 9.0
    assert (np.abs(r["x2d"]) < 1).all()  # the subject stays in the 1000x1000 image
    # cameras surround the subject: azimuths of the four cameras are spread out
    c = np.stack([cam.T[:2] for cam in r["cameras"]]) - r["y_world"][:, 0, :2].mean(0)
    az = np.sort(np.arctan2(c[:, 1], c[:, 0]))
    gaps = np.diff(np.r_[az, az[0] + 2 * np.pi])
    assert gaps.min() > np.deg2rad(40)
    # seeded: same generator state, same cameras
    r2 = render_virtual_cameras(y, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(r["x2d_px"], r2["x2d_px"])
    with pytest.raises(PoseShapeError):
        render_virtual_cameras(y[0], 4, np.random.default_rng(0))


def test_render_follows_long_clips():
    # a 12 m straight walk: without following, the camera distance would have to grow
    t = np.linspace(0, 12, 200)
    y = np.zeros((200, 17, 3))
    y[:, :, 0] = t[:, None]
    y[:, :, 2] = np.linspace(0.0, 1.6, 17)
    r = render_virtual_cameras(y, 2, np.random.default_rng(1))
    assert r["follow"]
    assert r["root_cam"][..., 2].max() < 7.0
    # the dolly keeps the root within a few decimetres of its mean (edge frames lag a little)
    spread = np.ptp(r["root_cam"], axis=1).max()
    assert spread < 0.5
    fixed = render_virtual_cameras(y, 2, np.random.default_rng(1), follow=False)
    assert not fixed["follow"] and np.ptp(fixed["root_cam"], axis=1).max() > 5.0
    assert fixed["root_cam"][..., 2].min() > 4.0  # pushed back by the trajectory's radius

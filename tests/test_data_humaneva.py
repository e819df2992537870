"""HumanEva-I loader on the shared research files (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sealloss.data import (
    SegmentRule,
    humaneva_as_h36m17,
    humaneva_cameras,
    humaneva_pairs,
    to_h36m17_eval,
)
from sealloss.errors import DataNotFoundError, PoseShapeError
from sealloss.pose.canonical import screen_to_pixels
from sealloss.pose.kinematics import bone_lengths


@pytest.fixture(scope="module")
def he(humaneva_root):
    return humaneva_pairs(humaneva_root, split=None)


def test_layout_and_counts(he):
    # SOURCES.md: 9 577 frames (Train 4 729, Validate 4 848), 3 cameras each
    n = 9577 * 3
    assert he["x2d"].shape == (n, 15, 2) and he["y3d"].shape == (n, 15, 3)
    assert (he["split"] == "Validate").sum() == 4848 * 3
    assert np.all(he["y3d"][:, 0] == 0)
    assert set(he["action"]) == {"Walking", "Jog", "Box", "Gestures", "ThrowCatch"}
    assert 2.0 < np.median(he["root_cam"][:, 2]) < 8.0  # metres in front of the camera
    # one seq_id per (split, subject, chunk), rows of a video contiguous
    key = he["seq_id"] * 3 + he["camera"]
    change = np.r_[True, key[1:] != key[:-1]]
    assert np.unique(key).size == change.sum()


def test_reprojection_with_fitted_intrinsics(he, humaneva_root):
    cams = humaneva_cameras(humaneva_root)
    px = screen_to_pixels(torch.from_numpy(he["x2d"]).double(), 640, 480).numpy()
    for s in ("S1", "S2", "S3"):
        for ci in range(3):
            m = (he["subject"] == s) & (he["camera"] == ci)
            c = cams[s][ci]
            x = (he["y3d"][m] + he["root_cam"][m][:, None]).astype(np.float64)
            proj = x[..., :2] / x[..., 2:] * c["f"] + c["c"]
            err = np.linalg.norm(proj - px[m], axis=-1)
            # the JSON says 0.6-2.3 px mean; the rest is lens distortion
            assert err.mean() < 3.0 and np.median(err) < 2.5, (s, ci, err.mean())


def test_camera_frame_is_a_rotation(he):
    # bone lengths are the same in every camera for the same frame
    sk = "humaneva15"
    m0 = (he["camera"] == 0) & (he["split"] == "Validate")
    m2 = (he["camera"] == 2) & (he["split"] == "Validate")
    l0 = bone_lengths(torch.from_numpy(he["y3d"][m0]).double(), sk)
    l2 = bone_lengths(torch.from_numpy(he["y3d"][m2]).double(), sk)
    assert torch.allclose(l0, l2, atol=1e-5)


def test_filters(humaneva_root):
    p = humaneva_pairs(humaneva_root, split="Train", subjects="S2", actions=["Jog"], cameras=[1])
    assert set(p["subject"]) == {"S2"} and set(p["action"]) == {"Jog"}
    assert set(p["camera"]) == {1} and set(p["split"]) == {"Train"}
    with pytest.raises(DataNotFoundError):
        humaneva_pairs(humaneva_root, subjects=["S4"])
    with pytest.raises(PoseShapeError):
        humaneva_pairs(humaneva_root, split="Test")


def test_h36m17_input_and_eval_map(he):
    corr = to_h36m17_eval()
    assert corr.missing == ("Spine", "Neck/Nose")
    assert len(corr.comparable) == 15 and 7 not in corr.comparable and 9 not in corr.comparable
    # humaneva15 order: pelvis, thorax, L-shoulder ... head -> H36M-17 indices
    assert corr.h36m_index[:3] == (0, 8, 11) and corr.h36m_index[-1] == 10
    rule = SegmentRule(0.45, 0.02)
    sub = {k: v[:100] for k, v in he.items()}
    q, idx = humaneva_as_h36m17(sub, neck_rule=rule)
    assert q["x2d"].shape == (100, 17, 2) and q["y3d"].shape == (100, 15, 3)
    # the 15 shared joints are copied exactly
    np.testing.assert_array_equal(q["x2d"][:, idx], sub["x2d"])
    x = sub["x2d"].astype(np.float64)
    np.testing.assert_allclose(q["x2d"][:, 7], (x[:, 0] + x[:, 1]) / 2, atol=1e-6)
    np.testing.assert_allclose(q["x2d"][:, 9], rule(x[:, 1], x[:, 14]), atol=1e-6)
    with pytest.raises(PoseShapeError):
        humaneva_as_h36m17({"x2d": np.zeros((2, 17, 2))}, rule)

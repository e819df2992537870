"""Data folder resolution and the MPI-INF-3DHP / H3WB readers on small generated files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sealloss.data import (
    find_data_file,
    h3wb_pairs,
    load_h3wb_json,
    mpi3dhp_pairs,
    mpi3dhp_to_h36m17,
    resolve_data_root,
)
from sealloss.errors import DataNotFoundError, PoseShapeError
from sealloss.pose.canonical import screen_to_pixels

# --------------------------------------------------------------------------- paths


def test_resolve_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("SEALLOSS_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="SEALLOSS_DATA"):
        resolve_data_root()
    assert resolve_data_root(tmp_path) == tmp_path
    with pytest.raises(DataNotFoundError, match="does not exist"):
        resolve_data_root(tmp_path / "nope")
    monkeypatch.setenv("SEALLOSS_DATA", str(tmp_path))
    assert resolve_data_root() == tmp_path
    monkeypatch.setenv("SEALLOSS_DATA", str(tmp_path / "missing"))
    with pytest.raises(DataNotFoundError, match="not a folder"):
        resolve_data_root()


def test_find_data_file(tmp_path):
    (tmp_path / "h36m").mkdir()
    (tmp_path / "h36m" / "a.npz").write_bytes(b"")
    assert find_data_file("a.npz", "h36m", tmp_path) == tmp_path / "h36m" / "a.npz"
    assert find_data_file("a.npz", "h36m", tmp_path / "h36m") == tmp_path / "h36m" / "a.npz"
    with pytest.raises(DataNotFoundError, match="b.npz"):
        find_data_file("b.npz", "h36m", tmp_path)


# --------------------------------------------------------------------------- MPI-INF-3DHP


def _pose3d(rng, n):
    y = rng.normal(scale=300.0, size=(n, 17, 3))
    y[..., 2] += 4000.0
    return y


def _write_3dhp(tmp_path, rng):
    train = {
        "S1 Seq1": [{0: {"data_3d": _pose3d(rng, 4), "data_2d": rng.uniform(0, 2048, (4, 17, 2))},
                     5: {"data_3d": _pose3d(rng, 4), "data_2d": rng.uniform(0, 2048, (4, 17, 2))}}],
        "S2 Seq2": [{1: {"data_3d": _pose3d(rng, 3), "data_2d": rng.uniform(0, 2048, (3, 17, 2))}}],
    }
    test = {
        "TS1": {"data_3d": _pose3d(rng, 5), "data_2d": rng.uniform(0, 2048, (5, 17, 2)),
                "valid": np.array([1, 1, 0, 1, 1], dtype=np.float32)},
        "TS5": {"data_3d": _pose3d(rng, 2), "data_2d": rng.uniform(0, 1080, (2, 17, 2)),
                "valid": np.array([True, True])},
    }
    np.savez(tmp_path / "data_train_3dhp.npz", data=np.array(train, dtype=object))
    np.savez(tmp_path / "data_test_3dhp.npz", data=np.array(test, dtype=object))
    return train, test


def test_mpi3dhp_reader(tmp_path):
    rng = np.random.default_rng(0)
    train, test = _write_3dhp(tmp_path, rng)
    p = mpi3dhp_pairs("train", root=tmp_path)
    assert p["x2d"].shape == (11, 17, 2) and p["y3d"].shape == (11, 17, 3)
    np.testing.assert_array_equal(p["camera"], [0] * 4 + [5] * 4 + [1] * 3)
    np.testing.assert_array_equal(p["subject"], ["S1"] * 8 + ["S2"] * 3)
    np.testing.assert_array_equal(p["seq_id"], [0] * 8 + [1] * 3)
    ref = train["S1 Seq1"][0][5]
    # root = pelvis (index 14); metres
    np.testing.assert_allclose(p["y3d"][4:8], (ref["data_3d"] - ref["data_3d"][:, 14:15]) / 1000,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(p["root_cam"][4:8], ref["data_3d"][:, 14] / 1000, rtol=1e-6)
    px = screen_to_pixels(torch.from_numpy(p["x2d"][4:8]).double(), 2048, 2048).numpy()
    np.testing.assert_allclose(px, ref["data_2d"], atol=1e-3)
    assert p["valid"].all()

    q = mpi3dhp_pairs("test", path=tmp_path / "data_test_3dhp.npz")
    np.testing.assert_array_equal(q["valid"], [1, 1, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(q["res_w"], [2048] * 5 + [1920] * 2)
    px = screen_to_pixels(torch.from_numpy(q["x2d"][5:]).double(), 1920, 1080).numpy()
    np.testing.assert_allclose(px, test["TS5"]["data_2d"], atol=1e-3)
    assert mpi3dhp_pairs("test", root=tmp_path, valid_only=True)["x2d"].shape[0] == 6

    h = mpi3dhp_to_h36m17(q)
    np.testing.assert_array_equal(h["y3d"][:, 0], q["y3d"][:, 14])  # Hip <- Pelvis
    np.testing.assert_array_equal(h["y3d"][:, 10], q["y3d"][:, 0])  # Head <- HeadTop
    assert np.all(h["y3d"][:, 0] == 0)


def test_mpi3dhp_errors(tmp_path):
    with pytest.raises(DataNotFoundError):
        mpi3dhp_pairs("test", root=tmp_path)
    with pytest.raises(PoseShapeError):
        mpi3dhp_pairs("val", root=tmp_path)
    bad = {"TS1": {"data_3d": np.zeros((3, 16, 3)), "data_2d": np.zeros((3, 16, 2))}}
    np.savez(tmp_path / "data_test_3dhp.npz", data=np.array(bad, dtype=object))
    with pytest.raises(PoseShapeError, match="17"):
        mpi3dhp_pairs("test", root=tmp_path)


# --------------------------------------------------------------------------- H3WB


def _wb_json(tmp_path, rng, with_3d=True):
    raw, kp2, kp3 = {}, {}, {}
    for sid in (2, 0, 1):
        x2 = rng.uniform(0, 1000, (133, 2))
        x3 = rng.normal(scale=400.0, size=(133, 3))
        kp2[sid], kp3[sid] = x2, x3
        entry = {"keypoints_2d": {str(j): {"x": float(x2[j, 0]), "y": float(x2[j, 1])}
                                  for j in range(133)}}
        if with_3d:
            entry["keypoints_3d"] = {str(j): {"x": float(x3[j, 0]), "y": float(x3[j, 1]),
                                              "z": float(x3[j, 2])} for j in range(133)}
        raw[str(sid)] = entry
    path = tmp_path / ("train.json" if with_3d else "test.json")
    path.write_text(json.dumps(raw))
    return path, kp2, kp3


def test_h3wb_json(tmp_path):
    rng = np.random.default_rng(1)
    path, kp2, kp3 = _wb_json(tmp_path, rng)
    d = load_h3wb_json(path)
    np.testing.assert_array_equal(d["sample_id"], [0, 1, 2])
    np.testing.assert_allclose(d["y3d_file"][2], kp3[2])
    p = h3wb_pairs(path)
    assert p["x2d"].shape == (3, 133, 2) and p["y3d"].shape == (3, 133, 3)
    # root of wholebody133 = left hip (11); millimetres detected and converted
    np.testing.assert_allclose(p["y3d"][1], (kp3[1] - kp3[1][11]) / 1000, atol=1e-6)
    px = screen_to_pixels(torch.from_numpy(p["x2d"]).double(), 1000, 1000).numpy()
    np.testing.assert_allclose(px[0], kp2[0], atol=1e-3)
    np.testing.assert_allclose(h3wb_pairs(path, units="mm")["y3d"], p["y3d"])
    path2, _, _ = _wb_json(tmp_path, rng, with_3d=False)
    t = h3wb_pairs(path2)
    assert np.isnan(t["y3d"]).all() and np.isfinite(t["x2d"]).all()


def test_h3wb_npz(tmp_path):
    rng = np.random.default_rng(2)
    meta = {"S1": {"54138969": {"K": np.eye(3)}}, "left_side": [], "right_side": []}
    cams = {}
    for cam in ("55011271", "54138969"):
        cams[cam] = {"camera_3d": rng.normal(scale=0.4, size=(4, 1, 133, 3)),
                     "pose_2d": rng.uniform(0, 1000, (4, 1, 133, 2))}
    train = {"S1": {"Walking 1": {"global_3d": rng.normal(size=(4, 1, 133, 3)),
                                  "frame_id": np.array([75, 80, 85, 90]), **cams}}}
    np.savez(tmp_path / "h3wb_train.npz", metadata=np.array(meta, dtype=object),
             train_data=np.array(train, dtype=object))
    p = h3wb_pairs(tmp_path / "h3wb_train.npz")
    assert p["x2d"].shape == (8, 133, 2)
    # camera order follows Human3.6M's; 54138969 images are 1000x1002
    np.testing.assert_array_equal(p["camera"], [0] * 4 + [1] * 4)
    np.testing.assert_array_equal(p["res_h"], [1002] * 4 + [1000] * 4)
    np.testing.assert_array_equal(p["frame"], [75, 80, 85, 90] * 2)
    c3 = cams["54138969"]["camera_3d"][:, 0]
    np.testing.assert_allclose(p["y3d"][:4], c3 - c3[:, 11:12], atol=1e-6)  # metres kept
    px = screen_to_pixels(torch.from_numpy(p["x2d"][:4]).double(), 1000, 1002).numpy()
    np.testing.assert_allclose(px, cams["54138969"]["pose_2d"][:, 0], atol=1e-3)
    with pytest.raises(DataNotFoundError):
        h3wb_pairs(tmp_path / "missing.npz")

"""The embedded CMU set shipped with the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from sealloss.data import EMBEDDED_FILE, load_embedded, sliding_windows
from sealloss.errors import DataNotFoundError, PoseShapeError
from sealloss.pose.canonical import screen_to_pixels
from sealloss.pose.kinematics import bone_lengths


@pytest.fixture(scope="module")
def full():
    return load_embedded(None)


def test_file_small_and_acknowledged():
    assert EMBEDDED_FILE.is_file()
    assert EMBEDDED_FILE.stat().st_size < 3 * 1024 * 1024
    readme = (EMBEDDED_FILE.parent / "README.md").read_text()
    assert "The data used in this project was obtained from mocap.cs.cmu.edu." in readme
    assert "NSF EIA-0196217" in readme


def test_splits(full):
    tr, te = load_embedded("train"), load_embedded("test")
    assert set(te["clip"]) == {"02_01"} and "02_01" not in set(tr["clip"])
    assert set(te["subject"]).isdisjoint(set(tr["subject"]))  # held-out person
    assert tr["x2d"].shape[0] + te["x2d"].shape[0] == full["x2d"].shape[0]
    assert full["x2d"].shape[1:] == (17, 2) and full["y3d"].shape[1:] == (17, 3)
    assert set(full["camera"]) == {0, 1, 2, 3}
    with pytest.raises(PoseShapeError):
        load_embedded("val")
    with pytest.raises(DataNotFoundError, match="build_embedded_cmu"):
        load_embedded(path=Path("/nonexistent/cmu.npz"))


def test_geometry(full):
    y = full["y3d"]
    assert np.all(y[:, 0] == 0) and np.isfinite(y).all()
    # 30 fps from 120 Hz: consecutive rows of a video are 4 source frames apart
    same = (np.diff(full["seq_id"]) == 0) & (np.diff(full["camera"]) == 0)
    assert set(np.diff(full["frame"])[same]) == {4}
    # rigid CMU bones: every bone length constant within a clip (float32 storage)
    for clip in np.unique(full["clip"]):
        m = full["clip"] == clip
        lengths = bone_lengths(torch.from_numpy(y[m]).double(), "h36m17").numpy()
        assert (lengths.max(0) - lengths.min(0)).max() < 2e-5, clip
    # x2d is the pinhole projection of y3d + root_cam (f = 1150 px, centre 500, 1000x1000)
    x = (y + full["root_cam"][:, None]).astype(np.float64)
    px = screen_to_pixels(torch.from_numpy(full["x2d"]).double(), 1000, 1000).numpy()
    np.testing.assert_allclose(px, x[..., :2] / x[..., 2:] * 1150.0 + 500.0, atol=1e-2)
    assert (np.abs(full["x2d"]) < 1).all()
    assert 4.0 < full["root_cam"][:, 2].min() and full["root_cam"][:, 2].max() < 9.0


def test_windows_on_embedded():
    te = load_embedded("test")
    w = sliding_windows(te, T=9)
    assert w["x2d"].shape == (te["x2d"].shape[0], 9, 17, 2)
    assert np.all(te["camera"][w["index"]] == w["camera"][:, None])


def test_rebuild_is_reproducible(data_root, tmp_path):
    if not (data_root / "cmu" / "bvh_mb" / "02_01.bvh").is_file():
        pytest.skip("CMU BVH clips not in the shared data folder")
    script = Path(__file__).resolve().parents[1] / "bench" / "build_embedded_cmu.py"
    spec = importlib.util.spec_from_file_location("build_embedded_cmu", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "cmu.npz"
    mod.build(data_root / "cmu", out)
    with np.load(out) as a, np.load(EMBEDDED_FILE) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            if a[k].dtype.kind == "f":  # floating point may differ in the last bits elsewhere
                np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-5, err_msg=k)
            else:
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)

"""Sliding windows: shapes, edge padding and video boundaries (synthetic pairs)."""

from __future__ import annotations

import numpy as np
import pytest

from sealloss.data import sliding_windows, video_bounds, window_index
from sealloss.errors import PoseShapeError


def _pairs(lengths=(5, 3), cams=(0, 1)):
    seq, cam, frame = [], [], []
    for s, n in enumerate(lengths):
        for c in cams:
            seq += [s] * n
            cam += [c] * n
            frame += list(range(n))
    n = len(seq)
    x = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 17, 2), np.float32)
    return {
        "x2d": x,
        "y3d": np.repeat(x[..., :1], 3, -1),
        "root_cam": np.zeros((n, 3), np.float32),
        "seq_id": np.asarray(seq),
        "camera": np.asarray(cam),
        "frame": np.asarray(frame),
        "subject": np.array(["S1"] * n),
    }


def test_video_bounds():
    p = _pairs()
    np.testing.assert_array_equal(video_bounds(p), [[0, 5], [5, 10], [10, 13], [13, 16]])
    bad = {k: v[np.r_[0:3, 5:10, 3:5, 10:16]] for k, v in p.items()}
    with pytest.raises(PoseShapeError, match="not grouped"):
        video_bounds(bad)


def test_edge_padding_by_hand():
    p = _pairs()
    idx = window_index(p, T=3)
    assert idx.shape == (16, 3)
    # first video rows 0..4: centre 0 pads with itself, centre 4 pads at the end
    np.testing.assert_array_equal(idx[:5], [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4],
                                            [3, 4, 4]])
    # second video (same sequence, camera 1) starts at row 5 and never reaches into row 4
    np.testing.assert_array_equal(idx[5], [5, 5, 6])
    # every window stays inside its own video
    b = video_bounds(p)
    vid = np.searchsorted(b[:, 0], idx, side="right") - 1
    assert np.all(vid == vid[:, :1])
    # even T: T // 2 frames before the target, T // 2 - 1 after
    np.testing.assert_array_equal(window_index(p, T=4)[2], [0, 1, 2, 3])


def test_no_padding_and_stride():
    p = _pairs()
    idx = window_index(p, T=3, pad=None)
    # videos of 5 frames give 3 full windows, of 3 frames give 1
    assert idx.shape == (3 + 3 + 1 + 1, 3)
    np.testing.assert_array_equal(idx[0], [0, 1, 2])
    idx2 = window_index(p, T=1, stride=2)
    np.testing.assert_array_equal(idx2[:, 0], [0, 2, 4, 5, 7, 9, 10, 12, 13, 15])
    assert window_index(p, T=9, pad=None).shape == (0, 9)


def test_sliding_windows_gathers():
    p = _pairs()
    w = sliding_windows(p, T=5, stride=2)
    m = w["index"].shape[0]
    assert w["x2d"].shape == (m, 5, 17, 2) and w["y3d"].shape == (m, 5, 17, 3)
    assert w["root_cam"].shape == (m, 5, 3) and w["subject"].shape == (m,)
    np.testing.assert_array_equal(w["x2d"][:, :, 0, 0], w["index"])
    np.testing.assert_array_equal(w["frame"], p["frame"][w["center"]])
    np.testing.assert_array_equal(w["center"], w["index"][:, 2])
    with pytest.raises(PoseShapeError):
        sliding_windows(p, T=0)
    with pytest.raises(PoseShapeError):
        sliding_windows(p, T=3, pad="zeros")


def test_windows_on_h36m(h36m_root):
    from sealloss.data import h36m_pairs

    p = h36m_pairs("S11", root=h36m_root, actions=["Walking"], cameras=[0, 1])
    w = sliding_windows(p, T=27, stride=10)
    assert w["x2d"].shape[1:] == (27, 17, 2)
    # within a window: one sequence and one camera, frames step by 5 (10 Hz) or repeat at edges
    seq = p["seq_id"][w["index"]]
    cam = p["camera"][w["index"]]
    assert np.all(seq == seq[:, :1]) and np.all(cam == cam[:, :1])
    assert set(np.unique(np.diff(p["frame"][w["index"]], axis=1))) <= {0, 5}

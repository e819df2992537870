"""Temporal metrics (sealloss.metrics.temporal): bone-length spread per clip, MPJVE and
acceleration error in real time (frame indices and fps, not row order), per action.

New module: every test here failed before it existed (ImportError). The ones that would also
fail on a row-order implementation: the sparse-frame and shuffled-row tests.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sealloss.errors import PoseShapeError
from sealloss.metrics import (
    acceleration_error,
    bone_length_spread,
    clip_index,
    evaluate,
    evaluate_temporal,
    join_results,
    mpjve,
)
from sealloss.pose.kinematics import bone_lengths
from sealloss.pose.skeleton import get_skeleton

SK = get_skeleton("h36m17")


def _poses(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(n, 17, 3, generator=g, dtype=torch.float64) * 0.2
    y[:, 0] = 0
    return y


def test_clip_index_orders_by_frame_and_groups_composite_ids():
    clips = np.array([[3, 1], [3, 0], [3, 1], [2, 1], [3, 1]])
    frames = np.array([10, 0, 0, 5, 5])
    ix = clip_index(clips, frames, fps=5.0)
    assert ix.num_clips == 3 and ix.labels == [(2, 1), (3, 0), (3, 1)]
    np.testing.assert_array_equal(ix.rows(2), [2, 4, 0])  # (3, 1) in frame order 0, 5, 10
    a, b, dt = ix.pairs()
    assert sorted(zip(a.tolist(), b.tolist())) == [(2, 4), (4, 0)]
    np.testing.assert_allclose(dt, [1.0, 1.0])


def test_duplicate_frame_in_a_clip_names_the_clip():
    with pytest.raises(PoseShapeError, match=r"clip 7 has frame 5 twice.*camera"):
        clip_index([7, 7, 8], [5, 5, 5])
    with pytest.raises(PoseShapeError, match="one frame index per row"):
        clip_index([1, 1], [0])
    with pytest.raises(ValueError, match="fps"):
        clip_index([1, 1], [0, 1], fps=0.0)


def test_bone_length_spread_matches_a_loop_and_skips_single_sample_clips():
    y = _poses(11)
    clips = np.array([0] * 5 + [1] * 5 + [2])
    got = bone_length_spread(y, clips, SK, reduction="none", per_bone=True)
    ln = bone_lengths(y, SK).numpy()
    for c in (0, 1):
        np.testing.assert_allclose(got[c].numpy(), ln[clips == c].std(0), rtol=1e-10)
    assert torch.isnan(got[2]).all()
    mean = bone_length_spread(y, clips, SK)
    np.testing.assert_allclose(float(mean), ln[clips == 0].std(0).mean() / 2
                               + ln[clips == 1].std(0).mean() / 2, rtol=1e-10)
    # rows' order does not matter
    perm = torch.randperm(11, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(bone_length_spread(y[perm], clips[perm.numpy()], SK), mean)


def test_rigid_motion_has_no_spread():
    y = _poses(1).expand(6, 17, 3).clone()
    ang = torch.linspace(0, 1, 6, dtype=torch.float64)
    rot = torch.zeros(6, 3, 3, dtype=torch.float64)
    rot[:, 0, 0] = rot[:, 1, 1] = ang.cos()
    rot[:, 0, 1], rot[:, 1, 0] = -ang.sin(), ang.sin()
    rot[:, 2, 2] = 1
    moved = y @ rot.transpose(1, 2)
    assert float(bone_length_spread(moved, [0] * 6, SK)) < 1e-12


def test_velocity_uses_real_time_gaps_of_sparse_clips():
    # constant velocities: pred moves at v_p, gt at v_g; frames are sparse and uneven
    frames = np.array([0, 5, 20, 25, 60])
    t = torch.as_tensor(frames / 50.0)[:, None, None]
    v_p = torch.full((17, 3), 0.3, dtype=torch.float64)
    v_g = torch.zeros(17, 3, dtype=torch.float64)
    base = _poses(1)
    pred, gt = base + t * v_p, base + t * v_g
    want = float(v_p.norm(dim=-1).mean())
    err = mpjve(pred, gt, [0] * 5, frames, fps=50.0, reduction="none")
    torch.testing.assert_close(err, torch.full((4,), want, dtype=torch.float64))
    # rows in any order: the frames decide
    perm = [3, 0, 4, 2, 1]
    torch.testing.assert_close(mpjve(pred[perm], gt[perm], [0] * 5, frames[perm], 50.0),
                               torch.tensor(want, dtype=torch.float64))
    # fps scales the rate
    torch.testing.assert_close(mpjve(pred, gt, [0] * 5, frames, 100.0),
                               torch.tensor(2 * want, dtype=torch.float64))
    with pytest.raises(PoseShapeError, match="frames"):
        mpjve(pred, gt, [0] * 5)


def test_acceleration_of_a_parabola_with_uneven_gaps():
    frames = np.array([0, 5, 20, 25, 60, 61])
    t = torch.as_tensor(frames / 50.0)[:, None, None]
    a = torch.zeros(17, 3, dtype=torch.float64)
    a[1:, 2] = 2.0  # m/s^2 along z on every non-root joint
    base = _poses(1)
    pred = base + 0.5 * a * t**2
    gt = base + 0.7 * t  # constant velocity: no acceleration
    err = acceleration_error(pred, gt, [0] * 6, frames, 50.0, reduction="none")
    torch.testing.assert_close(err, torch.full((4,), 2.0 * 16 / 17, dtype=torch.float64))


def test_differences_never_cross_clips():
    # a different constant offset per clip: no motion inside a clip, a jump between clips
    gt = _poses(1).expand(8, 17, 3).clone()
    pred = gt.clone()
    pred[4:] += 0.5
    clips = [0] * 4 + [1] * 4
    frames = list(range(4)) * 2
    assert float(mpjve(pred, gt, clips, frames, 1.0)) == 0.0
    assert float(acceleration_error(pred, gt, clips, frames, 1.0)) == 0.0
    assert float(mpjve(pred, gt, [0] * 8, list(range(8)), 1.0)) > 0


def test_evaluate_temporal_in_mm_per_action_and_joined():
    y = _poses(12)
    pred = y + 0.01 * torch.randn(12, 17, 3, generator=torch.Generator().manual_seed(2),
                                  dtype=torch.float64)
    pred[:, 0] = 0  # root-relative, as the evaluation makes them
    clips = np.array([0] * 6 + [1] * 6)
    frames = np.tile(np.arange(6) * 5, 2)
    acts = np.array(["Walk"] * 6 + ["Sit"] * 6)
    res = evaluate_temporal(pred, y, SK, clips, frames, 50.0, actions=acts)
    assert list(res.summary) == ["BoneStd", "BoneStd_gt", "MPJVE", "AccErr"]
    want_v = float(mpjve(pred, y, clips, frames, 50.0)) * 1000
    assert res.summary["MPJVE"] == pytest.approx(want_v, rel=1e-9)
    walk = float(mpjve(pred[:6], y[:6], clips[:6], frames[:6], 50.0)) * 1000
    assert res.per_action["Walk"]["MPJVE"] == pytest.approx(walk, rel=1e-9)
    assert res.per_action_count == {"Sit": 6, "Walk": 6}
    want_s = float(bone_length_spread(pred, clips, SK)) * 1000
    assert res.summary["BoneStd"] == pytest.approx(want_s, rel=1e-9)
    # mm input gives the same report
    mm = evaluate_temporal(pred * 1000, y * 1000, SK, clips, frames, 50.0, actions=acts,
                           units="mm")
    assert mm.summary["AccErr"] == pytest.approx(res.summary["AccErr"], rel=1e-9)
    both = join_results(evaluate(pred, y, SK, actions=acts), res)
    assert {"MPJPE", "BoneStd", "MPJVE"} <= set(both.summary)
    assert {"MPJPE", "AccErr"} <= set(both.per_action["Sit"])
    assert "AccErr" in both.table()
    with pytest.raises(ValueError, match="rows"):
        join_results(evaluate(pred[:5], y[:5], SK), res)


def test_a_clip_that_changes_action_is_split():
    y = _poses(6)
    pred = y.clone()
    pred[3:, 1:] += 0.2  # a jump exactly where the action changes
    acts = ["A"] * 3 + ["B"] * 3
    res = evaluate_temporal(pred, y, SK, [0] * 6, range(6), 10.0, actions=acts)
    assert res.summary["MPJVE"] == pytest.approx(0.0, abs=1e-9)
    assert evaluate_temporal(pred, y, SK, [0] * 6, range(6), 10.0).summary["MPJVE"] > 100

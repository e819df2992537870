"""Clip refinement (sealloss.posthoc.clip_refinement, refine(..., clips=)) and its temporal rivals.

New module and a new refine() argument: every test here failed before them (ImportError, or
TypeError on ``clips=``). The bench test checks that bench/clip_refinement.py never reads the
ground truth to make its poses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sealloss.errors import PoseShapeError
from sealloss.metrics import bone_length_spread
from sealloss.nn import MLPLossNet
from sealloss.pose.kinematics import bone_lengths
from sealloss.pose.priors import BONE_LENGTH_PRIORS, bone_length_prior
from sealloss.pose.skeleton import get_skeleton
from sealloss.posthoc.clip_refinement import (
    ClipRefineResult,
    ClipSettings,
    clip_median_lengths,
    median_bones_moving_average,
    moving_average,
    refine_clips,
    weak_perspective_residual,
)
from sealloss.posthoc.refinement import refine, sequence_median_bones, symmetrise_bones

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

SK = get_skeleton("h36m17")


def _target(seed=0):
    """A fixed pose with symmetric bone lengths (reachable with shared symmetric lengths)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(17, 3, generator=g) * 0.25
    t[0] = 0
    return symmetrise_bones(t, SK)


class _Pull(MLPLossNet):
    """Energy: squared distance of the root-relative pose to a fixed target pose."""

    def __init__(self, target, scale=1.0):
        super().__init__("h36m17", width=4, blocks=0)
        self.target, self.scale = target, scale

    def _energy(self, x2d, y3d, per_joint):
        rel = y3d - y3d[..., :1, :]
        return self.scale * (rel - self.target).pow(2).sum((-1, -2)), None


def _clips(sizes=(5, 7, 4), seed=0, noise=0.03):
    """Poses near a target with per-frame bone-length noise, clips and sparse frames."""
    g = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    target = _target()
    y = target + noise * torch.randn(n, 17, 3, generator=g)
    y = y + torch.randn(n, 1, 3, generator=g)  # the root anywhere; never moved
    x = torch.randn(n, 17, 2, generator=g) * 0.3
    clips = np.repeat(np.arange(len(sizes)) * 10 + 3, sizes)
    frames = np.concatenate([np.cumsum(1 + np.arange(s) % 3) * 5 for s in sizes])
    return x, y, clips, frames, target


KW = {"steps": 40, "lr": 0.01, "pull": 0.0}


def test_root_fixed_lengths_shared_and_energy_down():
    x, y, clips, frames, target = _clips()
    net = _Pull(target)
    st = ClipSettings(w2d=0.0, smooth=0.0, prior_weight=0.0)
    r = refine_clips(net, x, y, clips, frames, settings=st, **KW)
    assert isinstance(r, ClipRefineResult)
    assert torch.equal(r.poses[:, 0], y[:, 0])
    before = float(bone_length_spread(y, clips, SK))
    after = float(bone_length_spread(r.poses, clips, SK))
    assert before > 0.01 and after < 1e-5
    assert (r.energy_after < r.energy_before).all()
    assert r.ms_per_1000 > 0 and r.lengths.shape == (3, len(SK.bones))
    # symmetric lengths: each pair has one length
    for left, right in SK.symmetric_bone_pairs:
        torch.testing.assert_close(r.lengths[:, left], r.lengths[:, right])
    free = refine_clips(net, x, y, clips, frames,
                        settings=ClipSettings(w2d=0.0, smooth=0.0, symmetric=False,
                                                      prior_weight=0.0), **KW)
    left, right = SK.symmetric_bone_pairs[0]
    assert not torch.allclose(free.lengths[:, left], free.lengths[:, right])


def test_lengths_start_at_the_clip_median_and_zero_steps_is_identity():
    x, y, clips, frames, target = _clips()
    net = _Pull(target)
    torch.testing.assert_close(
        bone_lengths(sequence_median_bones(y, clips, SK), SK),
        clip_median_lengths(y, clips, SK), atol=1e-5, rtol=1e-5)
    r = refine_clips(net, x, y, clips, frames, steps=0, lr=0.01, pull=0.0)
    assert torch.equal(r.poses, y)
    one = refine_clips(net, x, y, clips, frames, steps=1, lr=1e-9, pull=0.0,
                       settings=ClipSettings(w2d=0.0, smooth=0.0, length_lr=1e-9,
                                             prior_weight=0.0), snapshots=(0, 1))
    torch.testing.assert_close(one.poses, sequence_median_bones(y, clips, SK), atol=1e-5,
                               rtol=1e-5)
    assert torch.equal(one.snapshots[0], y) and torch.equal(one.snapshots[1], one.poses)


def test_a_prior_sets_where_the_lengths_start_and_length_lr_zero_holds_them():
    x, y, clips, frames, target = _clips()
    net = _Pull(target)
    prior = bone_length_prior(SK)
    med = clip_median_lengths(y, clips, SK)  # (N, B)
    half = clip_median_lengths(y, clips, SK, prior_weight=0.5)
    torch.testing.assert_close(half, 0.5 * med + 0.5 * prior, atol=1e-6, rtol=1e-6)
    held = ClipSettings(w2d=1.0, smooth=0.0, prior_weight=1.0, length_lr=0.0)
    r = refine_clips(net, x, y, clips, frames, settings=held, **KW)
    torch.testing.assert_close(r.lengths, prior.expand_as(r.lengths), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(bone_lengths(r.poses, SK), prior.expand(len(y), -1), atol=1e-5,
                               rtol=1e-5)
    # a given prior wins over the shipped one; with length_lr > 0 the lengths move from it
    own = tuple(float(v) * 1.1 for v in prior)
    moved = refine_clips(net, x, y, clips, frames, settings=ClipSettings(
        w2d=0.0, smooth=0.0, prior_weight=1.0, prior=own), **KW)
    assert not torch.allclose(moved.lengths, torch.tensor(own).expand_as(moved.lengths))
    start = refine_clips(net, x, y, clips, frames, steps=1, lr=1e-9, pull=0.0, settings=(
        ClipSettings(w2d=0.0, smooth=0.0, prior_weight=1.0, prior=own, length_lr=1e-9)))
    torch.testing.assert_close(start.lengths, torch.tensor(own).expand_as(start.lengths),
                               atol=1e-6, rtol=1e-6)


def test_per_pose_terms_without_clips_refine_each_pose_alone():
    """clip= without clips=: every pose its own clip (own lengths from the prior, own 2D term)."""
    x, y, clips, frames, target = _clips()
    net = _Pull(target)
    held = ClipSettings(w2d=1.0, smooth=0.0, prior_weight=1.0, length_lr=0.0)
    r = refine(net, x, y, clip=held, **KW)
    assert isinstance(r, ClipRefineResult) and r.lengths.shape == (len(y), len(SK.bones))
    torch.testing.assert_close(bone_lengths(r.poses, SK),
                               bone_length_prior(SK).expand(len(y), -1), atol=1e-5, rtol=1e-5)
    assert torch.equal(r.poses[:, 0], y[:, 0])
    # the same as refining every pose alone, one at a time
    one = refine(net, x[3:4], y[3:4], clip=held, **KW)
    torch.testing.assert_close(one.poses, r.poses[3:4], atol=1e-5, rtol=1e-5)
    # a pose's lengths follow its own 2D: not shared with its clip's other poses
    free = refine(net, x, y, clip=ClipSettings(w2d=1.0, smooth=0.0, prior_weight=0.0), **KW)
    assert not torch.allclose(free.lengths[0], free.lengths[1])
    plain = refine(net, x, y, clip=False, **KW)
    assert not isinstance(plain, ClipRefineResult)
    with pytest.raises(ValueError, match="smoothness"):
        refine(net, x, y, clip=ClipSettings(smooth=1.0), **KW)
    with pytest.raises(ValueError, match="frames= needs clips="):
        refine(net, x, y, frames=frames, **KW)
    with pytest.raises(ValueError, match="clip=False"):
        refine(net, x, y, clips=clips, clip=False, **KW)
    with pytest.raises(ValueError, match="must be a ClipSettings"):
        refine(net, x, y, clip=True, **KW)


def test_prior_settings_are_checked():
    with pytest.raises(ValueError, match="prior_weight"):
        ClipSettings(prior_weight=1.5)
    with pytest.raises(ValueError, match="length_lr"):
        ClipSettings(length_lr=-1.0)
    with pytest.raises(ValueError, match="16 finite lengths"):
        bone_length_prior("h36m17", [0.1] * 15)
    with pytest.raises(ValueError, match="16 finite lengths"):
        bone_length_prior("h36m17", [0.1] * 15 + [0.0])
    with pytest.raises(ValueError, match="no bone-length prior ships"):
        bone_length_prior("humaneva15")


def test_the_shipped_prior_is_the_training_subjects_mean(h36m_root):
    """BONE_LENGTH_PRIORS["h36m17"] = the mean GT bone lengths of S1/S5/S6/S7/S8 (every 10th
    frame), symmetric pairs averaged: what bench/clip_refinement.py computes for the test split."""
    from clip_refinement import training_prior

    from sealloss.data import load_h36m

    ds = load_h36m(h36m_root)
    got = training_prior(ds, validate=False)
    np.testing.assert_allclose(got, BONE_LENGTH_PRIORS["h36m17"], atol=6e-5)
    assert not np.allclose(training_prior(ds, validate=True), got, atol=1e-3)  # S8-free differs


def test_test_settings_merge_per_method_with_the_later_file_winning(tmp_path):
    """bench/clip_refinement.py --split test --settings A B: each method's setting comes from the
    last file that chose it (round 4's clip terms, round 5's per-frame settings)."""
    import json

    from clip_refinement import merged_settings

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"settings": {"clip refinement": {"w2d": 1.0},
                                          "per-frame refinement": {"lr": 1.0}}}))
    b.write_text(json.dumps({"settings": {"per-frame refinement": {"lr": 2.0}}}))
    assert merged_settings([str(a), str(b)]) == {"clip refinement": {"w2d": 1.0},
                                                 "per-frame refinement": {"lr": 2.0}}
    assert merged_settings([str(b), str(a)])["per-frame refinement"] == {"lr": 1.0}


def test_batching_by_clip_is_the_same_as_one_clip_at_a_time():
    x, y, clips, frames, target = _clips()
    net = _Pull(target)
    st = ClipSettings(w2d=10.0, smooth=1e-3)
    kw = dict(KW, pull=10.0)
    whole = refine_clips(net, x, y, clips, frames, settings=st, batch_size=4096, **kw)
    alone = refine_clips(net, x, y, clips, frames, settings=st, batch_size=1, **kw)
    torch.testing.assert_close(alone.poses, whole.poses, atol=1e-6, rtol=1e-6)
    for c in np.unique(clips):
        s = clips == c
        one = refine_clips(net, x[s], y[s], clips[s], frames[s], settings=st, **kw)
        torch.testing.assert_close(one.poses, whole.poses[torch.from_numpy(s)], atol=1e-6,
                                   rtol=1e-6)


def test_frame_order_not_row_order():
    x, y, clips, frames, target = _clips()
    net = _Pull(target)
    st = ClipSettings(w2d=1.0, smooth=1e-2)
    r = refine_clips(net, x, y, clips, frames, settings=st, **KW)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(3))
    p = refine_clips(net, x[perm], y[perm], clips[perm.numpy()], frames[perm.numpy()],
                     settings=st, **KW)
    torch.testing.assert_close(p.poses, r.poses[perm], atol=1e-6, rtol=1e-6)


class _Zero(MLPLossNet):
    def __init__(self):
        super().__init__("h36m17", width=4, blocks=0)

    def _energy(self, x2d, y3d, per_joint):
        return (y3d * 0).sum((-1, -2)), None


def test_frame_gaps_change_the_smoothness():
    g = torch.Generator().manual_seed(0)
    base = _target() + 0.01 * torch.randn(6, 17, 3, generator=g)
    base[3:, 1:] += 0.05  # a move between the 3rd and 4th sample
    x = torch.randn(6, 17, 2, generator=g) * 0.3
    y = torch.cat([base, base])
    clips = np.repeat([0, 1], 6)
    frames = np.r_[np.arange(6) * 5, [0, 5, 10, 200, 205, 210]]  # clip 1 has a 3.8 s gap
    kw = {"steps": 60, "lr": 0.003, "pull": 100.0}
    st = ClipSettings(w2d=0.0, smooth=10.0)  # at 0.1 s gaps as strong as the pull
    r = refine_clips(_Zero(), torch.cat([x, x]), y, clips, frames, settings=st, **kw)

    def jump(p):
        return float((p[3] - p[2]).norm(dim=-1).mean())

    assert jump(r.poses[:6]) < 0.7 * jump(r.poses[6:])  # the gap is smoothed much less
    flat = refine_clips(_Zero(), torch.cat([x, x]), y, clips, frames,
                        settings=ClipSettings(w2d=0.0, smooth=0.0), **kw)
    torch.testing.assert_close(flat.poses[:6] - flat.poses[:6, :1],
                               flat.poses[6:] - flat.poses[6:, :1], atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="frames"):
        refine_clips(_Zero(), x, base, [0] * 6, None, settings=st, **kw)


def test_two_d_term_is_scale_free_and_is_lowered():
    target = _target()
    x_exact = target[:, :2] * 0.4 + 0.1
    assert float(weak_perspective_residual(x_exact, target)) < 1e-10
    x, y, clips, frames, _ = _clips()
    r1 = weak_perspective_residual(x, y)
    torch.testing.assert_close(weak_perspective_residual(3 * x, 0.5 * y), r1)
    r = refine_clips(_Zero(), x, y, clips, frames, steps=60, lr=0.01, pull=0.0,
                     settings=ClipSettings(w2d=1.0, smooth=0.0))
    assert float(weak_perspective_residual(x, r.poses).mean()) < 0.5 * float(r1.mean())


def test_refine_dispatches_on_clips():
    x, y, clips, frames, target = _clips()
    net = _Pull(target)
    st = ClipSettings(w2d=0.0, smooth=0.0)
    a = refine(net, x, y, clips=clips, frames=frames, clip=st, **KW)
    b = refine_clips(net, x, y, clips, frames, settings=st, **KW)
    assert isinstance(a, ClipRefineResult)
    torch.testing.assert_close(a.poses, b.poses)
    with pytest.raises(ValueError, match="clips="):
        refine(net, x, y, frames=frames, **KW)
    with pytest.raises(PoseShapeError, match="twice"):
        refine(net, x, y, clips=[0] * len(y), frames=[0] * len(y), **KW)
    with pytest.raises(ValueError, match="w2d"):
        ClipSettings(w2d=-1.0)


def test_moving_average_respects_gaps_and_clips():
    t = np.array([0, 5, 10, 15, 100, 105])
    y = _target().expand(6, 17, 3).clone()
    y[:, 1:, 0] += torch.as_tensor(t / 50.0, dtype=torch.float32)[:, None]  # linear in time
    y[:, 0] += 3.0
    out = moving_average(y, [0] * 6, t, fps=50.0, half_window=0.1)
    torch.testing.assert_close(out[:, 0], y[:, 0])
    # interior samples of a linear motion are unchanged; the isolated pair averages only itself
    torch.testing.assert_close(out[1:3], y[1:3], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out[4], (y[4] + y[5]) / 2, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(moving_average(y, [0] * 6, t, half_window=0.0), y)
    # two clips never mix
    two = moving_average(torch.cat([y, y + 1]), [0] * 6 + [1] * 6, np.r_[t, t], 50.0, 0.1)
    torch.testing.assert_close(two[6:] - 1, out, atol=1e-5, rtol=1e-5)
    mb = median_bones_moving_average(y, [0] * 6, t, 50.0, 0.1)
    assert float(bone_length_spread(mb, [0] * 6, SK)) < 1e-6
    torch.testing.assert_close(bone_lengths(mb[:1], SK), clip_median_lengths(y, [0] * 6, SK)[:1],
                               atol=1e-5, rtol=1e-5)


def test_bench_methods_never_read_the_ground_truth():
    from clip_refinement import run_methods

    x, y, clips, frames, target = _clips()
    net = _Pull(target, scale=0.1)
    settings = {"moving average": {"half_window": 0.1},
                "median bones + moving average": {"half_window": 0.1},
                "per-frame refinement": {"steps": 5, "lr": 0.01, "pull": 0.0},
                "prior bones + moving average": {"half_window": 0.1, "prior_weight": 0.5},
                "per-frame refinement + prior": {"steps": 5, "lr": 0.01, "pull": 0.0,
                                                 "w2d": 1.0, "smooth": 0.0, "prior_weight": 1.0,
                                                 "length_lr": None},
                "clip refinement": {"steps": 5, "lr": 0.01, "pull": 0.0, "w2d": 1.0,
                                    "smooth": 1e-3, "prior_weight": 0.5, "length_lr": 0.0}}
    s = {"x2d": x, "y3d": y, "clips": clips, "frames": frames,
         "prior": tuple(float(v) for v in BONE_LENGTH_PRIORS["h36m17"])}
    a, _ = run_methods(net, s, y + 0.01, settings, fps=50.0)
    s["y3d"] = torch.full_like(y, float("nan"))
    b, _ = run_methods(net, s, y + 0.01, settings, fps=50.0)
    assert set(a) == {"plain", "median bones", "moving average", "median bones + moving average",
                      "prior bones + moving average", "per-frame refinement",
                      "per-frame refinement + prior", "clip refinement",
                      "clip refinement without the energy"}
    for k in a:
        assert torch.isfinite(b[k]).all()
        torch.testing.assert_close(a[k], b[k])


# --------------------------------------------------------------------------- command line
def _cli(capsys, *argv):
    from sealloss.cli.main import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from sealloss.io.weights import save_lossnet

    torch.manual_seed(0)
    net = MLPLossNet("h36m17", width=16, blocks=1)
    return save_lossnet(net, tmp_path_factory.mktemp("w") / "tiny.safetensors")


def test_cli_refine_clip_key_then_evaluate_temporal(tmp_path, tiny_weights, capsys):
    import json

    x, y, clips, frames, target = _clips()
    y = y - y[:, :1]
    gt = (target + torch.zeros_like(y)).numpy()
    np.savez(tmp_path / "in.npz", x2d=x.numpy(), pred=y.numpy(), gt=gt,
             seq_id=clips // 10, camera=clips % 10, frame=frames,
             action=np.where(clips < 10, "Walk", "Sit"))
    rc, out, err = _cli(capsys, "refine", tmp_path / "in.npz", "--out", tmp_path / "r.npz",
                        "--weights", tiny_weights, "--steps", 3, "--clip-key", "seq_id",
                        "camera", "--smooth", 1.0, "--no-progress")
    assert rc == 0, err
    assert "3 clips" in out
    with np.load(tmp_path / "r.npz") as z:
        pred = torch.from_numpy(z["pred"])
        np.testing.assert_array_equal(z["frame"], frames)
    assert float(bone_length_spread(pred, clips, SK)) < 1e-5
    rc, out, err = _cli(capsys, "evaluate", tmp_path / "r.npz", "--clip-key", "seq_id", "camera",
                        "--fps", 50, "--json", tmp_path / "m.json")
    assert rc == 0, err
    res = json.loads((tmp_path / "m.json").read_text())
    assert res["summary"]["BoneStd"] < 0.01 and res["summary"]["BoneStd_gt"] < 1e-3
    assert {"MPJPE", "MPJVE", "AccErr"} <= set(res["per_action"]["Walk"])
    rc, _, err = _cli(capsys, "evaluate", tmp_path / "in.npz", "--clip-key", "seq_id",
                      "camera", "--fps", 50, "--json", tmp_path / "m0.json")
    assert rc == 0, err
    assert json.loads((tmp_path / "m0.json").read_text())["summary"]["BoneStd"] > 10
    # bad input: named, nothing written
    rc, _, err = _cli(capsys, "refine", tmp_path / "in.npz", "--out", tmp_path / "bad.npz",
                      "--weights", tiny_weights, "--clip-key", "sequence")
    assert rc == 2 and "'sequence'" in err and "seq_id" in err
    assert not (tmp_path / "bad.npz").exists()
    rc, _, err = _cli(capsys, "evaluate", tmp_path / "in.npz", "--clip-key", "seq_id")
    assert rc == 2 and "--fps" in err
    rc, _, err = _cli(capsys, "refine", tmp_path / "in.npz", "--out", tmp_path / "bad.npz",
                      "--weights", tiny_weights, "--smooth", 1.0)
    assert rc == 2 and "--clip-key" in err


def test_cli_round_trip_on_videopose3d_files(tmp_path, tiny_weights, capsys):
    import json

    from test_data_vp3d import cmu_vp3d_set

    from sealloss.data.vp3d import vp3d_pairs

    p2, p3, pc = cmu_vp3d_set(tmp_path)
    sel = ["--subjects", "02_01", "131_03", "--every", "4"]
    rows = vp3d_pairs(p2, p3, pc, subjects=["02_01", "131_03"], every=4)
    g = np.random.default_rng(0)
    scale = 1 + 0.1 * g.standard_normal((len(rows["y3d"]), 1, 1)).astype(np.float32)
    np.savez(tmp_path / "pred.npz", pred=rows["y3d"] * scale)  # bone lengths vary per frame
    base = [p2, "--format", "vp3d", "--vp3d-3d", p3, "--cameras", pc, *sel]
    rc, _, err = _cli(capsys, "refine", *base, "--pred", tmp_path / "pred.npz", "--out",
                      tmp_path / "r.npz", "--weights", tiny_weights, "--steps", 2,
                      "--clip-key", "seq_id", "camera", "--no-progress")
    assert rc == 0, err
    rc, _, err = _cli(capsys, "evaluate", tmp_path / "r.npz", "--clip-key", "seq_id", "camera",
                      "--fps", 50, "--json", tmp_path / "m.json")
    assert rc == 0, err
    s = json.loads((tmp_path / "m.json").read_text())["summary"]
    assert s["BoneStd"] < 0.01 and np.isfinite(s["MPJVE"])

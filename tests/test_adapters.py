"""Adapters: conversions between upstream tensors and canonical poses (no upstream code needed)."""

from __future__ import annotations

import argparse
import re

import pytest
import torch
from sealloss.adapters import available, get
from sealloss.adapters.base import LAYOUTS, flip_canonical, joints_to_canonical_2d
from sealloss.adapters.family_motionbert import REF_BONE_M, UNIT_M_MEDIAN
from sealloss.adapters.hooks import (
    PassThrough,
    add_arguments,
    from_args,
    save_sidecar,
    sidecar_path,
    state_path,
)
from sealloss.adapters.simplebaseline import SimpleBaselineAdapter

from sealloss.errors import PoseShapeError
from sealloss.pose.canonical import pixels_to_screen
from sealloss.pose.kinematics import bone_lengths
from sealloss.pose.skeleton import get_skeleton

EIGHT = [
    "ktpformer", "mixste", "motionagformer", "motionbert", "poseformer", "poseformerv2",
    "simplebaseline", "videopose3d",
]
VP3D_CENTER = ["videopose3d", "poseformer", "poseformerv2"]
VP3D_SEQ = ["mixste", "ktpformer"]
MB = ["motionbert", "motionagformer"]
SK = get_skeleton("h36m17")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand_pose(*lead: int, seed: int = 0, bone: float = 0.25) -> torch.Tensor:
    """Random root-relative skeleton poses ``(*lead, 17, 3)`` with bones of length ``bone``."""
    g = _gen(seed)
    dirs = torch.randn(*lead, 17, 3, generator=g, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True) * bone
    joints = [torch.zeros(*lead, 3, dtype=torch.float64)]
    for j in range(1, 17):
        joints.append(joints[SK.parents[j]] + dirs[..., j, :])
    return torch.stack(joints, dim=-2).float()


def rand_2d(*lead: int, seed: int = 1) -> torch.Tensor:
    return (torch.rand(*lead, 17, 2, generator=_gen(seed)) * 1.6 - 0.8).float()


def sb_stats(seed: int = 2) -> dict[str, torch.Tensor]:
    g = _gen(seed)
    return dict(
        mean_3d=torch.randn(48, generator=g) * 100,
        std_3d=torch.rand(48, generator=g) * 200 + 50,
        mean_2d=torch.rand(32, generator=g) * 400 + 300,
        std_2d=torch.rand(32, generator=g) * 80 + 20,
    )


def make(name: str, **kw):
    if name == "simplebaseline":
        return get(name, **{**sb_stats(), **kw})
    return get(name, **kw)


def upstream_batch(name: str, seed: int = 0):
    """Random (x, y_hat, y) of the upstream shapes."""
    if name in VP3D_CENTER:
        return rand_2d(2, 27, seed=seed), rand_pose(2, 1, seed=seed), rand_pose(2, 1, seed=seed + 1)
    if name in VP3D_SEQ:
        return rand_2d(2, 9, seed=seed), rand_pose(2, 9, seed=seed), rand_pose(2, 9, seed=seed + 1)
    if name in MB:
        x = torch.cat([rand_2d(2, 9, seed=seed), torch.rand(2, 9, 17, 1, generator=_gen(seed))], -1)
        unit = 1 / UNIT_M_MEDIAN
        return x, rand_pose(2, 9, seed=seed) * unit, rand_pose(2, 9, seed=seed + 1) * unit
    a = make(name)
    return (a.to_upstream_2d(rand_2d(4, seed=seed)), a.to_upstream_3d(rand_pose(4, seed=seed)),
            a.to_upstream_3d(rand_pose(4, seed=seed + 1)))


def ref_kw(name: str, y: torch.Tensor) -> dict:
    return {"ref": y} if name in MB else {}


# --------------------------------------------------------------------------- registry
def test_registry_lists_the_eight_backbones():
    assert available() == EIGHT
    with pytest.raises(KeyError, match="unknown adapter 'nope'"):
        get("nope")


@pytest.mark.parametrize("name", EIGHT)
def test_adapter_metadata(name):
    a = make(name)
    assert a.name == name
    assert re.fullmatch(r"[0-9a-f]{40}", a.commit)
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", a.upstream)
    assert a.layout in LAYOUTS and a.skeleton == "h36m17"
    row = a.describe()
    assert row["commit"] == a.commit and all(row.values())


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", EIGHT)
def test_round_trip_canonical_3d(name):
    a = make(name)
    x, y_hat, y = upstream_batch(name)
    kw = ref_kw(name, y)
    c = a.target_3d(y, **kw)
    assert c.shape[-2:] == (17, 3)
    back = a.to_upstream_3d(c, **kw)
    assert back.shape == y.shape
    # canonical -> upstream -> canonical is exact
    torch.testing.assert_close(a.target_3d(back, **kw), c, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.pred_3d(back, **kw), c, atol=1e-5, rtol=0)
    # upstream -> canonical -> upstream keeps everything but the root offset
    if name in MB:
        torch.testing.assert_close(back, y - y[..., :1, :], atol=1e-5, rtol=0)
    else:
        torch.testing.assert_close(back, y, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", EIGHT)
def test_round_trip_canonical_2d(name):
    a = make(name)
    if name in VP3D_CENTER:
        xc = rand_2d(3, 27)
        up = a.to_upstream_2d(xc)
        assert up.shape == (3, 27, 17, 2)
        torch.testing.assert_close(a.inputs_2d(up), xc[:, 13:14])
    elif name in VP3D_SEQ or name in MB:
        xc = rand_2d(3, 9)
        up = a.to_upstream_2d(xc)
        assert up.shape == (3, 9, 17, 3 if name in MB else 2)
        torch.testing.assert_close(a.inputs_2d(up), xc)
        torch.testing.assert_close(a.to_upstream_2d(a.inputs_2d(up)), up)
    else:
        xc = rand_2d(5)
        up = a.to_upstream_2d(xc)
        assert up.shape == (5, 32)
        back = a.inputs_2d(up)
        keep = [k for k in range(17) if k != 9]
        torch.testing.assert_close(back[:, keep], xc[:, keep], atol=1e-5, rtol=0)
        torch.testing.assert_close(back[:, 9], (xc[:, 8] + xc[:, 10]) / 2, atol=1e-5, rtol=0)
        torch.testing.assert_close(a.to_upstream_2d(back), up, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", EIGHT)
def test_convert_shapes_match(name):
    a = make(name)
    x, y_hat, y = upstream_batch(name)
    b = a.convert(x, y_hat, y)
    assert b.x2d.shape[:-1] == b.pred.shape[:-1] == b.target.shape[:-1]
    assert b.x2d.shape[-1] == 2 and b.pred.shape[-1] == 3
    expected = {"center": (2, 1), "seq2seq": (2, 9), "flat": (4,)}[a.layout]
    assert tuple(b.pred.shape[:-2]) == expected
    assert a.convert(x, y_hat).target is None
    if name in MB:  # scale='gt' needs the target
        with pytest.raises(PoseShapeError, match="needs the target"):
            get(name, scale="gt").convert(x, y_hat)


# --------------------------------------------------------------------------- joint order
def test_vp3d_family_joint_order_is_identity():
    a = get("mixste")
    labels = torch.arange(17.0)[None, None, :, None].expand(1, 2, 17, 3) * 0.01
    labels = labels - labels[..., :1, :]
    out = a.pred_3d(labels.clone())
    assert torch.equal(out[0, 0, :, 0], torch.arange(17.0) * 0.01)


def test_videopose3d_sh_mpii16_input_lands_by_name():
    a = get("videopose3d", keypoints_2d="mpii16")
    mpii = get_skeleton("mpii16")
    x = torch.zeros(1, 3, 16, 2)
    for i in range(16):
        x[..., i, 0] = SK.index(mpii.joint_names[i]) / 100  # label = canonical index
    out = a.inputs_2d(x)
    assert out.shape == (1, 1, 17, 2)
    for k in range(17):
        expect = k / 100 if k != 9 else (8 + 10) / 200  # Neck/Nose: Thorax-Head midpoint
        assert out[0, 0, k, 0].item() == pytest.approx(expect)
    assert a.missing_2d == (9,)
    torch.testing.assert_close(a.to_upstream_2d(out), x[:, 1:2])


def test_simplebaseline_3d_by_hand():
    """z-score 1 with std 100 mm and mean 50 mm is 150 mm = 0.15 m, in the right slot."""
    st = sb_stats()
    a = SimpleBaselineAdapter(torch.full((48,), 50.0), torch.full((48,), 100.0),
                              st["mean_2d"], st["std_2d"])
    y = torch.zeros(1, 48)
    y[0, 3 * 4 + 2] = 1.0  # upstream joint 4 (canonical 5, LKnee), z
    out = a.pred_3d(y)
    assert out.shape == (1, 17, 3)
    assert out[0, 0].abs().max().item() == 0.0  # implicit root
    assert out[0, 5, 2].item() == pytest.approx(0.15)
    assert out[0, 5, 0].item() == pytest.approx(0.05)
    assert out[0, 4, 2].item() == pytest.approx(0.05)


def test_simplebaseline_joint_labels_both_directions():
    a = make("simplebaseline")
    pose = torch.zeros(1, 17, 3)
    pose[0, :, 0] = torch.arange(17.0) / 100
    up = a.to_upstream_3d(pose)
    mm = (up * a.std_3d + a.mean_3d).reshape(16, 3)  # by hand, not through the adapter
    torch.testing.assert_close(mm[:, 0].double(), torch.arange(1.0, 17.0).double() * 10,
                               atol=1e-3, rtol=0)
    px = torch.stack([100.0 + torch.arange(16.0), 200.0 + torch.arange(16.0)], -1)
    x = ((px.reshape(1, 32) - a.mean_2d) / a.std_2d).float()
    out = a.inputs_2d(x)
    canon = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16]
    want = pixels_to_screen(px, 1000.0, 1000.0)
    torch.testing.assert_close(out[0, canon], want, atol=1e-5, rtol=0)
    torch.testing.assert_close(out[0, 9], (want[8] + want[9]) / 2, atol=1e-5, rtol=0)


def test_simplebaseline_accepts_full_length_stats_with_dim_use():
    st = sb_stats()
    full3, full2 = torch.zeros(96, dtype=torch.float64), torch.ones(96, dtype=torch.float64)
    use3 = torch.tensor([d for j in (1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
                         for d in (3 * j, 3 * j + 1, 3 * j + 2)])
    full3[use3] = st["mean_3d"].double()
    full2[use3] = st["std_3d"].double()
    a = SimpleBaselineAdapter(full3, full2, st["mean_2d"], st["std_2d"], dim_use_3d=use3)
    torch.testing.assert_close(a.mean_3d, st["mean_3d"].double())
    with pytest.raises(PoseShapeError, match="expected 48 used dimensions"):
        SimpleBaselineAdapter(full3, full2, st["mean_2d"], st["std_2d"])
    with pytest.raises(PoseShapeError, match="std must be > 0"):
        SimpleBaselineAdapter(st["mean_3d"], torch.zeros(48), st["mean_2d"], st["std_2d"])


def test_simplebaseline_fit_zscores_the_data():
    y = rand_pose(64, seed=5)
    x = rand_2d(64, seed=6)
    a = SimpleBaselineAdapter.fit(x, y)
    up = a.to_upstream_3d(y)
    torch.testing.assert_close(up.mean(0), torch.zeros(48), atol=1e-4, rtol=0)
    torch.testing.assert_close(up.std(0), torch.ones(48), atol=1e-4, rtol=0)
    torch.testing.assert_close(a.target_3d(up), y, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- units
def test_vp3d_family_units_are_metres():
    y = rand_pose(2, 1)
    torch.testing.assert_close(get("poseformer").target_3d(y), y)


def test_motionbert_constant_scale():
    a = get("motionbert", scale="constant")
    y = rand_pose(1, 4) / UNIT_M_MEDIAN
    torch.testing.assert_close(a.target_3d(y), y * UNIT_M_MEDIAN)
    torch.testing.assert_close(a.pred_3d(y), y * UNIT_M_MEDIAN)
    assert a.metres_per_unit() == pytest.approx(2.27)


def test_motionbert_gt_scale_sets_reference_bone_and_shares_the_factor():
    a = get("motionagformer", scale="gt")
    y = rand_pose(2, 5, bone=0.1)  # 0.1 units per bone
    tgt = a.target_3d(y)
    mean_bone = bone_lengths(tgt, "h36m17").mean(-1)
    torch.testing.assert_close(mean_bone, torch.full((2, 5), REF_BONE_M), atol=1e-5, rtol=0)
    # the prediction is scaled by the target's factor, so a 2x prediction stays 2x
    torch.testing.assert_close(a.pred_3d(2 * y, ref=y), 2 * tgt, atol=1e-5, rtol=0)
    with pytest.raises(PoseShapeError, match="convert"):
        a.pred_3d(y)


# --------------------------------------------------------------------------- gradients / root
@pytest.mark.parametrize("name", EIGHT)
def test_gradient_flows_through_pred_3d_but_not_to_the_root(name):
    a = make(name)
    x, y_hat, y = upstream_batch(name)
    y_hat = y_hat.clone().requires_grad_(True)
    out = a.pred_3d(y_hat, **ref_kw(name, y))
    (out * torch.randn(out.shape, generator=_gen(3))).sum().backward()
    g = y_hat.grad
    if a.layout == "flat":
        assert (g != 0).all()  # the flat output has no root: every entry moves a joint
        return
    assert g[..., 0, :].abs().max().item() == 0.0  # the energy never pushes the root
    assert (g[..., 1:, :] != 0).all()


@pytest.mark.parametrize("name", ["videopose3d", "motionbert", "simplebaseline"])
def test_pred_3d_gradcheck(name):
    a = make(name)
    x, y_hat, y = upstream_batch(name)
    kw = ref_kw(name, y.double())
    y_hat = y_hat.double()
    if name == "simplebaseline":
        a.mean_3d, a.std_3d = a.mean_3d.double(), a.std_3d.double()
        assert torch.autograd.gradcheck(a.pred_3d, (y_hat.requires_grad_(True),))
        return
    # the root is detached on purpose, so check the Jacobian in the other joints
    root, rest = y_hat[..., :1, :], y_hat[..., 1:, :].clone().requires_grad_(True)
    fn = lambda t: a.pred_3d(torch.cat([root, t], dim=-2), **kw)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (rest,))


def test_vp3d_target_zeroes_the_trajectory_slot_instead_of_subtracting_it():
    a = get("videopose3d")
    y = rand_pose(2, 1)
    raw = y.clone()
    raw[..., 0, :] = torch.tensor([0.3, -0.2, 5.0])  # global trajectory, metres
    torch.testing.assert_close(a.target_3d(raw), y)
    pred = y + torch.tensor([0.01, 0.02, 0.03])  # a predicted root off zero
    torch.testing.assert_close(a.pred_3d(pred), y)


def test_motionbert_auto_scale_is_consistent_on_both_call_paths():
    a = get("motionbert")  # scale="auto"
    y = rand_pose(2, 3, bone=0.1)
    b = a.convert(torch.zeros(2, 3, 17, 3), 2 * y, y)  # with the target: 'gt' for both
    mean_bone = bone_lengths(b.target, "h36m17").mean(-1)
    torch.testing.assert_close(mean_bone, torch.full((2, 3), REF_BONE_M), atol=1e-5, rtol=0)
    torch.testing.assert_close(b.pred, 2 * b.target, atol=1e-5, rtol=0)
    # one-argument calls (no target at hand): the constant factor for both
    torch.testing.assert_close(a.target_3d(y), y * UNIT_M_MEDIAN)
    torch.testing.assert_close(a.pred_3d(2 * y), 2 * y * UNIT_M_MEDIAN)


def test_motionbert_target_without_rootrel_is_made_root_relative():
    a = get("motionbert", scale="constant")
    y = rand_pose(1, 3) / UNIT_M_MEDIAN
    torch.testing.assert_close(a.target_3d(y + 0.4), a.target_3d(y), atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- frames
def test_center_frame_rules():
    t = torch.arange(31.0)[None, :, None, None].expand(1, 31, 17, 2)
    assert get("poseformer").inputs_2d(t[:, :27])[0, 0, 0, 0].item() == 13
    causal = get("videopose3d", pad=13, causal_shift=13)
    assert causal.inputs_2d(t[:, :27])[0, 0, 0, 0].item() == 26
    strided = get("videopose3d", pad=13)  # --stride 5: 31 frames in, 5 out
    assert strided.inputs_2d(t)[0, :, 0, 0].tolist() == [13, 14, 15, 16, 17]
    with pytest.raises(PoseShapeError, match=r"shorter than 2 \* pad"):
        get("videopose3d", pad=20).inputs_2d(t[:, :27])
    with pytest.raises(PoseShapeError, match="outputs 1"):
        get("poseformer").pred_3d(rand_pose(1, 3))


# --------------------------------------------------------------------------- flip
@pytest.mark.parametrize("name", EIGHT)
def test_flip_is_an_involution_and_commutes_with_canonicalisation(name):
    a = make(name)
    x, y_hat, y = upstream_batch(name)
    kw = ref_kw(name, y)
    torch.testing.assert_close(a.flip_upstream_3d(a.flip_upstream_3d(y_hat)), y_hat,
                               atol=1e-4, rtol=0)
    flipped = a.pred_3d(a.flip_upstream_3d(y_hat), **ref_kw(name, a.flip_upstream_3d(y)))
    torch.testing.assert_close(flipped, flip_canonical(a.pred_3d(y_hat, **kw)), atol=1e-5, rtol=0)
    fx = a.flip_upstream_2d(x)
    assert fx.shape == x.shape
    torch.testing.assert_close(a.flip_upstream_2d(fx), x, atol=1e-4, rtol=0)
    torch.testing.assert_close(a.inputs_2d(fx), flip_canonical(a.inputs_2d(x)), atol=1e-5, rtol=0)


def test_motionbert_flip_moves_confidence_with_its_joint():
    a = get("motionbert")
    x = torch.zeros(1, 1, 17, 3)
    x[..., 4, :] = torch.tensor([0.5, 0.1, 0.9])  # LHip
    f = a.flip_upstream_2d(x)
    torch.testing.assert_close(f[0, 0, 1], torch.tensor([-0.5, 0.1, 0.9]))  # now RHip
    assert f[0, 0, 4].abs().sum().item() == 0.0


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", EIGHT)
def test_wrong_shapes_raise_named_errors(name):
    a = make(name)
    with pytest.raises(PoseShapeError, match=name if name != "simplebaseline" else "48"):
        a.pred_3d(torch.zeros(2, 1, 16, 3) if a.layout != "flat" else torch.zeros(2, 47))
    with pytest.raises(PoseShapeError):
        a.inputs_2d(torch.zeros(2, 5, 17, 4)[..., :1])


def test_fill_of_a_missing_joint_is_the_neighbour_mean():
    x = rand_2d(2, seed=9)
    h16 = get_skeleton("h36m16")
    x16 = x[:, [SK.index(n) for n in h16.joint_names]]
    out = joints_to_canonical_2d(x16, "h36m16")
    torch.testing.assert_close(out[:, 9], (x[:, 8] + x[:, 10]) / 2)


# --------------------------------------------------------------------------- hooks
def test_hook_flags_and_pass_through(tmp_path):
    p = add_arguments(argparse.ArgumentParser())
    args = p.parse_args(["--seal", "--seal-lambda", "0.01", "--seal-frames", "4"])
    assert args.seal and args.seal_lambda == 0.01 and args.seal_frames == 4
    # unset flags stay None: build_wrapper(inputs=--seal-inputs) fills the recommended values
    assert args.seal_inputs == "gt" and args.seal_mode is None and args.seal_lossnet is None
    assert args.seal_force_ratio is None and args.seal_score_fraction is None
    with pytest.raises(SystemExit):
        p.parse_args(["--seal-score-fraction", "0"])
    assert p.parse_args(["--seal-lambda", "auto"]).seal_lambda == "auto"
    with pytest.raises(SystemExit):
        p.parse_args(["--seal-inputs", "cpn"])
    with pytest.raises(SystemExit):
        p.parse_args(["--seal-lambda", "-1"])
    off = from_args(p.parse_args([]), None, "mixste")
    assert isinstance(off, PassThrough)
    loss = torch.tensor(2.0, requires_grad=True)
    assert off(loss, None, None, None) is loss
    off.energy_term(loss).backward()  # a no-op backward, no error
    assert sidecar_path(str(tmp_path / "epoch_3.bin")) == str(tmp_path / "epoch_3.seal.safetensors")
    assert sidecar_path("c/latest_epoch.pth.tr") == "c/latest_epoch.seal.safetensors"
    assert state_path("c/ckpt_best.pth.tar") == "c/ckpt_best.seal-state.sealloss"
    assert save_sidecar(off, str(tmp_path / "x.bin")) is None


def test_from_args_builds_a_wrapper_and_the_sidecar_round_trips(tmp_path):
    p = add_arguments(argparse.ArgumentParser())
    args = p.parse_args(["--seal", "--seal-lossnet", "none", "--seal-lambda", "0.01",
                         "--seal-mode", "dynamic", "--seal-score-fraction", "1"])
    seal = from_args(args, None, "mixste")
    assert seal.adapter.name == "mixste" and seal.energy.frames_per_clip == 8 and seal.lam == 0.01
    x, y_hat, y = upstream_batch("mixste")
    y_hat.requires_grad_(True)
    seal(torch.zeros((), requires_grad=True), x, y_hat, y).backward()
    ckpt = str(tmp_path / "epoch_1.bin")
    assert save_sidecar(seal, ckpt) == sidecar_path(ckpt)
    args2 = p.parse_args(["--seal", "--seal-lossnet", sidecar_path(ckpt), "--seal-mode", "dynamic",
                          "--seal-lambda", "0.01", "--seal-resume", state_path(ckpt)])
    seal2 = from_args(args2, None, "mixste")
    assert seal2.steps == seal.steps == 1
    for a, b in zip(seal.lossnet.state_dict().values(), seal2.lossnet.state_dict().values()):
        assert torch.equal(a, b)

"""Negative samplers: perturbations, swaps/flips, prediction and hard negatives, mixer,
calibration."""

from __future__ import annotations

import math

import pytest
import torch

from sealloss.errors import PoseShapeError
from sealloss.negatives import (
    BoneDirectionNoise,
    BoneLengthNoise,
    GaussianNoise,
    HardNegatives,
    LimbFlip,
    LimbSwap,
    NegativeMixer,
    NegativeSample,
    PredictionNegatives,
    allocate,
    bone_direction_noise,
    bone_length_noise,
    calibrate,
    flip_limbs,
    gaussian_joint_noise,
    hard_negatives,
    limb_swap,
    perturbation_size,
    prediction_negatives,
    project_min_distance,
    skeleton_limbs,
    swap_limbs,
)
from sealloss.pose.kinematics import (
    bone_lengths,
    bone_vectors,
    forward_kinematics,
    limb_pair_lengths,
)
from sealloss.pose.skeleton import get_skeleton

SK = get_skeleton("h36m17")

# A left/right-symmetric standing H36M-17 pose (x: lateral, y: down, z: depth), metres.
_TEMPLATE = torch.tensor([
    [0.0, 0.0, 0.0], [-0.13, 0.0, 0.0], [-0.13, 0.45, 0.02], [-0.13, 0.88, 0.05],
    [0.13, 0.0, 0.0], [0.13, 0.45, 0.02], [0.13, 0.88, 0.05], [0.0, -0.23, 0.0],
    [0.0, -0.48, 0.0], [0.0, -0.58, -0.03], [0.0, -0.68, 0.0], [0.16, -0.45, 0.0],
    [0.18, -0.18, 0.05], [0.2, 0.05, 0.1], [-0.16, -0.45, 0.0], [-0.18, -0.18, 0.05],
    [-0.2, 0.05, 0.1],
])


def poses(b: int = 6, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """``(b, 17, 3)`` varied poses with the template's (symmetric) bone lengths."""
    g = torch.Generator().manual_seed(seed)
    vec = bone_vectors(_TEMPLATE.double(), SK)
    dirs = vec / vec.norm(dim=-1, keepdim=True) + 0.3 * torch.randn(b, 16, 3, generator=g,
                                                                    dtype=torch.float64)
    return forward_kinematics(dirs, vec.norm(dim=-1).expand(b, 16), SK).to(dtype)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


SAMPLERS = {
    "gaussian": lambda: GaussianNoise(SK, 0.02),
    "gaussian_range": lambda: GaussianNoise(SK, (0.005, 0.05)),
    "bone_direction": lambda: BoneDirectionNoise(SK, 0.2),
    "bone_length": lambda: BoneLengthNoise(SK, 0.1),
    "bone_length_one": lambda: BoneLengthNoise(SK, 0.1, side="one"),
    "limb_swap": lambda: LimbSwap(SK),
    "limb_flip_depth": lambda: LimbFlip(SK, "depth"),
    "limb_flip_lateral": lambda: LimbFlip(SK, "lateral"),
}


# --------------------------------------------------------------------------- all samplers
def test_fixture_poses_are_symmetric():
    left, right = limb_pair_lengths(poses(), SK)
    assert torch.allclose(left, right, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_shape_root_seed_and_no_grad(name):
    y = poses().requires_grad_()
    s = SAMPLERS[name]()
    a = s(y, 5, gen(1))
    assert isinstance(a, NegativeSample)
    assert a.poses.shape == (6, 5, 17, 3)
    assert a.kinds == (s.kind,) * 5
    assert not a.poses.requires_grad
    assert torch.equal(a.poses[:, :, SK.root], torch.zeros(6, 5, 3))
    assert torch.equal(a.poses, s(y, 5, gen(1)).poses)
    assert not torch.equal(a.poses, s(y, 5, gen(2)).poses)
    assert (perturbation_size(a.poses, y.detach()) > 0).all()


def test_sampler_input_errors():
    s = GaussianNoise(SK, 0.02)
    with pytest.raises(PoseShapeError, match="17 joints, got 16"):
        s(torch.zeros(2, 16, 3), 3, gen(0))
    with pytest.raises(PoseShapeError, match=r"\(B, J, 3\)"):
        s(torch.zeros(17, 3), 3, gen(0))
    with pytest.raises(ValueError, match="k must be"):
        s(poses(), -1, gen(0))
    assert s(poses(), 0, gen(0)).poses.shape == (6, 0, 17, 3)


def test_gaussian_noise_statistics_root_index_and_log_q():
    sk = get_skeleton("mpi3dhp17")  # root is joint 14, not 0
    y = torch.zeros(200, 17, 3)
    out = GaussianNoise(sk, 0.03)(y, 4, gen(0))
    assert torch.equal(out.poses[:, :, 14], torch.zeros(200, 4, 3))
    noise = out.poses[:, :, [j for j in range(17) if j != 14]]
    assert noise.std().item() == pytest.approx(0.03, rel=0.02)
    expect = -out.poses.pow(2).sum((-1, -2)) / (2 * 0.03**2)
    assert torch.allclose(out.log_q, expect)
    assert GaussianNoise(sk, (0.01, 0.03))(y, 4, gen(0)).log_q is None


def test_gaussian_range_is_log_uniform_within_bounds():
    y = torch.zeros(400, 17, 3)
    p = gaussian_joint_noise(y, (0.01, 0.04), 1, gen(0))
    sigma = p[:, 0, 1:].std(dim=(-1, -2))  # per-negative estimate over 48 coordinates
    assert sigma.min() > 0.006 and sigma.max() < 0.055
    assert sigma.log().median().exp().item() == pytest.approx(0.02, rel=0.1)


# --------------------------------------------------------------------------- bone direction
@pytest.mark.parametrize("dtype,rtol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_bone_direction_noise_keeps_every_bone_length(dtype, rtol):
    y = poses(dtype=dtype)
    out = bone_direction_noise(y, SK, 0.3, 8, gen(0))
    ref = bone_lengths(y, SK).unsqueeze(1)
    rel = (bone_lengths(out, SK) - ref).abs() / ref
    assert rel.max().item() < rtol
    assert perturbation_size(out, y).min().item() > 5.0  # and it did move the pose


def test_bone_direction_rms_angle_matches_parameter():
    y = poses(b=50)
    out = bone_direction_noise(y, SK, 0.1, 20, gen(3))
    u0 = bone_vectors(y, SK).unsqueeze(1)
    u1 = bone_vectors(out, SK)
    cos = (u0 * u1).sum(-1) / (u0.norm(dim=-1) * u1.norm(dim=-1))
    theta = torch.arccos(cos.clamp(-1, 1))
    assert theta.pow(2).mean().sqrt().item() == pytest.approx(0.1, rel=0.03)


def test_bone_direction_p_bone_leaves_other_directions_unchanged():
    y = poses(dtype=torch.float64)
    out = bone_direction_noise(y, SK, 0.3, 10, gen(0), p_bone=0.3)
    u0 = bone_vectors(y, SK).unsqueeze(1)
    u1 = bone_vectors(out, SK)
    cos = (u0 * u1).sum(-1) / (u0.norm(dim=-1) * u1.norm(dim=-1))
    unchanged = (cos > 1 - 1e-12).double().mean().item()
    assert 0.6 < unchanged < 0.8


# --------------------------------------------------------------------------- bone length
def _lse_mm(y):
    left, right = limb_pair_lengths(y, SK)
    return (left - right).abs().mean(-1) * 1000


@pytest.mark.parametrize("side", ["left", "right"])
def test_one_sided_bone_length_breaks_symmetry_only_on_that_side(side):
    y = poses()
    out = bone_length_noise(y, SK, 0.1, 6, gen(0), side=side)
    assert _lse_mm(y).max() < 1e-3
    assert (_lse_mm(out) > 1.0).all()
    pairs = torch.tensor(SK.symmetric_bone_pairs)
    changed_col, kept_col = (0, 1) if side == "left" else (1, 0)
    ref, new = bone_lengths(y, SK).unsqueeze(1), bone_lengths(out, SK)
    kept = [b for b in range(16) if b not in pairs[:, changed_col].tolist()]
    assert torch.allclose(new[..., kept], ref[..., kept].expand_as(new[..., kept]), rtol=1e-6)
    assert ((new[..., pairs[:, changed_col]] - ref[..., pairs[:, changed_col]]).abs() > 1e-5).all()
    # directions are kept
    u0, u1 = bone_vectors(y, SK).unsqueeze(1), bone_vectors(out, SK)
    cos = (u0 * u1).sum(-1) / (u0.norm(dim=-1) * u1.norm(dim=-1))
    assert (cos > 1 - 1e-6).all()


def test_bone_length_side_one_changes_exactly_one_side_per_negative():
    y = poses()
    out = bone_length_noise(y, SK, 0.1, 20, gen(0), side="one")
    pairs = torch.tensor(SK.symmetric_bone_pairs)
    d = (bone_lengths(out, SK) - bone_lengths(y, SK).unsqueeze(1)).abs()
    left_changed = (d[..., pairs[:, 0]] > 1e-5).any(-1)
    right_changed = (d[..., pairs[:, 1]] > 1e-5).any(-1)
    assert torch.equal(left_changed ^ right_changed, torch.ones_like(left_changed))
    assert 0.2 < left_changed.double().mean().item() < 0.8


def test_bone_length_both_scales_central_bones_and_median_factor():
    y = poses(b=40)
    out = bone_length_noise(y, SK, 0.1, 10, gen(0))
    ratio = bone_lengths(out, SK) / bone_lengths(y, SK).unsqueeze(1)
    assert ratio.log().std().item() == pytest.approx(0.1, rel=0.05)
    with pytest.raises(ValueError, match="side"):
        bone_length_noise(y, SK, 0.1, 2, gen(0), side="top")


# --------------------------------------------------------------------------- swaps and flips
def test_skeleton_limbs_h36m():
    assert skeleton_limbs(SK) == (((4, 5, 6), (1, 2, 3)), ((11, 12, 13), (14, 15, 16)))
    wb = skeleton_limbs("wholebody133")
    root = get_skeleton("wholebody133").root
    assert all(root not in lj + rj for lj, rj in wb)


def test_swap_limbs_hand_value_and_involution():
    y = poses()
    mask = torch.tensor([True, False]).expand(6, 2)
    out = swap_limbs(y, SK, mask)
    assert torch.equal(out[:, [4, 5, 6]], y[:, [1, 2, 3]])
    assert torch.equal(out[:, [1, 2, 3]], y[:, [4, 5, 6]])
    assert torch.equal(out[:, 11:], y[:, 11:])
    rand_mask = torch.rand(6, 5, 2, generator=gen(0)) < 0.5
    y5 = y.unsqueeze(1).expand(6, 5, 17, 3)
    assert torch.equal(swap_limbs(swap_limbs(y5, SK, rand_mask), SK, rand_mask), y5)


def test_limb_swap_is_a_nonempty_swap_of_limbs():
    y = poses()
    out = limb_swap(y, SK, 8, gen(0))
    limbs = skeleton_limbs(SK)
    for b in range(6):
        for k in range(8):
            # some mask reproduces this negative, and it is not the identity
            found = [
                m for m in ([True, False], [False, True], [True, True])
                if torch.equal(swap_limbs(y[b], SK, torch.tensor(m)), out[b, k])
            ]
            assert found, (b, k)
    assert len(limbs) == 2


def test_flip_limbs_depth_keeps_2d_and_bone_lengths_and_is_involution():
    y = poses(dtype=torch.float64)
    mask = torch.rand(6, 4, 4, generator=gen(0)) < 0.5
    y4 = y.unsqueeze(1).expand(6, 4, 17, 3)
    out = flip_limbs(y4, SK, mask, "depth")
    assert torch.equal(out[..., :2], y4[..., :2])  # orthographic projection unchanged
    assert torch.allclose(bone_lengths(out, SK), bone_lengths(y4, SK), rtol=1e-12)
    assert torch.allclose(flip_limbs(out, SK, mask, "depth"), y4, atol=1e-12)
    # hand value: flipping the left leg only reverses LKnee/LFoot depth about LHip
    one = torch.tensor([True, False, False, False])
    f = flip_limbs(y[0], SK, one, "depth")
    assert torch.allclose(f[[5, 6], 2], 2 * y[0, 4, 2] - y[0, [5, 6], 2])
    assert torch.equal(f[[0, 1, 2, 3, 4] + list(range(7, 17))],
                       y[0, [0, 1, 2, 3, 4] + list(range(7, 17))])


def test_flip_limbs_lateral_keeps_bone_lengths_and_is_involution():
    y = poses(dtype=torch.float64)
    mask = torch.ones(6, 4, dtype=torch.bool)
    out = flip_limbs(y, SK, mask, "lateral")
    assert torch.allclose(bone_lengths(out, SK), bone_lengths(y, SK), rtol=1e-12)
    assert torch.allclose(flip_limbs(out, SK, mask, "lateral"), y, atol=1e-12)
    with pytest.raises(ValueError, match="axis"):
        flip_limbs(y, SK, mask, "vertical")


# --------------------------------------------------------------------------- prediction
def test_prediction_negatives():
    y_hat = poses().requires_grad_()
    out = prediction_negatives(y_hat)
    assert out.shape == (6, 1, 17, 3) and not out.requires_grad
    assert torch.equal(out[:, 0], y_hat.detach())
    s = PredictionNegatives(SK, jitter_m=0.01)
    y_gt = poses(seed=5)
    res = s(y_gt, 3, gen(0), y_hat=y_hat)
    assert torch.equal(res.poses[:, 0], y_hat.detach())
    assert (perturbation_size(res.poses[:, 1:], y_hat.detach()) > 1.0).all()
    assert torch.equal(res.poses[:, :, 0], torch.zeros(6, 3, 3))
    with pytest.raises(ValueError, match="y_hat"):
        s(y_gt, 1, gen(0))
    with pytest.raises(PoseShapeError):
        prediction_negatives(torch.zeros(17, 3))


# --------------------------------------------------------------------------- hard negatives
def test_project_min_distance_hand_value():
    y_gt = torch.zeros(1, 2, 3)
    y = torch.zeros(1, 3, 2, 3)
    y[0, 0, 1, 0] = 0.01  # MPJPE 5 mm -> scaled to 20 mm
    y[0, 1, 1, 0] = 0.10  # MPJPE 50 mm -> unchanged
    out = project_min_distance(y, y_gt, 0.02)
    assert torch.allclose(out[0, 0, 1, 0], torch.tensor(0.04))
    assert torch.equal(out[0, 1], y[0, 1])
    assert torch.equal(out[0, 2], y[0, 2])  # identical to ground truth: unchanged


def test_hard_negatives_lower_a_toy_energy_and_keep_min_distance():
    y_gt = poses()
    y_neg = GaussianNoise(SK, 0.05)(y_gt, 4, gen(0)).poses
    target = y_gt.unsqueeze(1) + 0.3

    def energy(y):  # minimised far from ground truth
        return (y - target).pow(2).sum((-1, -2))

    out = hard_negatives(y_neg, y_gt, energy, steps=5, step_size=0.02, min_dist_m=0.02)
    assert (energy(out) < energy(y_neg)).all()
    assert perturbation_size(out, y_gt).min().item() >= 20.0 - 1e-3
    assert torch.equal(out[:, :, 0], torch.zeros(6, 4, 3))


def test_hard_negatives_stop_at_min_distance_when_energy_pulls_to_ground_truth():
    y_gt = poses()
    y_neg = GaussianNoise(SK, 0.05)(y_gt, 4, gen(1)).poses

    def energy(y):
        return (y - y_gt.unsqueeze(1)).pow(2).sum((-1, -2))

    out = hard_negatives(y_neg, y_gt, energy, steps=20, step_size=0.02, min_dist_m=0.03)
    d = perturbation_size(out, y_gt)
    assert d.min().item() >= 30.0 - 1e-3
    assert d.max().item() < perturbation_size(y_neg, y_gt).min().item()
    assert (energy(out) < energy(y_neg)).all()


def test_hard_negatives_never_touch_the_energy_parameters():
    net = torch.nn.Sequential(torch.nn.Flatten(-2), torch.nn.Linear(51, 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 1))
    before = [p.detach().clone() for p in net.parameters()]
    y_gt = poses()
    s = HardNegatives(BoneDirectionNoise(SK, 0.2), lambda y: net(y).squeeze(-1), steps=3)
    out = s(y_gt, 3, gen(0))
    assert out.kind == "hard_bone_direction" and not out.poses.requires_grad
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    e_start = net(BoneDirectionNoise(SK, 0.2)(y_gt, 3, gen(0)).poses).squeeze(-1)
    assert (net(out.poses).squeeze(-1) <= e_start + 1e-6).all()


def test_hard_negatives_errors():
    y_gt = poses()
    y_neg = y_gt.unsqueeze(1).repeat(1, 2, 1, 1) + 0.05
    with pytest.raises(PoseShapeError, match="energy_fn returned"):
        hard_negatives(y_neg, y_gt, lambda y: y.sum(-1))
    with pytest.raises(ValueError, match="energy_fn"):
        HardNegatives(GaussianNoise(SK))(y_gt, 2, gen(0))


def test_hard_negatives_keep_mixer_column_labels():
    mix = NegativeMixer([(GaussianNoise(SK, 0.02), 1.0), (LimbSwap(SK), 1.0)])
    out = HardNegatives(mix, lambda y: y.pow(2).sum((-1, -2)), steps=1)(poses(), 4, gen(0))
    assert out.kinds == ("hard_gaussian",) * 2 + ("hard_limb_swap",) * 2


# --------------------------------------------------------------------------- mixer
def test_allocate_exact_sums_and_expectation():
    assert allocate([0.5, 0.3, 0.2], 10, gen(0)) == [5, 3, 2]
    assert allocate([1.0, 1.0], 7) == [3, 4]  # deterministic rounding without a generator
    g = gen(0)
    counts = torch.tensor([allocate([0.5, 0.3, 0.2], 7, g) for _ in range(4000)], dtype=float)
    assert (counts.sum(1) == 7).all()
    assert torch.allclose(counts.mean(0), torch.tensor([3.5, 2.1, 1.4], dtype=float), atol=0.03)
    assert set(counts[:, 0].tolist()) == {3.0, 4.0}  # never further than one from k * w
    with pytest.raises(ValueError, match="weights"):
        allocate([0.0, 0.0], 3)


def test_mixer_labels_proportions_and_reproducibility():
    y = poses()
    mix = NegativeMixer([(GaussianNoise(SK, 0.02), 0.5), (LimbSwap(SK), 0.3),
                         (BoneLengthNoise(SK, 0.1, side="one"), 0.2)])
    out = mix(y, 10, gen(0))
    assert out.poses.shape == (6, 10, 17, 3)
    assert out.kinds == ("gaussian",) * 5 + ("limb_swap",) * 3 + ("bone_length_one",) * 2
    assert out.log_q is None  # limb swaps have no density
    assert torch.equal(out.poses, mix(y, 10, gen(0)).poses)
    assert not torch.equal(out.poses, mix(y, 10, gen(1)).poses)
    # the limb-swap columns really are limb swaps
    for k in (5, 6, 7):
        assert torch.equal(out.poses[:, k].sort(dim=1).values, y.sort(dim=1).values)
        assert not torch.equal(out.poses[:, k], y)


def test_mixer_passes_context_and_concatenates_log_q():
    y = poses()
    y_hat = poses(seed=3)
    mix = NegativeMixer([(PredictionNegatives(SK), 1.0), (GaussianNoise(SK, 0.01), 3.0)])
    out = mix(y, 4, gen(0), y_hat=y_hat)
    assert out.kinds == ("prediction", "gaussian", "gaussian", "gaussian")
    assert torch.equal(out.poses[:, 0], y_hat)
    both = NegativeMixer([(GaussianNoise(SK, 0.01), 1.0), (GaussianNoise(SK, 0.02), 1.0)])
    res = both(y, 4, gen(0))
    assert res.log_q is not None and res.log_q.shape == (6, 4)
    with pytest.raises(ValueError, match="different skeletons"):
        NegativeMixer([(GaussianNoise(SK), 1.0), (GaussianNoise("h36m16"), 1.0)])


# --------------------------------------------------------------------------- calibration
def test_perturbation_size_hand_value():
    y_gt = torch.zeros(1, 2, 3)
    y = torch.zeros(1, 1, 2, 3)
    y[0, 0, 1] = torch.tensor([0.003, 0.004, 0.0])
    assert perturbation_size(y, y_gt).item() == pytest.approx(2.5)


def test_calibrate_gaussian_and_bone_length_targets():
    y = poses(b=32)
    res = calibrate(lambda m, yy, k, g: gaussian_joint_noise(yy, m, k, g), 20.0, y, gen(0))
    assert res.median_mm == pytest.approx(20.0, rel=0.01)
    # chi distribution with 3 dof: median ~ 1.538 sigma, root joint excluded (16 of 17)
    assert res.magnitude * 1000 * 1.538 * 16 / 17 == pytest.approx(20.0, rel=0.05)
    one = calibrate(lambda m, yy, k, g: bone_length_noise(yy, SK, m, k, g, "one"), 10.0, y)
    assert one.median_mm == pytest.approx(10.0, rel=0.01)
    check = perturbation_size(bone_length_noise(y, SK, one.magnitude, 4,
                                                torch.Generator().manual_seed(0), "one"), y)
    assert check.median().item() == pytest.approx(one.median_mm, rel=1e-5)


def test_calibrate_unreachable_target_raises():
    y = poses()
    with pytest.raises(ValueError, match="cannot reach"):
        calibrate(lambda m, yy, k, g: bone_direction_noise(yy, SK, min(m, 0.5), k, g), 900.0, y)


# --------------------------------------------------------------------------- real data
@pytest.mark.h36m
def test_samplers_on_real_h36m_poses(h36m_root):
    import numpy as np

    from sealloss.pose.canonical import to_canonical_3d

    raw = np.load(h36m_root / "h36m_3d17_world_10hz.npz")["positions_3d"][:4000:50]
    y = to_canonical_3d(torch.from_numpy(raw.astype("float32")), SK, units="mm")
    assert y.shape == (80, 17, 3)
    assert _lse_mm(y).mean().item() < 1.0  # Human3.6M ground truth is symmetric
    cal = calibrate(lambda m, yy, k, g: gaussian_joint_noise(yy, m, k, g), 20.0, y, gen(0))
    assert 0.011 < cal.magnitude < 0.016
    out = BoneDirectionNoise(SK, 0.2)(y, 4, gen(0)).poses
    ref = bone_lengths(y, SK).unsqueeze(1)
    assert ((bone_lengths(out, SK) - ref).abs() / ref).max().item() < 1e-5
    one = BoneLengthNoise(SK, 0.1, side="one")(y, 4, gen(0)).poses
    assert (_lse_mm(one) > 1.0).all()
    assert math.isfinite(perturbation_size(one, y).mean().item())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_cpu_generator_gives_same_negatives_for_cuda_poses(name):
    y = poses()
    s = SAMPLERS[name]()
    cpu = s(y, 3, gen(0)).poses
    cuda = s(y.cuda(), 3, gen(0)).poses
    assert cuda.is_cuda
    assert torch.allclose(cuda.cpu(), cpu, atol=1e-5)

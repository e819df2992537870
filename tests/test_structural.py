"""Explicit structural losses (sealloss.metrics.structural): hand values, invariances, gradients."""

from __future__ import annotations

import pytest
import torch
from test_metrics import (
    H36M,
    LWRIST,
    NUM_BONES,
    NUM_PAIRS,
    RKNEE,
    noisy_batch,
    random_rotation,
    stretch_bone,
    symmetric_pose,
)

from sealloss.errors import NonFiniteError, PoseShapeError, SkeletonMismatchError
from sealloss.metrics.functional import bsle, lse
from sealloss.metrics.structural import (
    DEFAULT_EPS,
    BoneLengthLoss,
    KCSLoss,
    StructuralLoss,
    SymmetryLoss,
    kcs_gram,
    kcs_loss,
)
from sealloss.pose.skeleton import Skeleton

# a 3-joint chain a -> b -> c: small enough to compute every loss by hand
CHAIN = Skeleton("chain3_test", ("a", "b", "c"), (-1, 0, 1))
# a root with two mirrored children l, r
FORK = Skeleton("fork3_test", ("root", "l", "r"), (-1, 0, 0), left=(1,), right=(2,))


def test_hand_values():
    gt = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 2, 0]], dtype=torch.float64)  # bones 1, 2
    pred = torch.tensor([[0.0, 0, 0], [0, 3, 0], [0, 3, 4]], dtype=torch.float64)  # bones 3, 4
    # | 3 - 1 | and | 4 - 2 |: mean 2 (eps 1e-6 changes it by < 1e-12)
    assert bsle(pred, gt, CHAIN, eps=DEFAULT_EPS).item() == pytest.approx(2.0, abs=1e-10)
    # Gram: gt [[1, 0], [0, 4]], pred [[9, 0], [0, 16]] -> diff diag(8, 12): sqrt(64 + 144)
    gram = torch.tensor([[1.0, 0], [0, 4]], dtype=torch.float64)
    assert torch.allclose(kcs_gram(gt, CHAIN), gram)
    assert kcs_loss(pred, gt, CHAIN).item() == pytest.approx(208**0.5)
    # off-diagonal term: same lengths, angle changed from 90 to 0 degrees -> <b1, b2> 0 -> 2
    straight = torch.tensor([[0.0, 0, 0], [1, 0, 0], [3, 0, 0]], dtype=torch.float64)
    assert bsle(straight, gt, CHAIN, eps=DEFAULT_EPS).item() == pytest.approx(0.0, abs=1e-12)
    assert kcs_loss(straight, gt, CHAIN).item() == pytest.approx((2 * 2**2) ** 0.5)
    # fork: left bone 1, right bone 3 -> symmetry loss 2
    fork = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, -3, 0]], dtype=torch.float64)
    assert lse(fork, FORK, eps=DEFAULT_EPS).item() == pytest.approx(2.0, abs=1e-10)


def test_h36m_hand_values():
    y = symmetric_pose()
    stretched = stretch_bone(y, RKNEE, 0.010)
    assert bsle(stretched, y, H36M, eps=DEFAULT_EPS).item() == pytest.approx(0.010 / NUM_BONES)
    assert lse(stretched, H36M, eps=DEFAULT_EPS).item() == pytest.approx(0.010 / NUM_PAIRS)
    left = stretch_bone(y, LWRIST, 0.03)
    assert lse(left, H36M, eps=DEFAULT_EPS).item() == pytest.approx(0.03 / NUM_PAIRS)


def test_zero_at_ground_truth_and_on_symmetric_pose():
    g = torch.Generator().manual_seed(0)
    gt = noisy_batch(4, g)
    assert torch.equal(bsle(gt, gt, H36M, "none", eps=DEFAULT_EPS), torch.zeros(4, dtype=gt.dtype))
    assert torch.equal(kcs_loss(gt, gt, H36M, "none"), torch.zeros(4, dtype=gt.dtype))
    assert lse(symmetric_pose(), H36M, eps=DEFAULT_EPS).item() == 0.0
    assert lse(symmetric_pose(torch.float32), H36M, eps=DEFAULT_EPS).item() == 0.0
    assert lse(gt, H36M, eps=DEFAULT_EPS).item() > 1e-3  # noise breaks the symmetry


def test_invariant_to_global_rotation_and_translation():
    g = torch.Generator().manual_seed(1)
    gt, pred = noisy_batch(5, g), noisy_batch(5, g, sigma=0.05)
    rot = random_rotation(5, g)
    shift = torch.randn(5, 1, 3, generator=g, dtype=torch.float64)
    move = lambda y: y @ rot.transpose(-1, -2) + shift  # noqa: E731
    for fn in (
        lambda p, t: bsle(p, t, H36M, "none", eps=DEFAULT_EPS),
        lambda p, t: lse(p, H36M, "none", eps=DEFAULT_EPS),
        lambda p, t: kcs_loss(p, t, H36M, "none"),
    ):
        base = fn(pred, gt)
        assert base.min() > 0
        assert torch.allclose(fn(move(pred), move(gt)), base, rtol=1e-10, atol=1e-12)
        assert torch.allclose(fn(move(pred), gt), base, rtol=1e-10, atol=1e-12)  # pred only


def test_per_sample_not_batch_means():
    """Two skeletons of different size, each predicted with the other's size: a loss on batch-mean
    bone lengths sees no error at all; ours gives each sample its own error."""
    small = symmetric_pose()
    large = 1.3 * symmetric_pose()
    gt = torch.stack([small, large])
    # swap the sizes: each prediction has the other sample's size
    pred = torch.stack([large, small])
    per = bsle(pred, gt, H36M, "none", eps=DEFAULT_EPS)
    lengths = (small[1:] - small[list(H36M.parents[1:])]).norm(dim=-1)
    expected = 0.3 * lengths.mean()
    assert torch.allclose(per, torch.stack([expected, expected]), rtol=1e-9)
    # the batch-mean version would be exactly zero here
    assert bsle(pred, gt, H36M, "mean", eps=DEFAULT_EPS).item() == pytest.approx(expected.item())
    assert bsle(pred, gt, H36M, "sum", eps=DEFAULT_EPS).item() == pytest.approx(2 * expected.item())
    kcs = kcs_loss(pred, gt, H36M, "none")
    gram = kcs_gram(small, H36M).norm()
    assert torch.allclose(kcs, torch.stack([0.69 * gram, 0.69 * gram]), rtol=1e-9)  # 1.3^2 - 1


def test_finite_gradients_with_zero_length_bone():
    y = symmetric_pose()
    degenerate = y.clone()
    degenerate[LWRIST] = degenerate[H36M.parents[LWRIST]]  # left forearm of length 0
    for gt_is_degenerate in (False, True):
        pred = degenerate.clone().requires_grad_(True)
        gt = degenerate if gt_is_degenerate else y
        loss = StructuralLoss(H36M, w_bone=1.0, w_sym=1.0, w_kcs=1.0)(pred, gt)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    # at the ground truth itself (zero loss, zero Frobenius norm): gradient finite too
    pred = y.clone().requires_grad_(True)
    StructuralLoss(H36M, w_kcs=1.0)(pred, y).backward()
    assert torch.isfinite(pred.grad).all()
    # float32
    pred32 = degenerate.float().requires_grad_(True)
    StructuralLoss(H36M, w_kcs=1.0)(pred32, y.float()).backward()
    assert torch.isfinite(pred32.grad).all()


def test_gradcheck():
    g = torch.Generator().manual_seed(2)
    gt, pred = noisy_batch(1, g), noisy_batch(1, g).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: bsle(p, gt, H36M, eps=DEFAULT_EPS), (pred,))
    assert torch.autograd.gradcheck(lambda p: lse(p, H36M, eps=DEFAULT_EPS), (pred,))
    assert torch.autograd.gradcheck(lambda p: kcs_loss(p, gt, H36M), (pred,))


def test_modules_equal_functions():
    g = torch.Generator().manual_seed(3)
    gt, pred = noisy_batch(3, g).float(), noisy_batch(3, g).float()
    for red in ("none", "mean", "sum"):
        fn = bsle(pred, gt, H36M, red, eps=DEFAULT_EPS)
        assert torch.equal(BoneLengthLoss(H36M, red)(pred, gt), fn)
        assert torch.equal(SymmetryLoss("h36m17", red)(pred), lse(pred, H36M, red, eps=DEFAULT_EPS))
        assert torch.equal(KCSLoss(H36M, red)(pred, gt), kcs_loss(pred, gt, H36M, red))
    mod = StructuralLoss(H36M, w_bone=2.0, w_sym=0.5, w_kcs=0.25, reduction="none")
    expected = (
        2.0 * bsle(pred, gt, H36M, "none", eps=DEFAULT_EPS)
        + 0.5 * lse(pred, H36M, "none", eps=DEFAULT_EPS)
        + 0.25 * kcs_loss(pred, gt, H36M, "none")
    )
    assert torch.allclose(mod(pred, gt), expected)
    assert set(mod.terms(pred, gt)) == {"bone", "sym", "kcs"}
    assert set(StructuralLoss(H36M, w_sym=0.0).terms(pred, gt)) == {"bone"}
    assert "w_kcs=0.25" in repr(mod)


def test_bad_inputs():
    y = symmetric_pose()
    with pytest.raises(PoseShapeError, match="same shape"):
        bsle(y[None], y, H36M, eps=DEFAULT_EPS)
    with pytest.raises(PoseShapeError, match="17 joints"):
        kcs_loss(y[:16], y[:16], H36M)
    with pytest.raises(PoseShapeError, match="swapped"):
        lse(y[:, :2], H36M, eps=DEFAULT_EPS)
    bad = y.clone()
    bad[3, 0] = float("inf")
    with pytest.raises(NonFiniteError, match="pred"):
        StructuralLoss(H36M)(bad, y)
    with pytest.raises(SkeletonMismatchError, match="no symmetric bone pairs"):
        lse(torch.zeros(3, 3), CHAIN, eps=DEFAULT_EPS)
    with pytest.raises(ValueError, match="w_sym"):
        StructuralLoss(H36M, w_sym=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        StructuralLoss(H36M, reduction="avg")

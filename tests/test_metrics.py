"""Metric functions (sealloss.metrics.functional): hand-computed values and invariances.

The pose helpers at the top are shared with ``test_metrics_evaluator.py`` and
``test_structural.py`` (imported from this module).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sealloss.errors import NonFiniteError, PoseShapeError, SkeletonMismatchError
from sealloss.metrics import functional as F
from sealloss.pose.skeleton import get_skeleton

# --------------------------------------------------------------------------- shared helpers
# A left/right mirror-symmetric H36M-17 pose in metres, root (Hip) at the origin, z up.
_LEFT = {  # joint name -> (x, y, z) of the left side; the right side is x-mirrored
    "Hip": (0.13, 0.0, 0.0),
    "Knee": (0.14, 0.02, -0.45),
    "Foot": (0.14, 0.08, -0.89),
    "Shoulder": (0.16, 0.0, 0.46),
    "Elbow": (0.19, 0.06, 0.19),
    "Wrist": (0.22, 0.17, -0.03),
}
_CENTRE = {
    "Hip": (0.0, 0.0, 0.0),
    "Spine": (0.0, 0.02, 0.23),
    "Thorax": (0.0, 0.0, 0.48),
    "Neck/Nose": (0.0, -0.04, 0.58),
    "Head": (0.0, 0.0, 0.70),
}


def symmetric_pose(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``(17, 3)`` H36M-17 pose, exactly mirror-symmetric (LSE = 0), metres."""
    sk = get_skeleton("h36m17")
    out = torch.zeros(17, 3, dtype=torch.float64)
    for j, name in enumerate(sk.joint_names):
        if name in _CENTRE:
            out[j] = torch.tensor(_CENTRE[name], dtype=torch.float64)
        else:
            side, part = name[0], name[1:]
            x, y, z = _LEFT[part]
            out[j] = torch.tensor((x if side == "L" else -x, y, z), dtype=torch.float64)
    return out.to(dtype)


def subtree(joint: int, skeleton: str = "h36m17") -> list[int]:
    """``joint`` and every joint below it."""
    sk = get_skeleton(skeleton)
    out, stack = [], [joint]
    while stack:
        j = stack.pop()
        out.append(j)
        stack.extend(sk.children[j])
    return out


def stretch_bone(
    y: torch.Tensor, child: int, delta: float, skeleton: str = "h36m17"
) -> torch.Tensor:
    """Lengthen the bone ending at ``child`` by ``delta`` along its direction, moving the whole
    subtree of ``child`` so that no other bone changes."""
    sk = get_skeleton(skeleton)
    b = y[..., child, :] - y[..., sk.parents[child], :]
    shift = b / b.norm(dim=-1, keepdim=True) * delta
    out = y.clone()
    out[..., subtree(child, skeleton), :] += shift.unsqueeze(-2)
    return out


def random_rotation(n: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """``(n, 3, 3)`` proper rotations (det +1) from the QR of Gaussian matrices."""
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    q = q * torch.sign(torch.linalg.det(q))[:, None, None]
    return q.to(dtype)


def noisy_batch(n: int, generator: torch.Generator, sigma: float = 0.03) -> torch.Tensor:
    """``(n, 17, 3)`` copies of :func:`symmetric_pose` with Gaussian joint noise, root zero."""
    y = symmetric_pose().expand(n, 17, 3) + sigma * torch.randn(
        n, 17, 3, generator=generator, dtype=torch.float64
    )
    return y - y[:, :1]


H36M = get_skeleton("h36m17")
NUM_BONES = len(H36M.bones)  # 16
NUM_PAIRS = len(H36M.symmetric_bone_pairs)  # 6
LWRIST, RKNEE = H36M.index("LWrist"), H36M.index("RKnee")
# the 15 H36M-17 joints that HumanEva-15 also has (no Spine, no Neck/Nose)
HUMANEVA_ON_H36M = [j for j in range(17) if H36M.joint_names[j] not in ("Spine", "Neck/Nose")]


def _naive_p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """One-sample similarity Procrustes by the textbook recipe (normalise, SVD, fix det)."""
    p0, g0 = pred - pred.mean(0), gt - gt.mean(0)
    np_, ng = np.linalg.norm(p0), np.linalg.norm(g0)
    u, s, vt = np.linalg.svd((g0 / ng).T @ (p0 / np_))
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        s[-1] *= -1
        r = u @ vt
    aligned = s.sum() * ng * (p0 / np_) @ r.T + gt.mean(0)
    return float(np.linalg.norm(aligned - gt, axis=-1).mean())


# --------------------------------------------------------------------------- reductions, shapes
def test_mpjpe_hand_values_and_reductions():
    gt = torch.zeros(2, 3, 3)
    pred = gt.clone()
    pred[0, 0] = torch.tensor([3.0, 4.0, 0.0])  # one joint off by 5 in sample 0
    assert torch.allclose(F.joint_errors(pred, gt), torch.tensor([[5.0, 0, 0], [0, 0, 0]]))
    assert torch.allclose(F.mpjpe(pred, gt, "none"), torch.tensor([5 / 3, 0.0]))
    assert F.mpjpe(pred, gt).item() == pytest.approx(5 / 6)
    assert F.mpjpe(pred, gt, "sum").item() == pytest.approx(5 / 3)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mpjpe(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3), reduction="avg")
    with pytest.raises(PoseShapeError, match="same shape"):
        F.mpjpe(torch.zeros(2, 17, 3), torch.zeros(2, 16, 3))
    with pytest.raises(PoseShapeError, match=r"\(\.\.\., J, D\)"):
        F.p_mpjpe(torch.zeros(3), torch.zeros(3))
    with pytest.raises(PoseShapeError, match="floating"):
        F.mpjpe(torch.zeros(2, 3, 3, dtype=torch.long), torch.zeros(2, 3, 3, dtype=torch.long))
    with pytest.raises(PoseShapeError, match="17 joints"):
        F.lse(torch.zeros(2, 16, 3), "h36m17")
    with pytest.raises(NonFiniteError, match="pred"):
        F.bsle(torch.full((17, 3), float("nan")), torch.zeros(17, 3), "h36m17")
    with pytest.raises(PoseShapeError, match="out of range"):
        F.lse(symmetric_pose(), "h36m17", joints=[0, 17])


def test_leading_batch_dims_give_per_sample_values():
    g = torch.Generator().manual_seed(0)
    gt = noisy_batch(6, g).reshape(2, 3, 17, 3)
    pred = noisy_batch(6, g).reshape(2, 3, 17, 3)
    for fn in (F.mpjpe, F.p_mpjpe, F.n_mpjpe, F.pck, F.auc):
        out = fn(pred, gt, reduction="none")
        assert out.shape == (2, 3), fn.__name__
        flat = fn(pred.reshape(6, 17, 3), gt.reshape(6, 17, 3), reduction="none")
        assert torch.allclose(out.reshape(6), flat), fn.__name__
    assert F.lse(pred, H36M, "none").shape == (2, 3)
    assert F.bsle(pred, gt, H36M, "none", per_bone=True).shape == (2, 3, NUM_BONES)
    assert F.lse(pred, H36M, "mean", per_pair=True).shape == (NUM_PAIRS,)


# --------------------------------------------------------------------------- alignment metrics
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_p_mpjpe_of_similarity_transformed_copy_is_zero(dtype, tol):
    g = torch.Generator().manual_seed(1)
    gt = noisy_batch(8, g).to(dtype)
    rot = random_rotation(8, g, dtype)
    scale = torch.rand(8, 1, 1, generator=g, dtype=torch.float64).to(dtype) * 3 + 0.2
    shift = torch.randn(8, 1, 3, generator=g, dtype=torch.float64).to(dtype)
    pred = scale * gt @ rot.transpose(-1, -2) + shift
    assert F.mpjpe(pred, gt) > 0.1
    err = F.p_mpjpe(pred, gt, "none")
    assert err.dtype == dtype
    assert err.max().item() < tol
    aligned = F.procrustes_align(pred, gt)
    assert (aligned - gt).abs().max().item() < 10 * tol


def test_p_mpjpe_matches_naive_reference():
    g = torch.Generator().manual_seed(2)
    gt, pred = noisy_batch(5, g), noisy_batch(5, g, sigma=0.1)
    ours = F.p_mpjpe(pred, gt, "none")
    ref = [_naive_p_mpjpe(pred[i].numpy(), gt[i].numpy()) for i in range(5)]
    assert np.allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_p_mpjpe_refuses_reflections():
    gt = symmetric_pose()  # not planar, so its mirror image is no rotation of it
    mirrored = gt * torch.tensor([1.0, -1.0, 1.0])  # y -> -y: a reflection
    assert F.p_mpjpe(mirrored, gt).item() > 0.01
    aligned = F.procrustes_align(mirrored, gt, scale=False)
    # the aligned copy is a proper rotation of the mirror: same pairwise distances
    assert torch.allclose(torch.cdist(aligned, aligned), torch.cdist(mirrored, mirrored))


def test_p_mpjpe_degenerate_prediction_hand_value():
    """All predicted joints at one point: s = 0, so the aligned pose is gt's centroid."""
    gt = symmetric_pose()
    pred = torch.zeros_like(gt) + 0.3
    expected = (gt - gt.mean(0)).norm(dim=-1).mean()
    assert F.p_mpjpe(pred, gt).item() == pytest.approx(expected.item(), abs=1e-12)


def test_procrustes_without_scale():
    g = torch.Generator().manual_seed(3)
    gt = noisy_batch(4, g)
    rot = random_rotation(4, g)
    moved = gt @ rot.transpose(-1, -2) + torch.tensor([0.5, -1.0, 2.0])
    assert torch.allclose(F.procrustes_align(moved, gt, scale=False), gt, atol=1e-12)
    # twice as large, no scale allowed: best fit is the 2x pose around gt's centroid
    big = 2.0 * gt
    mu = gt.mean(-2, keepdim=True)
    aligned = F.procrustes_align(big, gt, scale=False)
    assert torch.allclose(aligned, 2.0 * (gt - mu) + mu, atol=1e-12)


def test_p_mpjpe_gradcheck():
    g = torch.Generator().manual_seed(4)
    gt = noisy_batch(2, g)[:, :6]
    pred = noisy_batch(2, g, sigma=0.1)[:, :6].requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: F.p_mpjpe(p, gt), (pred,))


def test_n_mpjpe_hand_values():
    g = torch.Generator().manual_seed(5)
    gt = noisy_batch(4, g)
    # a scaled copy, translated: root alignment removes the shift, the scale fit the factor
    pred = 1.7 * gt + torch.tensor([0.3, 0.2, -0.1])
    assert F.n_mpjpe(pred, gt, "none").max().item() < 1e-12
    assert F.n_mpjpe(pred, gt, root=None).item() > 0.1  # no root alignment: the shift counts
    # orthogonal prediction: s = <p, g> / <p, p> = 0, so the error is mean |g_j| = 0.5
    a = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert F.n_mpjpe(b, a).item() == pytest.approx(0.5)
    # root at another index
    assert F.n_mpjpe(b + 1.0, a + 2.0, root=0).item() == pytest.approx(0.5)


# --------------------------------------------------------------------------- structure metrics
def test_lse_zero_on_symmetric_pose_and_one_sided_change():
    y = symmetric_pose()
    assert F.lse(y, H36M).item() == 0.0
    delta = 0.02
    changed = stretch_bone(y, LWRIST, delta)  # left forearm only
    assert F.lse(changed, H36M).item() == pytest.approx(delta / NUM_PAIRS, abs=1e-12)
    per_pair = F.lse(changed, H36M, "none", per_pair=True)
    forearm = [
        k for k, (bl, _) in enumerate(H36M.symmetric_bone_pairs) if bl == H36M.bone_index[LWRIST]
    ]
    expected = torch.zeros(NUM_PAIRS, dtype=torch.float64)
    expected[forearm] = delta
    assert torch.allclose(per_pair, expected, atol=1e-12)
    # per sample, not from batch means
    batch = torch.stack([y, changed, stretch_bone(y, LWRIST, 3 * delta)])
    assert torch.allclose(
        F.lse(batch, H36M, "none"),
        torch.tensor([0.0, delta, 3 * delta], dtype=torch.float64) / NUM_PAIRS,
        atol=1e-12,
    )


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_bsle_of_one_stretched_bone(dtype, tol):
    y = symmetric_pose(torch.float64)
    stretched = stretch_bone(y, RKNEE, 0.010)  # RHip->RKnee 10 mm longer, shin moved along
    y, stretched = y.to(dtype), stretched.to(dtype)
    assert F.bsle(stretched, y, H36M).item() == pytest.approx(0.010 / NUM_BONES, abs=tol)
    per_bone = F.bsle(stretched, y, H36M, "none", per_bone=True)
    expected = torch.zeros(NUM_BONES, dtype=dtype)
    expected[H36M.bone_index[RKNEE]] = 0.010
    assert torch.allclose(per_bone, expected, atol=tol)
    # millimetre inputs give millimetre outputs: exactly 10 / 16 mm
    mm = F.bsle(stretched.double() * 1000, y.double() * 1000, H36M).item()
    assert mm == pytest.approx(10 / NUM_BONES, abs=1e-5 if dtype == torch.float32 else 1e-9)


def test_ratio_forms_hand_values():
    y = symmetric_pose()
    lengths = torch.linalg.norm(y[1:] - y[list(H36M.parents[1:])], dim=-1)
    forearm = lengths[H36M.bone_index[LWRIST]].item()
    thigh = lengths[H36M.bone_index[RKNEE]].item()
    changed = stretch_bone(y, LWRIST, 0.02)
    ratio = 0.02 / (2 * forearm + 0.02)
    assert F.lse_ratio(y, H36M).item() == 0.0
    assert F.lse_ratio(changed, H36M).item() == pytest.approx(ratio / NUM_PAIRS, rel=1e-10)
    stretched = stretch_bone(y, RKNEE, 0.01)
    assert F.bsle_ratio(stretched, y, H36M).item() == pytest.approx(
        0.01 / thigh / NUM_BONES, rel=1e-10
    )
    # stats over a batch of two: one pair in 12 is above 0.01
    mean_pct, share_pct = F.lse_ratio_stats(torch.stack([y, changed]), H36M, threshold=0.01)
    assert ratio > 0.01
    assert mean_pct.item() == pytest.approx(100 * ratio / (2 * NUM_PAIRS), rel=1e-10)
    assert share_pct.item() == pytest.approx(100 / (2 * NUM_PAIRS))
    # 10 mm on a 45 cm thigh (2 %) is under 0.1; 10 cm (22 %) is above
    _, share_small = F.bsle_ratio_stats(stretched, y, H36M, threshold=0.1)
    _, share_big = F.bsle_ratio_stats(stretch_bone(y, RKNEE, 0.1), y, H36M, threshold=0.1)
    assert share_small.item() == 0.0
    assert share_big.item() == pytest.approx(100 / NUM_BONES)


def test_joint_subset_uses_bones_inside_it():
    bones, pairs = F.bone_subset(H36M, HUMANEVA_ON_H36M)
    assert len(bones) == 12 and len(pairs) == NUM_PAIRS
    kept = {H36M.bones[b] for b in bones}
    assert (7, 8) not in kept and (9, 10) not in kept and (0, 1) in kept
    y = symmetric_pose()
    stretched = stretch_bone(y, RKNEE, 0.012)
    # Spine and Neck/Nose unknown (NaN): ignored since no kept bone touches them
    for t in (y, stretched):
        t[H36M.index("Spine")] = float("nan")
        t[H36M.index("Neck/Nose")] = float("nan")
    assert F.bsle(stretched, y, H36M, joints=HUMANEVA_ON_H36M).item() == pytest.approx(0.001)
    assert F.lse(stretched, H36M, joints=HUMANEVA_ON_H36M).item() == pytest.approx(0.002)
    with pytest.raises(NonFiniteError):
        F.lse(stretched, H36M)  # all joints: NaN is an error
    # a subset without any left/right pair
    with pytest.raises(SkeletonMismatchError, match="no symmetric bone pairs"):
        F.lse(symmetric_pose(), H36M, joints=[0, 7, 8, 9, 10])


def test_skeleton_without_pairs_is_refused():
    from sealloss.pose.skeleton import Skeleton

    chain = Skeleton("chain3", ("a", "b", "c"), (-1, 0, 1))
    y = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0]])
    with pytest.raises(SkeletonMismatchError, match="no symmetric bone pairs"):
        F.lse(y, chain)
    assert F.bsle(y, y, chain).item() == 0.0


# --------------------------------------------------------------------------- PCK / AUC
def _errors_pose(errs: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    gt = torch.zeros(1, len(errs), 3, dtype=torch.float64)
    pred = gt.clone()
    pred[0, :, 1] = torch.tensor(errs, dtype=torch.float64)
    return pred, gt


def test_pck_auc_hand_values():
    # errors 0, 52, 102, 200 mm; thresholds 0, 5, ..., 150 mm (strictly below counts)
    pred, gt = _errors_pose([0.0, 0.052, 0.102, 0.2])
    assert F.pck(pred, gt).item() == pytest.approx(0.75)
    # thresholds above each error: 30, 20, 10, 0 of 31
    assert F.auc(pred, gt).item() == pytest.approx(60 / 124)
    # same numbers in millimetres with millimetre thresholds
    assert F.pck(pred * 1000, gt * 1000, threshold=150.0).item() == pytest.approx(0.75)
    assert F.auc(pred * 1000, gt * 1000, max_threshold=150.0).item() == pytest.approx(60 / 124)
    # an error exactly on the threshold is not correct (MPI-INF-3DHP uses "<")
    on, gt1 = _errors_pose([0.1])
    assert F.pck(on, gt1, threshold=0.1).item() == 0.0
    assert F.pck(on, gt1, threshold=0.1 + 1e-9).item() == 1.0
    assert math.isclose(F.auc(gt1, gt1, steps=1).item(), 0.0)  # threshold 0 only
    with pytest.raises(ValueError, match="steps"):
        F.auc(pred, gt, steps=0)

"""Streaming evaluator (sealloss.metrics.evaluator): sums, merges, breakdowns, hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_metrics import (
    H36M,
    HUMANEVA_ON_H36M,
    NUM_BONES,
    NUM_PAIRS,
    RKNEE,
    noisy_batch,
    stretch_bone,
    symmetric_pose,
)

from sealloss.errors import NonFiniteError, PoseShapeError, UnitsWarning
from sealloss.metrics import EvalResult, PoseEvaluator, evaluate
from sealloss.pose.skeleton import joint_map

ACTIONS = ("Walking", "Sitting", "Eating")


def _data(n: int = 60, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    g = torch.Generator().manual_seed(seed)
    gt = noisy_batch(n, g, sigma=0.02)
    pred = gt + 0.04 * torch.randn(gt.shape, generator=g, dtype=torch.float64)
    idx = torch.randint(0, len(ACTIONS), (n,), generator=g).tolist()
    return pred.float(), gt.float(), [ACTIONS[i] for i in idx]


def _assert_same(a: EvalResult, b: EvalResult, tol: float = 1e-9) -> None:
    assert a.count == b.count and a.per_action_count == b.per_action_count
    assert a.summary.keys() == b.summary.keys()
    for k in a.summary:
        assert abs(a.summary[k] - b.summary[k]) <= tol, k
    assert a.per_action.keys() == b.per_action.keys()
    for act in a.per_action:
        for k in a.summary:
            assert abs(a.per_action[act][k] - b.per_action[act][k]) <= tol, (act, k)
    assert a.per_joint.keys() == b.per_joint.keys()
    for j in a.per_joint:
        assert abs(a.per_joint[j] - b.per_joint[j]) <= tol, j


def test_summary_keys():
    pred, gt, acts = _data(5)
    res = evaluate(pred, gt, "h36m17", actions=acts)
    assert list(res.summary) == [
        "MPJPE", "P-MPJPE", "N-MPJPE", "LSE", "LSE_gt", "BSLE", "LSE%", "LSE%>0.01", "LSE%_gt",
        "BSLE%", "BSLE%>0.1", "PCK150", "AUC",
    ]  # fmt: skip
    assert list(res.per_joint) == list(H36M.joint_names)
    assert all(math.isfinite(v) for v in res.summary.values())


def test_hand_values_of_one_stretched_bone():
    """RHip->RKnee 12 mm longer (shin moved along): every metric by hand."""
    y = symmetric_pose()
    thigh = (y[RKNEE] - y[H36M.parents[RKNEE]]).norm().item()
    pred = stretch_bone(y, RKNEE, 0.012)
    s = evaluate(pred[None], y[None], "h36m17").summary
    assert s["MPJPE"] == pytest.approx(2 * 12 / 17)  # RKnee and RFoot moved by 12 mm
    assert s["BSLE"] == pytest.approx(12 / NUM_BONES)
    assert s["LSE"] == pytest.approx(12 / NUM_PAIRS)  # the thigh pair differs by 12 mm
    assert s["LSE_gt"] == 0.0 and s["LSE%_gt"] == 0.0
    ratio = 0.012 / (2 * thigh + 0.012)
    assert s["LSE%"] == pytest.approx(100 * ratio / NUM_PAIRS)
    assert s["LSE%>0.01"] == pytest.approx(100 / NUM_PAIRS)  # ratio = 1.3 % > 1 %
    assert s["BSLE%"] == pytest.approx(100 * 0.012 / thigh / NUM_BONES)
    assert s["BSLE%>0.1"] == 0.0
    assert s["PCK150"] == 100.0
    # AUC: 15 exact joints count at thresholds 5..150 (30 of 31), two 12 mm joints at 15..150 (28)
    assert s["AUC"] == pytest.approx(100 * (15 * 30 + 2 * 28) / (17 * 31))
    # Procrustes minimises squared error: it spreads the two 12 mm errors over all joints
    assert s["P-MPJPE"] > 0


def test_batched_update_equals_one_shot():
    pred, gt, acts = _data(60)
    one = evaluate(pred, gt, "h36m17", actions=acts, batch_size=10_000)
    ev = PoseEvaluator("h36m17")
    for a, b in ((0, 7), (7, 20), (20, 21), (21, 60)):
        ev.update(pred[a:b], gt[a:b], acts[a:b])
    _assert_same(one, ev.result())
    assert ev.count == 60


def test_merge_equals_single():
    pred, gt, acts = _data(40, seed=1)
    single = PoseEvaluator("h36m17")
    single.update(pred, gt, acts)
    # two "processes" with different actions each
    a, b = PoseEvaluator("h36m17"), PoseEvaluator("h36m17")
    a.update(pred[:25], gt[:25], acts[:25])
    b.update(pred[25:], gt[25:], acts[25:])
    merged = PoseEvaluator("h36m17").merge(a).merge(b)
    _assert_same(single.result(), merged.result())
    with pytest.raises(ValueError, match="same configuration"):
        a.merge(PoseEvaluator("h36m17", units="mm"))
    a.reset()
    assert a.count == 0
    with pytest.raises(ValueError, match="before any update"):
        a.compute()


def test_per_action_breakdown():
    pred, gt, acts = _data(45, seed=2)
    res = evaluate(pred, gt, "h36m17", actions=acts)
    assert list(res.per_action) == sorted(set(acts))
    total = 0.0
    for act, metrics in res.per_action.items():
        idx = [i for i, a in enumerate(acts) if a == act]
        alone = evaluate(pred[idx], gt[idx], "h36m17").summary
        assert res.per_action_count[act] == len(idx)
        for k in alone:
            assert metrics[k] == pytest.approx(alone[k], abs=1e-9), (act, k)
        total += metrics["MPJPE"] * len(idx)
    assert res.summary["MPJPE"] == pytest.approx(total / 45)
    text = res.table(per_joint=True)
    assert all(a in text for a in ACTIONS) and "All" in text and "RWrist" in text
    assert len(text.splitlines()[0]) == len(text.splitlines()[1])


def test_actions_forms():
    pred, gt, _ = _data(12, seed=3)
    video_p, video_g = pred.reshape(3, 4, 17, 3), gt.reshape(3, 4, 17, 3)
    per_clip = evaluate(video_p, video_g, "h36m17", actions=["a", "b", "a"])
    assert per_clip.per_action_count == {"a": 8, "b": 4}
    one = evaluate(video_p, video_g, "h36m17", actions="all")
    assert one.per_action_count == {"all": 12}
    assert one.per_action["all"]["MPJPE"] == pytest.approx(one.summary["MPJPE"])
    with pytest.raises(PoseShapeError, match="actions has 5 entries"):
        evaluate(video_p, video_g, "h36m17", actions=["a"] * 5)


def test_units_and_root_alignment():
    pred, gt, acts = _data(20, seed=4)
    in_m = evaluate(pred.double(), gt.double(), "h36m17", actions=acts).summary
    in_mm = evaluate(pred.double() * 1000, gt.double() * 1000, "h36m17", units="mm").summary
    in_cm = evaluate(pred.double() * 100, gt.double() * 100, "h36m17", units="cm").summary
    for k in in_m:
        assert in_mm[k] == pytest.approx(in_m[k], abs=1e-9), k
        assert in_cm[k] == pytest.approx(in_m[k], abs=1e-9), k
    shifted = gt + torch.tensor([0.1, 0.0, 0.0])  # a global offset of 100 mm
    assert evaluate(shifted, gt, "h36m17").summary["MPJPE"] == pytest.approx(0.0, abs=1e-4)
    raw = evaluate(shifted, gt, "h36m17", root_align=False).summary
    assert raw["MPJPE"] == pytest.approx(100.0, abs=1e-3)
    assert raw["P-MPJPE"] == pytest.approx(0.0, abs=1e-3)
    with pytest.warns(UnitsWarning, match="millimetres"):
        evaluate(gt * 1000, gt * 1000, "h36m17")  # mm values declared as metres
    with pytest.raises(PoseShapeError, match="unknown units"):
        PoseEvaluator("h36m17", units="inch")


def test_joint_subset():
    y = symmetric_pose()
    pred = stretch_bone(y, RKNEE, 0.012)
    gt = y.clone()
    gt[[H36M.index("Spine"), H36M.index("Neck/Nose")]] = float("nan")
    res = evaluate(pred[None], gt[None], "h36m17", joints=HUMANEVA_ON_H36M)
    assert len(res.per_joint) == 15 and "Spine" not in res.per_joint
    assert res.summary["MPJPE"] == pytest.approx(2 * 12 / 15)
    assert res.summary["BSLE"] == pytest.approx(12 / 12)  # 12 bones inside the subset
    assert res.summary["LSE"] == pytest.approx(12 / NUM_PAIRS)
    with pytest.raises(NonFiniteError, match="gt"):
        evaluate(pred[None], gt[None], "h36m17")  # all joints: the NaN ones count


def test_bad_inputs():
    ev = PoseEvaluator("h36m17")
    with pytest.raises(PoseShapeError, match="same shape"):
        ev.update(torch.zeros(2, 17, 3), torch.zeros(3, 17, 3))
    with pytest.raises(PoseShapeError, match=r"\(\.\.\., 17, 3\)"):
        ev.update(torch.zeros(2, 16, 3), torch.zeros(2, 16, 3))
    with pytest.raises(PoseShapeError, match="floating"):
        ev.update(torch.zeros(2, 17, 3, dtype=torch.long), torch.zeros(2, 17, 3, dtype=torch.long))
    ev.update(np.zeros((2, 17, 3), np.float32), np.zeros((2, 17, 3), np.float32))  # numpy ok
    assert ev.compute()["MPJPE"] == 0.0


# --------------------------------------------------------------------------- real data
def test_h36m_ground_truth_is_symmetric(h36m_root):
    d = np.load(h36m_root / "h36m_3d17_world_10hz.npz")
    gt = torch.from_numpy(d["positions_3d"][::50].astype(np.float64))  # ~2000 poses, mm, world
    g = torch.Generator().manual_seed(0)
    pred = gt + 20.0 * torch.randn(gt.shape, generator=g, dtype=torch.float64)
    s = evaluate(pred, gt, "h36m17", units="mm").summary
    assert s["LSE_gt"] < 0.01  # measured 0.0014 mm (float32 storage rounding)
    assert s["LSE"] > 10.0  # noise breaks the symmetry
    # root-aligned noise: each non-root joint error is sqrt(2) * 20 mm times a chi(3) variable
    chi3_mean = 2 * math.sqrt(2 / math.pi)
    assert s["MPJPE"] == pytest.approx(20.0 * math.sqrt(2) * chi3_mean * 16 / 17, rel=0.02)


def test_humaneva_on_h36m_subset_matches_native(humaneva_root):
    d = np.load(humaneva_root / "data_3d_humaneva15.npz", allow_pickle=True)["positions_3d"].item()
    subject = sorted(d)[0]
    gt = torch.from_numpy(np.asarray(d[subject][sorted(d[subject])[0]], dtype=np.float64))
    g = torch.Generator().manual_seed(1)
    pred = gt + 0.02 * torch.randn(gt.shape, generator=g, dtype=torch.float64)
    native = evaluate(pred, gt, "humaneva15").summary
    jm = joint_map("humaneva15", "h36m17")
    mapped = evaluate(jm.apply(pred), jm.apply(gt), "h36m17", joints=jm.valid_target).summary
    # same joints, same root, same six symmetric pairs; BSLE differs (12 vs 14 bones)
    for k in ("MPJPE", "P-MPJPE", "N-MPJPE", "LSE", "LSE_gt", "LSE%", "LSE%_gt", "PCK150", "AUC"):
        assert mapped[k] == pytest.approx(native[k], rel=1e-9, abs=1e-9), k
    assert native["LSE_gt"] > 5.0  # HumanEva's skeletons are not symmetric (measured ~13 mm)


def test_skeleton_without_pairs_reports_nan_for_symmetry():
    from sealloss.pose.skeleton import Skeleton

    chain = Skeleton("chain3_eval", ("a", "b", "c"), (-1, 0, 1))
    gt = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0], [0.1, 0.2, 0]]])
    pred = gt.clone()
    pred[0, 2, 1] += 0.01  # second bone 10 mm longer
    s = evaluate(pred, gt, chain).summary
    assert math.isnan(s["LSE"]) and math.isnan(s["LSE%"]) and math.isnan(s["LSE_gt"])
    assert s["BSLE"] == pytest.approx(5.0) and s["MPJPE"] == pytest.approx(10 / 3)

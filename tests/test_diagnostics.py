"""Training diagnostics: hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from sealloss.errors import PoseShapeError
from sealloss.training.diagnostics import (
    SealStats,
    alignment,
    energy_gap,
    force_ratio,
    margin_violations,
    ranking_accuracy,
    ranking_accuracy_by_kind,
)


def test_energy_gap_hand_values():
    gap = energy_gap(torch.tensor([3.0, 5.0, 1.0, 3.0]), torch.tensor([1.0, 1.0, 1.0, 1.0]))
    # gaps 2, 4, 0, 2: mean 2, population std sqrt(2)
    assert gap.mean.item() == pytest.approx(2.0)
    assert gap.std.item() == pytest.approx(math.sqrt(2.0))
    assert gap.ratio.item() == pytest.approx(math.sqrt(2.0))
    single = energy_gap(torch.tensor([1.0]), torch.tensor([0.0]))
    assert single.std.item() == 0.0 and math.isnan(single.ratio.item())
    with pytest.raises(PoseShapeError, match="same shape"):
        energy_gap(torch.zeros(3), torch.zeros(4))


def test_margin_violations_hand_values():
    e_pred = torch.tensor([1.0, 0.5, 2.0, 0.0])
    e_gt = torch.tensor([0.0, 0.0, 0.0, 0.0])
    cost = torch.tensor([0.5, 1.0, 2.5, 0.0])
    # gaps 1, 0.5, 2, 0 vs m*cost = 1, 2, 5, 0: violations at 1 and 2 (strict <)
    assert margin_violations(e_pred, e_gt, cost, margin=2.0).item() == 0.5
    assert margin_violations(e_pred, e_gt, 0.6).item() == 0.5  # 0.5 < 0.6 and 0 < 0.6
    e_neg = torch.tensor([[1.0, -1.0], [0.0, 3.0]])
    assert margin_violations(e_neg, torch.tensor([0.0, 1.0]), 0.0).item() == 0.5


def test_force_ratio_hand_value():
    g_e = torch.tensor([[3.0, 0.0], [0.0, 4.0]])  # norm 5
    g_s = torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # norm 1
    assert force_ratio(g_e, g_s, lam=0.01).item() == pytest.approx(0.05)
    assert force_ratio(g_e, g_s, lam=torch.tensor(-2.0)).item() == pytest.approx(10.0)
    assert math.isinf(force_ratio(g_e, torch.zeros(2, 2), 1.0).item())
    with pytest.raises(PoseShapeError):
        force_ratio(g_e, torch.zeros(2, 3))


def test_alignment_hand_values():
    y_hat = torch.zeros(3, 2, 3)
    y_gt = torch.zeros(3, 2, 3)
    y_gt[:, 0, 0] = 1.0  # error direction: +x on joint 0
    g = torch.zeros(3, 2, 3)
    g[0, 0, 0] = -2.0  # -g points along +x: cos = 1
    g[1, 0, 1] = 1.0  # orthogonal: cos = 0
    g[2, 0, 0] = 1.0  # pushes away: cos = -1; mean of (1, 0, -1) = 0
    assert alignment(g, y_hat, y_gt).item() == pytest.approx(0.0)
    assert alignment(g[:1], y_hat[:1], y_gt[:1]).item() == pytest.approx(1.0)
    per = alignment(g, y_hat, y_gt, per_sample=True)
    assert per.tolist() == pytest.approx([1.0, 0.0, -1.0])
    g2 = g.clone()
    g2[2] = 0.0  # zero gradient: cosine defined as 0 -> mean (1 + 0 + 0) / 3
    assert alignment(g2, y_hat, y_gt).item() == pytest.approx(1.0 / 3.0)


def test_alignment_matches_true_descent_direction():
    g0 = torch.Generator().manual_seed(0)
    y_gt = torch.randn(4, 17, 3, generator=g0)
    y_hat = (y_gt + 0.1 * torch.randn(4, 17, 3, generator=g0)).requires_grad_()
    energy = (y_hat - y_gt).pow(2).sum()  # an energy minimised exactly at the ground truth
    (g,) = torch.autograd.grad(energy, y_hat)
    assert alignment(g, y_hat, y_gt).item() == pytest.approx(1.0, abs=1e-6)


def test_ranking_accuracy_per_column_and_by_kind():
    e_pos = torch.tensor([0.0, 1.0, 2.0, 3.0])
    e_neg = torch.tensor([[1.0, -1.0, 5.0], [1.0, 2.0, 5.0], [3.0, 0.0, 5.0], [2.0, 4.0, 5.0]])
    acc = ranking_accuracy(e_pos, e_neg)
    assert acc.tolist() == [0.5, 0.5, 1.0]  # tie at row 1 column 0 counts as a failure
    by_kind = ranking_accuracy_by_kind(e_pos, e_neg, ["gaussian", "gaussian", "swap"])
    assert by_kind == {"gaussian": 0.5, "swap": 1.0}
    assert ranking_accuracy(e_pos, e_neg[:, 2]).tolist() == [1.0]
    with pytest.raises(PoseShapeError, match="labels"):
        ranking_accuracy_by_kind(e_pos, e_neg, ["a"])


def test_diagnostics_collect_and_as_dict():
    e_gt = torch.tensor([0.0, 0.0])
    e_pred = torch.tensor([1.0, 3.0])
    d = SealStats.collect(
        e_pred=e_pred,
        e_gt=e_gt,
        cost=torch.tensor([2.0, 2.0]),
        grad_energy=torch.tensor([[3.0, 4.0], [0.0, 0.0]]),
        grad_sup=torch.tensor([[0.0, 10.0], [0.0, 0.0]]),
        lam=0.2,
        y_hat=torch.zeros(2, 2),
        y_gt=torch.tensor([[-3.0, -4.0], [1.0, 0.0]]),
        e_neg=torch.tensor([[1.0, -1.0], [1.0, 1.0]]),
        kinds=["gaussian", "swap"],
    )
    out = d.as_dict()
    assert out["energy_gap"] == pytest.approx(2.0)
    assert out["energy_gap_std"] == pytest.approx(1.0)
    assert out["gap_snr"] == pytest.approx(2.0)
    assert out["margin_violations"] == pytest.approx(0.5)
    assert out["force_ratio"] == pytest.approx(0.1)
    assert out["alignment"] == pytest.approx(0.5)  # cos 1 and cos 0 (zero gradient)
    assert out["ranking/prediction"] == 1.0
    assert out["ranking/gaussian"] == 1.0 and out["ranking/swap"] == 0.5
    assert all(isinstance(v, float) for v in out.values())
    assert SealStats().measured() == {"step": 0.0, "scored": 0.0, "lossnet_updated": 0.0,
                                      "skipped_energy_steps": 0.0, "skipped_lossnet_steps": 0.0}
    partial = SealStats.collect(e_gt=e_gt, e_neg=torch.ones(2, 3)).measured(prefix="val/")
    assert partial["val/ranking/all"] == 1.0 and "val/energy_gap" not in partial

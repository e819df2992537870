"""Loss-net objectives: margin, NCE, regularisers and reducers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sealloss.errors import PoseShapeError
from sealloss.metrics.reduction import (
    AvgNonZeroReducer,
    MeanReducer,
    NoReducer,
    ThresholdReducer,
    reduce,
)
from sealloss.objectives import (
    MarginObjective,
    NCEObjective,
    energy_magnitude,
    gradient_penalty,
    margin_loss,
    nce_loss,
    task_cost,
)


def _energies(b=5, k=3, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    e_pos = torch.randn(b, generator=g, dtype=dtype)
    e_neg = torch.randn(b, k, generator=g, dtype=dtype)
    cost = torch.rand(b, k, generator=g, dtype=dtype)
    return e_pos, e_neg, cost


# --------------------------------------------------------------------------- task cost
def test_task_cost_hand_values():
    y_gt = torch.zeros(1, 2, 3)
    y_neg = torch.zeros(1, 2, 2, 3)
    y_neg[0, 0, 1] = torch.tensor([3.0, 4.0, 0.0])  # one joint 5 m off
    y_neg[0, 1] = torch.tensor([0.0, 0.0, 2.0])  # both joints 2 m off
    assert torch.allclose(task_cost(y_neg, y_gt), torch.tensor([[2.5, 2.0]]))
    assert torch.allclose(task_cost(y_neg, y_gt, "mse"), torch.tensor([[12.5, 4.0]]))


def _h36m_pose():
    from sealloss.pose.skeleton import get_skeleton

    sk = get_skeleton("h36m17")
    g = torch.Generator().manual_seed(3)
    y = torch.randn(1, 17, 3, generator=g) * 0.2
    return sk, y


def test_task_cost_bone_kinds_hand_values():
    sk, y = _h36m_pose()
    leaf = next(c for _, c in sk.bones if c not in {p for p, _ in sk.bones})
    parent = next(p for p, c in sk.bones if c == leaf)
    d = y[0, leaf] - y[0, parent]
    y_neg = y.unsqueeze(1).repeat(1, 2, 1, 1)
    y_neg[0, 0, leaf] += 0.16 * d / d.norm()  # leaf bone 16 cm longer
    y_neg[0, 1, leaf] = y[0, parent] - d  # leaf bone reversed: same length, moved 2|d|
    nb = len(sk.bones)
    bone = task_cost(y_neg, y[0:1], "bone", skeleton="h36m17")
    assert torch.allclose(bone, torch.tensor([[0.16 / nb, 0.0]]), atol=1e-6)
    both = task_cost(y_neg, y[0:1], "mpjpe+bone", skeleton=sk)
    mpjpe = torch.tensor([[0.16 / 17, 2 * float(d.norm()) / 17]])
    assert torch.allclose(both, mpjpe + torch.tensor([[0.16 / nb, 0.0]]), atol=1e-6)


def test_task_cost_bone_kinds_need_the_skeleton():
    sk, y = _h36m_pose()
    with pytest.raises(ValueError, match="needs the skeleton"):
        task_cost(y.unsqueeze(1), y, "bone")
    with pytest.raises(ValueError, match="needs the skeleton"):
        MarginObjective(cost="mpjpe+bone")
    with pytest.raises(PoseShapeError, match="16"):
        task_cost(y[:, :16].unsqueeze(1), y[:, :16], "bone", skeleton=sk)
    obj = MarginObjective(margin=1.0, cost="bone", skeleton=sk)
    loss = obj(torch.zeros(1), torch.zeros(1, 1), y_neg=y.unsqueeze(1) * 1.1, y_gt=y)
    assert float(loss) > 0


def test_task_cost_errors():
    with pytest.raises(PoseShapeError, match="disagree"):
        task_cost(torch.zeros(2, 3, 17, 3), torch.zeros(2, 16, 3))
    with pytest.raises(ValueError, match="unknown task cost"):
        task_cost(torch.zeros(2, 3, 17, 3), torch.zeros(2, 17, 3), "l1")


# --------------------------------------------------------------------------- margin
def test_margin_matches_brute_force_loop():
    e_pos, e_neg, cost = _energies()
    m = 2.0
    ref = torch.zeros(5)
    for b in range(5):
        acc = 0.0
        for k in range(3):
            acc += max(0.0, m * cost[b, k].item() - e_neg[b, k].item() + e_pos[b].item())
        ref[b] = acc / 3
    out = margin_loss(e_pos, e_neg, cost, margin=m, reduction="none")
    assert out.shape == (5,)
    assert torch.allclose(out, ref, atol=1e-6)
    assert torch.allclose(margin_loss(e_pos, e_neg, cost, m), ref.mean(), atol=1e-6)
    assert torch.allclose(margin_loss(e_pos, e_neg, cost, m, "sum"), ref.sum(), atol=1e-6)


def test_margin_hand_value_and_zero_when_gap_large():
    e_pos = torch.tensor([0.0])
    out = margin_loss(e_pos, torch.tensor([[0.5, 3.0]]), torch.tensor([[1.0, 1.0]]), 1.0, "none")
    assert torch.allclose(out, torch.tensor([0.25]))  # (0.5 + 0) / 2
    far = margin_loss(torch.zeros(4), torch.full((4, 6), 10.0), torch.full((4, 6), 0.05))
    assert far.item() == 0.0


def test_margin_scalar_cost_and_cost_is_detached():
    e_pos, e_neg, cost = _energies()
    a = margin_loss(e_pos, e_neg, 0.3, reduction="none")
    b = margin_loss(e_pos, e_neg, torch.full_like(e_neg, 0.3), reduction="none")
    assert torch.allclose(a, b)
    cost = cost.clone().requires_grad_()
    e_neg = e_neg.clone().requires_grad_()
    margin_loss(e_pos, e_neg, cost, margin=5.0).backward()
    assert cost.grad is None
    assert e_neg.grad is not None


def test_margin_gradients_count_active_hinges():
    e_pos = torch.tensor([0.0, 0.0], requires_grad=True)
    e_neg = torch.tensor([[0.5, 3.0], [0.0, 0.1]], requires_grad=True)
    margin_loss(e_pos, e_neg, torch.ones(2, 2), reduction="mean").backward()
    # active hinges: (0,0), (1,0), (1,1); d/d e_pos = active / K / B
    assert torch.allclose(e_pos.grad, torch.tensor([0.25, 0.5]))
    assert torch.allclose(e_neg.grad, -torch.tensor([[0.25, 0.0], [0.25, 0.25]]))


def test_margin_module_equals_function_and_computes_cost():
    e_pos, e_neg, _ = _energies(b=2, k=4)
    g = torch.Generator().manual_seed(1)
    y_gt = torch.randn(2, 17, 3, generator=g)
    y_neg = y_gt.unsqueeze(1) + 0.1 * torch.randn(2, 4, 17, 3, generator=g)
    mod = MarginObjective(margin=3.0)
    expect = margin_loss(e_pos, e_neg, task_cost(y_neg, y_gt), 3.0)
    assert torch.allclose(mod(e_pos, e_neg, y_neg, y_gt), expect)
    per = MarginObjective(3.0, reducer=NoReducer())(e_pos, e_neg, y_neg, y_gt)
    assert per.shape == (2,)
    with pytest.raises(ValueError, match="needs either cost"):
        mod(e_pos, e_neg)
    assert "margin=3.0" in repr(mod)


def test_margin_shape_errors_name_the_argument():
    e_pos, e_neg, cost = _energies()
    with pytest.raises(PoseShapeError, match=r"e_pos .*\(B,\)"):
        margin_loss(e_pos[:, None], e_neg, cost)
    with pytest.raises(PoseShapeError, match=r"e_neg .*\(B, K\)"):
        margin_loss(e_pos, e_neg[:, 0], cost)
    with pytest.raises(PoseShapeError, match="B=5 but e_neg has B=4"):
        margin_loss(e_pos, e_neg[:4], cost[:4])
    with pytest.raises(PoseShapeError, match="one cost per"):
        margin_loss(e_pos, e_neg, cost[:, :2])
    with pytest.raises(ValueError, match="unknown reduction"):
        margin_loss(e_pos, e_neg, cost, reduction="avg")


def test_margin_gradcheck_float64():
    e_pos, e_neg, cost = _energies(dtype=torch.float64)
    e_pos.requires_grad_()
    e_neg.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: margin_loss(a, b, cost, 2.0), (e_pos, e_neg))


# --------------------------------------------------------------------------- NCE
@pytest.mark.parametrize("temperature", [1.0, 0.37, 4.0])
def test_nce_k1_is_logistic_ranking(temperature):
    e_pos, e_neg, _ = _energies(b=7, k=1, seed=3)
    out = nce_loss(e_pos, e_neg, temperature, reduction="none")
    expect = F.softplus(-(e_neg[:, 0] - e_pos) / temperature)
    assert torch.allclose(out, expect, atol=1e-6)


def test_nce_matches_brute_force_with_log_q():
    e_pos, e_neg, _ = _energies(b=4, k=5, seed=2)
    log_q = -torch.rand(4, 5, generator=torch.Generator().manual_seed(9))
    t = 0.5
    ref = []
    for b in range(4):
        num = math.exp(-e_pos[b].item() / t)
        den = num + sum(
            math.exp(-e_neg[b, k].item() / t - log_q[b, k].item()) for k in range(5)
        )
        ref.append(-math.log(num / den))
    out = nce_loss(e_pos, e_neg, t, log_q, reduction="none")
    assert torch.allclose(out, torch.tensor(ref), atol=1e-5)


def test_nce_hand_values():
    # equal energies, two negatives: log 3; with log_q = log 2 on both: log(1 + 1/2 + 1/2)
    zeros = torch.zeros(1, 2)
    assert nce_loss(torch.zeros(1), zeros).item() == pytest.approx(math.log(3))
    out = nce_loss(torch.zeros(1), zeros, log_q=torch.full((1, 2), math.log(2.0)))
    assert out.item() == pytest.approx(math.log(2))


def test_nce_is_stable_for_large_energies_and_has_finite_gradients():
    e_pos = torch.tensor([1e4, -1e4], requires_grad=True)
    e_neg = torch.tensor([[-1e4, 3e4], [1e4, 0.0]], requires_grad=True)
    loss = nce_loss(e_pos, e_neg, temperature=0.1)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(e_pos.grad).all() and torch.isfinite(e_neg.grad).all()


def test_nce_gradcheck_and_module():
    e_pos, e_neg, _ = _energies(dtype=torch.float64)
    e_pos.requires_grad_()
    e_neg.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: nce_loss(a, b, 0.7), (e_pos, e_neg))
    mod = NCEObjective(0.7, reducer=ThresholdReducer(0.5))
    expect = nce_loss(e_pos, e_neg, 0.7, reduction=ThresholdReducer(0.5))
    assert torch.allclose(mod(e_pos, e_neg), expect)
    assert torch.allclose(NCEObjective(0.7)(e_pos, e_neg), nce_loss(e_pos, e_neg, 0.7))


def test_nce_errors():
    e_pos, e_neg, _ = _energies()
    with pytest.raises(ValueError, match="temperature"):
        nce_loss(e_pos, e_neg, 0.0)
    with pytest.raises(PoseShapeError, match="log_q"):
        nce_loss(e_pos, e_neg, log_q=torch.zeros(5, 2))
    with pytest.raises(PoseShapeError, match="floating"):
        nce_loss(e_pos.long(), e_neg)


# --------------------------------------------------------------------------- reducers
def test_reducers_hand_values():
    x = torch.tensor([0.0, 1.0, 2.0, 3.0])
    assert MeanReducer()(x).item() == 1.5
    assert ThresholdReducer(1.5)(x).item() == 2.5
    assert ThresholdReducer(0.5, high=2.5)(x).item() == 1.5
    assert AvgNonZeroReducer()(torch.tensor([0.0, 0.0, 2.0, 4.0])).item() == 3.0
    assert reduce(x, "sum").item() == 6.0
    assert reduce(x, "none") is x


def test_threshold_reducer_empty_selection_is_zero_with_graph():
    x = torch.zeros(3, requires_grad=True)
    out = AvgNonZeroReducer()(x)
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(x.grad, torch.zeros(3))
    with pytest.raises(ValueError, match="high"):
        ThresholdReducer(1.0, high=0.5)


def test_avg_nonzero_margin_averages_only_violating_samples():
    e_pos = torch.zeros(3)
    e_neg = torch.tensor([[10.0], [0.0], [0.5]])
    cost = torch.ones(3, 1)
    # per-sample hinges: 0, 1, 0.5 -> mean of non-zero = 0.75
    assert margin_loss(e_pos, e_neg, cost, reduction=AvgNonZeroReducer()).item() == 0.75


# --------------------------------------------------------------------------- regularisers
def test_energy_magnitude_hand_values():
    out = energy_magnitude(torch.tensor([1.0, 0.0]), torch.tensor([[2.0, 3.0], [1.0, -1.0]]))
    assert torch.allclose(out, torch.tensor([14.0 / 3.0, 2.0 / 3.0]))
    assert torch.allclose(energy_magnitude(torch.tensor([2.0, -1.0])), torch.tensor([4.0, 1.0]))
    assert energy_magnitude(torch.tensor([2.0, -1.0]), reduction="mean").item() == 2.5


def test_gradient_penalty_values_and_double_backward():
    y = torch.randn(2, 3, 17, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    energy = 0.5 * y.pow(2).sum((-1, -2))  # dE/dy = y
    gp = gradient_penalty(energy, y)
    assert gp.shape == (2, 3)
    assert torch.allclose(gp, y.detach().pow(2).sum((-1, -2)))
    (g,) = torch.autograd.grad(gp.sum(), y)
    assert torch.allclose(g, 2 * y.detach())  # d||y||^2/dy, through the graph


def test_gradient_penalty_errors():
    y = torch.zeros(2, 17, 3)
    with pytest.raises(ValueError, match="requires_grad"):
        gradient_penalty(torch.zeros(2), y)
    y.requires_grad_()
    with pytest.raises(PoseShapeError, match="leading shape"):
        gradient_penalty(y.sum((-1, -2))[:1], y)

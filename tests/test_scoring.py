"""Plausibility scoring: energies, rankings and per-joint blame, checked by hand on a toy net."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from sealloss.errors import PoseShapeError
from sealloss.nn import GraphormerLossNet, LossNet, MLPLossNet
from sealloss.pose.skeleton import get_skeleton
from sealloss.posthoc.scoring import (
    PlausibilityScores,
    energy_blame,
    energy_threshold,
    gradient_blame,
    joint_baseline,
    pose_energies,
    score_poses,
)

J = 17


class QuadraticNet(LossNet):
    """E = sum_j |y_j - ref_j|^2 on root-relative poses; e_j = |y_j - ref_j|^2."""

    kind = "toy"
    has_per_joint = True

    def __init__(self, ref: Tensor) -> None:
        super().__init__("h36m17")
        self.ref = nn.Parameter(ref.clone(), requires_grad=False)

    def _energy(self, x2d: Tensor, y3d: Tensor, per_joint: bool) -> tuple[Tensor, Tensor | None]:
        e_j = (y3d - self.ref).pow(2).sum(-1)
        return e_j.sum(-1), e_j

    @property
    def hparams(self) -> dict[str, Any]:
        return {}


def _ref_pose() -> Tensor:
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(J, 3, generator=g) * 0.2
    ref[0] = 0.0  # root-relative (h36m17 root is joint 0)
    return ref


@pytest.fixture()
def toy() -> QuadraticNet:
    return QuadraticNet(_ref_pose())


def _perturbed(ref: Tensor, joints: list[int], dists: list[float]) -> Tensor:
    y = ref.expand(len(joints), J, 3).clone()
    for i, (j, d) in enumerate(zip(joints, dists)):
        y[i, j, 1] += d  # move joint j by d metres along y
    return y


def test_energy_ranking_and_blame_by_hand(toy: QuadraticNet) -> None:
    ref = toy.ref.detach()
    joints, dists = [3, 7, 11, 16, 5], [0.05, 0.30, 0.10, 0.20, 0.0]
    y = _perturbed(ref, joints, dists)
    x = torch.zeros(5, J, 2)
    s = score_poses(toy, x, y, blame="energy")
    assert isinstance(s, PlausibilityScores) and s.method == "energy"
    torch.testing.assert_close(s.energy, torch.tensor(dists) ** 2, atol=1e-7, rtol=0)
    assert s.ranking().tolist() == [1, 3, 2, 0, 4]
    assert s.ranking(descending=False).tolist() == [4, 0, 2, 3, 1]
    # per-joint median over the 5 poses is 0 for every joint, so blame = per-joint energy
    want = torch.zeros(5, J)
    for i, (j, d) in enumerate(zip(joints, dists)):
        want[i, j] = d**2
    torch.testing.assert_close(s.blame, want, atol=1e-7, rtol=0)
    assert s.worst_joint()[:4].tolist() == joints[:4]
    names = get_skeleton("h36m17").joint_names
    top = s.top(2)
    assert [t["index"] for t in top] == [1, 3]
    assert top[0]["worst_joint"] == names[7]
    assert top[0]["blame"] == pytest.approx(0.09, abs=1e-6)
    table = s.table(2)
    assert names[7] in table and names[16] in table and len(table.splitlines()) == 4
    assert s.flag(0.02).tolist() == [False, True, False, True, False]


def test_gradient_blame_by_hand(toy: QuadraticNet) -> None:
    ref = toy.ref.detach()
    y = _perturbed(ref, [4, 9], [0.1, -0.25])
    s = score_poses(toy, torch.zeros(2, J, 2), y, blame="gradient")
    # dE/dy_j = 2 (y_j - ref_j): norm 2|d| at the moved joint, 0 elsewhere
    want = torch.zeros(2, J)
    want[0, 4], want[1, 9] = 0.2, 0.5
    torch.testing.assert_close(s.blame, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(s.energy, torch.tensor([0.01, 0.0625]), atol=1e-7, rtol=0)


def test_root_gets_no_gradient_blame(toy: QuadraticNet) -> None:
    """Moving the root moves every root-relative joint: energy rises, but the root (detached
    by the loss-net's canonicalisation) is never blamed by the gradient."""
    y = toy.ref.detach().clone().unsqueeze(0)
    y[0, 0] += torch.tensor([0.1, 0.0, 0.0])
    e, b = gradient_blame(toy, torch.zeros(1, J, 2), y)
    assert float(e) == pytest.approx((J - 1) * 0.01, rel=1e-5)
    assert float(b[0, 0]) == 0.0
    torch.testing.assert_close(b[0, 1:], torch.full((J - 1,), 0.2), atol=1e-6, rtol=0)


def test_units_batching_and_leading_dims(toy: QuadraticNet) -> None:
    g = torch.Generator().manual_seed(1)
    y = toy.ref.detach() + 0.05 * torch.randn(6, J, 3, generator=g)
    x = torch.zeros(6, J, 2)
    s_m = score_poses(toy, x, y)
    s_mm = score_poses(toy, x, y * 1000.0, units="mm", batch_size=4)
    s_lead = score_poses(toy, x.reshape(2, 3, J, 2), y.reshape(2, 3, J, 3), batch_size=1)
    torch.testing.assert_close(s_mm.energy, s_m.energy, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(s_lead.energy, s_m.energy)
    torch.testing.assert_close(s_lead.blame, s_m.blame)


def test_graphormer_scores_match_the_net_and_decompose() -> None:
    torch.manual_seed(0)
    net = GraphormerLossNet("h36m17", width=16, heads=2, layers=1).train()
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(7, J, 2, generator=g) - 0.5, torch.rand(7, J, 3, generator=g) * 0.4
    s = score_poses(net, x, y, blame="energy", batch_size=3)
    assert net.training, "score_poses must restore the net's mode"
    with torch.no_grad():
        out = net.eval()(x, y, per_joint=True)
    torch.testing.assert_close(s.energy, out.energy)
    torch.testing.assert_close(pose_energies(net, x, y * 100, units="cm", batch_size=2),
                               out.energy, atol=1e-5, rtol=1e-5)
    assert score_poses(net, x, y).method == "gradient"  # the default
    baseline = out.per_joint.median(0).values
    torch.testing.assert_close(s.blame + baseline, out.per_joint)
    torch.testing.assert_close((s.blame + baseline).sum(-1), s.energy, atol=1e-5, rtol=1e-5)
    # gradient blame of a batch equals each pose's own gradient
    _, b = gradient_blame(net, x, y)
    for i in (0, 5):
        yi = y[i : i + 1].clone().requires_grad_(True)
        (gi,) = torch.autograd.grad(net(x[i : i + 1], yi).energy.sum(), yi)
        torch.testing.assert_close(b[i], gi[0].norm(dim=-1), atol=1e-6, rtol=1e-5)


def test_mlp_net_uses_gradient_blame() -> None:
    net = MLPLossNet("h36m17", width=16, blocks=1)
    x, y = torch.zeros(3, J, 2), torch.rand(3, J, 3) * 0.3
    assert score_poses(net, x, y).method == "gradient"
    with pytest.raises(ValueError, match="blame='gradient'"):
        score_poses(net, x, y, blame="energy")
    with pytest.raises(ValueError, match="blame must be one of"):
        score_poses(net, x, y, blame="median")


def test_baseline_and_threshold(toy: QuadraticNet) -> None:
    ref = toy.ref.detach()
    gt = _perturbed(ref, [3, 3], [0.1, 0.3])  # joint 3 energies 0.01 and 0.09
    base = joint_baseline(toy, torch.zeros(2, J, 2), gt)
    want = torch.zeros(J)
    want[3] = 0.05
    torch.testing.assert_close(base, want, atol=1e-7, rtol=0)
    pj = torch.tensor([[0.0, 5.0, 2.0], [1.0, 3.0, 8.0], [4.0, 4.0, 6.0]])
    torch.testing.assert_close(energy_blame(pj), pj - torch.tensor([1.0, 4.0, 6.0]))
    torch.testing.assert_close(energy_blame(pj, torch.ones(3)), pj - 1)
    with pytest.raises(PoseShapeError, match="baseline must have shape"):
        energy_blame(pj, torch.ones(4))
    assert energy_threshold(torch.arange(101.0), 0.95) == pytest.approx(95.0)
    with pytest.raises(ValueError, match="quantile"):
        energy_threshold(torch.arange(3.0), 1.5)


def test_bad_inputs_name_the_problem(toy: QuadraticNet) -> None:
    with pytest.raises(PoseShapeError, match="17 joints"):
        score_poses(toy, torch.zeros(2, 16, 2), torch.zeros(2, 16, 3))
    with pytest.raises(PoseShapeError, match="swapped"):
        score_poses(toy, torch.zeros(2, J, 3), torch.zeros(2, J, 2))
    with pytest.raises(PoseShapeError, match="unknown units"):
        score_poses(toy, torch.zeros(2, J, 2), torch.zeros(2, J, 3), units="inch")

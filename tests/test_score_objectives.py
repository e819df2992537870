"""Gradient-matching objectives (DSM, gradient matching) and the shared loss-net step."""

from __future__ import annotations

import pytest
import torch

from sealloss.errors import PoseShapeError
from sealloss.nn import GraphormerLossNet, MLPLossNet, poses_to_batch
from sealloss.objectives import (
    OBJECTIVES,
    LossNetObjective,
    displacement_scale,
    dsm_perturb,
    energy_and_gradient,
    energy_magnitude,
    gradient_matching_loss,
    lossnet_loss,
    make_objective,
    margin_loss,
    nce_loss,
    sample_sigma,
    score_matching_loss,
    task_cost,
)
from sealloss.training.settings import build_wrapper

torch.set_num_threads(1)


def _batch(n=6, k=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, 17, 2, generator=g) * 0.3).to(dtype)
    y = (torch.randn(n, 17, 3, generator=g) * 0.2).to(dtype)
    y = y - y[:, :1]
    neg = y[:, None] + (0.03 * torch.randn(n, k, 17, 3, generator=g)).to(dtype)
    return x, y, neg


class _Quadratic:
    """E(x, y) = ||y - y*||^2 / (2 s^2) over the non-root joints (root-relative): the exact
    negative log density of y* + s * eps, so DSM at scale s must be exactly zero."""

    def __init__(self, y_star, s):
        self.y_star, self.s = y_star, s

    def energy(self, x2d, y):
        d = (y - y[..., :1, :]) - (self.y_star - self.y_star[..., :1, :])
        return d.pow(2).sum((-1, -2)) / (2 * self.s**2)


def test_sample_sigma_is_log_uniform_within_bounds_and_seeded():
    a = sample_sigma(20000, (0.005, 0.15), torch.Generator().manual_seed(1))
    b = sample_sigma(20000, (0.005, 0.15), torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.min() >= 0.005 and a.max() <= 0.15
    # log-uniform: the median is the geometric mean of the bounds
    assert abs(float(a.median()) - (0.005 * 0.15) ** 0.5) < 0.003
    with pytest.raises(ValueError, match="sigma_m"):
        sample_sigma(3, (0.0, 0.1))


def test_dsm_perturb_leaves_the_root_and_scales_by_sigma():
    _, y, _ = _batch()
    sigma = torch.linspace(0.01, 0.1, 6, dtype=y.dtype)
    yn, eps = dsm_perturb(y, sigma, torch.Generator().manual_seed(0))
    assert torch.equal(yn[:, 0], y[:, 0]) and torch.equal(eps[:, 0], torch.zeros_like(eps[:, 0]))
    torch.testing.assert_close(yn - y, sigma[:, None, None] * eps)
    with pytest.raises(PoseShapeError):
        dsm_perturb(y, sigma[:3])


def test_score_matching_brute_force():
    g = torch.Generator().manual_seed(3)
    grad, disp = torch.randn(4, 5, 3, generator=g), torch.randn(4, 5, 3, generator=g) * 0.05
    sigma = torch.rand(4, generator=g) * 0.1 + 0.01
    got = score_matching_loss(grad, disp, sigma, root=2, reduction="none")
    for b in range(4):
        acc = 0.0
        for j in range(5):
            if j == 2:
                continue
            for c in range(3):
                r = float(sigma[b]) * float(grad[b, j, c]) - float(disp[b, j, c]) / float(sigma[b])
                acc += r * r
        assert abs(float(got[b]) - acc / 12) < 1e-5
    assert torch.isclose(score_matching_loss(grad, disp, sigma, root=2), got.mean())


def test_dsm_is_zero_for_the_exact_score_and_positive_otherwise():
    _, y, _ = _batch()
    s = 0.05
    sigma = torch.full((y.shape[0],), s, dtype=y.dtype)
    yn, eps = dsm_perturb(y, sigma, torch.Generator().manual_seed(0))
    _, grad = energy_and_gradient(_Quadratic(y, s).energy, None, yn)
    assert float(score_matching_loss(grad, yn - y, sigma)) < 1e-20
    _, grad2 = energy_and_gradient(_Quadratic(y, 2 * s).energy, None, yn)
    assert float(score_matching_loss(grad2, yn - y, sigma)) > 0.1


def test_gradient_matching_is_zero_when_the_gradient_points_from_truth_to_negative():
    _, y, neg = _batch()
    d = neg - neg[..., :1, :] - (y - y[:, :1])[:, None]
    s = displacement_scale(d)
    grad = d / s[..., None, None] ** 2  # the exact target: s * grad == d / s
    assert float(gradient_matching_loss(grad, neg, y)) < 1e-20
    assert float(gradient_matching_loss(-grad, neg, y)) > 1.0  # pointing the wrong way
    assert gradient_matching_loss(grad, neg, y, reduction="none").shape == (y.shape[0],)


def test_displacement_scale_is_rms_per_non_root_coordinate():
    d = torch.zeros(1, 3, 3)
    d[0, 1] = torch.tensor([0.03, 0.0, 0.0])
    d[0, 0] = 5.0  # the root is ignored
    torch.testing.assert_close(displacement_scale(d), torch.tensor([(0.03**2 / 6) ** 0.5]))
    assert float(displacement_scale(torch.zeros(1, 3, 3))) == pytest.approx(1e-3)


@pytest.mark.parametrize("name", OBJECTIVES)
def test_make_objective_names(name):
    obj = make_objective(name)
    assert obj.needs_gradient == ("dsm" in name)
    assert obj.ranking == (None if name == "dsm" else name.split("+")[0])
    with pytest.raises(ValueError, match="unknown"):
        make_objective("hinge")
    with pytest.raises(ValueError, match="dsm_weight"):
        make_objective(name, dsm_weight=-1.0)


def test_objective_without_terms_is_refused():
    with pytest.raises(ValueError, match="no term"):
        LossNetObjective(ranking=None)


def _net(kind):
    torch.manual_seed(0)
    if kind == "graphormer":
        return GraphormerLossNet("h36m17", width=16, heads=2, layers=1).double()
    return MLPLossNet("h36m17", width=32, blocks=1).double()


@pytest.mark.parametrize("kind", ["graphormer", "mlp"])
def test_ranking_objectives_equal_the_functional_terms(kind):
    """The shared step computes exactly margin/NCE + energy regulariser (one fused forward)."""
    net = _net(kind)
    x, y, neg = _batch()
    e_pos, e_neg = net.ranking_energies(x, y, neg)
    reg = energy_magnitude(e_pos, e_neg).mean()
    out = lossnet_loss(net, x, y, neg, make_objective("margin", margin=7.0, energy_reg=0.01))
    want = margin_loss(e_pos, e_neg, task_cost(neg, y), 7.0) + 0.01 * reg
    torch.testing.assert_close(out.loss, want.float())
    out = lossnet_loss(net, x, y, neg, make_objective("nce", temperature=0.5, energy_reg=0.01))
    torch.testing.assert_close(out.loss, (nce_loss(e_pos, e_neg, 0.5) + 0.01 * reg).float())
    torch.testing.assert_close(out.e_neg, e_neg.float())


@pytest.mark.parametrize("kind", ["graphormer", "mlp"])
def test_dsm_step_trains_through_a_double_backward(kind):
    net = _net(kind)
    x, y, neg = _batch()
    out = lossnet_loss(net, x, y, neg, make_objective("nce+dsm"), torch.Generator().manual_seed(0))
    assert set(out.parts) == {"ranking", "dsm", "grad", "energy_reg"}
    out.loss.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # the DSM term alone reaches the parameters (second-order path)
    net.zero_grad()
    out = lossnet_loss(net, x, y, neg[:, :0], make_objective("dsm", energy_reg=0.0),
                       torch.Generator().manual_seed(0))
    out.loss.backward()
    assert sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None) > 0


def test_dsm_parameter_gradients_agree_between_dense_and_message_passing():
    """Double backward through the dense path equals that through PyG propagate."""
    net = _net("graphormer")
    x, y, _ = _batch(n=3)
    sigma = torch.full((3,), 0.04, dtype=y.dtype)
    yn, eps = dsm_perturb(y, sigma, torch.Generator().manual_seed(0))

    def dense(x2d, yy):
        return net.energy(x2d, yy)

    def graph(x2d, yy):
        return net.forward_graph(poses_to_batch(x2d, yy, "h36m17"), fused=False).energy

    results = []
    for fn in (dense, graph):
        _, g = energy_and_gradient(fn, x, yn)
        loss = score_matching_loss(g, yn - y, sigma)
        results.append(torch.autograd.grad(loss, list(net.parameters()), allow_unused=True))
    for a, b in zip(*results):
        if a is None:
            assert b is None or not b.any()
            continue
        torch.testing.assert_close(b, a, atol=1e-8, rtol=1e-6)


def test_dsm_training_makes_the_gradient_point_at_the_truth():
    """A few hundred DSM steps on a toy set raise cos(-dE/dy, y* - y) on fresh noisy poses."""
    torch.manual_seed(0)
    net = MLPLossNet("h36m17", width=64, blocks=1)
    g = torch.Generator().manual_seed(0)
    y = torch.randn(64, 17, 3, generator=g) * 0.2
    y = y - y[:, :1]
    x = y[..., :2].clone()
    obj = make_objective("dsm", sigma_m=(0.02, 0.1))
    opt = torch.optim.Adam(net.parameters(), 3e-3)

    def cos_now():
        yn, _ = dsm_perturb(y, torch.full((64,), 0.05), torch.Generator().manual_seed(9))
        _, gr = energy_and_gradient(net.energy, x, yn, create_graph=False)
        a, b = -gr.flatten(1), (y - yn).flatten(1)
        return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).mean())

    before = cos_now()
    for _ in range(300):
        out = lossnet_loss(net, x, y, y.new_zeros(64, 0, 17, 3), obj, g)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert cos_now() > max(0.5, before + 0.3)


@pytest.mark.parametrize("objective", ["dsm", "nce+dsm"])
def test_wrapper_trains_the_lossnet_with_gradient_objectives(objective):

    torch.manual_seed(0)
    net = GraphormerLossNet("h36m17", width=16, heads=2, layers=1)
    seal = build_wrapper(lossnet=net, mode="dynamic", objective=objective, lam=0.01,
                              score_fraction=1.0, seed=0)
    before = [p.detach().clone() for p in net.parameters()]
    x, y, _ = _batch(n=8, dtype=torch.float32)
    y_hat = (y + 0.05 * torch.randn_like(y)).requires_grad_(True)
    loss = seal((y_hat - y).norm(dim=-1).mean(), x, y_hat, y)
    loss.backward()
    st = seal.stats
    assert st["lossnet_updated"] == 1.0 and torch.isfinite(torch.tensor(st["lossnet_loss"]))
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert y_hat.grad is not None and torch.isfinite(y_hat.grad).all()
    assert seal.trainer.objective.needs_gradient


def test_wrapper_refuses_unknown_objectives():

    with pytest.raises(ValueError, match="objective"):
        build_wrapper(lossnet=None, mode="dynamic", objective="score")


def test_pretraining_with_dsm_runs_and_logs_its_terms():
    from sealloss.training.pretrain import PretrainConfig, pretrain_lossnet

    x, y, _ = _batch(n=32, dtype=torch.float32)
    cfg = PretrainConfig(model={"width": 16, "heads": 2, "layers": 1}, steps=3, batch_size=8,
                         objective="nce+dsm", num_negatives=2, hard_fraction=0.0)
    net, hist = pretrain_lossnet(x, y, cfg)
    assert {"ranking", "dsm", "grad", "energy_reg"} <= set(hist[-1])
    cfg = PretrainConfig(model={"width": 16, "heads": 2, "layers": 1}, steps=2, batch_size=8,
                         objective="dsm", num_negatives=0)
    net, hist = pretrain_lossnet(x, y, cfg)
    assert "dsm" in hist[-1] and "ranking" not in hist[-1]


def test_pretraining_uses_out_of_fold_predictions_as_the_first_negative():
    from sealloss.training.pretrain import PretrainConfig, pretrain_lossnet

    x, y, _ = _batch(n=32, dtype=torch.float32)
    preds = y + 0.05
    cfg = PretrainConfig(model={"width": 16, "heads": 2, "layers": 1}, steps=2, batch_size=8,
                         objective="dsm", grad_weight=1.0, num_negatives=0)
    net, hist = pretrain_lossnet(x, y, cfg, predictions=preds)
    assert "grad" in hist[-1]  # the gradient term ran on the prediction negative
    with pytest.raises(ValueError, match="row-aligned"):
        pretrain_lossnet(x, y, cfg, predictions=preds[:5])

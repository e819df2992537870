"""AlternatingWrapper: the contract of issue 4 (fast, CPU)."""

import copy

import pytest
import torch

from sealloss import GraphormerLossNet, PoseShapeError
from sealloss.demo.baselines import SimpleBaseline
from sealloss.training.settings import build_wrapper


def _data(b=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 17, 2, generator=g) * 0.3
    y = torch.randn(b, 17, 3, generator=g) * 0.25
    y[:, 0] = 0
    return x, y


def _setup(seed=0, **kw):
    torch.manual_seed(seed)
    model = SimpleBaseline(width=32, blocks=1, dropout=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    torch.manual_seed(seed + 1)
    net = GraphormerLossNet(width=16, layers=1, heads=2)
    # these tests exercise a loss-net trained alongside, scoring the whole batch
    kw.setdefault("mode", "dynamic")
    if kw["mode"] != "static":
        kw.setdefault("lossnet_batch", None)
    kw.setdefault("score_fraction", 1.0)
    if kw.get("lam", "auto") == "auto":
        kw.setdefault("target_force_ratio", 0.1)
    seal = build_wrapper(lossnet=net, **kw)
    return model, opt, seal


def _step(model, opt, seal, x, y):
    pred = model(x)
    loss = (pred - y).norm(dim=-1).mean()
    if seal is not None:
        loss = seal(loss, x, pred, y)
    opt.zero_grad()
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    opt.step()
    return loss, grads


def test_lambda_zero_gives_the_plain_gradients():
    x, y = _data()
    model_a, opt_a, _ = _setup()
    model_b, opt_b, seal = _setup(lam=0.0)
    model_b.load_state_dict(model_a.state_dict())
    for _ in range(3):
        la, ga = _step(model_a, opt_a, None, x, y)
        lb, gb = _step(model_b, opt_b, seal, x, y)
        assert torch.equal(la, lb)
        for a, b in zip(ga, gb):
            assert torch.equal(a, b)
    assert seal.lossnet_updates == 3  # the loss-net still trained (dynamic mode)


def test_energy_term_changes_the_gradients():
    x, y = _data()
    model_a, opt_a, seal_a = _setup(lam=0.0)
    model_b, opt_b, seal_b = _setup(lam=1.0)
    _, ga = _step(model_a, opt_a, seal_a, x, y)
    _, gb = _step(model_b, opt_b, seal_b, x, y)
    assert any(not torch.allclose(a, b) for a, b in zip(ga, gb))


def test_static_mode_never_changes_the_lossnet():
    x, y = _data()
    model, opt, seal = _setup(mode="static", lam=0.1)
    before = copy.deepcopy(seal.lossnet.state_dict())
    for _ in range(3):
        _step(model, opt, seal, x, y)
    for k, v in seal.lossnet.state_dict().items():
        assert torch.equal(v, before[k])
    assert seal.lossnet_updates == 0
    assert all(not p.requires_grad for p in seal.lossnet.parameters())


def test_no_gradient_reaches_the_lossnet_from_the_pose_term():
    x, y = _data()
    model, opt, seal = _setup(lam=1.0, update_every=1000)  # update only at step 0
    _step(model, opt, seal, x, y)  # step 0: loss-net update happened
    seal.lossnet.zero_grad(set_to_none=True)
    pred = model(x)
    loss = seal((pred - y).norm(dim=-1).mean(), x, pred, y)  # step 1: no update
    loss.backward()
    assert all(p.grad is None for p in seal.lossnet.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_energy_term_does_not_push_the_root():
    x, y = _data()
    _, _, seal = _setup(lam=1.0)
    pred = (y + 0.05 * torch.randn_like(y)).requires_grad_(True)
    term = seal.energy_term(torch.zeros(()), x, pred, y)
    (g,) = torch.autograd.grad(term, pred)
    assert torch.all(g[:, 0] == 0)
    assert g[:, 1:].abs().sum() > 0


def test_surrogate_value_and_gradient_match_the_energy():
    x, y = _data()
    _, _, seal = _setup(lam=1.0, mode="static")
    pred = (y + 0.05 * torch.randn_like(y)).requires_grad_(True)
    term = seal.energy_term(torch.zeros(()), x, pred, y)
    (g,) = torch.autograd.grad(term, pred)
    seal.lossnet.eval()
    p2 = pred.detach().clone().requires_grad_(True)
    e = seal.lossnet.energy(x, p2).mean()
    (g2,) = torch.autograd.grad(e, p2)
    torch.testing.assert_close(term.detach(), e.detach())
    torch.testing.assert_close(g, g2)


def test_resume_from_state_dict_is_bit_exact():
    x, y = _data(32)
    model_a, opt_a, seal_a = _setup(lam="auto", lossnet_batch=8, score_fraction=0.5)
    for _ in range(2):
        _step(model_a, opt_a, seal_a, x, y)
    snap = (copy.deepcopy(model_a.state_dict()), copy.deepcopy(opt_a.state_dict()),
            copy.deepcopy(seal_a.state_dict()))
    for _ in range(3):
        _step(model_a, opt_a, seal_a, x, y)
    model_b, opt_b, seal_b = _setup(lam="auto", lossnet_batch=8, score_fraction=0.5, seed=5)
    model_b.load_state_dict(snap[0])
    opt_b.load_state_dict(snap[1])
    seal_b.load_state_dict(snap[2])
    for _ in range(3):
        _step(model_b, opt_b, seal_b, x, y)
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(seal_a.lossnet.state_dict().values(), seal_b.lossnet.state_dict().values()):
        assert torch.equal(a, b)
    assert seal_a.lam == seal_b.lam


def test_auto_lambda_tracks_the_force_ratio_target():
    x, y = _data(64)
    model, opt, seal = _setup(lam="auto", target_force_ratio=0.2, lam_ema=0.5)
    for _ in range(8):
        _step(model, opt, seal, x, y)
    assert seal.stats["force_ratio"] == pytest.approx(0.2, rel=0.5)


def test_sequence_outputs_and_frame_subsets():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 9, 17, 2, generator=g) * 0.3
    y = torch.randn(4, 9, 17, 3, generator=g) * 0.25
    _, _, seal = _setup(lam=1.0, frames_per_clip=3)
    pred = (y + 0.05 * torch.randn_like(y)).requires_grad_(True)
    term = seal.energy_term(torch.zeros(()), x, pred, y)
    assert seal.stats["scored"] == 4 * 3
    (grad,) = torch.autograd.grad(term, pred)
    touched = (grad.abs().sum(dim=(0, 2, 3)) > 0).sum().item()
    assert touched == 3


def test_bad_shapes_are_named():
    x, y = _data()
    _, _, seal = _setup()
    with pytest.raises(PoseShapeError, match="must share"):
        seal(torch.zeros(()), x[:8], y, y)
    with pytest.raises(ValueError, match="mode must be"):
        build_wrapper(lossnet=GraphormerLossNet(width=8, layers=1, heads=2), mode="nope")
    with pytest.raises(ValueError, match="needs a pretrained"):
        build_wrapper(lossnet=None, mode="static")


def test_hard_negatives_receive_the_current_energy():
    from sealloss.negatives import GaussianNoise, HardNegatives

    seen = {}

    class Spy(HardNegatives):
        def sample(self, y_gt, k, generator, energy_fn=None, **context):
            seen["energy"] = energy_fn(y_gt.unsqueeze(1).repeat(1, k, 1, 1))
            return super().sample(y_gt, k, generator, energy_fn=energy_fn, **context)

    model, opt, seal = _setup(negatives=Spy(GaussianNoise("h36m17"), steps=2), lam=1e-3)
    x, y = _data()
    before = [p.clone() for p in seal.lossnet.parameters()]
    _step(model, opt, seal, x, y)
    assert seen["energy"].shape == (16, 2) and torch.isfinite(seen["energy"]).all()
    assert seal.lossnet_updates == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, seal.lossnet.parameters()))


def test_task_cost_sets_the_margin_and_is_checked():
    x, y = _data()
    losses = {}
    for cost in ("mpjpe", "mpjpe+bone"):
        model, opt, seal = _setup(task_cost=cost, lam=1e-3, margin=200.0, negatives=None)
        _step(model, opt, seal, x, y)
        losses[cost] = seal.stats["lossnet_loss"]
    # same nets, same negatives (the predictions): the hinge grows by margin * bone cost > 0
    assert losses["mpjpe+bone"] > losses["mpjpe"] + 1e-3
    with pytest.raises(ValueError, match="task_cost"):
        _setup(task_cost="l1")

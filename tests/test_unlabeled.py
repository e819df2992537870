"""The energy on 2D-only batches: AlternatingWrapper.unlabeled (and seal(..., y_gt=None))."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from sealloss.errors import NonFiniteError, PoseShapeError
from sealloss.nn import GraphormerLossNet
from sealloss.training.settings import build_wrapper

torch.set_num_threads(1)


def _net(seed=0):
    torch.manual_seed(seed)
    return GraphormerLossNet("h36m17", width=16, heads=2, layers=1)


def _data(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 17, 2, generator=g) * 0.3
    y = torch.randn(n, 17, 3, generator=g) * 0.2
    return x, y


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.lin = nn.Linear(34, 51)

    def forward(self, x):
        return self.lin(x.flatten(1)).view(-1, 17, 3) * 0.1


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_unlabeled_never_changes_or_differentiates_the_lossnet(mode):
    net = _net()
    seal = build_wrapper(lossnet=net, mode=mode, lam_unlabeled=0.1, score_fraction=1.0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, _ = _data()
    y_hat = (torch.randn(8, 17, 3) * 0.2).requires_grad_(True)
    term = seal.unlabeled(x, y_hat)
    term.backward()
    assert y_hat.grad is not None and y_hat.grad.abs().sum() > 0
    assert torch.equal(y_hat.grad[:, 0], torch.zeros_like(y_hat.grad[:, 0]))  # root untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    assert seal.lossnet_updates == 0 and seal.unlabeled_steps == 1 and seal.steps == 0
    st = seal.unlabeled_stats
    assert st["scored"] == 8 and st["lam"] == 0.1 and st["alignment"] != st["alignment"]  # NaN


def test_call_with_y_gt_none_equals_loss_plus_unlabeled_term():
    x, _ = _data()
    y_hat = (torch.randn(8, 17, 3) * 0.2).requires_grad_(True)
    a = build_wrapper(lossnet=_net(), lam_unlabeled=0.2, score_fraction=1.0)
    b = build_wrapper(lossnet=_net(), lam_unlabeled=0.2, score_fraction=1.0)
    loss = torch.tensor(1.0, requires_grad=True)
    torch.testing.assert_close(a(loss, x, y_hat, None), loss + b.unlabeled(x, y_hat))


def test_unlabeled_bad_inputs_and_nonfinite_predictions():
    seal = build_wrapper(lossnet=_net(), lam_unlabeled=0.1)
    x, y = _data()
    with pytest.raises(PoseShapeError):
        seal.unlabeled(x[:, :16], y[:, :16])
    xb = x.clone()
    xb[0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        seal.unlabeled(xb, y)
    yb = y.clone().requires_grad_(False)
    yb = yb.clone()
    yb[1, 2, 0] = float("inf")
    yb.requires_grad_(True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = seal.unlabeled(x, yb)
    out.backward()
    assert float(out) == 0.0 and seal.skipped_unlabeled_steps == 1
    assert any("unlabeled" in str(m.message) for m in w)
    with torch.no_grad():
        assert torch.isfinite(seal.unlabeled(x, y))
    assert seal.unlabeled_steps == 1  # scoring under no_grad changes nothing


def _loop(seal, model, opt, steps, start=0):
    losses = []
    for t in range(start, steps):
        x, y = _data(seed=t)
        xu, _ = _data(seed=100 + t)
        y_hat = model(x)
        loss = seal((y_hat - y).norm(dim=-1).mean(), x, y_hat, y)
        loss = loss + seal.unlabeled(xu, model(xu))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


def test_auto_unlabeled_lambda_tracks_the_supervised_pull_and_resumes_bit_exactly():
    def build():
        model = _Model()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        seal = build_wrapper(lossnet=_net(), mode="dynamic", lam_unlabeled="auto",
                                  unlabeled_force_ratio=0.5, score_fraction=0.5, seed=3)
        return model, opt, seal

    model, opt, seal = build()
    full = _loop(seal, model, opt, 6)
    assert seal.unlabeled_stats["force_ratio"] == pytest.approx(0.5, rel=0.6)
    model, opt, seal = build()
    first = _loop(seal, model, opt, 3)
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "seal": seal.state_dict()}
    model2, opt2, seal2 = build()
    model2.load_state_dict(state["model"])
    opt2.load_state_dict(state["opt"])
    seal2.load_state_dict(state["seal"])
    rest = _loop(seal2, model2, opt2, 6, start=3)
    assert first + rest == full
    assert seal2.unlabeled_steps == 6


def test_unlabeled_lambda_kind_mismatch_is_refused_on_resume():
    a = build_wrapper(lossnet=_net(), lam_unlabeled="auto")
    b = build_wrapper(lossnet=_net(), lam_unlabeled=0.3)
    with pytest.raises(ValueError, match="lam_unlabeled"):
        b.load_state_dict(a.state_dict())


def test_unlabeled_with_an_adapter_needs_no_target():
    from sealloss.adapters import get

    seal = build_wrapper(lossnet=_net(), adapter=get("videopose3d"), lam_unlabeled=0.1)
    x = torch.randn(4, 1, 17, 2) * 0.3
    y_hat = (torch.randn(4, 1, 17, 3) * 0.2).requires_grad_(True)
    seal.unlabeled(x, y_hat).backward()
    assert y_hat.grad is not None

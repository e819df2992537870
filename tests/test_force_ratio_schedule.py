"""A scheduled force ratio (``target_force_ratio`` as ``step -> ratio``), e.g. decaying to zero."""

import math

import pytest
import torch

from sealloss.nn import MLPLossNet
from sealloss.training.lam import LambdaController
from sealloss.training.settings import build_wrapper


def test_controller_follows_the_scheduled_target():
    c = LambdaController("auto", target=lambda s: 0.4 * (1 - s / 10), ema=0.0)
    c.observe(2.0, step=0)
    assert c.value == pytest.approx(0.2)
    c.observe(2.0, step=5)
    assert c.value == pytest.approx(0.1)
    c.observe(2.0, step=10)  # ratio 0: clamped to the lower bound, not a negative lambda
    assert c.value == pytest.approx(c.bounds[0])
    assert "schedule" in repr(c)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.1])
def test_invalid_scheduled_target_gives_nan_lambda(bad):
    c = LambdaController("auto", target=lambda s: bad, ema=0.0)
    c.observe(2.0, step=3)
    assert math.isnan(c.value)


def _setup(target):
    torch.manual_seed(0)
    net = MLPLossNet("h36m17", width=32, blocks=1)
    model = torch.nn.Linear(34, 51)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    seal = build_wrapper(lossnet=net, mode="static", lam="auto", target_force_ratio=target,
                              score_fraction=1.0, log_every=1, seed=0)
    return model, opt, seal


def _step(model, opt, seal, gen):
    x = torch.randn(8, 17, 2, generator=gen) * 0.3
    y = torch.randn(8, 17, 3, generator=gen) * 0.2
    pred = model(x.flatten(1)).view(8, 17, 3)
    loss = seal((pred - y).norm(dim=-1).mean(), x, pred, y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_wrapper_lambda_decays_with_the_schedule():
    gen = torch.Generator().manual_seed(1)
    model, opt, seal = _setup(lambda s: 0.3 * max(0.0, 1 - s / 4))
    lams = []
    for _ in range(6):
        _step(model, opt, seal, gen)
        lams.append(seal.lam)
    assert lams[0] > lams[2] > lams[4]
    assert lams[5] <= 1e-7


def test_wrapper_skips_and_counts_a_nonfinite_scheduled_target():
    gen = torch.Generator().manual_seed(1)
    model, opt, seal = _setup(lambda s: math.inf if s == 1 else 0.3)
    with pytest.warns(RuntimeWarning, match="lambda is nan"):
        for _ in range(3):
            _step(model, opt, seal, gen)
    assert seal.skipped_energy_steps == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())

"""The wrapper refuses bad options when set, guards a non-finite lambda, and loads state all or
nothing (issue: reliability second pass)."""

from __future__ import annotations

import warnings

import pytest
import torch

from sealloss.errors import PoseShapeError
from sealloss.nn import GraphormerLossNet
from sealloss.training.settings import build_wrapper

torch.set_num_threads(1)


def _net(seed=0, **kw):
    torch.manual_seed(seed)
    return GraphormerLossNet("h36m17", width=16, heads=2, layers=1, **kw)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 17, 2, generator=g) * 0.3
    y = torch.randn(8, 17, 3, generator=g) * 0.2
    y_hat = (y + 0.05 * torch.randn(8, 17, 3, generator=g)).requires_grad_(True)
    return x, y_hat, y


@pytest.mark.parametrize(
    "kw, name",
    [({"grad_clip": -1.0}, "grad_clip"), ({"k": 0}, "k"), ({"k": -1}, "k"),
     ({"lossnet_batch": 0}, "lossnet_batch"), ({"margin": float("nan")}, "margin"),
     ({"num_negatives": -1}, "num_negatives"), ({"lam": float("nan")}, "lam"),
     ({"lam": -0.1}, "lam"), ({"update_every": 0}, "update_every"),
     ({"force_every": 0}, "force_every"), ({"lam_ema": 1.0}, "lam_ema"),
     ({"lam_bounds": (1.0, 0.1)}, "lam_bounds"), ({"frames_per_clip": 0}, "frames_per_clip"),
     ({"temperature": 0.0, "objective": "nce"}, "temperature"),
     ({"score_fraction": 0.0}, "score_fraction"), ({"lossnet_lr": float("inf")}, "lossnet_lr"),
     ({"target_force_ratio": -1.0}, "target_force_ratio"), ({"k": 1.5}, "k")],
)
def test_bad_options_are_refused_when_set(kw, name):
    with pytest.raises(ValueError, match=name):
        build_wrapper(lossnet=_net(), mode="dynamic", **kw)


def test_a_schedule_returning_inf_never_reaches_the_posenet():
    seal = build_wrapper(lossnet=_net(), mode="static",
                              lam=lambda step: float("inf") if step == 1 else 0.1)
    for step in range(3):
        x, y_hat, y = _batch(step)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            loss = seal((y_hat - y).norm(dim=-1).mean(), x, y_hat, y)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(y_hat.grad).all()
        if step == 1:
            assert any("lambda is inf" in str(m.message) for m in w)
    assert seal.skipped_energy_steps == 1


def test_auto_state_into_a_fixed_lambda_wrapper_is_refused_and_changes_nothing():
    a = build_wrapper(lossnet=_net(), mode="static", lam="auto")
    x, y_hat, y = _batch()
    a((y_hat - y).norm(dim=-1).mean(), x, y_hat, y)
    b = build_wrapper(lossnet=_net(), mode="static", lam=0.5)
    with pytest.raises(ValueError, match="lam mode"):
        b.load_state_dict(a.state_dict())
    assert b.lam == 0.5 and b.steps == 0


def test_state_of_a_lossnet_with_another_config_is_refused():
    a = build_wrapper(lossnet=_net(coord_scale=10.0), mode="dynamic", lam=0.1)
    b = build_wrapper(lossnet=_net(coord_scale=5.0), mode="dynamic", lam=0.1)
    with pytest.raises(ValueError, match="another config"):
        b.load_state_dict(a.state_dict())


def test_a_load_failing_half_way_rolls_back():
    a = build_wrapper(lossnet=_net(seed=1), mode="dynamic", lam=0.1)
    x, y_hat, y = _batch()
    a((y_hat - y).norm(dim=-1).mean(), x, y_hat, y)
    b = build_wrapper(lossnet=_net(seed=2), mode="dynamic", lam=0.1)
    before = {k: v.clone() for k, v in b.lossnet.state_dict().items()}
    gen = b.generator.get_state()
    state = a.state_dict()
    state["trainer"]["optimizer"] = {"state": {}, "param_groups": []}  # breaks after the net
    with pytest.raises((ValueError, KeyError, RuntimeError)):
        b.load_state_dict(state)
    assert all(torch.equal(before[k], v) for k, v in b.lossnet.state_dict().items())
    assert torch.equal(b.generator.get_state(), gen) and b.steps == 0


def test_centimetre_targets_are_called_centimetres():
    seal = build_wrapper(lossnet=_net(), mode="static")
    x, y_hat, y = _batch()
    with pytest.raises(PoseShapeError, match="centimetres"):
        seal((y_hat - y).norm(dim=-1).mean(), x, y_hat * 100, y * 100)

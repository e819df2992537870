"""The wrapper's parts: LambdaController state, the fused input check, the collectives outside a
process group, SealStats' lazy conversion and the wrapper's repr."""

from __future__ import annotations

import math

import pytest
import torch

from sealloss import GraphormerLossNet
from sealloss.errors import NonFiniteError, PoseShapeError
from sealloss.pose.skeleton import get_skeleton
from sealloss.training import distributed as dist
from sealloss.training.batch import canonical, check_batch
from sealloss.training.lam import LambdaController
from sealloss.training.settings import build_wrapper
from sealloss.training.wrapper import SealStats


def _net() -> GraphormerLossNet:
    torch.manual_seed(0)
    return GraphormerLossNet("h36m17", width=16, heads=2, layers=1)


def test_auto_controller_tracks_the_target_within_bounds_and_round_trips():
    c = LambdaController("auto", target=0.3, init=1e-3, ema=0.5, bounds=(1e-4, 10.0))
    assert c.kind == "auto" and c.at(5) == 1e-3
    c.observe(None)  # nothing measured: unchanged
    assert c.value == 1e-3 and c.ema_ratio is None
    c.observe(2.0)
    assert c.ema_ratio == 2.0 and c.value == pytest.approx(0.15)
    c.observe(4.0)
    assert c.ema_ratio == pytest.approx(3.0) and c.value == pytest.approx(0.1)
    tiny = LambdaController("auto", target=0.3, ema=0.0, bounds=(1e-4, 10.0))
    tiny.observe(1e-9)  # a tiny force would ask for a huge lambda: clamped
    assert tiny.value == 10.0
    d = LambdaController("auto", target=0.3, init=1e-3, ema=0.5, bounds=(1e-4, 10.0))
    d.load_state_dict(c.state_dict())
    assert (d.value, d.ema_ratio) == (c.value, c.ema_ratio)


def test_fixed_and_schedule_controllers():
    f = LambdaController(0.25)
    f.observe(3.0)  # only auto reacts to measurements
    assert f.kind == "fixed" and f.at(7) == 0.25
    s = LambdaController(lambda step: 0.1 * step, name="lam_unlabeled")
    assert s.kind == "schedule" and s.at(3) == pytest.approx(0.3) and math.isnan(s.value)


@pytest.mark.parametrize("saved, here", [("auto", 0.5), (0.5, "auto"), (0.5, lambda s: 0.1)])
def test_controller_refuses_a_state_of_another_kind_and_stays_unchanged(saved, here):
    a, b = LambdaController(saved), LambdaController(here, name="lam_unlabeled")
    before = b.state_dict()
    with pytest.raises(ValueError, match="lam_unlabeled mode"):
        b.load_state_dict(a.state_dict())
    assert b.state_dict() == before or math.isnan(before["value"])


def test_controller_refuses_bad_options_by_name():
    with pytest.raises(ValueError, match="lam_unlabeled"):
        LambdaController("sometimes", name="lam_unlabeled")
    with pytest.raises(ValueError, match="lam must be a finite number"):
        LambdaController(-1.0)
    with pytest.raises(ValueError, match="lam_bounds"):
        LambdaController("auto", bounds=(1.0, 0.5))
    with pytest.raises(ValueError, match="lam_ema"):
        LambdaController("auto", ema=1.0)
    with pytest.raises(ValueError, match="missing"):
        LambdaController(0.1).load_state_dict({"kind": "fixed"})


def test_wrapper_state_nests_each_parts_state():
    a = build_wrapper(lossnet=_net(), mode="dynamic", lam="auto", score_fraction=1.0)
    x = torch.randn(8, 17, 2) * 0.3
    y = torch.randn(8, 17, 3) * 0.2
    y_hat = (y + 0.02).requires_grad_(True)
    a((y_hat - y).norm(dim=-1).mean(), x, y_hat, y)
    state = a.state_dict()
    assert set(state) == {"lossnet", "lossnet_config", "generator", "energy", "trainer", "lam",
                          "lam_unlabeled"}
    assert state["energy"] == a.energy.state_dict() and state["trainer"]["updates"] == 1
    assert isinstance(state["lam"]["value"], float)
    assert isinstance(state["energy"]["sup_norm"], float)
    b = build_wrapper(lossnet=_net(), mode="dynamic", lam="auto", score_fraction=1.0)
    b.load_state_dict(state)
    assert b.lam == a.lam and b.steps == 1 and b.unlabeled_steps == 0
    assert b.lossnet_updates == 1


def test_repr_names_the_parts_lossnet_lambdas_and_objective():
    seal = build_wrapper(lossnet=_net(), mode="dynamic", lam=0.1, objective="nce")
    r = repr(seal)
    for part in ("trainer=LossNetTrainer(", "GraphormerLossNet(h36m17,", "params", "lam=0.1",
                 "lam_unlabeled=auto(target=0.3", "objective=nce(", "score_fraction=0.25"):
        assert part in r, (part, r)
    assert "trainer=None" in repr(build_wrapper(lossnet=_net()))
    assert "schedule(" in repr(build_wrapper(lossnet=_net(), lam=lambda s: 0.1))


def test_fused_check_batch_raises_data_errors_and_flags_bad_predictions():
    sk = get_skeleton("h36m17")
    x, y = torch.randn(4, 17, 2) * 0.3, torch.randn(4, 17, 3) * 0.2
    assert check_batch(sk, x, y, y + 0.01) is True
    assert check_batch(sk, x, y) is False  # no prediction given
    assert check_batch(sk, x, y, y * float("nan")) is False
    assert check_batch(sk, x[:0], y[:0], y[:0]) is False  # empty: nothing to score
    xb = x.clone()
    xb[0, 0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"x2d \(2D input\) contains Inf"):
        check_batch(sk, xb, y, y)
    with pytest.raises(PoseShapeError, match="millimetres"):
        check_batch(sk, x, y * 1000, y)
    xc, yc, gc = canonical(None, torch.zeros(2, 5, 17, 2), torch.zeros(2, 5, 17, 3),
                           torch.zeros(2, 5, 17, 3), frames_per_clip=2,
                           generator=torch.Generator().manual_seed(0))
    assert xc.shape == (4, 17, 2) and yc.shape == gc.shape == (4, 17, 3)


def test_collectives_are_no_ops_without_a_process_group():
    assert dist.world_size() == 1
    assert dist.all_ok(False, torch.device("cpu")) is False
    assert dist.mean_over_ranks(None, torch.device("cpu")) is None
    assert dist.mean_over_ranks(2.5, torch.device("cpu")) == 2.5
    lin = torch.nn.Linear(2, 2)
    dist.broadcast_module(lin)
    dist.all_reduce_gradients(lin.parameters())


def test_stats_stay_tensors_until_read():
    seal = build_wrapper(lossnet=_net(), mode="dynamic", lam=0.1, score_fraction=1.0)
    x = torch.randn(8, 17, 2) * 0.3
    y = torch.randn(8, 17, 3) * 0.2
    y_hat = (y + 0.02).requires_grad_(True)
    seal((y_hat - y).norm(dim=-1).mean(), x, y_hat, y)
    st = seal.last_stats
    assert isinstance(st.energy_pred, torch.Tensor) and isinstance(st.lossnet_loss, torch.Tensor)
    d = seal.stats
    assert all(type(v) is float for v in d.values())
    assert d["energy_pred"] == float(st.energy_pred)
    assert SealStats().as_dict()["scored"] == 0.0

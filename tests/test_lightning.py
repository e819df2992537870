"""The Lightning callback: its logic on a stand-in module (always), then inside a real Trainer
(when Lightning is installed). Gradients are checked against hand-computed values."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from sealloss.integrations.lightning import SealCallbackError, SealHooks
from sealloss.nn import GraphormerLossNet, LossNet

J, B = 17, 4


class QuadraticNet(LossNet):
    """E = sum_j |y_j - ref_j|^2 on root-relative poses (root detached by the base class)."""

    kind = "toy"

    def __init__(self, ref: Tensor) -> None:
        super().__init__("h36m17")
        self.ref = nn.Parameter(ref.clone(), requires_grad=False)

    def _energy(self, x2d: Tensor, y3d: Tensor, per_joint: bool) -> tuple[Tensor, None]:
        return (y3d - self.ref).pow(2).sum((-1, -2)), None

    @property
    def hparams(self) -> dict[str, Any]:
        return {}


def _data() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(J, 3, generator=g) * 0.1
    ref[0] = 0
    w0 = torch.randn(J, 3, generator=g) * 0.1
    x = torch.rand(B, J, 2, generator=g) - 0.5
    y = torch.randn(B, J, 3, generator=g) * 0.1
    return ref, w0, x, y


def _hand(ref: Tensor, w: Tensor, y: Tensor, lam: float) -> tuple[float, Tensor]:
    """Loss and gradient of mean_b |w - y_b|^2 + lam * E(w) by hand."""
    rel = w - w[0:1]
    loss = (w - y).pow(2).sum((-1, -2)).mean() + lam * (rel - ref).pow(2).sum()
    grad = 2 * (w - y.mean(0)) + lam * 2 * (rel - ref)
    grad[0] = 2 * (w[0] - y[:, 0].mean(0))  # the energy never pushes the root
    return float(loss), grad


class StandIn:
    """The parts of a LightningModule the hooks use."""

    automatic_optimization = True
    device = torch.device("cpu")

    def __init__(self, w0: Tensor, fmt: str = "dict") -> None:
        self.w = nn.Parameter(w0.clone())
        self.fmt = fmt
        self.logged: dict[str, float] = {}

    def log(self, name: str, value: float, **kwargs: Any) -> None:
        self.logged[name] = value

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Any:
        x, y = batch
        y_hat = self.w.expand(x.shape[0], J, 3)
        loss = (y_hat - y).pow(2).sum((-1, -2)).mean()
        if self.fmt == "tensor":
            return loss
        return {"loss": loss, "x2d": x, "y_hat": y_hat, "y_gt": y, "note": 7}


def test_hooks_add_the_energy_term_by_hand() -> None:
    ref, w0, x, y = _data()
    hooks = SealHooks(QuadraticNet(ref), lam=0.5, mode="static", score_fraction=1.0)
    module = StandIn(w0)
    hooks.on_fit_start(None, module)
    assert "training_step" in vars(module)
    out = module.training_step((x, y), 0)
    assert set(out) == {"loss", "note"}  # the three tensors are dropped, other keys kept
    loss_hand, grad_hand = _hand(ref, w0, y, 0.5)
    assert float(out["loss"].detach()) == pytest.approx(loss_hand, rel=1e-5)
    out["loss"].backward()
    torch.testing.assert_close(module.w.grad, grad_hand, atol=1e-5, rtol=1e-5)
    assert module.logged["seal/lam"] == 0.5
    assert module.logged["seal/energy_pred"] == pytest.approx(
        float((w0 - w0[0:1] - ref).pow(2).sum()), rel=1e-5)
    hooks.teardown(None, module, "fit")
    assert "training_step" not in vars(module)  # the class's own method is back
    assert set(module.training_step((x, y), 0)) >= {"x2d", "y_hat", "y_gt"}


def test_hooks_refuse_modules_that_break_the_convention() -> None:
    ref, w0, x, y = _data()
    hooks = SealHooks(QuadraticNet(ref), lam=0.5, mode="static", score_fraction=1.0)
    module = StandIn(w0, fmt="tensor")
    hooks.on_fit_start(None, module)
    with pytest.raises(SealCallbackError, match="'x2d', 'y_hat' and 'y_gt'"):
        module.training_step((x, y), 0)
    hooks.teardown(None, module, "fit")
    manual = StandIn(w0)
    manual.automatic_optimization = False
    with pytest.raises(SealCallbackError, match="automatic optimization"):
        SealHooks(QuadraticNet(ref), lam=0.5, mode="static").on_fit_start(None, manual)
    with pytest.raises(ValueError, match="keys"):
        SealHooks(keys=("x2d", "y_hat"))


def test_hooks_state_round_trip() -> None:
    """Dynamic loss-net: weights, counters and RNG state survive a checkpoint, including a
    state loaded before the wrapper exists (Lightning restores callbacks before fit start)."""
    _, w0, x, y = _data()
    torch.manual_seed(0)
    net = GraphormerLossNet("h36m17", width=16, heads=2, layers=1)
    init = {k: v.clone() for k, v in net.state_dict().items()}
    hooks = SealHooks(net, lam=0.1, lossnet_batch=4, num_negatives=1, seed=3,
                      mode="dynamic", score_fraction=1.0)
    module = StandIn(w0)
    hooks.on_fit_start(None, module)
    for i in range(2):
        module.training_step((x, y), i)["loss"].backward()
    state = hooks.state_dict()
    assert state["energy"]["steps"] == 2 and state["trainer"]["updates"] == 2
    assert any(not torch.equal(init[k], v) for k, v in state["lossnet"].items())
    fresh = GraphormerLossNet("h36m17", width=16, heads=2, layers=1)
    hooks2 = SealHooks(fresh, lam=0.1, lossnet_batch=4, num_negatives=1, seed=3,
                       mode="dynamic", score_fraction=1.0)
    hooks2.load_state_dict(state)
    assert hooks2.state_dict()["energy"]["steps"] == 2  # pending state is reported as is
    hooks2.on_fit_start(None, StandIn(w0))
    assert hooks2.wrapper.steps == 2
    for k, v in fresh.state_dict().items():
        torch.testing.assert_close(v, state["lossnet"][k])


# --------------------------------------------------------------------------- real Lightning
def _lightning():
    return pytest.importorskip("lightning.pytorch")


def _module_class(pl):
    class Lifter(pl.LightningModule):
        def __init__(self, w0: Tensor, lr: float) -> None:
            super().__init__()
            self.w = nn.Parameter(w0.clone())
            self.lr = lr

        def training_step(self, batch, batch_idx):
            x, y = batch
            y_hat = self.w.expand(x.shape[0], J, 3)
            loss = (y_hat - y).pow(2).sum((-1, -2)).mean()
            return {"loss": loss, "x2d": x, "y_hat": y_hat, "y_gt": y}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    return Lifter


def _fit(pl, module, callback, steps: int, x: Tensor, y: Tensor, tmp_path: Path):
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=B)
    trainer = pl.Trainer(max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", devices=1, callbacks=[callback],
                         default_root_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, loader)
    return trainer


def test_lightning_sgd_step_matches_hand_gradient(tmp_path: Path) -> None:
    pl = _lightning()
    from sealloss.integrations.lightning import SealCallback

    ref, w0, x, y = _data()
    cb = SealCallback(QuadraticNet(ref), lam=0.5, mode="static", score_fraction=1.0)
    assert isinstance(cb, pl.Callback)
    module = _module_class(pl)(w0, lr=0.1)
    trainer = _fit(pl, module, cb, 1, x, y, tmp_path)
    _, grad = _hand(ref, w0, y, 0.5)
    torch.testing.assert_close(module.w.detach(), w0 - 0.1 * grad, atol=1e-6, rtol=1e-5)
    assert float(trainer.callback_metrics["seal/lam"]) == 0.5
    assert "training_step" not in vars(module)


def test_lightning_dynamic_training_and_checkpoint(tmp_path: Path) -> None:
    pl = _lightning()
    from sealloss.integrations.lightning import SealCallback

    _, w0, x, y = _data()
    x, y = x.repeat(3, 1, 1), y.repeat(3, 1, 1)
    torch.manual_seed(0)
    net = GraphormerLossNet("h36m17", width=16, heads=2, layers=1)
    init = [p.detach().clone() for p in net.parameters()]
    cb = SealCallback(net, lam=0.1, lossnet_batch=4, num_negatives=1, seed=0,
                      mode="dynamic", score_fraction=1.0)
    module = _module_class(pl)(w0, lr=0.01)
    trainer = _fit(pl, module, cb, 3, x, y, tmp_path)
    assert cb.wrapper.steps == 3 and cb.wrapper.lossnet_updates == 3
    assert any(not torch.equal(a, b) for a, b in zip(init, net.parameters()))
    assert not any(p is q for p in module.parameters() for q in net.parameters())
    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=False)["callbacks"]
    (state,) = [v for k, v in saved.items() if "SealCallback" in k]
    assert state["energy"]["steps"] == 3
    for k, v in net.state_dict().items():
        torch.testing.assert_close(state["lossnet"][k], v)


def test_missing_lightning_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sealloss.integrations.lightning as mod

    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(__import__("sys").modules, name, None)  # import raises ImportError
    monkeypatch.setattr(mod, "_CACHE", {})
    with pytest.raises(ImportError, match=r"sealloss\[lightning\]"):
        mod.SealCallback  # noqa: B018
    with pytest.raises(AttributeError):
        mod.NoSuchThing  # noqa: B018

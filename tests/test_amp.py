"""Mixed precision: bf16 autocast on CPU keeps the energy term finite, the loss-net runs in
float32 inside autocast regions, and the GradScaler recipe of docs/RELIABILITY.md works
(including an overflow step, which the wrapper and the scaler both skip)."""

from __future__ import annotations

import warnings

import pytest
import torch

from sealloss.data.embedded import load_embedded
from sealloss.nn import GraphormerLossNet
from sealloss.training.settings import build_wrapper

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def pairs() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_embedded("train")
    idx = torch.arange(0, d["x2d"].shape[0], 41)[:96]
    return torch.from_numpy(d["x2d"])[idx], torch.from_numpy(d["y3d"])[idx]


def _lossnet() -> GraphormerLossNet:
    torch.manual_seed(0)
    return GraphormerLossNet("h36m17", width=16, heads=2, layers=1)


def _posenet() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(34, 64), torch.nn.GELU(), torch.nn.Linear(64, 51),
        torch.nn.Unflatten(1, (17, 3)),
    )


def test_lossnet_inside_bf16_autocast_is_finite_and_close(pairs):
    x, y = pairs[0][:32], pairs[1][:32]
    net = _lossnet()
    y_hat = y + 0.03 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    e32 = net.energy(x, y_hat)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        e16 = net.energy(x, y_hat)
    assert e16.dtype == torch.float32 and torch.isfinite(e16).all()
    assert not torch.equal(e16, e32)  # autocast did act on the net's matmuls
    assert (e16 - e32).abs().max() < 0.05 * e32.abs().max() + 1e-2


def test_wrapper_scores_in_float32_inside_autocast(pairs):
    """The pose-net term is computed with autocast disabled: inside or outside an autocast
    region it is the same float32 number, for bf16 predictions."""
    x, y = pairs[0][:32], pairs[1][:32]
    y_hat = (y + 0.02).to(torch.bfloat16)
    seal = build_wrapper(lossnet=_lossnet(), lam=0.3, mode="static", score_fraction=1.0,
                              log_every=10**9)
    loss = torch.tensor(0.1, dtype=torch.bfloat16)
    plain = seal.energy_term(loss.float(), x, y_hat, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = seal.energy_term(loss.float(), x, y_hat, y)
    assert inside.dtype == torch.float32 and torch.equal(inside, plain)


def test_bf16_autocast_training_keeps_the_energy_term_finite(pairs):
    x, y = pairs
    model, net = _posenet(), _lossnet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    seal = build_wrapper(lossnet=net, lam="auto", lossnet_batch=16, seed=0, log_every=10**9,
                              mode="dynamic", score_fraction=1.0, target_force_ratio=0.1)
    terms, gaps = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # any skipped step fails the test
        for step in range(12):
            b = slice((step % 6) * 16, (step % 6 + 1) * 16)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                pred = model(x[b])
                assert pred.dtype == torch.bfloat16  # autocast is really on
                loss_sup = (pred.float() - y[b]).norm(dim=-1).mean()
                term = seal.energy_term(loss_sup, x[b], pred, y[b])
                loss = loss_sup + term
            opt.zero_grad()
            loss.backward()
            opt.step()
            terms.append(float(term.detach()))
            gaps.append(seal.stats["energy_gap"])
    assert all(torch.isfinite(torch.tensor(terms))) and all(t != 0 for t in terms)
    assert all(torch.isfinite(torch.tensor(gaps)))
    assert seal.lossnet_updates == 12 and seal.skipped_energy_steps == 0
    assert all(torch.isfinite(p).all() and p.dtype == torch.float32 for p in net.parameters())
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_gradscaler_recipe_with_an_overflow_step(pairs):
    """The documented GPU recipe, run on CPU with fp16 autocast: an overflowing prediction
    makes the wrapper skip its term (counter) and the scaler skip the pose-net step."""
    x, y = pairs[0][:32], pairs[1][:32]
    model = _posenet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    seal = build_wrapper(lossnet=_lossnet(), lam=1e-2, seed=0, log_every=10**9,
                              mode="dynamic", score_fraction=1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for step in range(3):
        before = [p.detach().clone() for p in model.parameters()]
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            with torch.autocast("cpu", dtype=torch.float16):
                pred = model(x)
                if step == 1:
                    pred = pred * torch.tensor(float("inf"), dtype=pred.dtype)  # overflow
                loss = seal((pred.float() - y).norm(dim=-1).mean(), x, pred, y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        skipped = [w for w in rec if "non-finite prediction" in str(w.message)]
        assert len(skipped) == (step == 1)
        unchanged = all(torch.equal(a, p) for a, p in zip(before, model.parameters()))
        assert unchanged == (step == 1)
    assert seal.skipped_energy_steps == 1 and seal.lossnet_updates == 2
    assert scaler.get_scale() < 2.0**10  # the scaler saw the overflow and backed off
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(torch.isfinite(p).all() for p in seal.lossnet.parameters())

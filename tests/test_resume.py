"""Checkpoint and resume: atomic writes, clear errors on damaged files, and a run stopped
mid-epoch that resumes to bit-identical weights (CPU)."""

from __future__ import annotations

import io
import os
import random
from collections import OrderedDict

import numpy as np
import pytest
import torch

import sealloss.io.checkpoint as ckpt_mod
from sealloss.data.embedded import load_embedded
from sealloss.demo.baselines import SimpleBaseline
from sealloss.demo.experiment import epoch_order
from sealloss.errors import WeightsFileError
from sealloss.io.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sealloss.nn import GraphormerLossNet
from sealloss.training.settings import build_wrapper

torch.set_num_threads(1)

EPOCHS, STEPS, BATCH, DATA_SEED = 2, 4, 16, 11


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_embedded("train")
    idx = torch.arange(0, d["x2d"].shape[0], 50)[: STEPS * BATCH + 5]  # not a multiple: tail
    return torch.from_numpy(d["x2d"])[idx], torch.from_numpy(d["y3d"])[idx]


def _build(x: torch.Tensor, init_seed: int, wrapper_seed: int):
    """Everything a run owns. Different seeds give different starting states, so a resumed
    run matches only if the checkpoint restores every one of them."""
    torch.manual_seed(init_seed)
    model = SimpleBaseline("h36m17", width=32, blocks=1, dropout=0.25)  # BN buffers + dropout
    model.set_input_stats(x)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    net = GraphormerLossNet("h36m17", width=16, heads=2, layers=1)
    seal = build_wrapper(
        lossnet=net, lam="auto", lossnet_batch=8, score_fraction=0.5, num_negatives=2,
        seed=wrapper_seed, log_every=10**9, mode="dynamic", target_force_ratio=0.1,
    )
    return model, opt, sched, seal


def _train(run, data, start=(0, 0), stop=None, path=None, restore=True):
    """Train from (epoch, batch) ``start``; at ``stop`` save a checkpoint to ``path`` and
    return (the process "dies"). Draws from torch, NumPy and Python global RNGs like user code."""
    model, opt, sched, seal = run
    x, y = data
    for epoch in range(start[0], EPOCHS):
        order = epoch_order(x.shape[0], DATA_SEED, epoch)
        for b in range(start[1] if epoch == start[0] else 0, STEPS):
            if (epoch, b) == stop:
                save_checkpoint(
                    path, model=model.state_dict(), opt=opt.state_dict(),
                    sched=sched.state_dict(), seal=seal.state_dict(),
                    rng=rng_state() if restore else None, epoch=epoch, batch=b,
                )
                return
            idx = order[b * BATCH : (b + 1) * BATCH]
            xb, yb = x[idx], y[idx]
            # user-side randomness from each global generator (augmentation-like)
            xb = xb + 1e-3 * torch.randn(xb.shape) * random.random() * float(np.random.rand())
            model.train()
            pred = model(xb)
            loss = seal((pred - yb).norm(dim=-1).mean(), xb, pred, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()


def _resume(data, path, restore_rng=True, restore_seal=True):
    run = _build(data[0], init_seed=123, wrapper_seed=456)
    ck = load_checkpoint(path)
    model, opt, sched, seal = run
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    sched.load_state_dict(ck["sched"])
    if restore_seal:
        seal.load_state_dict(ck["seal"])
    if restore_rng and ck["rng"] is not None:
        set_rng_state(ck["rng"])
    _train(run, data, start=(ck["epoch"], ck["batch"]))
    return run


def _state(run) -> OrderedDict:
    model, opt, _, seal = run
    out = OrderedDict(("model." + k, v) for k, v in model.state_dict().items())
    out.update(("lossnet." + k, v) for k, v in seal.lossnet.state_dict().items())
    for i, st in opt.state_dict()["state"].items():
        out.update((f"opt.{i}.{k}", v) for k, v in st.items())
    out["seal.generator"] = seal.generator.get_state()
    out["seal.lam"] = torch.tensor(seal.lam, dtype=torch.float64)
    return out


def _equal(a: OrderedDict, b: OrderedDict) -> bool:
    assert a.keys() == b.keys()
    return all(torch.equal(a[k], b[k]) for k in a)


def test_mid_epoch_resume_is_bit_exact(data, tmp_path):
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    full = _build(data[0], init_seed=1, wrapper_seed=2)
    _train(full, data)
    ref = _state(full)

    path = tmp_path / "run" / "ckpt.pt"
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    first = _build(data[0], init_seed=1, wrapper_seed=2)
    _train(first, data, stop=(1, 2), path=path)  # mid-epoch: 6 of 8 steps done
    assert first[3].steps == 6
    del first
    # the "new process" starts with other global RNG states
    torch.manual_seed(999)
    random.seed(999)
    np.random.seed(999)
    resumed = _resume(data, path)
    assert resumed[3].steps == EPOCHS * STEPS and resumed[3].lossnet_updates == 8
    assert _equal(ref, _state(resumed))

    # the comparison is sensitive: leaving out either RNG restore changes the weights
    torch.manual_seed(999)
    assert not _equal(ref, _state(_resume(data, path, restore_rng=False)))
    torch.manual_seed(999)
    random.seed(999)
    np.random.seed(999)
    assert not _equal(ref, _state(_resume(data, path, restore_seal=False)))


# --------------------------------------------------------------------------- atomic writes
def _states():
    return {"w": torch.arange(6.0).reshape(2, 3), "meta": {"epoch": 3, "name": "x"},
            "hist": [1.5, None, (2, "a")]}


def test_roundtrip_and_plain_data_only(tmp_path):
    p = save_checkpoint(tmp_path / "a" / "b.ckpt", **_states())
    ck = load_checkpoint(p)
    assert torch.equal(ck["w"], _states()["w"]) and ck["meta"] == {"epoch": 3, "name": "x"}
    assert ck["hist"] == [1.5, None, (2, "a")]
    with pytest.raises(TypeError, match=r"states\['model'\] is a Linear.*state_dict"):
        save_checkpoint(tmp_path / "m.ckpt", model=torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"states\['opt'\]\['o'\] is a SGD"):
        opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
        save_checkpoint(tmp_path / "m.ckpt", opt={"o": opt})
    with pytest.raises(ValueError, match="nothing to save"):
        save_checkpoint(tmp_path / "m.ckpt")
    assert sorted(os.listdir(tmp_path)) == ["a"]  # refused saves wrote nothing


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, fail_at):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, step=1, w=torch.ones(3))
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError(f"simulated crash in {fail_at}")

    monkeypatch.setattr(ckpt_mod.os, fail_at, boom)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, step=2, w=torch.zeros(3))
    monkeypatch.undo()
    assert path.read_bytes() == before and load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left behind


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate", "truncated or corrupt"),
        ("flip", "truncated or corrupt"),
        ("empty", "not a sealloss checkpoint"),
        ("plain_torch", "not a sealloss checkpoint"),
        ("version", "version"),
    ],
)
def test_damaged_checkpoint_is_a_clear_error(tmp_path, damage, message):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, **_states())
    blob = path.read_bytes()
    if damage == "truncate":
        blob = blob[: len(blob) - 200]
    elif damage == "flip":
        b = bytearray(blob)
        b[len(b) // 2] ^= 0x01
        blob = bytes(b)
    elif damage == "empty":
        blob = b""
    elif damage == "plain_torch":
        buf = io.BytesIO()
        torch.save(_states(), buf)
        blob = buf.getvalue()
    else:
        blob = blob.replace(b"SEALLOSS-CKPT 1 ", b"SEALLOSS-CKPT 9 ", 1)
    path.write_bytes(blob)
    with pytest.raises(WeightsFileError, match=message):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(WeightsFileError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_load_never_unpickles_code(tmp_path):
    """A file with a valid header and checksum around a pickled object is still refused."""
    import hashlib

    buf = io.BytesIO()
    torch.save({"x": _Evil()}, buf)
    payload = buf.getvalue()
    head = b"SEALLOSS-CKPT 1 " + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    path = tmp_path / "evil.pt"
    path.write_bytes(head + payload)
    with pytest.raises(WeightsFileError, match="cannot be read"):
        load_checkpoint(path)


def test_rng_state_roundtrip(tmp_path):
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    np.random.randn()  # leave a cached Gaussian in NumPy's state
    state = rng_state()
    a = (torch.rand(4), random.random(), np.random.randn(3))
    save_checkpoint(tmp_path / "r.pt", rng=state)
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    b = (torch.rand(4), random.random(), np.random.randn(3))
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and np.array_equal(a[2], b[2])

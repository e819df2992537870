"""Two CPU processes (torch.distributed, gloo) against one process on the same global batch.

Scenario A: each rank trains on half of every global batch (pose-net in DDP); the wrapper
all-reduces the loss-net gradients, so after N steps the loss-net (and the pose-net) equal the
single-process run on whole batches, to float rounding. The comparison is exact in expectation
because nothing random is drawn (``negatives=None``, ``lossnet_batch=None``,
``score_fraction=1``) and every loss is a per-sample mean over equal halves.

Scenario B: loss-nets initialised differently on each rank, ``lam="auto"``, per-rank synthetic
negatives, a non-finite prediction on rank 1 and an empty batch on rank 0: the wrapper copies
rank 0's loss-net at its first call, every rank skips the same loss-net updates (no hang), and
the ranks keep identical loss-nets and lambdas.
"""

from __future__ import annotations

import datetime
import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sealloss.data.embedded import load_embedded
from sealloss.io.checkpoint import load_checkpoint, save_checkpoint
from sealloss.nn import GraphormerLossNet
from sealloss.training.settings import build_wrapper

WORLD, STEPS, GLOBAL_BATCH = 2, 4, 16
TIMEOUT_S = 150


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_embedded("train")
    idx = torch.arange(0, d["x2d"].shape[0], 97)[: STEPS * GLOBAL_BATCH]
    return torch.from_numpy(d["x2d"])[idx], torch.from_numpy(d["y3d"])[idx]


def _build(lam, negatives, seed, lossnet_seed=0):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(34, 32), torch.nn.GELU(), torch.nn.Linear(32, 51),
        torch.nn.Unflatten(1, (17, 3)),
    )
    torch.manual_seed(lossnet_seed)
    net = GraphormerLossNet("h36m17", width=16, heads=2, layers=1)
    # SGD, not Adam: Adam divides by sqrt(v), which turns float rounding on gradients that are
    # exactly zero in theory (the key bias of softmax attention) into lr-sized steps
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    lossnet_opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    seal = build_wrapper(
        lossnet=net, lam=lam, negatives=negatives, lossnet_batch=None, score_fraction=1.0,
        objective="margin", lossnet_optimizer=lossnet_opt, seed=seed, log_every=10**9,
        mode="dynamic", **({"target_force_ratio": 0.1} if lam == "auto" else {}),
    )
    return model, opt, seal


def _step(model, opt, seal, xb, yb, poison=False):
    pred = model(xb)
    loss_sup = (pred - yb).norm(dim=-1).mean() if xb.shape[0] else pred.sum() * 0
    pred_seal = pred * float("nan") if poison else pred
    loss = seal(loss_sup, xb, pred_seal, yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _run_a(model, opt, seal, x, y, rank, world):
    """Scenario A on this rank's share of each global batch (rank 0, world 1: all of it)."""
    per = GLOBAL_BATCH // world
    for s in range(STEPS):
        lo = s * GLOBAL_BATCH + rank * per
        _step(model, opt, seal, x[lo : lo + per], y[lo : lo + per])


def _worker(rank: int, world: int, port: int, outdir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        x, y = _data()
        model, opt, seal = _build(lam=0.05, negatives=None, seed=0)
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        _run_a(ddp, opt, seal, x, y, rank, world)
        out = {
            "a_lossnet": seal.lossnet.state_dict(),
            "a_model": model.state_dict(),
            "a_updates": seal.lossnet_updates,
        }
        # per-rank loss-net init: the wrapper's first call copies rank 0's weights
        model, opt, seal = _build("auto", "default", seed=10 + rank, lossnet_seed=rank)
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        per = GLOBAL_BATCH // world
        for s in range(STEPS + 1):
            lo = (s % STEPS) * GLOBAL_BATCH + rank * per
            xb, yb = x[lo : lo + per], y[lo : lo + per]
            if s == 3 and rank == 0:
                xb, yb = xb[:0], yb[:0]  # an empty shard
            _step(ddp, opt, seal, xb, yb, poison=(s == 2 and rank == 1))
        out.update(
            b_lossnet=seal.lossnet.state_dict(), b_lam=seal.lam,
            b_updates=seal.lossnet_updates, b_skipped_lossnet=seal.skipped_lossnet_steps,
            b_skipped_energy=seal.skipped_energy_steps,
            b_model_finite=all(bool(torch.isfinite(p).all()) for p in model.parameters()),
        )
        save_checkpoint(Path(outdir) / f"rank{rank}.pt", **out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp_path: Path) -> None:
    ctx = mp.start_processes(
        _worker, args=(WORLD, _free_port(), str(tmp_path)), nprocs=WORLD, join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + TIMEOUT_S
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                if p.is_alive():
                    p.kill()
            pytest.fail(f"distributed workers did not finish within {TIMEOUT_S} s (hang?)")


@pytest.mark.multiprocess
@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_process_gloo_matches_single_process(tmp_path):
    torch.set_num_threads(1)
    _launch(tmp_path)
    r0, r1 = (load_checkpoint(tmp_path / f"rank{r}.pt") for r in range(WORLD))

    # single process, whole global batches
    x, y = _data()
    model, opt, seal = _build(lam=0.05, negatives=None, seed=0)
    init = {k: v.clone() for k, v in seal.lossnet.state_dict().items()}
    _run_a(model, opt, seal, x, y, rank=0, world=1)
    assert r0["a_updates"] == r1["a_updates"] == seal.lossnet_updates == STEPS

    moved = 0.0
    for k, v in seal.lossnet.state_dict().items():
        assert torch.equal(r0["a_lossnet"][k], r1["a_lossnet"][k]), k  # ranks agree exactly
        assert torch.allclose(r0["a_lossnet"][k], v, rtol=1e-5, atol=1e-6), k
        moved = max(moved, float((v - init[k]).abs().max()))
    assert moved > 1e-4  # the loss-net did train, so the agreement means something
    for k, v in model.state_dict().items():
        assert torch.allclose(r0["a_model"][k], v, rtol=1e-5, atol=1e-6), k

    # scenario B: the same skips on both ranks, identical loss-nets and lambdas
    assert r0["b_skipped_lossnet"] == r1["b_skipped_lossnet"] == 2  # NaN step, empty step
    assert r0["b_updates"] == r1["b_updates"] == STEPS + 1 - 2
    assert (r0["b_skipped_energy"], r1["b_skipped_energy"]) == (0, 1)
    assert r0["b_lam"] == r1["b_lam"] and r0["b_lam"] != 1e-3  # auto lambda moved, in sync
    for k in r0["b_lossnet"]:
        assert torch.equal(r0["b_lossnet"][k], r1["b_lossnet"][k]), k
    assert r0["b_model_finite"] and r1["b_model_finite"]


if __name__ == "__main__":  # pragma: no cover - manual run
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    test_two_process_gloo_matches_single_process(Path("/tmp"))

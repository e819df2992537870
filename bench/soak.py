"""Soak test: many alternating SEAL steps with a small backbone; is the energy gap bounded?

    python bench/soak.py [--steps 10000] [--quick] [--lossnet graphormer|mlp] [--batch 64]
                         [--window N] [--seed 0] [--out bench/results/soak.json]

A small MLP lifter (our SimpleBaseline, width 128, one block) trains on the embedded CMU
pairs (:func:`sealloss.data.load_embedded`, train split; the held-out clip scores it) with
:class:`~sealloss.training.wrapper.AlternatingWrapper` at its defaults (dynamic loss-net,
``lam="auto"``,
margin objective, default synthetic negatives), one loss-net step per pose-net step. Per window
of steps it prints the training energy gap ``E(x, y_hat) - E(x, y*)`` (mean, std, min, max),
``E(x, y*)``, the force ratio, lambda, the alignment ``cos(-dE/dy_hat, y* - y_hat)``, the
training and held-out MPJPE, the held-out energy gap and the skipped-step counters; it writes
everything to ``--out`` (JSON) and exits with status 1 if a value went non-finite, a step was
skipped, or a window's mean gap left ``[-gap_limit, gap_limit]``.

``--quick`` runs 600 steps in windows of 100 (a smoke run of a minute or two).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sealloss.data.embedded import load_embedded
from sealloss.demo.baselines import SimpleBaseline
from sealloss.demo.experiment import epoch_order
from sealloss.nn import GraphormerLossNet, LossNet, MLPLossNet
from sealloss.training.wrapper import AlternatingWrapper

TRACKED = ("energy_gap", "energy_gt", "energy_pred", "force_ratio", "lam", "alignment",
           "margin_violations", "lossnet_loss")


def make_lossnet(kind: str) -> LossNet:
    if kind == "graphormer":
        return GraphormerLossNet("h36m17", width=32, heads=4, layers=2)
    if kind == "mlp":
        return MLPLossNet("h36m17", width=128, blocks=2)
    raise ValueError(f"unknown loss-net {kind!r}")


@torch.no_grad()
def held_out(model: torch.nn.Module, net: LossNet, x: torch.Tensor, y: torch.Tensor) -> dict:
    """MPJPE (mm) and the energy gap on held-out predictions (loss-net in eval mode)."""
    model.eval()
    pred = model(x)
    model.train()
    was = net.training
    net.eval()
    gap = net.energy(x, pred) - net.energy(x, y)
    net.train(was)
    return {
        "test_mpjpe_mm": float((pred - y).norm(dim=-1).mean()) * 1000,
        "test_gap": float(gap.mean()),
        "test_rank_acc": float((gap > 0).float().mean()),
    }


def _summary(values: list[float]) -> dict[str, float]:
    v = np.asarray([a for a in values if math.isfinite(a)], dtype=np.float64)
    if v.size == 0:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan}
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
            "max": float(v.max())}


def run_soak(
    steps: int = 10_000,
    window: int = 1000,
    batch: int = 64,
    lossnet: str = "graphormer",
    seed: int = 0,
    gap_limit: float = 5.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train for ``steps`` and return the per-window record (see the module docstring)."""
    train, test = load_embedded("train"), load_embedded("test")
    x, y = torch.from_numpy(train["x2d"]), torch.from_numpy(train["y3d"])
    xt, yt = torch.from_numpy(test["x2d"]), torch.from_numpy(test["y3d"])
    torch.manual_seed(seed)
    model = SimpleBaseline("h36m17", width=128, blocks=1, dropout=0.1)
    model.set_input_stats(x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    net = make_lossnet(lossnet)
    seal = AlternatingWrapper(net, seed=seed, log_every=10**9)
    per_epoch = x.shape[0] // batch
    rows: list[dict[str, Any]] = []
    cur: dict[str, list[float]] = {k: [] for k in (*TRACKED, "mpjpe_mm")}
    trajectory: list[dict[str, float]] = []
    nonfinite = 0
    t_start = time.perf_counter()
    t_win = t_start
    for step in range(steps):
        epoch, b = divmod(step, per_epoch)
        if b == 0:
            order = epoch_order(x.shape[0], seed, epoch)
        idx = order[b * batch : (b + 1) * batch]
        xb, yb = x[idx], y[idx]
        pred = model(xb)
        loss_sup = (pred - yb).norm(dim=-1).mean()
        loss = seal(loss_sup, xb, pred, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        st = seal.stats
        nonfinite += int(not math.isfinite(float(loss.detach())))
        for k in TRACKED:
            cur[k].append(st[k])
        cur["mpjpe_mm"].append(float(loss_sup.detach()) * 1000)
        if step % 100 == 0:
            trajectory.append({"step": step, **{k: st[k] for k in TRACKED},
                               "mpjpe_mm": cur["mpjpe_mm"][-1]})
        if (step + 1) % window == 0 or step + 1 == steps:
            now = time.perf_counter()
            n = len(cur["mpjpe_mm"])
            row = {
                "start": step + 1 - n,
                "end": step + 1,
                "gap": _summary(cur["energy_gap"]),
                "energy_gt": _summary(cur["energy_gt"]),
                "force_ratio": _summary(cur["force_ratio"])["mean"],
                "lam": cur["lam"][-1],
                "alignment": _summary(cur["alignment"])["mean"],
                "margin_violations": _summary(cur["margin_violations"])["mean"],
                "train_mpjpe_mm": _summary(cur["mpjpe_mm"])["mean"],
                **held_out(model, net, xt, yt),
                "skipped_energy_steps": seal.skipped_energy_steps,
                "skipped_lossnet_steps": seal.skipped_lossnet_steps,
                "step_time_ms": (now - t_win) / n * 1000,
            }
            rows.append(row)
            if progress:
                print(format_row(row), flush=True)
            cur = {k: [] for k in cur}
            t_win = time.perf_counter()
    wall = time.perf_counter() - t_start
    means = [r["gap"]["mean"] for r in rows]
    band = [min(means), max(means)] if means else [math.nan, math.nan]
    late = [r["gap"]["mean"] for r in rows[1:]] or means
    ok_finite = nonfinite == 0 and all(math.isfinite(m) for m in means)
    skipped = seal.skipped_energy_steps + seal.skipped_lossnet_steps
    bounded = ok_finite and all(abs(m) <= gap_limit for m in means)
    return {
        "config": {"steps": steps, "window": window, "batch": batch, "lossnet": lossnet,
                   "lossnet_params": net.num_parameters, "seed": seed, "gap_limit": gap_limit,
                   "backbone": "SimpleBaseline(width=128, blocks=1, dropout=0.1)",
                   "data": "embedded CMU train (held-out clip for test_*)",
                   "wrapper": "AlternatingWrapper defaults (dynamic, lam=auto, margin)"},
        "windows": rows,
        "trajectory": trajectory,
        "gap_band_window_means": band,
        "gap_band_after_first_window": [min(late), max(late)] if late else band,
        "nonfinite_losses": nonfinite,
        "skipped_steps": skipped,
        "bounded": bounded,
        "ok": bounded and skipped == 0,
        "wall_s": wall,
        "step_time_ms": wall / max(1, steps) * 1000,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
    }


HEADER = (f"{'steps':>11} {'gap mean':>9} {'gap std':>8} {'gap min':>8} {'gap max':>8} "
          f"{'E(y*)':>7} {'force':>6} {'lambda':>9} {'align':>6} {'mpjpe':>6} {'test':>6} "
          f"{'t.gap':>7} {'t.rank':>6} {'skip':>5} {'ms':>5}")


def format_row(r: dict[str, Any]) -> str:
    g = r["gap"]
    return (f"{r['start']:>5}-{r['end']:<5} {g['mean']:>9.4f} {g['std']:>8.4f} {g['min']:>8.4f} "
            f"{g['max']:>8.4f} {r['energy_gt']['mean']:>7.3f} {r['force_ratio']:>6.3f} "
            f"{r['lam']:>9.3g} {r['alignment']:>6.3f} {r['train_mpjpe_mm']:>6.1f} "
            f"{r['test_mpjpe_mm']:>6.1f} {r['test_gap']:>7.4f} {r['test_rank_acc']:>6.2f} "
            f"{r['skipped_energy_steps'] + r['skipped_lossnet_steps']:>5d} "
            f"{r['step_time_ms']:>5.0f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--window", type=int, default=None, help="steps per row (default 1000)")
    ap.add_argument("--quick", action="store_true", help="600 steps, windows of 100")
    ap.add_argument("--lossnet", choices=("graphormer", "mlp"), default="graphormer")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gap-limit", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "soak.json")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    steps = 600 if a.quick else a.steps
    window = a.window or (100 if a.quick else 1000)
    print(HEADER, flush=True)
    res = run_soak(steps, window, a.batch, a.lossnet, a.seed, a.gap_limit)
    lo, hi = res["gap_band_window_means"]
    print(f"\nenergy-gap band (window means): [{lo:.4f}, {hi:.4f}]; after the first window: "
          f"[{res['gap_band_after_first_window'][0]:.4f}, "
          f"{res['gap_band_after_first_window'][1]:.4f}]; limit +-{a.gap_limit}")
    print(f"skipped steps: {res['skipped_steps']}; non-finite losses: {res['nonfinite_losses']}; "
          f"{res['step_time_ms']:.1f} ms/step, {res['wall_s'] / 60:.1f} min; "
          f"{'OK' if res['ok'] else 'FAILED'}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(a.out.suffix + ".tmp")
    tmp.write_text(json.dumps(res, indent=1))
    tmp.replace(a.out)
    print(f"wrote {a.out}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

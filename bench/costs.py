"""The two costs the README states, measured by one command, with their conditions.

    python bench/costs.py [--threads 1] [--batch 256] [--rounds 40] [--poses 1000]
                          [--refine-repeats 7] [--out bench/results/costs.json]

1. **Training step ratio**: one SimpleBaseline (width 1024, 2 blocks) training step, plain
   against the same step through the recommended wrapper of each 2D input kind
   (:data:`sealloss.defaults.TRAIN`: ``"gt"``, frozen ``h36m17``; ``"detected"``, the alternating
   scheme warm-started from ``h36m17-sh-refiner``), interleaved step by step in one process
   (:func:`sealloss.demo.experiment.interleaved_step_times`, order rotating per round) on the
   shipped CMU training pairs; reported as the ratio of median step times and the quartiles of
   the per-round ratios.
2. **Refinement**: ``sealloss.refine`` with the ``REFINE[kind]`` defaults of each input kind
   (``h36m17-dsm`` and ``h36m17-sh-refiner``, 30 Adam steps) on ``--poses`` held-out CMU poses
   in one batch, repeated ``--refine-repeats`` times after one warm-up; reported as the median
   and quartiles of ms per 1,000 poses.

Run it on an idle machine: the JSON records the torch threads, batch sizes, CPU count and the
load average before and after, and the printed lines name them. Nothing here trains to
convergence; the models are untrained (cost does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from sealloss import __version__


def _quartiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return {"median": statistics.median(values), "q1": q[0], "q3": q[2],
            "min": min(values), "max": max(values)}


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # not on every platform
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--batch", type=int, default=256, help="training batch (default 256)")
    ap.add_argument("--width", type=int, default=1024, help="SimpleBaseline width (default 1024)")
    ap.add_argument("--rounds", type=int, default=40, help="interleaved step rounds (default 40)")
    ap.add_argument("--poses", type=int, default=1000, help="poses refined per repeat")
    ap.add_argument("--refine-repeats", type=int, default=7, help="refinement repeats")
    ap.add_argument("--out", default="bench/results/costs.json", help="JSON written here")
    args = ap.parse_args(argv)
    if min(args.threads, args.batch, args.width, args.rounds, args.poses,
           args.refine_repeats) < 1:
        ap.error("every count must be at least 1")
    torch.set_num_threads(args.threads)

    from sealloss.data import load_embedded
    from sealloss.defaults import INPUT_KINDS, recommended, refine_defaults
    from sealloss.demo.experiment import (
        ArmConfig,
        TrainConfig,
        interleaved_step_times,
        ratio_summary,
    )
    from sealloss.io.weights import load_lossnet
    from sealloss.posthoc.refinement import refine

    load_start = _load()
    train, test = load_embedded("train"), load_embedded("test")
    x, y = torch.from_numpy(train["x2d"]), torch.from_numpy(train["y3d"])
    cfg = TrainConfig(batch_size=args.batch, width=args.width)
    arms = [ArmConfig("plain")] + [ArmConfig(f"SEAL {kind}", seal=True,
                                             seal_kwargs=recommended(kind))
                                   for kind in INPUT_KINDS]
    times = interleaved_step_times(arms, x, y, cfg, seed=0, steps=args.rounds)
    steps = {}
    for kind in INPUT_KINDS:
        step = ratio_summary(times[f"SEAL {kind}"], times["plain"])
        step.update({"plain_median_ms": statistics.median(times["plain"]) * 1e3,
                     "seal_median_ms": statistics.median(times[f"SEAL {kind}"]) * 1e3,
                     # the wall time of an epoch: the alternating scheme's loss-net updates come
                     # every 2nd step, so its step times are bimodal and the medians hide them
                     "ratio_of_means": statistics.fmean(times[f"SEAL {kind}"])
                     / statistics.fmean(times["plain"])})
        steps[kind] = step

    reps = (args.poses + test["x2d"].shape[0] - 1) // test["x2d"].shape[0]
    x2d = torch.from_numpy(test["x2d"]).repeat(reps, 1, 1)[: args.poses]
    y3d = torch.from_numpy(test["y3d"]).repeat(reps, 1, 1)[: args.poses]
    y_hat = y3d + 0.03 * torch.randn(y3d.shape, generator=torch.Generator().manual_seed(0))
    y_hat = y_hat - y_hat[:, :1]
    refines = {}
    for kind in INPUT_KINDS:
        settings = refine_defaults(kind)
        net = load_lossnet(settings["weights"])
        ms = []
        for i in range(args.refine_repeats + 1):
            t0 = time.perf_counter()
            refine(net, x2d, y_hat, inputs=kind, batch_size=args.poses)
            if i:  # the first call warms up
                ms.append((time.perf_counter() - t0) * 1e3 * 1000 / args.poses)
        refines[kind] = {**_quartiles(ms), "weights": settings["weights"],
                         "steps": settings["steps"]}
    conditions = {"threads": args.threads, "train_batch": args.batch, "width": args.width,
                  "rounds": args.rounds, "refine_poses": args.poses,
                  "refine_batch": args.poses, "cpu_count": os.cpu_count(),
                  "loadavg_start": load_start, "loadavg_end": _load(),
                  "machine": platform.machine(), "torch": torch.__version__,
                  "python": sys.version.split()[0], "sealloss": __version__}
    res = {"what": "training step ratio (the recommended wrapper of each input kind vs plain, "
                   "interleaved) and refinement ms per 1,000 poses (REFINE[kind])",
           "conditions": conditions, "step_ratio": steps, "refine_ms_per_1000": refines}
    for kind in INPUT_KINDS:
        r, q = steps[kind], refines[kind]
        print(f"{kind}: step ratio SEAL/plain {r['ratio_of_medians']:.2f}x (per-round ratios "
              f"{r['ratio_q1']:.2f}-{r['ratio_q3']:.2f}; ratio of mean step times "
              f"{r['ratio_of_means']:.2f}x); refine {q['median']:.0f} ms per 1,000 "
              f"poses (quartiles {q['q1']:.0f}-{q['q3']:.0f}, {q['weights']}, {q['steps']} steps)")
    print(f"conditions: {args.threads} thread(s), train batch {args.batch}, width {args.width}, "
          f"{args.rounds} rounds; refine {args.poses} poses per batch, {args.refine_repeats} "
          f"repeats; load average {load_start} -> {_load()}, {os.cpu_count()} CPUs")
    from sealloss.io.atomic import atomic_write

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, json.dumps(res, indent=2).encode())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

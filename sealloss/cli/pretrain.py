"""``sealloss pretrain``: a loss-net trained alone on ground truth vs synthetic negatives
(:func:`sealloss.training.pretrain.pretrain_lossnet`), its held-out ranking report and weights file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..demo.pairs import evenly_spaced, load_pairs
from ..io.atomic import write_text
from ._common import (
    EXIT_OK,
    THREADS_HELP,
    CLIError,
    check_output,
    progress_bar,
    torch_threads,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register the command on the CLI's sub-parsers."""
    pt = sub.add_parser(
        "pretrain", formatter_class=formatter_class,
        help="pretrain a loss-net on ground truth vs synthetic negatives; save its weights",
        description="Trains a loss-net alone (SEAL-static) to rank ground-truth poses below "
        "synthetic negatives (joint noise, bone rotations, bone-length changes, limb swaps and "
        "flips, hard negatives), reports the held-out ranking accuracy per negative kind and "
        "size, and saves a weights file that 'sealloss score', 'sealloss info' and "
        "AlternatingWrapper(lossnet=PATH) read.")
    pt.add_argument("--out", default="lossnet.safetensors", help="weights file to write")
    pt.add_argument("--data", choices=("embedded", "h36m"), default="embedded",
                    help="training data: shipped CMU clips or Human3.6M")
    pt.add_argument("--data-root", default=None, help="folder holding h36m/ (for --data h36m)")
    pt.add_argument("--every", type=int, default=2,
                    help="Human3.6M: keep every n-th 10 Hz training frame (test: 5n)")
    pt.add_argument("--kind", choices=("graphormer", "mlp"), default="graphormer",
                    help="loss-net architecture")
    pt.add_argument("--width", type=int, default=64, help="loss-net width")
    pt.add_argument("--layers", type=int, default=3, help="transformer layers (MLP: blocks)")
    pt.add_argument("--heads", type=int, default=4, help="attention heads (graphormer)")
    pt.add_argument("--steps", type=int, default=1500, help="optimisation steps")
    pt.add_argument("--batch-size", type=int, default=64, help="ground-truth poses per step")
    pt.add_argument("--negatives", type=int, default=8, help="negatives per ground truth")
    pt.add_argument("--objective", choices=("nce", "margin"), default="nce",
                    help="ranking objective")
    pt.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    pt.add_argument("--seed", type=int, default=0, help="seed")
    pt.add_argument("--max-test", type=int, default=4096,
                    help="held-out poses of the ranking report (evenly spaced)")
    pt.add_argument("--sizes-mm", type=float, nargs="+", default=[10.0, 20.0, 40.0],
                    help="perturbation sizes (median MPJPE) of the ranking report")
    pt.add_argument("--report", default=None, help="also write the report to this JSON file")
    pt.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    pt.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    pt.add_argument("--no-progress", action="store_true", help="no progress bar")
    pt.set_defaults(func=run)
    return pt


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status (errors are raised for the CLI to report)."""
    with torch_threads(args.threads):
        return _pretrain(args)


def _pretrain(args: argparse.Namespace) -> int:
    import torch

    from ..io.weights import save_lossnet
    from ..training.pretrain import (
        PretrainConfig,
        format_ranking_table,
        pretrain_lossnet,
        ranking_report,
    )

    if args.quick:
        args.steps, args.batch_size, args.negatives = min(args.steps, 5), 16, 2
        args.width, args.layers, args.heads, args.max_test = 16, 1, 2, min(args.max_test, 64)
        args.sizes_mm = args.sizes_mm[:1]
    for name in ("steps", "batch_size", "negatives", "width", "layers", "heads", "max_test"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1")
    if Path(args.out).is_dir():
        raise CLIError(f"--out {args.out!r} is a folder; give a file name such as "
                       "lossnet.safetensors")
    # refuse an unwritable --out (and --report) now, not after the whole training run
    out = check_output(args, "--out", None, "nothing was trained")
    report_path = check_output(args, "--report", None, "nothing was trained")
    train, test = load_pairs(args.data, args.data_root, args.every, args.every * 5)
    model = {"width": args.width, "layers": args.layers}
    if args.kind == "graphormer":
        model["heads"] = args.heads
    else:
        model = {"width": args.width, "blocks": args.layers}
    cfg = PretrainConfig(kind=args.kind, model=model, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr, objective=args.objective,
                         num_negatives=args.negatives, seed=args.seed)
    bar = progress_bar(cfg.steps, "pretrain", not args.no_progress)

    def progress(step: int, total: int, rec: dict[str, float]) -> None:
        bar.update(step + 1 - bar.n)
        bar.set_postfix(loss=f"{rec['loss']:.3f}", rank_acc=f"{rec['train_rank_acc']:.2f}")

    print(f"sealloss pretrain: {cfg.kind} loss-net ({model}) on "
          f"{'the embedded CMU clips' if args.data == 'embedded' else 'Human3.6M'}, "
          f"{cfg.steps} steps of {cfg.batch_size} poses x {cfg.num_negatives} negatives")
    t0 = time.perf_counter()
    x, y = torch.from_numpy(train["x2d"]), torch.from_numpy(train["y3d"])
    with bar:
        net, history = pretrain_lossnet(x, y, cfg, progress=progress)
    train_s = time.perf_counter() - t0
    sel = np.asarray(evenly_spaced(len(test["x2d"]), args.max_test)) if args.max_test < len(
        test["x2d"]) else np.arange(len(test["x2d"]))
    report = ranking_report(net, torch.from_numpy(test["x2d"][sel]),
                            torch.from_numpy(test["y3d"][sel]), sizes_mm=tuple(args.sizes_mm))
    save_lossnet(net, out)
    print(f"trained in {train_s:.0f} s on {x.shape[0]} pairs; held-out ranking accuracy "
          f"P(E(ground truth) < E(negative)) on {sel.size} poses, %:\n")
    print(format_ranking_table(report))
    print(f"\nwrote {out} ({net.num_parameters:,} parameters); inspect it with "
          f"'sealloss info {out}'")
    if report_path is not None:
        rep = {"config": cfg.as_dict(), "train_pairs": int(x.shape[0]),
               "test_pairs": int(sel.size), "train_seconds": train_s,
               "parameters": net.num_parameters, "history": history, "ranking": report}
        write_text(report_path, json.dumps(rep, indent=2))
        print(f"wrote {report_path}")
    return EXIT_OK

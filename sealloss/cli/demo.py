"""``sealloss demo``: SimpleBaseline without and with SEAL on the shipped clips (or Human3.6M),
then the plain model's predictions refined at test time; printed as a table with the conditions
of every cost and a plain verdict; the work is :func:`sealloss.demo.runner.run_demo`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..defaults import RECOMMENDED
from ._common import EXIT_OK, THREADS_HELP, progress_bar, torch_threads

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register the command on the CLI's sub-parsers."""
    d = sub.add_parser(
        "demo", formatter_class=formatter_class,
        help="train a small SimpleBaseline with and without SEAL, refine the plain one's "
        "predictions; print the comparison and a verdict",
        description="Trains a SimpleBaseline lifter twice (plain MPJPE loss, and MPJPE + SEAL "
        "energy of the shipped pretrained loss-net, the recommended setting), same seed and "
        "data order, then refines the plain model's held-out predictions at test time by "
        "descent on the score-matching energy (h36m17-dsm, as 'sealloss refine' does) and "
        "scores all three on held-out poses, with a verdict that says when SEAL or the "
        "refinement is worse than plain. Needs no download: by default it uses the CMU clips "
        "shipped with sealloss (under a minute on 2 CPU cores). Writes skeleton figures, "
        "training curves with held-out MPJPE, predictions, the SEAL loss-net and results.json "
        "to --out.")
    d.add_argument("--data", choices=("embedded", "h36m"), default="embedded",
                   help="training/test data: shipped CMU clips or Human3.6M (needs --data-root "
                   "or $SEALLOSS_DATA)")
    d.add_argument("--data-root", default=None, help="folder holding h36m/ (for --data h36m)")
    d.add_argument("--out", default="sealloss-demo", help="output folder")
    d.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default 8 embedded, 3 h36m)")
    d.add_argument("--width", type=int, default=256, help="SimpleBaseline width")
    d.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="seeds; each trains both arms with the same seed and data order")
    d.add_argument("--every", type=int, default=10,
                   help="Human3.6M: keep every n-th 10 Hz frame")
    d.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    d.add_argument("--quick", action="store_true",
                   help="tiny smoke run (seconds): small nets, a few steps; its numbers are a "
                   "smoke test, not a result")
    d.add_argument("--no-refine", action="store_true",
                   help="skip the test-time refinement of the plain model's predictions")
    d.add_argument("--seal-mode", choices=("static", "dynamic"), default=RECOMMENDED["mode"],
                   help="SEAL arm: static = the recommended setting (shipped h36m17 loss-net, "
                   "frozen, lam auto at force ratio 0.3, a quarter of each batch scored); "
                   "dynamic = a fresh loss-net trained alongside")
    d.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.set_defaults(func=run)
    return d


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status (errors are raised for the CLI to report)."""
    with torch_threads(args.threads):
        return _demo(args)


def _demo(args: argparse.Namespace) -> int:
    from ..demo.runner import DemoConfig, run_demo

    cfg = DemoConfig(data=args.data, data_root=args.data_root, out=args.out, epochs=args.epochs,
                     width=args.width, seeds=tuple(args.seeds), every=args.every,
                     quick=args.quick, plots=not args.no_plots, seal_mode=args.seal_mode,
                     refine=not args.no_refine)
    bars: dict[str, Any] = {}

    def progress(arm: str, step: int, total: int, rec: dict[str, float]) -> None:
        bar = bars.get(arm)
        if bar is None:
            bar = bars[arm] = progress_bar(total, f"train {arm}", not args.no_progress)
        bar.update(step + 1 - bar.n)
        bar.set_postfix(loss_mm=f"{rec['loss_sup_mm']:.1f}")
        if step + 1 >= total:
            bar.close()

    r = cfg.resolved()
    print(f"sealloss demo: SimpleBaseline (width {r.width}) without and with SEAL on "
          f"{'the embedded CMU clips' if r.data == 'embedded' else 'Human3.6M'}, "
          f"{r.epochs} epoch(s), seed(s) {', '.join(map(str, r.seeds))}")
    if r.quick:
        print("--quick: a SMOKE TEST (tiny nets, a few steps). Its numbers only show that "
              "everything runs; they say nothing about accuracy.")
    if r.seal_mode == "static":
        print("SEAL arm: the recommended setting: the shipped h36m17 loss-net, frozen "
              f"(static), lam auto at force ratio {RECOMMENDED['target_force_ratio']}, scoring "
              f"{RECOMMENDED['score_fraction']:.0%} of each batch")
    else:
        print(f"SEAL arm: a fresh loss-net (width {r.lossnet_width}, {r.lossnet_layers} "
              "layer(s)) trained alongside (dynamic)")
    t0 = time.perf_counter()
    res = run_demo(cfg, progress)
    for bar in bars.values():
        bar.close()
    print(f"trained on {res.n_train} pairs, tested on {res.n_test} held-out pairs "
          f"in {time.perf_counter() - t0:.0f} s (mm / %; lower is better)\n")
    print(res.table())
    c = res.conditions
    print(f"\nstep ms: median training step after warm-up, {c['threads']} torch thread(s), "
          f"batch {c['train_batch']}, on this machine as loaded now.")
    if "plain + refine" in res.metrics:
        print(f"plain + refine: plain's predictions after {c['refine_steps']} Adam steps on "
              f"{c['refine_weights']} (the 'sealloss refine' defaults for GT 2D); cost "
              f"{res.refine_ms_per_1000:.0f} ms per 1,000 poses ({c['threads']} thread(s), "
              f"{c['refine_poses']} poses, batches of up to {c['refine_batch']}).")
    if len(r.seeds) > 1:
        print(f"X - plain: mean of the paired differences over {len(r.seeds)} seeds "
              "(same seed, data order and schedule per pair), then their std.")
    print("\nverdict:")
    for line in res.verdict():
        print(f"  {line}")
    print("\nwritten:")
    for k, v in res.files.items():
        print(f"  {k:<26} {v}")
    for note in res.notes:
        print(f"note: {note}")
    return EXIT_OK

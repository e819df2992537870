"""Pretrain a Human3.6M loss-net (the shipped h36m17 Graphormer by default) and write its ranking
report. ``--inputs sh`` conditions it on the Stacked-Hourglass detections; ``--crossfit DIR``
adds out-of-fold lifter predictions (``bench/crossfit_h36m.py``) as negatives.

    python bench/pretrain_h36m.py --data-root ../shared/data \
        --out sealloss/weights/h36m17-graphormer.safetensors

Writes ``bench/results/pretrain_h36m17.json`` (config, time, ranking on S9/S11 per negative
kind and perturbation size) and prints the ranking table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sealloss.training.pretrain import PretrainConfig, run_h36m_pretraining

VALIDATION_WEIGHTS = "bench/cache/h36m17-graphormer-S1S5S6S7.safetensors"


def crossfit_predictions(folder: str, every: int, n_rows: int) -> np.ndarray:
    """The out-of-fold predictions ``bench/crossfit_h36m.py`` wrote to ``folder`` for the
    training pairs at ``every`` (row-aligned with the pretraining pairs; checked by count)."""
    path = Path(folder) / f"predictions_every{every}.npy"
    if not path.exists():
        raise SystemExit(f"{path} not found: run bench/crossfit_h36m.py --predict-every {every} "
                         f"--out {folder} first")
    preds = np.load(path)
    if preds.shape[0] != n_rows:
        raise SystemExit(f"{path} has {preds.shape[0]} rows, the training pairs {n_rows}: made "
                         "for other subjects, inputs or --every")
    return preds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default="sealloss/weights/h36m17-graphormer.safetensors")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--negatives", type=int, default=8)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kind", default="graphormer")
    ap.add_argument("--mlp-width", type=int, default=256)
    ap.add_argument("--mlp-blocks", type=int, default=2)
    ap.add_argument("--objective", default="nce",
                    help="one of sealloss.objectives.OBJECTIVES (nce, margin, dsm, nce+dsm, ...)")
    ap.add_argument("--sigma-mm", type=float, nargs=2, default=(5.0, 150.0),
                    help="DSM noise range, millimetres (log-uniform)")
    ap.add_argument("--dsm-weight", type=float, default=None)
    ap.add_argument("--grad-weight", type=float, default=None)
    ap.add_argument("--temperature", type=float, default=0.1)
    ap.add_argument("--margin", type=float, default=50.0,
                    help="margin objective: energy units per metre of task cost")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--hard-fraction", type=float, default=0.1)
    ap.add_argument("--every", type=int, default=2, help="every n-th 10 Hz training frame")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="safety stop; the learning-rate schedule follows --steps")
    ap.add_argument("--stop-after", type=int, default=None,
                    help="stop after this many steps (e.g. where a time-capped validation run "
                         "stopped); the learning-rate schedule still follows --steps")
    ap.add_argument("--init", default=None,
                    help="continue training these weights (name or path) instead of a fresh net")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-subjects", nargs="+", default=None,
                    help="override the training subjects (e.g. S1 for the semi-supervised bench)")
    ap.add_argument("--test-subjects", nargs="+", default=None)
    ap.add_argument("--crossfit", default=None, metavar="DIR",
                    help="out-of-fold lifter predictions of the training pairs (the folder of "
                         "bench/crossfit_h36m.py, same subjects, inputs and --every) as the "
                         "first negative of every batch")
    ap.add_argument("--inputs", choices=("gt", "sh"), default="gt",
                    help="2D the loss-net is conditioned on: GT-projected or SH detections")
    ap.add_argument("--gt-share", type=float, default=0.0,
                    help="with --inputs sh: share of training rows given their GT-projected 2D")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="bench/results/pretrain_h36m17.json")
    ap.add_argument("--validate", action="store_true",
                    help="train on S1/S5/S6/S7 and rank on S8: the loss-net the S8 ablation uses "
                         "(written to bench/cache/, not shipped)")
    args = ap.parse_args()
    subjects: dict = {}
    if args.validate:
        subjects = {"train_subjects": ("S1", "S5", "S6", "S7"), "test_subjects": ("S8",)}
        if args.out == ap.get_default("out"):
            args.out = VALIDATION_WEIGHTS
        if args.json == ap.get_default("json"):
            args.json = "bench/results/pretrain_h36m17_validation.json"
    if args.train_subjects:
        subjects["train_subjects"] = tuple(args.train_subjects)
    if args.test_subjects:
        subjects["test_subjects"] = tuple(args.test_subjects)
    torch.set_num_threads(args.threads)
    model = {"width": args.mlp_width, "blocks": args.mlp_blocks} if args.kind == "mlp" else {
        "width": args.width, "layers": args.layers, "heads": args.heads
    }
    cfg = PretrainConfig(
        kind=args.kind, model=model, steps=args.steps, batch_size=args.batch_size,
        num_negatives=args.negatives, hard_fraction=args.hard_fraction,
        objective=args.objective, sigma_m=(args.sigma_mm[0] / 1000, args.sigma_mm[1] / 1000),
        dsm_weight=args.dsm_weight, grad_weight=args.grad_weight, lr=args.lr,
        temperature=args.temperature, margin=args.margin, grad_clip=args.grad_clip, seed=args.seed,
        max_seconds=args.max_seconds, stop_after=args.stop_after,
    )
    bar = tqdm(total=cfg.steps, desc="pretrain")

    def progress(step: int, total: int, rec: dict) -> None:
        bar.n = step + 1
        bar.set_postfix({k: f"{v:.3f}" for k, v in rec.items() if k not in ("step", "elapsed_s")})
        bar.refresh()

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    preds = None
    if args.crossfit:
        from sealloss.data import TRAIN_SUBJECTS, h36m_input_pairs, load_h36m

        tr_subjects = tuple(subjects.get("train_subjects", TRAIN_SUBJECTS))
        ds = load_h36m(args.data_root)
        ref = h36m_input_pairs(tr_subjects, args.inputs, args.every, ds, rules_from=tr_subjects)
        preds = crossfit_predictions(args.crossfit, args.every, ref["y3d"].shape[0])
    rep = run_h36m_pretraining(cfg, args.data_root, args.out, progress=progress,
                               train_every=args.every, train_predictions=preds, init=args.init,
                               inputs=args.inputs, gt_share=args.gt_share, **subjects)
    rep["init"] = args.init
    rep["crossfit"] = args.crossfit
    rep["args"] = vars(args)
    bar.close()
    print(rep["ranking_table"])
    print(f"train time {rep['train_seconds']:.0f} s on {rep['threads']} threads, "
          f"{rep['parameters']} parameters")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rep, indent=1))


if __name__ == "__main__":
    main()

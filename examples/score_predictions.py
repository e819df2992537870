"""Flag implausible frames in any model's 3D predictions with a loss-net, and blame joints.

Runs on the CMU clips shipped with sealloss (no download), on CPU:

1. train a plain SimpleBaseline lifter for a few epochs and predict the held-out clip;
2. get a loss-net: ``--weights PATH`` (e.g. from ``sealloss pretrain`` or ``sealloss demo``),
   or pretrain a small one here on ground truth vs synthetic negatives;
3. score the predictions: energy per frame, the frames above the ground truth's 95 % energy
   quantile, and whether high energy goes with high error (it needs no ground truth, so the
   same call works on predictions of a model you cannot check).

    python examples/score_predictions.py                      # about 2-4 minutes on 2 cores
    python examples/score_predictions.py --weights sealloss-demo/lossnet.safetensors

Only the public API is used: ``sealloss.posthoc.scoring``, ``sealloss.training.pretrain``,
``sealloss.io.weights``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sealloss.data import load_embedded
from sealloss.demo.experiment import ArmConfig, TrainConfig, predict, train_arm
from sealloss.io.weights import load_lossnet
from sealloss.posthoc.scoring import energy_threshold, pose_energies, score_poses
from sealloss.training.pretrain import PretrainConfig, pretrain_lossnet


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="loss-net weights (default: pretrain one)")
    ap.add_argument("--epochs", type=int, default=4, help="epochs of the plain lifter")
    ap.add_argument("--pretrain-steps", type=int, default=400)
    ap.add_argument("--plot", default="score_predictions.png", help="blame figure ('' = none)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    train, test = load_embedded("train"), load_embedded("test")
    x_tr, y_tr = torch.from_numpy(train["x2d"]), torch.from_numpy(train["y3d"])
    x_te, y_te = torch.from_numpy(test["x2d"]), torch.from_numpy(test["y3d"])

    print(f"1. plain SimpleBaseline, {args.epochs} epochs on {len(x_tr)} pairs")
    cfg = TrainConfig(epochs=args.epochs, width=256)
    model = train_arm(ArmConfig("plain"), x_tr, y_tr, cfg, seed=args.seed).model
    pred = predict(model, x_te)

    if args.weights:
        net = load_lossnet(args.weights)
        print(f"2. loss-net from {args.weights} ({net.num_parameters:,} parameters)")
    else:
        print(f"2. pretraining a loss-net for {args.pretrain_steps} steps (use --weights to skip)")
        pcfg = PretrainConfig(model={"width": 64, "layers": 3}, steps=args.pretrain_steps,
                              batch_size=64, num_negatives=8, seed=args.seed, hard_fraction=0.1)
        net, _ = pretrain_lossnet(x_tr, y_tr, pcfg)

    print("3. scoring the held-out predictions")
    scores = score_poses(net, x_te, pred)  # energies + per-joint blame; no ground truth used
    print(scores.table(5))

    # With ground truth at hand we can check what the energy says.
    err_mm = ((pred - y_te).norm(dim=-1).mean(-1) * 1000).numpy()
    e = scores.energy.numpy()
    thr = energy_threshold(pose_energies(net, x_te, y_te), 0.95)
    flagged = scores.flag(thr).numpy()
    print(f"\nframes above the ground truth's 95 % energy quantile: {flagged.sum()} of {len(e)}")
    if 0 < flagged.sum() < len(e):
        print(f"MPJPE of flagged frames {err_mm[flagged].mean():.1f} mm, of the others "
              f"{err_mm[~flagged].mean():.1f} mm")
    print(f"rank correlation of energy with per-frame MPJPE: {spearman(e, err_mm):.3f}")
    worst = scores.ranking()[: max(1, len(e) // 10)].numpy()
    print(f"MPJPE of the 10 % highest-energy frames {err_mm[worst].mean():.1f} mm vs all "
          f"{err_mm.mean():.1f} mm")

    if args.plot:
        from sealloss.demo.skeleton_plots import plot_blame

        top = scores.ranking()[:3]
        path = plot_blame(args.plot, pred[top], scores.blame[top].clamp_min(0), net.skeleton,
                          [f"frame {int(i)}: E = {float(scores.energy[i]):.2f}, "
                           f"MPJPE {err_mm[int(i)]:.0f} mm" for i in top])
        print(f"wrote {Path(path)}")


if __name__ == "__main__":
    main()

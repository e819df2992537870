"""Out-of-fold lifter predictions of the training subjects, for loss-nets taught the lifter's own
errors (gradient matching at out-of-fold predictions, ``pretrain_h36m.py --crossfit``).

For each subject of ``--subjects``, a plain SimpleBaseline trained on the other subjects (same
2D kind, ``--inputs``) predicts that subject's pairs, so every prediction comes from a model that
never saw its pose. The out-of-fold errors must look like the errors of the model that will be
refined: by default the folds train at the gain bench's headline budget (10 epochs over every
frame, width 512), the budget of the models refined later; the per-fold MPJPE is printed and
recorded so that this can be checked. ``--reuse HELD=MODEL.pt`` uses an already trained lifter
for one fold (e.g. the S8-validation lifter of ``h36m_gain.py --validate --save-models``, which
trained on S1/S5/S6/S7 and so is the S8 fold of the final cross-fit).

    python bench/crossfit_h36m.py --data-root ../shared/data --inputs sh \\
        --subjects S1 S5 S6 S7 --jobs 2 --out bench/cache/crossfit_sh_val

Writes ``OUT/HELD.pt`` per fold (the lifter), ``OUT/predictions_every{E}.npy`` row-aligned with
the training pairs of ``--subjects`` at ``--predict-every`` (the rows ``pretrain_h36m.py`` uses)
and ``OUT/report.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from h36m_gain import load_model, save_model  # noqa: E402
from h36m_sets import INPUTS, pairs  # noqa: E402

from sealloss.data import load_h36m  # noqa: E402
from sealloss.demo.experiment import ArmConfig, TrainConfig, predict, train_arm  # noqa: E402


def _fold(payload: tuple) -> str:
    args, held, others = payload
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    path = Path(args.out) / f"{held}.pt"
    if path.exists():
        return str(path)
    ds = load_h36m(args.data_root)
    tr = pairs(ds, others, args.inputs, args.every, validate=False, rules_from=args.subjects)
    cfg = TrainConfig(epochs=args.epochs, width=args.width)
    res = train_arm(ArmConfig("plain"), torch.from_numpy(tr["x2d"]), torch.from_numpy(tr["y3d"]),
                    cfg, seed=args.seed)
    save_model(res.model, cfg, path)
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--inputs", choices=INPUTS, default="sh")
    ap.add_argument("--subjects", nargs="+", required=True,
                    help="the training subjects of the loss-net (one fold each)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--every", type=int, default=1, help="fold lifters: every n-th 10 Hz frame")
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--predict-every", type=int, default=2,
                    help="rows of the written predictions (pretrain_h36m.py --every)")
    ap.add_argument("--reuse", nargs="*", default=[], metavar="HELD=MODEL.pt",
                    help="an already trained lifter for a fold (it must not have seen HELD)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", required=True, help="folder (bench/cache/...)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reuse = dict(r.split("=", 1) for r in args.reuse)
    t0 = time.perf_counter()
    jobs = [(args, s, tuple(o for o in args.subjects if o != s)) for s in args.subjects
            if s not in reuse]
    with mp.get_context("spawn").Pool(max(1, min(args.jobs, len(jobs) or 1))) as pool:
        for p in pool.imap_unordered(_fold, jobs):
            print(f"fold lifter {p} [{(time.perf_counter() - t0) / 60:.1f} min]", flush=True)
    ds = load_h36m(args.data_root)
    ref = pairs(ds, args.subjects, args.inputs, args.predict_every, validate=False,
                rules_from=args.subjects)
    preds = np.zeros_like(ref["y3d"])
    report = {"args": vars(args), "folds": {}}
    for s in args.subjects:
        held = ref["subject"] == s
        model = load_model(reuse.get(s, out / f"{s}.pt"))
        with torch.no_grad():
            p = predict(model, torch.from_numpy(ref["x2d"][held])).numpy()
        preds[held] = p
        err = float(np.linalg.norm(p - ref["y3d"][held], axis=-1).mean() * 1000)
        report["folds"][s] = {"model": str(reuse.get(s, out / f"{s}.pt")), "pairs": int(held.sum()),
                              "mpjpe_mm": err}
        print(f"{s}: {held.sum()} pairs, out-of-fold MPJPE {err:.1f} mm", flush=True)
    tmp = out / f"predictions_every{args.predict_every}.tmp.npy"
    np.save(tmp, preds)
    tmp.replace(out / f"predictions_every{args.predict_every}.npy")
    report["minutes"] = (time.perf_counter() - t0) / 60
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out}/predictions_every{args.predict_every}.npy, {out}/report.json")


if __name__ == "__main__":
    main()

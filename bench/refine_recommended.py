"""Does refinement with the *recommended* settings make any test set worse? (issue 28)

For saved plain lifters (``h36m_gain.py --save-models``, one per seed) each scoring set of
``bench/h36m_sets.py`` is predicted and then refined with what a user gets by writing nothing:
``sealloss.refine(None, x2d, y_hat, inputs=KIND)``, KIND being the set's 2D kind (``detected``
for the Stacked-Hourglass sets, ``gt`` for GT-projected 2D and HumanEva-I). Nothing is chosen
here: the settings are :data:`sealloss.defaults.REFINE`, chosen on S8 elsewhere. The table gives
MPJPE, P-MPJPE and BSLE before and after, mean ± std over the lifters, and the change paired per
lifter.

    python bench/refine_recommended.py --data-root ../shared/data --inputs sh \\
        --models bench/cache/sh_models/plain_seed0.pt bench/cache/sh_models/plain_seed1.pt \\
        bench/cache/sh_models/plain_seed2.pt --out bench/results/sh/refine_recommended

Writes ``OUT.json`` (``meta.args.inputs``: the lifters' training 2D) and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from h36m_gain import load_model  # noqa: E402
from h36m_sets import INPUTS, scoring_sets  # noqa: E402

from sealloss.data import load_h36m  # noqa: E402
from sealloss.defaults import refine_defaults  # noqa: E402
from sealloss.demo.experiment import predict  # noqa: E402
from sealloss.io.atomic import atomic_write  # noqa: E402
from sealloss.metrics import evaluate  # noqa: E402
from sealloss.posthoc.refinement import refine  # noqa: E402

METRICS = ("MPJPE", "P-MPJPE", "BSLE")


def kind_of(set_name: str) -> str:
    """The refinement input kind of a scoring set: detections or GT-projected 2D."""
    return "detected" if "SH-2D" in set_name else "gt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--inputs", choices=INPUTS, required=True,
                    help="the 2D the lifters were trained on (orders the sets)")
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--test-every", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    ds = load_h36m(args.data_root)
    sets = scoring_sets(ds, args.data_root, args.inputs, args.test_every, validate=False)
    models = [load_model(p) for p in args.models]
    rows: dict = {}
    for name, s in sets.items():
        kind = kind_of(name)
        per = {"before": [], "after": [], "ms_per_1000": []}
        for model in models:
            with torch.no_grad():
                pred = predict(model, s.x2d)
            res = refine(None, s.x2d, pred, inputs=kind)
            for tag, p in (("before", pred), ("after", res.poses)):
                if s.pred_index is not None:
                    p = p[:, s.pred_index]
                summ = evaluate(p, s.y3d, s.skeleton).summary
                per[tag].append({m: float(summ[m]) for m in METRICS})
            per["ms_per_1000"].append(res.ms_per_1000)
        table = {}
        for m in METRICS:
            b = [r[m] for r in per["before"]]
            a = [r[m] for r in per["after"]]
            d = [x - y for x, y in zip(a, b)]
            sd = statistics.stdev if len(d) > 1 else (lambda v: 0.0)
            table[m] = {"before": statistics.fmean(b), "before_std": sd(b),
                        "after": statistics.fmean(a), "after_std": sd(a),
                        "diff": statistics.fmean(d), "diff_std": sd(d),
                        "relative_pct": 100 * statistics.fmean(d) / statistics.fmean(b),
                        "per_model_diff": d}
        rec = refine_defaults(kind)
        settings = {k: dict(v) if isinstance(v, Mapping) else v for k, v in rec.items()}
        rows[name] = {"inputs_kind": kind, "settings": settings,
                      "metrics": table, "ms_per_1000": statistics.fmean(per["ms_per_1000"])}
    lines = [f"# Refinement with the recommended settings ({len(models)} lifters trained on "
             f"{args.inputs} 2D)", "", "Command: `python " + " ".join(sys.argv) + "`", "",
             "| set | inputs= | weights, steps | " + " | ".join(
                 f"{m} before → after (Δ, %)" for m in METRICS) + " |",
             "|---|---|---|" + "---|" * len(METRICS)]
    for name, r in rows.items():
        st = r["settings"]
        cells = [f"{t['before']:.2f} → {t['after']:.2f} ({t['diff']:+.2f} ± {t['diff_std']:.2f}, "
                 f"{t['relative_pct']:+.1f} %)" for t in (r["metrics"][m] for m in METRICS)]
        terms = (f", per-pose terms {json.dumps(st['pose_terms'])}" if st.get("pose_terms")
                 else "")
        lines.append(f"| {name} | {r['inputs_kind']} | {st['weights']}, {st['steps']}{terms} | "
                     + " | ".join(cells) + " |")
    md = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"meta": {"args": vars(args), "date": time.strftime("%Y-%m-%d %H:%M UTC"),
                       "threads": args.threads, "seconds": time.perf_counter() - t0},
              "sets": rows}
    atomic_write(out.with_suffix(".json"), json.dumps(report, indent=1).encode())
    atomic_write(out.with_suffix(".md"), md.encode())
    print(md)


if __name__ == "__main__":
    main()

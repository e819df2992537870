"""SEAL ablation on Human3.6M validation: what each setting of the wrapper does, paired vs plain.

Every row trains a SimpleBaseline on S1/S5/S6/S7 and scores it on S8 (GT-projected 2D) only:
this is where SEAL's settings are chosen (METHOD.md s.7); S9/S11, the Stacked-Hourglass
detections and HumanEva-I are never read here. Each row changes one thing against ``base`` (the
gain benchmark's SEAL arm) and is compared with the plain arm of the same seed (same
initialisation, data order, schedule and budget).

    python bench/h36m_ablation.py --data-root ../shared/data --threads 1
    python bench/h36m_ablation.py --variants base nce --out bench/results/ablation_a
    python bench/h36m_ablation.py --merge bench/results/ablation_[ab].json

``--merge`` joins runs made in separate processes (e.g. two single-thread processes on a 2-core
machine) into one table; the plain runs of a seed must agree across files (checked).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from h36m_gain import load_sets  # noqa: E402
from seal_variants import VARIANTS, seal_variant, total_steps  # noqa: E402

from sealloss.demo.experiment import ArmConfig, TrainConfig, evaluate_model, train_arm  # noqa: E402

VAL_SET = "S8 val GT-2D"
METRICS = ("MPJPE", "P-MPJPE", "LSE", "BSLE")


def _seal_summary(history: list[dict]) -> dict:
    """Means of the logged SEAL diagnostics over the second half of training."""
    tail = history[len(history) // 2 :]
    out = {}
    for key in ("seal_alignment", "seal_force_ratio", "seal_lam", "seal_energy_gap"):
        vals = [h[key] for h in tail if key in h and h[key] == h[key]]
        out[key[5:]] = statistics.fmean(vals) if vals else float("nan")
    return out


def run(args: argparse.Namespace) -> dict:
    ns = argparse.Namespace(data_root=args.data_root, validate=True, every=args.every,
                            test_every=args.test_every)
    x, y, sets = load_sets(ns)
    cfg = TrainConfig(epochs=args.epochs, width=args.width, batch_size=256,
                      max_steps_per_epoch=args.max_steps_per_epoch)
    print(f"train pairs {x.shape[0]} (S1/S5/S6/S7), validation {VAL_SET} "
          f"({sets[VAL_SET].x2d.shape[0]})")
    runs: dict = {}
    desc: dict = {}
    t0 = time.perf_counter()
    for seed in args.seeds:
        names = [*([] if args.skip_plain else ["plain"]), *args.variants]
        for name in names:
            if name == "plain":
                arm = ArmConfig("plain")
            else:
                desc[name], kw = seal_variant(name, seed, x.shape[0], cfg, args.pretrained)
                arm = ArmConfig(name, seal=True, seal_kwargs=kw)
            bar = tqdm(total=total_steps(x.shape[0], cfg), desc=f"{name} seed {seed}",
                       leave=False)

            def progress(step, total, rec, bar=bar):
                bar.n = step + 1
                bar.refresh()

            res = train_arm(arm, x, y, cfg, seed, progress=progress)
            bar.close()
            ev = evaluate_model(res.model, sets)[VAL_SET]
            runs[f"{name}/{seed}"] = {"eval": ev, "step_time_s": res.step_time_s,
                                      "seal": _seal_summary(res.history) if arm.seal else {}}
            print(f"{name}/{seed}: MPJPE {ev['MPJPE']:.2f} LSE {ev['LSE']:.2f} "
                  f"BSLE {ev['BSLE']:.2f} step {1000 * res.step_time_s:.0f} ms "
                  f"[{(time.perf_counter() - t0) / 60:.1f} min]", flush=True)
    return {"runs": runs, "descriptions": desc,
            "meta": {"args": vars(args), "threads": torch.get_num_threads(),
                     "torch": torch.__version__, "device": "cpu",
                     "minutes": (time.perf_counter() - t0) / 60,
                     "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}}


def merge(blobs: list[dict], tol_mm: float = 1e-3) -> dict:
    """Join runs of several files; the plain run of a seed must agree across files."""
    out: dict = {"runs": {}, "descriptions": {}, "meta": [b["meta"] for b in blobs]}
    for b in blobs:
        for key, r in b["runs"].items():
            if key in out["runs"] and key.startswith("plain/"):
                a = out["runs"][key]["eval"]["MPJPE"]
                if abs(a - r["eval"]["MPJPE"]) > tol_mm:
                    raise ValueError(f"{key} differs between files ({a} vs {r['eval']['MPJPE']})")
                continue
            out["runs"][key] = r
        out["descriptions"].update(b["descriptions"])
    return out


def summarise(blob: dict) -> list[dict]:
    """One row per variant: paired differences vs plain (mean, std, per seed) and cost."""
    runs = blob["runs"]
    names = sorted({k.split("/")[0] for k in runs} - {"plain"},
                   key=lambda n: VARIANTS.index(n) if n in VARIANTS else 99)
    rows = []
    for name in names:
        seeds = sorted(int(k.split("/")[1]) for k in runs if k.split("/")[0] == name
                       and f"plain/{k.split('/')[1]}" in runs)
        if not seeds:  # no plain run of the same seed here (a --skip-plain file): merge first
            continue
        row: dict = {"variant": name, "description": blob["descriptions"].get(name, ""),
                     "seeds": seeds}
        for m in METRICS:
            d = [runs[f"{name}/{s}"]["eval"][m] - runs[f"plain/{s}"]["eval"][m] for s in seeds]
            base = statistics.fmean(runs[f"plain/{s}"]["eval"][m] for s in seeds)
            row[m] = {"diff": statistics.fmean(d), "std": statistics.stdev(d) if len(d) > 1 else 0,
                      "per_seed": d, "pct": 100 * statistics.fmean(d) / base}
        row["step_ratio"] = statistics.fmean(
            runs[f"{name}/{s}"]["step_time_s"] / runs[f"plain/{s}"]["step_time_s"] for s in seeds)
        for key in ("alignment", "force_ratio", "lam"):
            vals = [runs[f"{name}/{s}"]["seal"].get(key, float("nan")) for s in seeds]
            row[key] = statistics.fmean(vals)
        rows.append(row)
    return rows


def format_table(rows: list[dict], blob: dict) -> str:
    runs = blob["runs"]
    plain = [r["eval"] for k, r in runs.items() if k.startswith("plain/")]
    if not plain:
        return "(no plain runs in this file: merge it with one that has them)"
    head = ", ".join(f"{m} {statistics.fmean(p[m] for p in plain):.2f}" for m in METRICS)
    lines = [f"S8 validation, paired vs plain (plain: {head} mm; {len(plain)} seeds)\n",
             "| variant | what changes | ΔMPJPE mm | ΔLSE | ΔBSLE | step ratio | align |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[m]['diff']:+.2f} ± {r[m]['std']:.2f} ({r[m]['pct']:+.1f}%)"
                 for m in ("MPJPE", "LSE", "BSLE")]
        lines.append(f"| {r['variant']} | {r['description']} | " + " | ".join(cells)
                     + f" | {r['step_ratio']:.2f}x | {r['alignment']:.3f} |")
    return "\n".join(lines)


def write(blob: dict, out: Path) -> None:
    """Write the runs first (nothing is lost if the summary fails), then the table."""
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(str(out) + ".json").write_text(json.dumps(blob, indent=1, default=str))
    rows = summarise(blob)
    table = format_table(rows, blob)
    print(table)
    Path(str(out) + ".json").write_text(json.dumps({**blob, "summary": rows}, indent=1,
                                                   default=str))
    Path(str(out) + ".md").write_text(table + "\n")
    print(f"wrote {out}.json, {out}.md")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--test-every", type=int, default=4)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--max-steps-per-epoch", type=int, default=None, help="for smoke runs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pretrained", default="bench/cache/h36m17-graphormer-S1S5S6S7.safetensors",
                    help="weights of the static/warm rows: pretrained WITHOUT S8 "
                         "(python bench/pretrain_h36m.py --validate --steps 600)")
    ap.add_argument("--skip-plain", action="store_true",
                    help="train only the variants (merge with a file that has the plain runs; "
                         "plain is deterministic for a seed on one thread)")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="join earlier result files into one table instead of training")
    ap.add_argument("--out", default="bench/results/h36m_ablation")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.merge:
        blob = merge([json.loads(Path(p).read_text()) for p in args.merge])
    else:
        blob = run(args)
    write(blob, Path(args.out))


if __name__ == "__main__":
    main()

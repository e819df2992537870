"""Paired gain benchmark on real Human3.6M: plain vs SEAL vs explicit structural losses.

One command trains a SimpleBaseline per arm and seed with the same seeds, data order, schedule
and budget, then scores every model on

- S9/S11 with GT-projected 2D (the standard protocol),
- S9/S11 with the real Stacked-Hourglass detections (never used to choose anything),
- HumanEva-I Validate, zero-shot cross-dataset on the 15 shared joints (never used to choose),

and writes a table (stdout), ``bench/results/h36m_gain.json`` and ``bench/results/h36m_gain.png``.

    python bench/h36m_gain.py --data-root ../shared/data            # default budget (~30 min)
    python bench/h36m_gain.py --data-root ../shared/data --epochs 20 --every 1   # longer
    python bench/h36m_gain.py --validate ...   # choose settings: train S1/5/6/7, score on S8

Arms: ``plain``; ``explicit`` (+ per-sample bone-length and symmetry losses); ``seal`` (+ lambda *
learned energy, AlternatingWrapper); ``seal+explicit``. Differences are paired per seed.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seal_variants import VARIANTS, seal_variant, total_steps  # noqa: E402

VALIDATION_WEIGHTS = "bench/cache/h36m17-graphormer-S1S5S6S7.safetensors"

from sealloss.data import (  # noqa: E402
    TEST_SUBJECTS,
    TRAIN_SUBJECTS,
    fit_neck_nose_rule,
    fit_spine_rule,
    h36m_pairs,
    h36m_sh_detections,
    humaneva_as_h36m17,
    humaneva_pairs,
    load_h36m,
)
from sealloss.experiment import (  # noqa: E402
    ArmConfig,
    EvalSet,
    TrainConfig,
    evaluate_model,
    train_arm,
)
from sealloss.nn import GraphormerLossNet  # noqa: E402

METRICS = ("MPJPE", "P-MPJPE", "LSE", "BSLE", "LSE%", "BSLE%")


_OVERRIDES = (
    ("force_ratio", "target_force_ratio"),
    ("score_fraction", "score_fraction"),
    ("update_every", "update_every"),
    ("lossnet_batch", "lossnet_batch"),
)


def seal_kwargs(args: argparse.Namespace, seed: int, n_train: int) -> dict:
    """The SEAL arm's wrapper settings: the named variant of ``bench/seal_variants.py`` (chosen on
    S8 validation only; see README) with any settings given on the command line."""
    weights = args.pretrained or (VALIDATION_WEIGHTS if args.validate else "h36m17")
    _, kw = seal_variant(args.seal_variant, seed, n_train, train_config(args), weights)
    for flag, key in _OVERRIDES:
        if getattr(args, flag) is not None:
            kw[key] = getattr(args, flag)
    if args.lossnet_width is not None or args.lossnet_layers is not None:
        torch.manual_seed(10_000 + seed)
        kw["lossnet"] = GraphormerLossNet(
            "h36m17", width=args.lossnet_width or 32, layers=args.lossnet_layers or 2, heads=4)
    return kw


def _describe(kw: dict) -> dict:
    out = {}
    for k, v in kw.items():
        if k == "lossnet" and hasattr(v, "config"):
            v = {key: v.config.get(key) for key in ("kind", "width", "layers", "heads", "blocks")
                 if key in v.config}
        out[k] = v if isinstance(v, (int, float, str, bool, dict, type(None))) else repr(v)
    return out


def make_arms(args: argparse.Namespace, seed: int, n_train: int) -> list[ArmConfig]:
    arms = {
        "plain": lambda: ArmConfig("plain"),
        "explicit": lambda: ArmConfig("explicit", w_bone=args.w_bone, w_sym=args.w_sym),
        "seal": lambda: ArmConfig("seal", seal=True, seal_kwargs=seal_kwargs(args, seed, n_train)),
        "seal+explicit": lambda: ArmConfig(
            "seal+explicit", seal=True, seal_kwargs=seal_kwargs(args, seed, n_train),
            w_bone=args.w_bone, w_sym=args.w_sym,
        ),
    }
    return [arms[a]() for a in args.arms]


def load_sets(args: argparse.Namespace):
    ds = load_h36m(args.data_root)
    train_subjects = ("S1", "S5", "S6", "S7") if args.validate else TRAIN_SUBJECTS
    tr = h36m_pairs(train_subjects, dataset=ds, every=args.every)
    x = torch.from_numpy(tr["x2d"])
    y = torch.from_numpy(tr["y3d"])
    rules_src = h36m_pairs(train_subjects, dataset=ds, every=10)
    neck, spine = fit_neck_nose_rule(rules_src), fit_spine_rule(rules_src)
    sets: dict[str, EvalSet] = {}
    if args.validate:
        va = h36m_pairs(("S8",), dataset=ds, every=args.test_every)
        sets["S8 val GT-2D"] = EvalSet(torch.from_numpy(va["x2d"]), torch.from_numpy(va["y3d"]),
                                       actions=list(va["action"]))
        return x, y, sets
    te = h36m_pairs(TEST_SUBJECTS, dataset=ds, every=args.test_every)
    sets["S9/S11 GT-2D"] = EvalSet(torch.from_numpy(te["x2d"]), torch.from_numpy(te["y3d"]),
                                   actions=list(te["action"]))
    sh = h36m_sh_detections(dataset=ds, every=args.test_every, neck_rule=neck, spine_rule=spine)
    v = sh["valid"]
    sets["S9/S11 SH-2D"] = EvalSet(torch.from_numpy(sh["x2d"][v]),
                                   torch.from_numpy(te["y3d"][v]),
                                   actions=list(np.asarray(te["action"])[v]))
    he = humaneva_pairs(args.data_root, split="Validate")
    he17, idx = humaneva_as_h36m17(he, neck_rule=neck)
    sets["HumanEva-I (zero-shot)"] = EvalSet(torch.from_numpy(he17["x2d"]),
                                             torch.from_numpy(he17["y3d"]), skeleton="humaneva15",
                                             pred_index=[int(i) for i in idx])
    return x, y, sets


def summarise(results: dict, arms: list[str], seeds: list[int]) -> dict:
    """Mean/std per arm and paired differences against plain, per test set and metric."""
    out: dict = {}
    sets = list(next(iter(results.values()))["eval"].keys())
    for s in sets:
        out[s] = {}
        for a in arms:
            row = {}
            for m in METRICS:
                vals = [results[f"{a}/{sd}"]["eval"][s][m] for sd in seeds]
                row[m] = {"mean": statistics.fmean(vals),
                          "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                          "per_seed": vals}
                if a != "plain" and "plain" in arms:
                    base_vals = [results[f"plain/{sd}"]["eval"][s][m] for sd in seeds]
                    d = [v - b for v, b in zip(vals, base_vals)]
                    base = statistics.fmean(base_vals)
                    row[m]["diff_vs_plain"] = {
                        "mean": statistics.fmean(d),
                        "std": statistics.stdev(d) if len(d) > 1 else 0.0,
                        "per_seed": d,
                        "relative_pct": 100 * statistics.fmean(d) / base if base else float("nan"),
                    }
            out[s][a] = row
        out[s]["_gt_LSE_mm"] = statistics.fmean(
            [results[f"{arms[0]}/{sd}"]["eval"][s]["LSE_gt"] for sd in seeds])
    times = {a: [results[f"{a}/{sd}"]["step_time_s"] for sd in seeds] for a in arms}
    out["step_time_ms"] = {a: 1000 * statistics.fmean(t) for a, t in times.items()}
    if "plain" in arms:
        out["step_time_ratio"] = {
            a: statistics.fmean([t / p for t, p in zip(times[a], times["plain"])]) for a in arms
        }
    return out


def format_table(summary: dict, arms: list[str]) -> str:
    lines = []
    for s, rows in summary.items():
        if s.startswith("step_time"):
            continue
        lines.append(f"\n### {s}  (ground truth's own LSE: {rows['_gt_LSE_mm']:.2f} mm)\n")
        lines.append("| arm | " + " | ".join(METRICS) + " |")
        lines.append("|---" * (len(METRICS) + 1) + "|")
        for a in arms:
            cells = []
            for m in METRICS:
                r = rows[a][m]
                c = f"{r['mean']:.2f} ± {r['std']:.2f}"
                if "diff_vs_plain" in r:
                    d = r["diff_vs_plain"]
                    c += f" (Δ {d['mean']:+.2f} ± {d['std']:.2f}, {d['relative_pct']:+.1f}%)"
                cells.append(c)
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines.append("\n| arm | step time (ms) | ratio to plain |\n|---|---|---|")
    for a in arms:
        ratio = summary.get("step_time_ratio", {}).get(a, float("nan"))
        lines.append(f"| {a} | {summary['step_time_ms'][a]:.1f} | {ratio:.2f}x |")
    return "\n".join(lines)


def plot(summary: dict, arms: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [s for s in summary if not s.startswith("step_time")]
    fig, axes = plt.subplots(len(sets), 4, figsize=(14, 3.2 * len(sets)), squeeze=False)
    for i, s in enumerate(sets):
        for j, m in enumerate(("MPJPE", "P-MPJPE", "LSE", "BSLE")):
            ax = axes[i][j]
            means = [summary[s][a][m]["mean"] for a in arms]
            stds = [summary[s][a][m]["std"] for a in arms]
            ax.bar(range(len(arms)), means, yerr=stds, color="C0", alpha=0.8, capsize=3)
            ax.set_xticks(range(len(arms)), arms, rotation=20, fontsize=8)
            lo = min(means) - 3 * max(max(stds), 0.5)
            ax.set_ylim(max(0, lo), max(means) + 3 * max(max(stds), 0.5))
            ax.set_title(f"{s}: {m} (mm)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, width=args.width, batch_size=args.batch_size,
                       max_steps_per_epoch=args.max_steps_per_epoch)


def run_seed(args: argparse.Namespace, seed: int, show_progress: bool) -> dict:
    """Train and score every arm for one seed (arms back to back, same data order)."""
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    t_load = time.perf_counter()
    x, y, sets = load_sets(args)
    print(f"[seed {seed}] train pairs {x.shape[0]}, loaded in {time.perf_counter() - t_load:.1f} "
          "s; test sets: " + ", ".join(f"{k} ({v.x2d.shape[0]})" for k, v in sets.items()),
          flush=True)
    cfg = train_config(args)
    results: dict = {}
    t0 = time.perf_counter()
    for arm in make_arms(args, seed, x.shape[0]):
        if arm.seal and "seal_settings" not in results:
            results["seal_settings"] = _describe(arm.seal_kwargs)
        bar = tqdm(total=total_steps(x.shape[0], cfg), desc=f"{arm.name} seed {seed}", leave=False,
                   disable=not show_progress)

        def progress(step, total, rec, bar=bar):
            bar.n = step + 1
            bar.set_postfix(loss=f"{rec['loss_sup_mm']:.1f}mm")
            bar.refresh()

        res = train_arm(arm, x, y, cfg, seed, progress=progress)
        bar.close()
        ev = evaluate_model(res.model, sets)
        key = f"{arm.name}/{seed}"
        results[key] = {"eval": ev, "step_time_s": res.step_time_s,
                        "history": res.history[-5:]}
        first = next(iter(ev))
        print(f"{key}: {first} MPJPE {ev[first]['MPJPE']:.2f} LSE {ev[first]['LSE']:.2f} "
              f"BSLE {ev[first]['BSLE']:.2f} step {1000 * res.step_time_s:.1f} ms "
              f"[{(time.perf_counter() - t0) / 60:.1f} min]", flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=["plain", "explicit", "seal", "seal+explicit"])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--every", type=int, default=4, help="keep every n-th 10 Hz training frame")
    ap.add_argument("--test-every", type=int, default=4)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--max-steps-per-epoch", type=int, default=None)
    ap.add_argument("--seal-variant", default="base", choices=VARIANTS,
                    help="named SEAL settings of bench/seal_variants.py (chosen on S8)")
    ap.add_argument("--pretrained", default=None,
                    help="weights of static/warm variants (default: the shipped h36m17; with "
                         "--validate, the S8-free ones of bench/pretrain_h36m.py --validate)")
    ap.add_argument("--force-ratio", type=float, default=None, help="override the variant's")
    ap.add_argument("--score-fraction", type=float, default=None, help="override the variant's")
    ap.add_argument("--update-every", type=int, default=None, help="override the variant's")
    ap.add_argument("--lossnet-batch", type=int, default=None, help="override the variant's")
    ap.add_argument("--lossnet-width", type=int, default=None, help="override the variant's")
    ap.add_argument("--lossnet-layers", type=int, default=None, help="override the variant's")
    ap.add_argument("--w-bone", type=float, default=0.1, help="chosen on S8 validation")
    ap.add_argument("--w-sym", type=float, default=0.1, help="chosen on S8 validation")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per process")
    ap.add_argument("--jobs", type=int, default=1,
                    help="seeds trained in parallel processes (use --threads 1 --jobs 2 on 2 "
                         "cores); each seed's arms still run back to back in one process")
    ap.add_argument("--validate", action="store_true",
                    help="train on S1/S5/S6/S7 and score on S8 only (for choosing settings)")
    ap.add_argument("--out", default="bench/results/h36m_gain")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    t0 = time.perf_counter()
    if args.jobs > 1:
        ctx = mp.get_context("spawn")
        with ctx.Pool(min(args.jobs, len(args.seeds))) as pool:
            parts = pool.starmap(run_seed, [(args, seed, False) for seed in args.seeds])
    else:
        parts = [run_seed(args, seed, True) for seed in args.seeds]
    results: dict = {}
    settings = None
    for part in parts:
        settings = part.pop("seal_settings", settings)
        results.update(part)
    names = list(args.arms)
    summary = summarise(results, names, args.seeds)
    table = format_table(summary, names)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "args": vars(args),
        "seal_variant": args.seal_variant,
        "seal_settings": settings,
        "train_config": vars(train_config(args)),
        "machine": {"threads": args.threads, "jobs": args.jobs, "device": "cpu",
                    "torch": torch.__version__},
        "total_minutes": (time.perf_counter() - t0) / 60,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    Path(str(out) + ".json").write_text(
        json.dumps({"meta": meta, "summary": summary, "runs": results}, indent=1, default=str))
    Path(str(out) + ".md").write_text(table + "\n")
    plot(summary, names, Path(str(out) + ".png"))
    print(f"wrote {out}.json, {out}.md, {out}.png")


if __name__ == "__main__":
    main()

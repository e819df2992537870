"""Paired gain benchmark on real Human3.6M: plain vs SEAL vs explicit structural losses.

One command trains a SimpleBaseline per arm and seed with the same seeds, data order, schedule
and budget, on the 2D kind ``--inputs`` (``gt``: GT-projected; ``sh``: the training subjects'
Stacked-Hourglass detections), then scores every model on (``bench/h36m_sets.py``)

- S9/S11 with the same 2D kind first, then with the other kind (the S9/S11 detections are
  never used to choose anything),
- HumanEva-I Validate, zero-shot cross-dataset on the 15 shared joints (never used to choose),

and writes a table (stdout), ``bench/results/h36m_gain.json`` and ``bench/results/h36m_gain.png``.

    python bench/h36m_gain.py --data-root ../shared/data --jobs 2   # headline budget
    python bench/h36m_gain.py --data-root ../shared/data --quick     # the old short budget
    python bench/h36m_gain.py --validate ...   # choose settings: train S1/5/6/7, score on S8
    python bench/h36m_gain.py --from-fronts bench/results/fronts/fronts.json --jobs 2

Budget: by default the converged regime, 10 epochs over every 10 Hz training frame (the plain
arm's MPJPE over its last epochs is printed, to show how far from converged it is); ``--quick``
is the short budget used before (4 epochs over every 4th frame, about one pass).

Arms: ``plain``; ``explicit`` (+ per-sample bone-length and symmetry losses); ``seal`` (+ lambda *
learned energy, AlternatingWrapper); ``seal+explicit``; or, with ``--from-fronts``, plain and the
settings the S8 fronts chose (``bench/h36m_fronts.py``; its loss-nets replaced by the shipped
weights trained on S1-S8). Differences are paired per seed. Runs are jobs over (arm, seed),
``--jobs`` at a time; each finished run is appended to ``OUT.runs.jsonl`` (``--resume`` skips
those already there). The step-time ratios come from a separate **interleaved** measurement
(every arm's step in turn, in one process), not from arms trained minutes apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_log import read_runs, run_jobs  # noqa: E402
from seal_variants import VARIANTS, seal_variant  # noqa: E402

VALIDATION_WEIGHTS = "bench/cache/h36m17-graphormer-S1S5S6S7.safetensors"

from h36m_sets import INPUTS, scoring_sets, training_pairs  # noqa: E402

from sealloss.data import load_h36m  # noqa: E402
from sealloss.demo.experiment import (  # noqa: E402
    ArmConfig,
    TrainConfig,
    evaluate_model,
    interleaved_step_times,
    ratio_summary,
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


def fronts_arms(path: str, seed: int, n_train: int, cfg: TrainConfig) -> list[ArmConfig]:
    """Plain and the settings ``bench/h36m_fronts.py`` chose on S8 (its summary's ``chosen``),
    by the rule written there: plain, explicit, static-graph, the better of static-dsm and
    dsm-decay by S8 MPJPE, the best of static-sh, dynamic-sh and sh-decay by S8 MPJPE (the
    detection fronts; ties within 0.05 mm go to the lower BSLE), and the authors' recipe if its
    front was run. The S8-free loss-nets of the GT-2D fronts become the shipped weights (S1-S8):
    ``h36m17`` and ``h36m17-dsm``; the detection families keep ``h36m17-sh-refiner``, which is
    itself S8-free (trained on S1/S5/S6/S7 only) and is the file that ships."""
    from h36m_fronts import settings

    summary = json.loads(Path(path).read_text())["summary"]
    chosen, rows = summary["chosen"], summary["rows"]
    picked = [chosen[f] for f in ("explicit", "static-graph", "authors") if f in chosen]
    for group in (("static-dsm", "dsm-decay"), ("static-sh", "dynamic-sh", "sh-decay")):
        cands = [(rows[chosen[f]]["MPJPE"]["mean"], rows[chosen[f]]["BSLE"]["mean"], chosen[f])
                 for f in group if f in chosen]
        if cands:
            best = min(m for m, _, _ in cands)
            picked.append(min((b, n) for m, b, n in cands if m <= best + 0.05)[1])
    arms = [ArmConfig("plain")]
    for name in picked:
        fam = rows[name]["family"]
        for setting, _, arm in settings(fam, seed, n_train, cfg, "h36m17", "h36m17-dsm"):
            if setting == name:
                arms.append(arm)
    return arms


def make_arms(args: argparse.Namespace, seed: int, n_train: int) -> list[ArmConfig]:
    if args.from_fronts:
        return fronts_arms(args.from_fronts, seed, n_train, train_config(args))
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
    """Training pairs of the input kind (``--inputs``) and the scoring sets (``h36m_sets``)."""
    ds = load_h36m(args.data_root)
    x, y, _ = training_pairs(ds, args.inputs, args.every, args.validate)
    sets = scoring_sets(ds, args.data_root, args.inputs, args.test_every, args.validate)
    return x, y, sets


def summarise(results: dict, arms: list[str], seeds: list[int], cost: dict | None = None) -> dict:
    """Mean/std per arm and paired differences against plain, per test set and metric; the
    training step times (as trained, not comparable between arms) and, from ``cost`` (the
    interleaved measurement, :func:`step_cost`), the step-time ratios."""
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
    if cost:
        out["step_time_ratio"] = {a: cost[a]["ratio_of_medians"] for a in arms if a in cost}
        out["step_cost_interleaved"] = cost
    return out


def convergence(results: dict, seeds: list[int], arm: str = "plain", last: int = 3) -> dict:
    """How far from converged ``arm`` is: its per-epoch MPJPE on the first test set over the
    last ``last`` epochs (per seed), the mean improvement of the last epoch and the seed spread
    (std over seeds) of its final MPJPE."""
    curves = {sd: [e["MPJPE"] for e in results[f"{arm}/{sd}"].get("epochs", [])] for sd in seeds}
    if not all(len(c) >= 2 for c in curves.values()):
        return {}
    gains = [c[-2] - c[-1] for c in curves.values()]
    finals = [c[-1] for c in curves.values()]
    return {"arm": arm, "last_epochs_MPJPE": {sd: c[-last:] for sd, c in curves.items()},
            "last_epoch_improvement_mm": statistics.fmean(gains),
            "final_seed_spread_mm": statistics.stdev(finals) if len(finals) > 1 else 0.0}


def step_cost(arms: list[ArmConfig], x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
              steps: int) -> dict:
    """Step-time ratio of each arm to plain from one interleaved measurement
    (:func:`sealloss.demo.experiment.interleaved_step_times`): ratio of the medians and the
    quartiles of the per-round ratios."""
    times = interleaved_step_times(arms, x, y, cfg, seed=0, steps=steps)
    out = {}
    for name, t in times.items():
        r = ratio_summary(t, times["plain"])
        out[name] = {"median_ms": 1000 * statistics.median(t),
                     "ratio_of_medians": r["ratio_of_medians"],
                     "ratio_q1": r["ratio_q1"], "ratio_q3": r["ratio_q3"], "rounds": len(t)}
    return out


def format_table(summary: dict, arms: list[str]) -> str:
    lines = []
    for s, rows in summary.items():
        if not (isinstance(rows, dict) and "_gt_LSE_mm" in rows):
            continue  # step times, cost, convergence
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
    cost = summary.get("step_cost_interleaved", {})
    lines.append("\n| arm | step time in training (ms) | interleaved ratio to plain (IQR) |"
                 "\n|---|---|---|")
    for a in arms:
        c = cost.get(a)
        ratio = (f"{c['ratio_of_medians']:.2f}x ({c['ratio_q1']:.2f}-{c['ratio_q3']:.2f})"
                 if c else "not measured")
        lines.append(f"| {a} | {summary['step_time_ms'][a]:.1f} | {ratio} |")
    return "\n".join(lines)


def plot(summary: dict, arms: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [s for s, v in summary.items() if isinstance(v, dict) and "_gt_LSE_mm" in v]
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


_DATA: dict = {}


def _load(args: argparse.Namespace) -> None:
    """Load the training pairs and the test sets once per process."""
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    _DATA["x"], _DATA["y"], _DATA["sets"] = load_sets(args)


def run_one(args: argparse.Namespace, arm_name: str, seed: int) -> dict:
    """Train and score one arm for one seed (in a worker process)."""
    if not _DATA:
        _load(args)
    x, y, sets = _DATA["x"], _DATA["y"], _DATA["sets"]
    cfg = train_config(args)
    arm = next(a for a in make_arms(args, seed, x.shape[0]) if a.name == arm_name)
    first = next(iter(sets))

    def per_epoch(epoch: int, model: torch.nn.Module) -> dict:
        return {"MPJPE": evaluate_model(model, {first: sets[first]})[first]["MPJPE"]}

    t0 = time.perf_counter()
    res = train_arm(arm, x, y, cfg, seed, on_epoch_end=per_epoch)
    ev = evaluate_model(res.model, sets)
    if args.save_models:
        save_model(res.model, cfg, Path(args.save_models) / f"{arm.name}_seed{seed}.pt")
    out = {"arm": arm.name, "seed": seed, "eval": ev, "step_time_s": res.step_time_s,
           "history": res.history[-5:], "epochs": res.epochs,
           "minutes": (time.perf_counter() - t0) / 60}
    if arm.seal:
        out["seal_settings"] = _describe(arm.seal_kwargs)
    return out


def save_model(model: torch.nn.Module, cfg: TrainConfig, path: Path) -> None:
    """The trained lifter's weights and width (``load_model`` rebuilds it), written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "width": cfg.width, "blocks": cfg.blocks,
                "dropout": cfg.dropout}, tmp)
    tmp.replace(path)


def load_model(path: str | Path) -> torch.nn.Module:
    """A lifter written by :func:`save_model`, in eval mode."""
    from sealloss.demo.baselines import SimpleBaseline

    ck = torch.load(path, map_location="cpu", weights_only=True)
    model = SimpleBaseline("h36m17", ck["width"], ck["blocks"], ck["dropout"])
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def _star(job: tuple) -> dict:
    return run_one(*job)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--inputs", choices=INPUTS, default="gt",
                    help="2D the models train on: gt (projected ground truth) or sh "
                         "(Stacked-Hourglass detections); scored on both kinds, this one first")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=["plain", "explicit", "seal", "seal+explicit"])
    ap.add_argument("--from-fronts", default=None,
                    help="arms: plain and the settings bench/h36m_fronts.py chose on S8 (its JSON)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--every", type=int, default=1, help="keep every n-th 10 Hz training frame")
    ap.add_argument("--quick", action="store_true",
                    help="the short budget: 4 epochs over every 4th frame (about one pass)")
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
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--jobs", type=int, default=1,
                    help="(arm, seed) runs trained in parallel processes (2 on 2 cores)")
    ap.add_argument("--cost-steps", type=int, default=40,
                    help="rounds of the interleaved step-time measurement (0: skip it)")
    ap.add_argument("--cost-only", action="store_true",
                    help="only the interleaved step-cost measurement of the arms (OUT.cost.json)")
    ap.add_argument("--validate", action="store_true",
                    help="train on S1/S5/S6/S7 and score on S8 only (for choosing settings)")
    ap.add_argument("--resume", action="store_true", help="skip runs already in OUT.runs.jsonl")
    ap.add_argument("--save-models", default=None,
                    help="folder for each trained lifter (ARM_seedN.pt), e.g. bench/cache/...")
    ap.add_argument("--out", default="bench/results/h36m_gain")
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.every = 4, 4
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = Path(str(out) + ".runs.jsonl")
    if args.cost_only:
        x, y, _ = load_sets(args)
        cost = step_cost(make_arms(args, args.seeds[0], x.shape[0]), x, y, train_config(args),
                         max(1, args.cost_steps))
        for name, c in cost.items():
            print(f"{name}: {c['median_ms']:.1f} ms, {c['ratio_of_medians']:.2f}x plain "
                  f"(IQR {c['ratio_q1']:.2f}-{c['ratio_q3']:.2f}, {c['rounds']} rounds)")
        Path(str(out) + ".cost.json").write_text(json.dumps(
            {"command": " ".join(sys.argv), "threads": args.threads, "cost": cost,
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, indent=1))
        return

    t0 = time.perf_counter()
    names = [a.name for a in make_arms(args, args.seeds[0], 10**6)]
    runs = {f"{r['arm']}/{r['seed']}": r for r in read_runs(log_path, args.resume)}
    jobs = [(args, a, sd) for sd in args.seeds for a in names if f"{a}/{sd}" not in runs]
    print(f"{len(jobs)} runs to do ({len(runs)} already done); arms: {', '.join(names)}",
          flush=True)
    done = run_jobs(_star, jobs, args.jobs, _load, (args,), log_path)
    for r in tqdm(done, total=len(jobs), desc="runs"):
        runs[f"{r['arm']}/{r['seed']}"] = r
        first = next(iter(r["eval"]))
        ev = r["eval"][first]
        tqdm.write(f"{r['arm']}/{r['seed']}: {first} MPJPE {ev['MPJPE']:.2f} LSE "
                   f"{ev['LSE']:.2f} BSLE {ev['BSLE']:.2f} ({r['minutes']:.1f} min) "
                   f"[{(time.perf_counter() - t0) / 60:.1f} min]")
    settings = {r["arm"]: r["seal_settings"] for r in runs.values() if "seal_settings" in r}
    results = {k: v for k, v in runs.items() if k.split("/")[0] in names}
    cost = None
    if args.cost_steps > 0:
        x, y, _ = load_sets(args)
        arms = make_arms(args, args.seeds[0], x.shape[0])
        cost = step_cost(arms, x, y, train_config(args), args.cost_steps)
    summary = summarise(results, names, args.seeds, cost)
    conv = convergence(results, args.seeds) if "plain" in names else {}
    summary["convergence_plain"] = conv
    table = format_table(summary, names)
    print(table)
    if conv:
        print(f"\nplain arm, MPJPE on the first test set over its last epochs (per seed): "
              f"{conv['last_epochs_MPJPE']}; last-epoch improvement "
              f"{conv['last_epoch_improvement_mm']:.2f} mm against a seed spread of "
              f"{conv['final_seed_spread_mm']:.2f} mm")
    meta = {
        "command": " ".join(sys.argv),
        "args": vars(args),
        "seal_variant": None if args.from_fronts else args.seal_variant,
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

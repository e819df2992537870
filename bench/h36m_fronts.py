"""Accuracy-structure fronts on Human3.6M S8 validation: how much structure each family of
structural losses buys for how much MPJPE.

Every setting trains a SimpleBaseline (width 512) on S1/S5/S6/S7 with the same seeds, data order
and schedule, on the 2D kind ``--inputs`` (``gt``: GT-projected; ``sh``: the training subjects'
Stacked-Hourglass detections), and is scored on S8 only, with that kind (the front) and the other
kind: nothing here reads S9/S11, HumanEva-I or Bandai Namco. Families (``--families``):

- ``plain``: the supervised MPJPE only (the reference of every paired difference);
- ``explicit``: + ``w * (bsle + lse)`` (bone-length and symmetry losses) at 4 weights;
- ``static-graph``: + the recommended SEAL setting (static pretrained graph loss-net, lambda
  "auto", a quarter of the batch scored) at 3 force ratios; the loss-net is pretrained without
  S8 (``bench/pretrain_h36m.py --validate``);
- ``static-dsm``: the same with the landscape issue's best loss-net (MLP 512x2, denoising score
  matching, pretrained without S8) at 3 force ratios;
- ``dsm-decay``: ``static-dsm`` with the force ratio decaying linearly to zero by the end of
  training (removes the prior's bias late, when the supervised gradient is already exact);
- ``static-sh``: static SEAL with the detection-conditioned loss-net (``--sh-weights``: the
  S8-free ``h36m17-sh-refiner`` weights, MLP 512x2, DSM + gradient matching at out-of-fold
  predictions of detection-trained lifters, pretrained on S1/S5/S6/S7 detections) at 3 force
  ratios; meant for ``--inputs sh``;
- ``dynamic-sh``: the paper's alternating scheme: the same loss-net warm-started from those
  weights and trained alongside the pose-net (mode ``warm``: margin objective against the
  pose-net's detached predictions and the default synthetic negatives, one loss-net step every
  2nd batch, loss-net batch 64) at loss-net learning rates 1e-4 and 1e-3, force ratio 0.3;
- ``sh-decay``: ``static-sh`` with the force ratio decaying linearly from 1.0 to zero;
- ``authors``: the first author's public recipe (``bench/seal_variants.py``, ``authors-recipe``)
  at 3 fixed lambdas; about 65x a plain step on one CPU thread, so opt-in on CPU.

Rule for the final run, written down before these runs: in each family, the setting with the
lowest mean S8 MPJPE over the seeds (a tie within 0.05 mm goes to the lower BSLE). The final run
(``bench/h36m_gain.py --from-fronts``) trains plain, the explicit choice, the static-graph choice
and one score-matching arm: the static-dsm or dsm-decay choice, whichever has the lower mean S8
MPJPE (the same tie rule); on detections, one detection arm: the static-sh, dynamic-sh or sh-decay
choice with the lowest mean S8 MPJPE (the same tie rule; it keeps the S8-free ``h36m17-sh-
refiner`` weights, the file that ships); the authors' recipe if its front was run. A SEAL point
"lies on or beyond the explicit front" when its LSE (and, separately, its BSLE) is at most the
explicit front's value at the same MPJPE, the front being the plain and explicit points joined by
straight lines in (MPJPE, metric), extended flat to the right; left of the front's lowest-MPJPE
point nothing explicit exists, so a point there is beyond it. A gain is "more than the paired seed
spread" when ``-mean(diff) > std(diff)`` over seeds (diff = setting - plain, same seed).

    python bench/h36m_fronts.py --data-root ../shared/data --seeds 0 1 --epochs 10 --every 2 \\
        --jobs 2 --out bench/results/fronts/fronts

Each finished run is appended to ``OUT.runs.jsonl`` at once (``--resume`` skips runs already
there), then ``OUT.json``, ``OUT.md`` and ``OUT.png`` (MPJPE against LSE and against BSLE) are
written.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from h36m_sets import INPUTS, scoring_sets, training_pairs  # noqa: E402
from run_log import read_runs, run_jobs  # noqa: E402
from seal_variants import seal_variant, total_steps  # noqa: E402

from sealloss.data import load_h36m  # noqa: E402
from sealloss.defaults import recommended  # noqa: E402
from sealloss.demo.experiment import (  # noqa: E402
    ArmConfig,
    TrainConfig,
    evaluate_model,
    train_arm,
)

METRICS = ("MPJPE", "P-MPJPE", "LSE", "BSLE")
GRAPH_WEIGHTS = "bench/cache/h36m17-graphormer-S1S5S6S7.safetensors"
DSM_WEIGHTS = "bench/cache/val-mlp512-dsm.safetensors"
SH_WEIGHTS = "h36m17-sh-refiner"
FAMILIES = ("plain", "explicit", "static-graph", "static-dsm", "dsm-decay", "static-sh",
            "dynamic-sh", "sh-decay", "authors")
SEAL_FAMILIES = FAMILIES[2:]


def _linear_decay(start: float, total: int) -> Callable[[int], float]:
    def ratio(step: int) -> float:
        return start * max(0.0, 1.0 - step / max(1, total))

    return ratio


def settings(family: str, seed: int, n_train: int, cfg: TrainConfig,
             graph: str, dsm: str, sh: str = SH_WEIGHTS) -> list[tuple[str, float, ArmConfig]]:
    """``(name, strength, arm)`` of each setting of ``family`` (the strength is the x of its
    front: the explicit weight, the force ratio or the fixed lambda)."""
    total = total_steps(n_train, cfg)
    if family == "plain":
        return [("plain", 0.0, ArmConfig("plain"))]
    if family == "explicit":
        return [(f"explicit w={w:g}", w, ArmConfig(f"explicit w={w:g}", w_bone=w, w_sym=w))
                for w in (0.03, 0.1, 0.3, 1.0)]
    if family in ("static-graph", "static-dsm"):
        weights, ratios = (graph, (0.1, 0.3, 1.0)) if family == "static-graph" else (
            dsm, (0.03, 0.1, 0.3))
        return [(f"{family} fr={r:g}", r, ArmConfig(
            f"{family} fr={r:g}", seal=True,
            seal_kwargs=recommended(lossnet=weights, target_force_ratio=r))) for r in ratios]
    if family == "dsm-decay":
        return [(f"dsm-decay fr={r:g}->0", r, ArmConfig(
            f"dsm-decay fr={r:g}->0", seal=True,
            seal_kwargs=recommended(lossnet=dsm, target_force_ratio=_linear_decay(r, total))))
            for r in (0.3, 1.0)]
    if family == "static-sh":
        return [(f"static-sh fr={r:g}", r, ArmConfig(
            f"static-sh fr={r:g}", seal=True,
            seal_kwargs=recommended(lossnet=sh, target_force_ratio=r))) for r in (0.1, 0.3, 1.0)]
    if family == "dynamic-sh":
        return [(f"dynamic-sh lr={lr:g}", lr, ArmConfig(
            f"dynamic-sh lr={lr:g}", seal=True,
            seal_kwargs=recommended(lossnet=sh, mode="warm", lossnet_lr=lr, update_every=2,
                                    lossnet_batch=64, objective="margin", margin=20.0)))
            for lr in (1e-4, 1e-3)]
    if family == "sh-decay":
        return [("sh-decay fr=1->0", 1.0, ArmConfig(
            "sh-decay fr=1->0", seal=True,
            seal_kwargs=recommended(lossnet=sh, target_force_ratio=_linear_decay(1.0, total))))]
    if family == "authors":
        out = []
        for lam in (1e-5, 1e-4, 1e-3):
            _, kw = seal_variant("authors-recipe", seed, n_train, cfg)
            kw["lam"] = lam
            out.append((f"authors lam={lam:g}", lam, ArmConfig(f"authors lam={lam:g}", seal=True,
                                                                seal_kwargs=kw)))
        return out
    raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")


_DATA: dict = {}


def _load(args: argparse.Namespace) -> None:
    """Load the S1/S5/S6/S7 training pairs and the S8 sets (``--inputs`` kind first) once per
    process."""
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    ds = load_h36m(args.data_root)
    _DATA["x"], _DATA["y"], _ = training_pairs(ds, args.inputs, args.every, validate=True)
    _DATA["sets"] = scoring_sets(ds, args.data_root, args.inputs, args.test_every, validate=True)


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, width=args.width, batch_size=args.batch_size,
                       max_steps_per_epoch=args.max_steps_per_epoch)


def run_one(args: argparse.Namespace, family: str, index: int, seed: int) -> dict:
    """Train and score setting ``index`` of ``family`` for ``seed`` (in a worker process)."""
    if not _DATA:
        _load(args)
    x, y, sets = _DATA["x"], _DATA["y"], _DATA["sets"]
    cfg = train_config(args)
    name, strength, arm = settings(family, seed, x.shape[0], cfg, args.graph_weights,
                                   args.dsm_weights, args.sh_weights)[index]
    name_set = next(iter(sets))

    def per_epoch(epoch: int, model: torch.nn.Module) -> dict:
        return {"MPJPE": evaluate_model(model, {name_set: sets[name_set]})[name_set]["MPJPE"]}

    t0 = time.perf_counter()
    res = train_arm(arm, x, y, cfg, seed, on_epoch_end=per_epoch)
    scores = evaluate_model(res.model, sets)[name_set]
    out = {"family": family, "setting": name, "strength": strength, "seed": seed,
           "scores": {m: scores[m] for m in METRICS}, "epochs": res.epochs,
           "step_time_s": res.step_time_s, "minutes": (time.perf_counter() - t0) / 60}
    if res.seal_state is not None:
        last = res.history[-1]
        out["seal_last"] = {k: v for k, v in last.items() if k.startswith("seal_")}
    return out


def front_value(front: list[tuple[float, float]], mpjpe: float) -> float:
    """The explicit front's metric at ``mpjpe``: points ``(MPJPE, metric)`` joined by straight
    lines, extended flat (its best value so far) to the right; ``inf`` left of its first point.

    >>> front_value([(50.0, 10.0), (52.0, 6.0)], 51.0)
    8.0
    >>> front_value([(50.0, 10.0), (52.0, 6.0)], 49.0)
    inf
    >>> front_value([(50.0, 10.0), (52.0, 6.0)], 60.0)
    6.0
    """
    pts = sorted(front)
    if not pts or mpjpe < pts[0][0]:
        return math.inf
    best = math.inf
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        best = min(best, y0)
        if x0 <= mpjpe <= x1:
            t = 0.0 if x1 == x0 else (mpjpe - x0) / (x1 - x0)
            return min(best, y0 + t * (y1 - y0))
    return min(best, pts[-1][1])


def summarise(runs: list[dict], seeds: list[int]) -> dict:
    """Per setting: mean/std per metric, paired difference against plain, the front checks and,
    per family, the setting the pre-written rule chooses."""
    by: dict[str, dict] = {}
    for r in sorted(runs, key=lambda r: (FAMILIES.index(r["family"]), r["strength"])):
        s = by.setdefault(r["setting"], {"family": r["family"], "strength": r["strength"],
                                         "per_seed": {}})
        s["per_seed"][r["seed"]] = r
    plain = by.get("plain")
    rows: dict[str, dict] = {}
    for name, s in by.items():
        done = [sd for sd in seeds if sd in s["per_seed"]]
        row: dict = {"family": s["family"], "strength": s["strength"], "seeds": done}
        for m in METRICS:
            vals = [s["per_seed"][sd]["scores"][m] for sd in done]
            row[m] = {"mean": statistics.fmean(vals) if vals else math.nan,
                      "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}
            paired = [sd for sd in done if plain and sd in plain["per_seed"]]
            if plain and name != "plain" and paired:
                d = [s["per_seed"][sd]["scores"][m] - plain["per_seed"][sd]["scores"][m]
                     for sd in paired]
                row[m]["diff_vs_plain"] = {"mean": statistics.fmean(d),
                                           "std": statistics.stdev(d) if len(d) > 1 else 0.0,
                                           "per_seed": d}
        row["step_time_ms"] = 1000 * statistics.fmean(
            [s["per_seed"][sd]["step_time_s"] for sd in done]) if done else math.nan
        row["last_epochs_MPJPE"] = {
            sd: [e["MPJPE"] for e in s["per_seed"][sd]["epochs"][-3:]] for sd in done}
        rows[name] = row
    front_pts = [(r["MPJPE"]["mean"], r) for r in rows.values()
                 if r["family"] in ("plain", "explicit")]
    for r in rows.values():
        if r["family"] not in SEAL_FAMILIES:
            continue
        for m in ("LSE", "BSLE"):
            f = front_value([(x, fr[m]["mean"]) for x, fr in front_pts], r["MPJPE"]["mean"])
            r[f"on_or_beyond_explicit_front_{m}"] = bool(r[m]["mean"] <= f)
            r[f"explicit_front_{m}_at_same_MPJPE"] = f
        d = r["MPJPE"].get("diff_vs_plain")
        r["MPJPE_gain_beyond_spread"] = bool(d and len(d["per_seed"]) > 1
                                             and -d["mean"] > d["std"])
    chosen = {}
    for fam in FAMILIES:
        cands = [(n, r) for n, r in rows.items() if r["family"] == fam]
        if not cands:
            continue
        best = min(r["MPJPE"]["mean"] for _, r in cands)
        tied = [(n, r) for n, r in cands if r["MPJPE"]["mean"] <= best + 0.05]
        chosen[fam] = min(tied, key=lambda nr: nr[1]["BSLE"]["mean"])[0]
    return {"rows": rows, "chosen": chosen}


def format_table(summary: dict) -> str:
    lines = ["| setting | " + " | ".join(METRICS) + " | step ms in training "
             "| on/beyond front (LSE, BSLE) | MPJPE gain > spread |",
             "|---" * (len(METRICS) + 4) + "|"]
    for name, r in summary["rows"].items():
        cells = []
        for m in METRICS:
            c = f"{r[m]['mean']:.2f} ± {r[m]['std']:.2f}"
            d = r[m].get("diff_vs_plain")
            if d:
                c += f" (Δ {d['mean']:+.2f} ± {d['std']:.2f})"
            cells.append(c)
        front = ""
        if "on_or_beyond_explicit_front_LSE" in r:
            front = (f"{'yes' if r['on_or_beyond_explicit_front_LSE'] else 'no'}, "
                     f"{'yes' if r['on_or_beyond_explicit_front_BSLE'] else 'no'}")
        gain = ("yes" if r.get("MPJPE_gain_beyond_spread") else "no") if front else ""
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {r['step_time_ms']:.1f} | {front} | {gain} |")
    lines.append("\nChosen by the rule (lowest mean S8 MPJPE per family): " + ", ".join(
        f"{f}: {n}" for f, n in summary["chosen"].items()))
    return "\n".join(lines)


def plot(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, m in zip(axes, ("LSE", "BSLE")):
        for i, fam in enumerate(FAMILIES):
            pts = sorted((r["MPJPE"]["mean"], r[m]["mean"], r["MPJPE"]["std"], r[m]["std"], n)
                         for n, r in summary["rows"].items() if r["family"] == fam)
            if not pts:
                continue
            xs, ys, xe, ye, _ = zip(*pts)
            ax.errorbar(xs, ys, xerr=xe, yerr=ye, fmt="o-" if fam == "explicit" else "o",
                        color=f"C{i}", label=fam, capsize=2, ms=5)
        plain = summary["rows"].get("plain")
        if plain:  # zoom on the region of interest; points beyond it are named at the edge
            x0 = min(r["MPJPE"]["mean"] for r in summary["rows"].values()) - 1.0
            x1 = plain["MPJPE"]["mean"] + 6.0
            ax.set_xlim(x0, x1)
            for n, r in summary["rows"].items():
                if r["MPJPE"]["mean"] > x1:
                    ax.annotate(f"{n}: {r['MPJPE']['mean']:.1f} mm ->", (x1, r[m]["mean"]),
                                ha="right", va="center", fontsize=7)
        ax.set_xlabel("S8 MPJPE (mm)")
        ax.set_ylabel(f"S8 {m} (mm)")
        ax.set_title(f"MPJPE vs {m}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--inputs", choices=INPUTS, default="gt",
                    help="2D the models train on (gt or sh detections); scored on S8 with "
                         "that kind (the front's set) and the other kind")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--every", type=int, default=1, help="keep every n-th 10 Hz training frame")
    ap.add_argument("--test-every", type=int, default=4)
    ap.add_argument("--max-steps-per-epoch", type=int, default=None, help="for smoke runs")
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--graph-weights", default=GRAPH_WEIGHTS,
                    help="S8-free graph loss-net (bench/pretrain_h36m.py --validate)")
    ap.add_argument("--dsm-weights", default=DSM_WEIGHTS,
                    help="S8-free score-matching loss-net (the h36m17-dsm recipe, --validate)")
    ap.add_argument("--sh-weights", default=SH_WEIGHTS,
                    help="detection-conditioned loss-net of the *-sh families (S8-free)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--resume", action="store_true", help="skip runs already in OUT.runs.jsonl")
    ap.add_argument("--replot", action="store_true", help="only redraw OUT.png from OUT.json")
    ap.add_argument("--out", default="bench/results/fronts/fronts")
    args = ap.parse_args()
    for fam, path in (("static-graph", args.graph_weights), ("static-dsm", args.dsm_weights)):
        if fam in args.families and not Path(path).is_file():
            raise SystemExit(f"{fam}: loss-net weights {path} not found; pretrain them without "
                             "S8 first (see the module docstring)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.replot:
        saved = json.loads(Path(str(out) + ".json").read_text())
        plot(saved["summary"], Path(str(out) + ".png"),
             f"S8 validation, {saved['meta']['budget']}, seeds {args.seeds}")
        return
    log_path = Path(str(out) + ".runs.jsonl")
    runs = read_runs(log_path, args.resume)
    done = {(r["setting"], r["seed"]) for r in runs}
    cfg = train_config(args)
    probe_n = 10**6  # the settings' names do not depend on the data size
    jobs = []
    for seed in args.seeds:
        for fam in args.families:
            for i, (name, _, _) in enumerate(settings(fam, seed, probe_n, cfg, args.graph_weights,
                                                       args.dsm_weights, args.sh_weights)):
                if (name, seed) not in done:
                    jobs.append((args, fam, i, seed))
    print(f"{len(jobs)} runs to do ({len(done)} already done)", flush=True)
    t0 = time.perf_counter()
    for r in run_jobs(_star, jobs, args.jobs, _load, (args,), log_path):
        runs.append(r)
        print(f"{r['setting']} seed {r['seed']}: MPJPE {r['scores']['MPJPE']:.2f} LSE "
              f"{r['scores']['LSE']:.2f} BSLE {r['scores']['BSLE']:.2f} "
              f"({r['minutes']:.1f} min) [{(time.perf_counter() - t0) / 60:.1f} min]",
              flush=True)
    summary = summarise(runs, args.seeds)
    table = format_table(summary)
    print(table)
    budget = f"{args.epochs} epochs, every {args.every} frame(s), batch {args.batch_size}"
    meta = {"command": " ".join(sys.argv), "budget": budget, "args": vars(args),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": {"threads": args.threads, "jobs": args.jobs, "device": "cpu",
                        "torch": torch.__version__},
            "rule": "per family, lowest mean S8 MPJPE (ties within 0.05 mm: lower BSLE)"}
    Path(str(out) + ".json").write_text(json.dumps(
        {"meta": meta, "summary": summary, "runs": runs}, indent=1, default=str))
    Path(str(out) + ".md").write_text(f"S8 validation fronts ({budget})\n\n{table}\n")
    plot(summary, Path(str(out) + ".png"), f"S8 validation, {budget}, seeds {args.seeds}")
    print(f"wrote {out}.json, {out}.md, {out}.png")


def _star(job: tuple) -> dict:
    return run_one(*job)


if __name__ == "__main__":
    main()

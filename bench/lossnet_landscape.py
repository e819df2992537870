"""Loss-net landscape report: is the energy a good *loss*, not only a good critic?

For any loss-net weights, on predictions of real plain SimpleBaseline models (METHOD.md s.8):

- **alignment** ``cos(-dE/dy_hat, y* - y_hat)`` per prediction (mean, quantiles, histogram);
- **descent**: Adam steps on ``E(x, y)`` (+ optional pull to ``y_hat``) from the predictions
  (:func:`sealloss.refine`): MPJPE, P-MPJPE, LSE, BSLE against the step count;
- **the energy as a lifter**: a long descent with no pull from the mean training pose;
- the held-out **ranking** table of the model card (GT against synthetic negatives and against
  the predictions);
- **refinement against ground-truth-free rivals** (symmetrised bone lengths, per-sequence median
  bone lengths) on predictions of plain, explicit and SEAL models.

Protocol (fixed before the runs). ``--validate``: pose-nets and loss-nets trained on
S1/S5/S6/S7, scored on S8; for each weights file the descent setting (lr, pull, steps) with the
lowest S8 MPJPE is chosen and written to the JSON. The final run (no ``--validate``) trains the
pose-nets on S1/S5/S6/S7/S8, reads the chosen settings (``--settings``, the validation JSON) and
scores S9/S11 with GT-projected 2D and with the Stacked-Hourglass detections, once.

Which weights to ship (rule written down before the last validation round): among the
candidates, keep those whose S8 ranking is >= 95 % at >= 20 mm for every model-card negative kind
**and** >= 95 % against the plain model's real predictions (a critic that prefers the
predictions to the truth is not kept); ship the one with the largest S8 MPJPE reduction at its
chosen descent setting, if it also beats the current weights' alignment and descent.

Detected 2D (``--inputs sh``; rule written down before the runs, 2026-12-02). Candidates: loss-nets
conditioned on the training subjects' detections (``pretrain_h36m.py --inputs sh``): DSM, and DSM
+ gradient matching at out-of-fold predictions of detection-trained lifters
(``crossfit_h36m.py``), trained without S8. Lifter: the plain SimpleBaseline of
``h36m_gain.py --validate --inputs sh`` (S1/S5/S6/S7 detections, headline budget, seed 0). For
each candidate the descent setting with the lowest S8 SH-2D MPJPE is chosen (grid above). The
**refiner** recommended for detected 2D is the candidate with the lowest S8 SH-2D MPJPE at its
chosen setting, if that MPJPE is below the unrefined prediction's (amended before any S9/S11
scoring, for CPU time: the S8-free weights themselves are shipped, not a copy retrained on
S1/S5/S6/S7/S8, which would need five more out-of-fold lifters); otherwise the recommendation
stays "do not refine" (``steps = 0``). A refiner is
never required to be a critic; its ranking is reported, not used to choose.

Critic for detected 2D (``--ranking-only``; rule written down before the runs, 2026-12-03).
Candidates: the S8-free detection loss-nets of ``clip_refinement.py --round 5`` and two trained
for ranking (MLP 512x2, NCE against 8 synthetic negatives and the out-of-fold prediction, hard
negatives on 10 % of batches, with and without a GT-2D share of 0.25). A candidate is a critic if
its S8 SH-2D ranking is >= 95 % at 20 mm for every model-card negative kind and >= 95 % against
the S8 plain lifter's predictions; of those, the one with the highest smallest entry is retrained
on S1/S5/S6/S7/S8 and shipped as the detection critic. If none passes, none ships and the model
cards say that no detection file is a critic.

    python bench/lossnet_landscape.py --data-root ../shared/data --validate \
        --weights bench/cache/val-a.safetensors --out bench/results/landscape_val
    python bench/lossnet_landscape.py --data-root ../shared/data --weights h36m17 h36m17-dsm \
        --settings bench/results/landscape_val.json --out bench/results/landscape

Writes ``OUT.json``, ``OUT.md`` and ``OUT.png``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from h36m_gain import load_model  # noqa: E402
from h36m_sets import INPUTS, scored_pairs, training_pairs  # noqa: E402
from report_files import agg_pyplot, write_report  # noqa: E402

from sealloss.data import load_h36m  # noqa: E402
from sealloss.demo.experiment import ArmConfig, TrainConfig, predict, train_arm  # noqa: E402
from sealloss.io.weights import load_lossnet  # noqa: E402
from sealloss.metrics import evaluate  # noqa: E402
from sealloss.pose.canonical import root_relative  # noqa: E402
from sealloss.pose.skeleton import get_skeleton  # noqa: E402
from sealloss.posthoc.refinement import refine, sequence_median_bones, symmetrise_bones  # noqa: E402
from sealloss.training.diagnostics import alignment  # noqa: E402
from sealloss.training.pretrain import format_ranking_table, ranking_report  # noqa: E402

SK = get_skeleton("h36m17")
METRICS = ("MPJPE", "P-MPJPE", "LSE", "BSLE")
SNAPSHOTS = (0, 5, 10, 20, 30, 50, 100)


# ------------------------------------------------------------------ data and predictions
def load_sets(args) -> tuple[dict, dict[str, dict]]:
    """Training pairs (for the mean pose and the lifters) and the evaluation sets of the 2D kind
    ``--inputs`` and the other kind (``bench/h36m_sets.py``): name -> dict(x2d, y3d, groups)."""
    ds = load_h36m(args.data_root)
    _, _, tr = training_pairs(ds, args.inputs, args.every, args.validate)
    sets = {name: {"x2d": torch.from_numpy(p["x2d"]), "y3d": torch.from_numpy(p["y3d"]),
                   "groups": p["seq_id"].astype(np.int64) * 10 + p["camera"]}
            for name, p in scored_pairs(ds, args.inputs, args.test_every, args.validate).items()}
    return tr, sets


def arm_configs(args) -> list[ArmConfig]:
    arms = [ArmConfig("plain")]
    if not args.validate and not args.plain_only:
        arms.append(ArmConfig("explicit", w_bone=0.1, w_sym=0.1))
        arms.append(ArmConfig("seal", seal=True, seal_kwargs={}))  # the recommended defaults
    return arms


def predictions(args, tr, sets) -> dict[str, dict[str, torch.Tensor]]:
    """arm -> set -> (N, 17, 3) predictions of SimpleBaselines: with ``--models``, of those saved
    lifters (``plain``, ``plain seed1``, ...: one entry per file); otherwise trained here
    (cached in bench/cache/)."""
    if args.models:
        out = {}
        for i, path in enumerate(args.models):
            model = load_model(path)
            with torch.no_grad():
                out["plain" if i == 0 else f"plain #{i}"] = {
                    k: predict(model, s["x2d"]) for k, s in sets.items()}
        return out
    tag = "val" if args.validate else "final"
    cfg = TrainConfig(epochs=args.epochs, width=512, batch_size=256)
    x, y = torch.from_numpy(tr["x2d"]), torch.from_numpy(tr["y3d"])
    out: dict[str, dict[str, torch.Tensor]] = {}
    for arm in arm_configs(args):
        path = Path(f"bench/cache/landscape_preds_{tag}_{args.inputs}_{arm.name}_seed{args.seed}"
                    f"_e{args.epochs}_every{args.every}_test{args.test_every}.pt")
        if path.exists():
            out[arm.name] = torch.load(path)
            continue
        t0 = time.perf_counter()
        res = train_arm(arm, x, y, cfg, seed=args.seed)
        out[arm.name] = {k: predict(res.model, s["x2d"]) for k, s in sets.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(out[arm.name], path)
        print(f"trained {arm.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def metrics(pred: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
    s = evaluate(pred, gt, "h36m17").summary
    return {k: float(s[k]) for k in METRICS}


# ------------------------------------------------------------------ landscape pieces
def alignment_per_sample(net, x2d, y_hat, y_gt, batch: int = 4096) -> torch.Tensor:
    cos = []
    net.eval()
    for i in range(0, x2d.shape[0], batch):
        yh = y_hat[i : i + batch].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(net.energy(x2d[i : i + batch], yh).sum(), yh)
        yh0 = root_relative(yh.detach(), SK.root)
        yg0 = root_relative(y_gt[i : i + batch], SK.root)
        cos.append(alignment(g, yh0, yg0, per_sample=True))
    return torch.cat(cos).float()


def descent_curve(net, x2d, y_hat, y_gt, lr, pull, steps) -> dict[int, dict[str, float]]:
    snaps = tuple(s for s in SNAPSHOTS if s <= steps)
    r = refine(net, x2d, y_hat, steps=steps, lr=lr, pull=pull, snapshots=snaps)
    return {k: metrics(p, y_gt) for k, p in r.snapshots.items()}


def best_setting(grid: dict[str, dict[int, dict[str, float]]]) -> dict:
    """The (lr, pull, steps) with the lowest MPJPE; ties go to fewer steps."""
    best = None
    for key, curve in grid.items():
        lr, pull = (float(v) for v in key.split("|"))
        for k, m in curve.items():
            cand = (m["MPJPE"], int(k), lr, pull)
            if best is None or cand < best:
                best = cand
    assert best is not None
    return {"MPJPE": best[0], "steps": best[1], "lr": best[2], "pull": best[3]}


def run_weights(args, name, tr, sets, preds, chosen) -> dict:
    net = load_lossnet(name)
    net.requires_grad_(False)
    rep: dict = {"weights": name, "kind": net.kind, "parameters": net.num_parameters,
                 "config": net.config, "primary_set": next(iter(sets))}
    mean_pose = torch.from_numpy(tr["y3d"]).mean(0)
    for set_name, s in ({} if args.ranking_only else sets).items():
        x, y, yh = s["x2d"], s["y3d"], preds["plain"][set_name]
        srep: dict = {}
        cos = alignment_per_sample(net, x, yh, y)
        srep["alignment"] = {"mean": float(cos.mean()),
                             "q10": float(cos.quantile(0.1)), "q50": float(cos.median()),
                             "q90": float(cos.quantile(0.9)),
                             "hist": np.histogram(cos.numpy(), bins=20, range=(-1, 1))[0].tolist()}
        if chosen is None and set_name != rep["primary_set"]:
            chosen_here = rep[rep["primary_set"]]["chosen"]  # chosen on the primary set only
        else:
            chosen_here = chosen
        if chosen_here is None:  # validation: grid over lr x pull, curves over the step count
            grid = {}
            for lr, pull in itertools.product(args.lrs, args.pulls):
                grid[f"{lr}|{pull}"] = descent_curve(net, x, yh, y, lr, pull, max(SNAPSHOTS))
            srep["descent_grid"] = grid
            srep["chosen"] = best_setting(grid)
            setting = srep["chosen"]
        else:
            setting = chosen_here
            srep["descent"] = descent_curve(net, x, yh, y, setting["lr"], setting["pull"],
                                            max(SNAPSHOTS))
            srep["chosen"] = dict(setting)
        n = min(args.lifter_n, x.shape[0])
        lift = refine(net, x[:n], mean_pose.expand(n, -1, -1).clone(), steps=args.lifter_steps,
                      lr=args.lifter_lr, snapshots=(0, args.lifter_steps // 2, args.lifter_steps))
        srep["lifter"] = {str(k): metrics(p, y[:n]) for k, p in lift.snapshots.items()}
        srep["lifter"]["plain_model_same_poses"] = metrics(yh[:n], y[:n])
        # refinement against the ground-truth-free rivals, for every arm's predictions
        table = {}
        for arm, ap in preds.items():
            p = ap[set_name]
            r = refine(net, x, p, steps=int(setting["steps"]), lr=float(setting["lr"]),
                       pull=float(setting["pull"]))
            table[arm] = {
                "prediction": metrics(p, y),
                "symmetrise": metrics(symmetrise_bones(p, SK), y),
                "median bones": metrics(sequence_median_bones(p, s["groups"], SK), y),
                "refine": metrics(r.poses, y),
                "refine ms/1000 poses": r.ms_per_1000,
            }
        srep["refinement"] = table
        srep["refinement_over_models"] = over_models(table)
        rep[set_name] = srep
    first = next(iter(sets))
    sub = slice(0, min(args.rank_n, sets[first]["y3d"].shape[0]))
    rk = ranking_report(net, sets[first]["x2d"][sub], sets[first]["y3d"][sub],
                        sizes_mm=(10.0, 20.0, 40.0),
                        predictions={"plain": preds["plain"][first][sub]})
    rep["ranking"] = rk
    rep["ranking_table"] = format_ranking_table(rk)
    return rep


def over_models(table: dict) -> dict:
    """For the plain lifters of ``table`` (``plain``, ``plain #1``, ...: seeds), each method's
    metrics as mean, std and per model, and its change against the prediction, paired per model
    (mm and %)."""
    import statistics

    arms = [a for a in table if a.startswith("plain")]
    out: dict = {"models": len(arms)}
    for method in ("prediction", "symmetrise", "median bones", "refine"):
        row = {}
        for m in METRICS:
            vals = [table[a][method][m] for a in arms]
            d = [table[a][method][m] - table[a]["prediction"][m] for a in arms]
            rel = [100 * x / table[a]["prediction"][m] for x, a in zip(d, arms)]
            sd = statistics.stdev if len(arms) > 1 else (lambda v: 0.0)
            row[m] = {"mean": statistics.fmean(vals), "std": sd(vals), "per_model": vals,
                      "diff_mean": statistics.fmean(d), "diff_std": sd(d),
                      "relative_pct": statistics.fmean(rel)}
        out[method] = row
    return out


# ------------------------------------------------------------------ output
def _row(name, m, base=None):
    cells = []
    for k in METRICS:
        v = m[k]
        if base is None:
            cells.append(f"{v:.2f}")
        else:
            cells.append(f"{v:.2f} ({100 * (v - base[k]) / base[k]:+.1f} %)")
    return f"| {name} | " + " | ".join(cells) + " |"


def markdown(report: dict) -> str:
    lines = [f"# Loss-net landscape ({report['mode']})", "",
             f"Command: `{report['command']}`; {report['threads']} thread(s); "
             f"{report['date']}.", ""]
    head = "| | " + " | ".join(METRICS) + " |\n|---" * 1 + "|---" * len(METRICS) + "|"
    for w in report["weights"]:
        lines += [f"## `{w['weights']}` ({w['kind']}, {w['parameters']} parameters)", ""]
        for set_name, s in w.items():
            if not isinstance(s, dict) or "alignment" not in s:
                continue
            a = s["alignment"]
            c = s["chosen"]
            lines += [f"### {set_name}", "",
                      f"Alignment cos(-dE/dy, y* - y_hat) on plain predictions: mean "
                      f"{a['mean']:.3f} (q10 {a['q10']:.2f}, median {a['q50']:.2f}, q90 "
                      f"{a['q90']:.2f}).", "",
                      f"Descent setting (chosen on S8): lr {c['lr']} m, pull {c['pull']}, "
                      f"{c['steps']} steps.", "", head]
            curve = s.get("descent") or s["descent_grid"][f"{c['lr']}|{c['pull']}"]
            base = curve[0] if 0 in curve else curve["0"]
            for k, m in curve.items():
                lines.append(_row(f"descent {k} steps", m, None if int(k) == 0 else base))
            lift = s["lifter"]
            lines.append(_row("plain model (lifter poses)", lift["plain_model_same_poses"]))
            for k, m in lift.items():
                if k != "plain_model_same_poses":
                    lines.append(_row(f"lifter: {k} steps from the mean pose", m))
            lines += ["", "Refinement vs ground-truth-free rivals (mm; % vs the prediction):",
                      "", "| predictions | method | " + " | ".join(METRICS) + " | ms/1000 |",
                      "|---|---" + "|---" * len(METRICS) + "|---|"]
            for arm, t in s["refinement"].items():
                for meth in ("prediction", "symmetrise", "median bones", "refine"):
                    m = t[meth]
                    base = t["prediction"]
                    cells = [f"{m[k]:.2f}" + ("" if meth == "prediction" else
                                              f" ({100 * (m[k] - base[k]) / base[k]:+.1f} %)")
                             for k in METRICS]
                    ms = f"{t['refine ms/1000 poses']:.0f}" if meth == "refine" else ""
                    lines.append(f"| {arm} | {meth} | " + " | ".join(cells) + f" | {ms} |")
            om = s.get("refinement_over_models", {})
            if om.get("models", 0) > 1:
                lines += ["", f"Over the {om['models']} plain lifters (seeds): mean ± std; change "
                          "against the prediction paired per lifter:", "",
                          "| method | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1)
                          + "|"]
                for meth, row in om.items():
                    if meth == "models":
                        continue
                    cells = [f"{r['mean']:.2f} ± {r['std']:.2f}" + (
                        "" if meth == "prediction" else
                        f" (Δ {r['diff_mean']:+.2f} ± {r['diff_std']:.2f}, "
                        f"{r['relative_pct']:+.1f} %)") for r in (row[k] for k in METRICS)]
                    lines.append(f"| {meth} | " + " | ".join(cells) + " |")
            lines.append("")
        lines += ["Held-out ranking (% of samples with E(GT) < E(negative)):", "",
                  w["ranking_table"], ""]
    return "\n".join(lines)


def plot_ranking(plt, report: dict, path: Path) -> None:
    """Bars of each weights file's 20 mm and natural-size ranking (%), the 95 % bar drawn."""
    fig, ax = plt.subplots(figsize=(11, 4.2))
    rows = [(kind, "20mm" if "20mm" in r else "natural")
            for kind, r in report["weights"][0]["ranking"].items()]
    xs = np.arange(len(rows))
    width = 0.8 / len(report["weights"])
    for i, w in enumerate(report["weights"]):
        ax.bar(xs + width * i - 0.4 + width / 2,
               [100 * w["ranking"][k][col] for k, col in rows], width,
               label=Path(w["weights"]).stem)
    ax.axhline(95, color="k", lw=0.8, ls="--")
    ax.set_xticks(xs, [f"{k} ({c})" for k, c in rows], rotation=20, fontsize=8)
    ax.set_ylabel("% with E(GT) < E(negative)")
    ax.set_title(f"held-out ranking, {report['mode']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot(report: dict, path: Path) -> None:
    plt = agg_pyplot()
    if plt is None:
        return
    first = report["weights"][0]
    set_name = next((k for k, v in first.items() if isinstance(v, dict) and "alignment" in v),
                    None)
    if set_name is None:  # --ranking-only
        plot_ranking(plt, report, path)
        return
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    edges = np.linspace(-1, 1, 21)
    for w in report["weights"]:
        s = w[set_name]
        label = Path(w["weights"]).stem
        ax[0].stairs(s["alignment"]["hist"], edges, label=f"{label} (mean "
                     f"{s['alignment']['mean']:.2f})")
        c = s["chosen"]
        curve = s.get("descent") or s["descent_grid"][f"{c['lr']}|{c['pull']}"]
        ks = sorted(int(k) for k in curve)
        for metric, style in (("MPJPE", "-"), ("BSLE", "--")):
            ax[1].plot(ks, [curve[k if k in curve else str(k)][metric] for k in ks], style,
                       marker="o", label=f"{label} {metric}")
    ax[0].set_xlabel("cos(-dE/dy_hat, y* - y_hat)")
    ax[0].set_ylabel("predictions")
    ax[0].set_title(f"alignment on plain predictions, {set_name}")
    ax[0].legend(fontsize=7)
    ax[1].set_xlabel("descent steps (Adam)")
    ax[1].set_ylabel("mm")
    ax[1].set_title("descent from plain predictions")
    ax[1].legend(fontsize=7)
    w = report["weights"][-1]
    t = w[set_name]["refinement"]
    methods = ("prediction", "symmetrise", "median bones", "refine")
    xs = np.arange(len(t))
    for i, meth in enumerate(methods):
        ax[2].bar(xs + 0.2 * i - 0.3, [t[a][meth]["MPJPE"] for a in t], 0.2, label=meth)
    ax[2].set_xticks(xs, list(t))
    ax[2].set_ylabel("MPJPE (mm)")
    ax[2].set_title(f"refinement with {Path(w['weights']).stem}")
    lo = min(t[a][m]["MPJPE"] for a in t for m in methods)
    ax[2].set_ylim(lo * 0.9, None)
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--weights", nargs="+", required=True, help="names or .safetensors paths")
    ap.add_argument("--validate", action="store_true", help="train S1/S5/S6/S7, score S8")
    ap.add_argument("--inputs", choices=INPUTS, default="gt",
                    help="2D kind of the lifters and of the first scored set (the one settings "
                         "are chosen on); the other kind is scored too")
    ap.add_argument("--models", nargs="*", default=None,
                    help="saved plain lifters (h36m_gain.py --save-models) to predict with "
                         "instead of training one here; several = several seeds")
    ap.add_argument("--settings", default=None,
                    help="validation JSON whose chosen descent settings the final run uses")
    ap.add_argument("--settings-weights", nargs="*", default=None,
                    help="for each --weights entry, the validation weights whose chosen setting "
                         "it uses (default: the same position in the validation JSON)")
    ap.add_argument("--ranking-only", action="store_true",
                    help="only the ranking table (the critic check): no alignment, descent, "
                         "lifter or rivals")
    ap.add_argument("--plain-only", action="store_true", help="no explicit/SEAL pose-nets")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--test-every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 2e-3, 4e-3])
    ap.add_argument("--pulls", type=float, nargs="+", default=[0.0, 100.0])
    ap.add_argument("--lifter-steps", type=int, default=300)
    ap.add_argument("--lifter-lr", type=float, default=5e-3)
    ap.add_argument("--lifter-n", type=int, default=1000)
    ap.add_argument("--rank-n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/landscape")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    chosen_list: list[dict | None] = [None] * len(args.weights)
    if not args.validate and not args.ranking_only:
        if args.settings is None:
            raise SystemExit("the final run needs --settings (the validation JSON)")
        val = json.loads(Path(args.settings).read_text())
        val_w = {w["weights"]: w for w in val["weights"]}
        src = args.settings_weights or [w["weights"] for w in val["weights"]]
        if len(src) != len(args.weights):
            raise SystemExit("--settings-weights needs one validation weights name per --weights")
        # validation JSONs written before --inputs name their one set "S8 GT-2D"
        chosen_list = [val_w[s][val_w[s].get("primary_set", "S8 GT-2D")]["chosen"] for s in src]
    t0 = time.perf_counter()
    tr, sets = load_sets(args)
    preds = predictions(args, tr, sets)
    report = {"mode": "validation (S8)" if args.validate else "test (S9/S11)",
              "meta": {"args": vars(args)},
              "command": "python " + " ".join(__import__("sys").argv),
              "threads": args.threads, "date": time.strftime("%Y-%m-%d"),
              "sizes": {k: int(v["y3d"].shape[0]) for k, v in sets.items()},
              "weights": []}
    for name, chosen in tqdm(list(zip(args.weights, chosen_list)), desc="weights"):
        report["weights"].append(run_weights(args, name, tr, sets, preds, chosen))
    report["seconds"] = time.perf_counter() - t0
    write_report(report, Path(args.out), markdown, plot)


if __name__ == "__main__":
    main()

"""Semi-supervised lifting on Human3.6M: 3D labels for a few subjects, 2D only for the rest.

The protocol of the lifting literature for this (3D labels of S1, or S1+S5; the other training
subjects' 2D used without their 3D). Every arm trains a SimpleBaseline (width 512) for the same
number of steps, each step one labeled batch and one unlabeled batch, same seeds and data order:

- ``plain``: the supervised MPJPE on the labeled batch only (the unlabeled batch is unused);
- ``sym``: + ``w_sym * lse`` (the symmetry loss) on the unlabeled predictions (the ground-truth-free
  explicit rival);
- ``seal``: + ``seal.unlabeled(x_u, y_hat_u)``: the learned energy on the unlabeled predictions
  (static loss-net, ``lam_unlabeled="auto"`` at a force ratio against the labeled pull);
- ``seal+sym``: both.

Self-training arms (the energy as a *teacher* instead of a loss; each trains a student
for the same number of steps, with ``w_pseudo * MPJPE(y_hat_u, pseudo_u)`` on the unlabeled
batch, where the pseudo-labels come from this seed's ``plain`` model on the unlabeled 2D):

- ``self``: the plain model's predictions as they are (the control: self-training alone);
- ``sym-teacher``: those predictions with symmetrised bone lengths (ground-truth-free rival);
- ``median-teacher``: with each bone set to its median over the sequence (subject x action x
  camera), both sides averaged (the strongest ground-truth-free bone rival we have);
- ``seal-teacher``: those predictions refined by descent on the loss-net's energy
  (``sealloss.refine``, ``--refine-steps`` Adam steps at ``--refine-lr``);
- ``seal-teacher+seal``: the refined pseudo-labels and the ``seal`` arm's energy term together;
- ``seal-teacher-r2``: a second round: the first ``seal-teacher`` student is the teacher;
- ``self-ft`` / ``seal-teacher-ft``: as ``self`` / ``seal-teacher``, but the student starts from
  the teacher's weights instead of a fresh initialisation (same steps and schedule).

The loss-net is trained on the **labeled subjects only** (denoising score matching, MLP;
``bench/pretrain_h36m.py``), never on an unlabeled subject's 3D.

Protocol (fixed before the runs). ``--validate``: unlabeled 2D from S5/S6/S7 (for S1 labels),
scored on S8 (never seen, 2D or 3D); pick each arm's weight by the lowest S8 MPJPE. Final:
unlabeled 2D from S5/S6/S7/S8, scored once on S9/S11 with GT-projected 2D and with the
Stacked-Hourglass detections.

    python bench/h36m_semisupervised.py --data-root ../shared/data --validate \
        --lossnet bench/cache/semi-S1-mlp512-dsm.safetensors --seeds 0
    python bench/h36m_semisupervised.py --data-root ../shared/data \
        --lossnet bench/cache/semi-S1-mlp512-dsm.safetensors --seeds 0 1 2 --jobs 2
    # the self-training arms (teacher = the plain arm; the variant chosen on S8 last)
    python bench/h36m_semisupervised.py --data-root ../shared/data \
        --lossnet bench/cache/semi-S1-mlp512-dsm.safetensors --seeds 0 1 2 --jobs 3 \
        --refine-steps 30 --arms plain sym seal self-ft seal-teacher-ft

Writes ``OUT.json``, ``OUT.md`` and ``OUT.png``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from report_files import agg_pyplot, write_report

from sealloss.data import (
    TEST_SUBJECTS,
    h36m_input_pairs,
    load_h36m,
)
from sealloss.demo.baselines import SimpleBaseline
from sealloss.demo.experiment import epoch_order, predict
from sealloss.io.weights import load_lossnet
from sealloss.metrics import evaluate
from sealloss.metrics.functional import lse
from sealloss.metrics.structural import DEFAULT_EPS
from sealloss.posthoc.refinement import refine, sequence_median_bones, symmetrise_bones
from sealloss.training.settings import build_wrapper

METRICS = ("MPJPE", "P-MPJPE", "LSE", "BSLE")
ARM_KINDS = ("plain", "sym", "seal", "seal+sym", "self", "sym-teacher", "median-teacher",
             "seal-teacher", "seal-teacher+seal", "seal-teacher-r2", "self-ft", "seal-teacher-ft")


def load(args):
    """Labeled pairs, unlabeled 2D (and its clip ids) and the scored sets, of the 2D kind
    ``--inputs``: with ``sh`` every 2D (labeled, unlabeled and scored first) is the detections,
    the Neck/Nose and Spine rules fitted on the labeled subjects' GT 2D; no GT 2D is trained on."""
    ds = load_h36m(args.data_root)
    labeled = tuple(args.labeled)

    def pairs(subjects, every, kind=args.inputs):
        return h36m_input_pairs(subjects, kind, every, ds, rules_from=labeled)

    lab = pairs(labeled, args.every)
    unl_subjects = [s for s in ("S5", "S6", "S7") + (() if args.validate else ("S8",))
                    if s not in args.labeled]
    unl = pairs(unl_subjects, args.every)
    scored = ("S8",) if args.validate else TEST_SUBJECTS
    tag = "S8" if args.validate else "S9/S11"
    labels = {"gt": "GT-2D", "sh": "SH-2D"}
    order = ("gt", "sh") if args.inputs == "gt" else ("sh", "gt")
    if args.validate and args.inputs == "gt":
        order = ("gt",)  # as before: GT-trained settings are chosen on S8 GT 2D only
    sets = {}
    for k in order:
        p = pairs(scored, args.test_every, k)
        sets[f"{tag} {labels[k]}"] = (torch.from_numpy(p["x2d"]), torch.from_numpy(p["y3d"]))
    groups_u = torch.from_numpy(unl["seq_id"].astype(np.int64) * 4 + unl["camera"])
    return (torch.from_numpy(lab["x2d"]), torch.from_numpy(lab["y3d"]),
            torch.from_numpy(unl["x2d"]), groups_u, unl_subjects, sets)


def arms(args) -> list[dict]:
    out = [{"name": "plain"}]
    for w in args.w_sym:
        out.append({"name": f"sym w={w:g}", "w_sym": w})
    for r in args.force_ratio:
        out.append({"name": f"seal fr={r:g}", "force_ratio": r})
    if not args.validate:
        out.append({"name": f"seal+sym fr={args.force_ratio[0]:g} w={args.w_sym[0]:g}",
                    "force_ratio": args.force_ratio[0], "w_sym": args.w_sym[0]})
    out += [{"name": "self", "teacher": "self"},
            {"name": "sym-teacher", "teacher": "sym"},
            {"name": "median-teacher", "teacher": "median"}]
    for k in args.refine_steps:
        out.append({"name": f"seal-teacher k={k}", "teacher": "seal", "refine_steps": k})
    k0, fr0 = args.refine_steps[0], args.force_ratio[0]
    out.append({"name": f"seal-teacher+seal k={k0} fr={fr0:g}", "teacher": "seal",
                "refine_steps": k0, "force_ratio": fr0})
    out.append({"name": f"seal-teacher-r2 k={k0}", "teacher": "seal", "refine_steps": k0,
                "teacher_from": f"seal-teacher k={k0}"})
    out.append({"name": "self-ft", "teacher": "self", "init": "plain"})
    out.append({"name": f"seal-teacher-ft k={k0}", "teacher": "seal", "refine_steps": k0,
                "init": "plain"})
    return [a for a in out if a["name"].split(" ")[0] in args.arms]


def pseudo_labels(arm: dict, args, teacher_u: torch.Tensor, x_u: torch.Tensor,
                  groups_u: torch.Tensor) -> torch.Tensor:
    """``(N_u, 17, 3)`` pseudo-labels (metres) for the unlabeled 2D from the teacher's
    predictions ``teacher_u``; no 3D of an unlabeled subject is read."""
    kind = arm["teacher"]
    if kind == "self":
        return teacher_u
    if kind == "sym":
        return symmetrise_bones(teacher_u, "h36m17")
    if kind == "median":
        return sequence_median_bones(teacher_u, groups_u, "h36m17")
    net = load_lossnet(args.lossnet, expect_skeleton="h36m17")
    return refine(net, x_u, teacher_u, steps=arm["refine_steps"], lr=args.refine_lr, pull=0.0).poses


def train(arm: dict, args, x_l, y_l, x_u, seed: int, pseudo: torch.Tensor | None = None,
          init: dict | None = None) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(seed)
    model = SimpleBaseline("h36m17", 512, 2, 0.5)
    model.set_input_stats(torch.cat([x_l, x_u]))
    if init is not None:
        model.load_state_dict(init)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gamma = 0.05 ** (1.0 / args.steps)
    seal = None
    if "force_ratio" in arm:
        seal = build_wrapper(lossnet=args.lossnet, mode="static", lam=0.0,
                             lam_unlabeled="auto", unlabeled_force_ratio=arm["force_ratio"],
                             score_fraction=1.0, seed=seed, log_every=10**9)
    w_sym = arm.get("w_sym", 0.0)
    bs = args.batch_size
    n_l, n_u = x_l.shape[0], x_u.shape[0]
    per_l, per_u = n_l // bs, n_u // bs
    hist, t0 = [], time.perf_counter()
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = 1e-3 * gamma**step
        il = epoch_order(n_l, seed, step // per_l)[(step % per_l) * bs:(step % per_l + 1) * bs]
        iu = epoch_order(n_u, seed + 7919, step // per_u)[(step % per_u) * bs:
                                                          (step % per_u + 1) * bs]
        xb, yb, xu = x_l[il], y_l[il], x_u[iu]
        pred = model(torch.cat([xb, xu]))
        p_l, p_u = pred[:bs], pred[bs:]
        loss_sup = (p_l - yb).norm(dim=-1).mean()
        loss = loss_sup
        if w_sym:
            loss = loss + w_sym * lse(p_u, "h36m17", eps=DEFAULT_EPS)
        if pseudo is not None:
            loss = loss + args.w_pseudo * (p_u - pseudo[iu]).norm(dim=-1).mean()
        if seal is not None:
            loss = seal(loss, xb, p_l, yb)  # lam = 0: measures the supervised pull only
            loss = loss + seal.unlabeled(xu, p_u)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 250 == 0 or step == args.steps - 1:
            rec = {"step": step, "loss_sup_mm": float(loss_sup.detach()) * 1000}
            if seal is not None:
                st = seal.unlabeled_stats
                rec.update({"lam_u": st["lam"], "force_ratio_u": st["force_ratio"],
                            "energy_u": st["energy_pred"]})
            hist.append(rec)
    return model, {"history": hist, "seconds": time.perf_counter() - t0}


def run_seed(payload) -> dict:
    args, seed = payload
    torch.set_num_threads(args.threads)
    x_l, y_l, x_u, groups_u, unl_subjects, sets = load(args)
    res = {"unlabeled_subjects": unl_subjects, "labeled_pairs": int(x_l.shape[0]),
           "unlabeled_pairs": int(x_u.shape[0]), "arms": {}, "teacher_refined": {}}
    preds_u: dict[str, torch.Tensor] = {}  # each teacher's predictions on the unlabeled 2D
    cache: dict[tuple, torch.Tensor] = {}
    weights: dict[str, dict] = {}
    todo = arms(args)
    teachers = {"plain"} | {a["teacher_from"] for a in todo if "teacher_from" in a}
    for arm in todo:
        pseudo = None
        if "teacher" in arm:
            t0 = time.perf_counter()
            source = arm.get("teacher_from", "plain")
            key = (source, arm["teacher"], arm.get("refine_steps"))
            if key not in cache:
                cache[key] = pseudo_labels(arm, args, preds_u[source], x_u, groups_u)
            pseudo = cache[key]
            print(f"[seed {seed}] {arm['name']}: pseudo-labels in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        init = weights[arm["init"]] if "init" in arm else None
        model, info = train(arm, args, x_l, y_l, x_u, seed, pseudo, init)
        if arm["name"] in teachers:
            preds_u[arm["name"]] = predict(model, x_u)
        if arm["name"] == "plain":
            weights["plain"] = {k: v.clone() for k, v in model.state_dict().items()}
            res["teacher_refined"] = teacher_refinement(model, args, sets)
        scores = {}
        for name, (x, y) in sets.items():
            s = evaluate(predict(model, x), y, "h36m17").summary
            scores[name] = {k: float(s[k]) for k in METRICS}
        res["arms"][arm["name"]] = {"scores": scores, **info}
        print(f"[seed {seed}] {arm['name']}: " + ", ".join(
            f"{n} MPJPE {v['MPJPE']:.1f} BSLE {v['BSLE']:.1f}" for n, v in scores.items()),
            flush=True)
    return res


def teacher_refinement(model, args, sets) -> dict:
    """Diagnostic: the plain teacher's scores on each evaluation set after the same refinement
    the ``seal-teacher`` arms apply to the unlabeled predictions (``{steps: {set: scores}}``)."""
    if not any(a.get("teacher") == "seal" for a in arms(args)):
        return {}
    net = load_lossnet(args.lossnet, expect_skeleton="h36m17")
    out = {}
    for k in args.refine_steps:
        out[str(k)] = {}
        for name, (x, y) in sets.items():
            p = refine(net, x, predict(model, x), steps=k, lr=args.refine_lr, pull=0.0).poses
            s = evaluate(p, y, "h36m17").summary
            out[str(k)][name] = {m: float(s[m]) for m in METRICS}
    return out


def summarise(per_seed: dict[int, dict]) -> dict:
    seeds = sorted(per_seed)
    first = per_seed[seeds[0]]
    out: dict = {}
    for arm in first["arms"]:
        out[arm] = {}
        for set_name in first["arms"][arm]["scores"]:
            row = {}
            for m in METRICS:
                vals = [per_seed[s]["arms"][arm]["scores"][set_name][m] for s in seeds]
                base = [per_seed[s]["arms"]["plain"]["scores"][set_name][m] for s in seeds]
                diff = [v - b for v, b in zip(vals, base)]
                row[m] = {"mean": statistics.fmean(vals),
                          "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                          "diff_mean": statistics.fmean(diff),
                          "diff_std": statistics.stdev(diff) if len(diff) > 1 else 0.0,
                          "per_seed": vals}
            out[arm][set_name] = row
    return out


def markdown(report: dict) -> str:
    lines = [f"# Semi-supervised Human3.6M ({report['mode']})", "",
             f"Command: `{report['command']}`; {report['date']}; labeled "
             f"{report['labeled']}, unlabeled 2D {report['unlabeled_subjects']}; "
             f"{report['steps']} steps of {report['batch_size']} labeled + "
             f"{report['batch_size']} unlabeled poses; seeds {report['seeds']}; loss-net "
             f"`{report['lossnet']}`. Mean ± std over seeds; Δ = paired difference to plain.", ""]
    summ = report["summary"]
    sets = list(next(iter(summ.values())))
    for set_name in sets:
        lines += [f"**{set_name}**", "", "| arm | " + " | ".join(METRICS) + " |",
                  "|---" * (len(METRICS) + 1) + "|"]
        for arm, rows in summ.items():
            cells = []
            for m in METRICS:
                r = rows[set_name][m]
                c = f"{r['mean']:.2f} ± {r['std']:.2f}"
                if arm != "plain":
                    pct = 100 * r["diff_mean"] / summ["plain"][set_name][m]["mean"]
                    c += f" (Δ {r['diff_mean']:+.2f} ± {r['diff_std']:.2f}, {pct:+.1f} %)"
                cells.append(c)
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    refined = [report["per_seed"][s].get("teacher_refined", {}) for s in report["seeds"]]
    if refined and refined[0]:
        lines += ["**Diagnostic: the plain teacher refined at test time** (the refinement the "
                  "seal-teacher arms apply to the unlabeled predictions; mean over seeds)", "",
                  "| refine steps | set | " + " | ".join(METRICS) + " |",
                  "|---" * (len(METRICS) + 2) + "|"]
        for k in refined[0]:
            for set_name in refined[0][k]:
                cells = [f"{statistics.fmean(r[k][set_name][m] for r in refined):.2f}"
                         for m in METRICS]
                lines.append(f"| {k} | {set_name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    plt = agg_pyplot()
    if plt is None:
        return
    summ = report["summary"]
    set_name = next(iter(next(iter(summ.values()))))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for arm, rows in summ.items():
        r = rows[set_name]
        ax.errorbar(r["BSLE"]["mean"], r["MPJPE"]["mean"], xerr=r["BSLE"]["std"],
                    yerr=r["MPJPE"]["std"], fmt="o", capsize=3, label=arm)
    ax.set_xlabel("BSLE (mm)")
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title(f"semi-supervised, labels {'+'.join(report['labeled'])}: {set_name}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--lossnet", default=None,
                    help="loss-net trained on the labeled subjects (required unless --rerender)")
    ap.add_argument("--labeled", nargs="+", default=["S1"])
    ap.add_argument("--inputs", choices=("gt", "sh"), default="gt",
                    help="2D kind of the labeled pairs, the unlabeled 2D and the first scored "
                         "set (sh: the detections everywhere, no GT 2D trained on)")
    ap.add_argument("--validate", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--test-every", type=int, default=10)
    ap.add_argument("--w-sym", type=float, nargs="+", default=[0.1],
                    help="symmetry weights (validation: several; final: the chosen one first)")
    ap.add_argument("--force-ratio", type=float, nargs="+", default=[0.3],
                    help="unlabeled force ratios (validation: several; final: the chosen first)")
    ap.add_argument("--refine-steps", type=int, nargs="+", default=[30],
                    help="seal-teacher: refinement steps (validation: several; final: one)")
    ap.add_argument("--refine-lr", type=float, default=2e-3,
                    help="seal-teacher: refinement Adam learning rate, metres per step")
    ap.add_argument("--w-pseudo", type=float, default=1.0,
                    help="teacher arms: weight of the pseudo-label MPJPE on unlabeled batches")
    ap.add_argument("--arms", nargs="+", default=list(ARM_KINDS[:4]), choices=ARM_KINDS,
                    help="which kinds of arm to train (plain is always needed: the reference)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default="bench/results/h36m_semisupervised")
    ap.add_argument("--rerender", action="store_true",
                    help="only rewrite OUT.md and OUT.png from OUT.json (after a report fix)")
    args = ap.parse_args()
    if args.rerender:
        out = Path(args.out)
        report = json.loads(out.with_suffix(".json").read_text())
        report["per_seed"] = {int(k): v for k, v in report["per_seed"].items()}  # JSON keys
        out.with_suffix(".md").write_text(markdown(report))
        plot(report, out.with_suffix(".png"))
        return
    if args.lossnet is None:
        ap.error("--lossnet is required (the loss-net trained on the labeled subjects)")
    if "plain" not in args.arms:
        ap.error("--arms must include plain (every difference is paired against it, and it is "
                 "the teacher of the self-training arms)")
    if "seal-teacher-r2" in args.arms and "seal-teacher" not in args.arms:
        ap.error("--arms seal-teacher-r2 needs seal-teacher (its student is the teacher)")
    t0 = time.perf_counter()
    payloads = [(args, s) for s in args.seeds]
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            results = pool.map(run_seed, payloads)
    else:
        results = [run_seed(p) for p in payloads]
    per_seed = dict(zip(args.seeds, results))
    report = {"mode": "validation (S8)" if args.validate else "test (S9/S11)",
              "meta": {"args": vars(args)},
              "command": "python " + " ".join(__import__("sys").argv),
              "date": time.strftime("%Y-%m-%d"), "labeled": args.labeled,
              "unlabeled_subjects": results[0]["unlabeled_subjects"], "steps": args.steps,
              "batch_size": args.batch_size, "seeds": args.seeds, "lossnet": args.lossnet,
              "per_seed": per_seed, "summary": summarise(per_seed),
              "seconds": time.perf_counter() - t0}
    write_report(report, Path(args.out), markdown, plot)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

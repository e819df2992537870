"""Clip refinement against the temporal rivals, on predictions of saved plain lifters (issue 24).

Given saved lifters (``bench/h36m_gain.py --save-models``; one per seed) and a loss-net, the
lifters predict a split, and every method below turns the predictions into new poses, **without
ground truth** (:func:`run_methods` is only given the 2D, the clip ids and the frame indices):

- ``plain``: the predictions;
- ``median bones``: each bone set to its clip's median length
  (:func:`sealloss.posthoc.refinement.sequence_median_bones`);
- ``moving average``: a box average over +-``half_window`` seconds within each clip, in real time
  (:func:`sealloss.posthoc.clip_refinement.moving_average`);
- ``median bones + moving average``: the moving average's directions, the clip's median lengths;
- ``prior bones + moving average``: the same with each clip's lengths blended with the training
  subjects' mean bone lengths (``prior_weight``; :mod:`sealloss.pose.priors`; the prior is
  computed from the split's *training* subjects' ground truth, never a scored one);
- ``per-frame refinement``: :func:`sealloss.refine` (every pose alone);
- ``per-frame refinement + prior`` (round 4): every pose alone too, but through clip refinement
  with each pose its own clip: its bone lengths start at the training prior, the 2D term holds
  it to its own 2D, no smoothness (needs no clip ids: a per-frame refiner);
- ``clip refinement``: ``sealloss.refine(..., clips=, frames=)`` (one set of bone lengths per
  clip, 2D consistency, optional smoothness; :mod:`sealloss.posthoc.clip_refinement`);
- ``clip refinement without the energy`` (an ablation, scored but never chosen: clip
  refinement's chosen setting with a loss-net whose energy is zero everywhere, so only the
  lengths, the 2D term, the pull and the smoothness act).

Clips are the ``(seq_id, camera)`` runs of the pairs dicts (``bench/h36m_sets.py``); the rows are
10 Hz, their ``frame`` indices are 50 Hz video frames: times are ``frame / 50`` s everywhere
(HumanEva-I: ``frame / 60``). Metrics (mm; :func:`sealloss.metrics.evaluate` and
:func:`sealloss.metrics.evaluate_temporal`): MPJPE, P-MPJPE, BSLE, per-clip bone-length spread
(``BoneStd``), MPJVE (mm/s), acceleration error (mm/s^2), and the cost per 1,000 poses.

Protocol (fixed before the runs):

- ``--split val``: lifters trained on S1/S5/S6/S7 (``h36m_gain.py --validate --save-models``),
  scored on S8 with the 2D kind they were trained on (``--inputs``), every ``--val-clips-every``-th
  clip (default 4: the cost of the grid). Each method's setting is chosen on this set by the
  lowest S8 MPJPE averaged over the lifters, over the small grid :data:`GRID`; clip refinement is
  chosen stage by stage (:data:`CLIP_STAGES`: learning rate and pull, then the 2D weight, then the
  smoothness; a later stage's value is kept only if it lowers the MPJPE further).
- ``--split test``: lifters trained on S1/S5/S6/S7/S8, the chosen settings read from the
  validation JSON (``--settings``), scored once on S9/S11 (same 2D kind) and, with
  ``--humaneva``, on HumanEva-I Validate zero-shot (GT-projected 2D, 15 joints).

Differences are paired per lifter (seed): the table gives mean +- std over the lifters, and the
change of clip refinement against ``median bones + moving average`` (the issue's bar).

    python bench/clip_refinement.py --data-root ../shared/data --split val --inputs sh \\
        --models bench/cache/val_sh/plain_seed0.pt bench/cache/val_sh/plain_seed1.pt \\
        bench/cache/val_sh/plain_seed2.pt --out bench/results/clips/val_sh
    python bench/clip_refinement.py --data-root ../shared/data --split test --inputs sh \\
        --models bench/cache/sh/plain_seed0.pt bench/cache/sh/plain_seed1.pt \\
        bench/cache/sh/plain_seed2.pt --settings bench/results/clips/val_sh.json --humaneva \\
        --out bench/results/clips/test_sh

Cost (measured on 2 busy CPU cores, 1 thread): clip refinement about 10-19 s per 1,000 poses
at 60 steps, per-frame refinement about 5 s at 30 steps; the S8 grid (8 clip settings, 4
per-frame, over a quarter of S8's clips, 3 lifters) is about 1.5 h, the S9/S11 run (all clips at
10 Hz, about 100k poses, 3 lifters) about 2 h. ``--device cuda`` runs both refinements on a GPU.
``--smoke --max-clips 1`` checks the script in about a minute (numbers meaningless).

Writes ``OUT.json`` (``meta.args.inputs`` records the 2D kind), ``OUT.md`` and ``OUT.png`` (one
bone's length over a clip for every method and the truth; a few poses before/after).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from h36m_gain import load_model  # noqa: E402
from h36m_sets import INPUTS, scored_pairs  # noqa: E402
from report_files import agg_pyplot  # noqa: E402

from sealloss.demo.experiment import predict  # noqa: E402
from sealloss.io.atomic import atomic_write  # noqa: E402
from sealloss.io.weights import load_lossnet  # noqa: E402
from sealloss.metrics import clip_index, evaluate, evaluate_temporal  # noqa: E402
from sealloss.pose.skeleton import get_skeleton  # noqa: E402
from sealloss.posthoc.clip_refinement import (  # noqa: E402
    ClipSettings,
    median_bones_moving_average,
    moving_average,
)
from sealloss.posthoc.refinement import refine, sequence_median_bones  # noqa: E402

SK = get_skeleton("h36m17")
FPS = {"h36m": 50.0, "humaneva": 60.0}
METHODS = ("plain", "median bones", "moving average", "median bones + moving average",
           "prior bones + moving average", "per-frame refinement",
           "per-frame refinement + prior", "clip refinement",
           "clip refinement without the energy")
ABLATION = "clip refinement without the energy"
UNSET = ("plain", "median bones")  # the methods without settings
METRICS = ("MPJPE", "P-MPJPE", "BSLE", "BoneStd", "MPJVE", "AccErr", "ms/1000")
BAR = "median bones + moving average"  # the rival clip refinement must beat (issue 24)
PRIOR_RIVAL = "prior bones + moving average"  # the rival that knows the training prior too
FIGURE_BONE = SK.bone_index[SK.index("RKnee")]  # the right thigh (RHip -> RKnee)

#: the settings tried on S8 for each method with settings (lists of keyword dicts)
GRID: dict[str, list[dict]] = {
    "moving average": [{"half_window": h} for h in (0.1, 0.2, 0.4)],
    "median bones + moving average": [{"half_window": h} for h in (0.1, 0.2, 0.4)],
    "per-frame refinement": [{"steps": 30, "lr": lr, "pull": pull}
                             for lr in (1e-3, 3e-3) for pull in (0.0, 100.0)],
}
#: clip refinement's staged grid: the start, then each stage's alternatives (module docstring)
CLIP_START: dict = {"steps": 60, "lr": 1e-3, "pull": 100.0, "w2d": 0.0, "smooth": 0.0}
CLIP_STAGES: tuple[list[dict], ...] = (
    [{"lr": lr, "pull": pull} for lr in (1e-3, 3e-3) for pull in (0.0, 100.0)],
    [{"w2d": w} for w in (1e3, 1e4)],
    [{"smooth": s} for s in (300.0, 3000.0)],
)
#: ``--round 2`` (written after round 1, which had seen S8 only): round 1's best lr (1 mm) was the
#: lowest it tried and its 60 steps overshot, while the detected refiner's S8 choice is 30 steps of
#: 0.5 mm; so start there with round 1's 2D weight and smoothness, then widen the smoothness, the
#: 2D weight and the step count. The per-frame grid gains that shipped setting.
ROUND2_START: dict = {"steps": 30, "lr": 5e-4, "pull": 100.0, "w2d": 1e3, "smooth": 3e3}
ROUND2_STAGES: tuple[list[dict], ...] = (
    [{"smooth": s} for s in (1e4, 3e4)],
    [{"w2d": w} for w in (0.0, 300.0)],
    [{"steps": 60}],
)
ROUND2_GRID: dict[str, list[dict]] = {
    **GRID,
    "per-frame refinement": [*GRID["per-frame refinement"],
                             {"steps": 30, "lr": 5e-4, "pull": 100.0}],
}
#: ``--round 3`` (written after round 2's S9/S11 run, whose clip refinement lost to median bones +
#: moving average on BSLE, and after one S8 check that the training subjects' mean bone lengths
#: (S1/S5/S6/S7) imposed on every frame give S8 BSLE 10.9 mm against the clip medians' 17.2 mm):
#: start at round 2's choice (the shipped CLIP defaults), then choose the prior's weight, whether
#: the lengths stay fixed, then the 2D weight and the smoothness again. The new rival, prior bones
#: + moving average, gets its own grid.
ROUND3_START: dict = {"steps": 30, "lr": 5e-4, "pull": 100.0, "w2d": 1e3, "smooth": 3e3,
                      "prior_weight": 0.0}
ROUND3_STAGES: tuple[list[dict], ...] = (
    [{"prior_weight": w} for w in (0.25, 0.5, 0.75, 1.0)],
    [{"length_lr": lr} for lr in (0.0, 1e-4)],
    [{"w2d": w} for w in (0.0, 3e3)],
    [{"smooth": v} for v in (1e3, 1e4)],
)
ROUND3_GRID: dict[str, list[dict]] = {
    **ROUND2_GRID,
    PRIOR_RIVAL: [{"half_window": h, "prior_weight": w} for h in (0.1, 0.2)
                  for w in (0.5, 0.75, 1.0)],
}
#: ``--round 4`` (written after round 3's S9/S11 run and one S8 look at this grid, on the same S8
#: clips the choice is made on): the per-frame refiner with the training prior's lengths and the
#: 2D term (each pose its own clip); clip refinement's grid as in round 3.
ROUND4_GRID: dict[str, list[dict]] = {
    **ROUND3_GRID,
    "per-frame refinement + prior": [
        {"steps": 30, "lr": 5e-4, "pull": 100.0, "w2d": w, "smooth": 0.0, "prior_weight": 1.0,
         "length_lr": llr} for w in (1e3, 3e3, 1e4) for llr in (0.0, None)],
}
#: ``--round 5`` (written before its runs, 2026-12-02, to compare per-frame refiners: one run per
#: candidate loss-net, ``--lossnet``): only the per-frame methods, each over a grid around round
#: 4's choice (the step size matters for a new energy), and the rival :data:`BAR`; no clip
#: refinement. The candidate whose ``per-frame refinement + prior`` has the lowest S8 MPJPE at its
#: chosen setting is the detected refiner if it beats the shipped one in the same grid.
#: Candidates (``pretrain_h36m.py --validate --inputs sh``, S1/S5/S6/S7, seed 0, 6,000 steps;
#: out-of-fold predictions from ``crossfit_h36m.py --every 1``, the headline budget): MLP 512x2
#: DSM + gradient matching at them; the same with a GT-2D share of 0.25; MLP DSM + ranking (NCE
#: against 8 synthetic negatives and the out-of-fold prediction) + gradient matching; the
#: Graphormer with DSM + gradient matching; and the shipped ``h36m17-sh-refiner`` (out-of-fold
#: lifters at 10 epochs over every 2nd frame). Written after the candidates' runs, before the next
#: one: the winner's clip terms are re-chosen by ``--round 4`` with the winner's S8-free weights
#: (clip refinement uses the refiner's energy too), and the test reads both JSONs (``--settings
#: round4.json round5.json``: round 5's per-frame choices win).
ROUND5_GRID: dict[str, list[dict]] = {
    BAR: ROUND3_GRID[BAR],
    "per-frame refinement": [{"steps": 30, "lr": lr, "pull": 100.0} for lr in (2.5e-4, 5e-4, 1e-3)],
    "per-frame refinement + prior": [
        {"steps": 30, "lr": lr, "pull": 100.0, "w2d": w, "smooth": 0.0, "prior_weight": 1.0,
         "length_lr": None} for lr in (2.5e-4, 5e-4, 1e-3) for w in (1e3, 3e3)],
}
ROUNDS = {1: (GRID, CLIP_START, CLIP_STAGES), 2: (ROUND2_GRID, ROUND2_START, ROUND2_STAGES),
          3: (ROUND3_GRID, ROUND3_START, ROUND3_STAGES),
          4: (ROUND4_GRID, ROUND3_START, ROUND3_STAGES), 5: (ROUND5_GRID, None, ())}


# ------------------------------------------------------------------ data
def clip_set(p: dict[str, np.ndarray], fps: float) -> dict:
    """A pairs dict as the tensors and clip metadata the methods read."""
    return {"x2d": torch.from_numpy(p["x2d"]), "y3d": torch.from_numpy(p["y3d"]),
            "clips": np.stack([p["seq_id"], p["camera"]], 1).astype(np.int64),
            "frames": p["frame"].astype(np.int64), "actions": np.asarray(p["action"]),
            "fps": fps}


def keep_clips(s: dict, every: int = 1, first: int | None = None) -> dict:
    """Whole clips of a set: every ``every``-th clip (in clip-id order), then the first
    ``first`` of those (``None``: all)."""
    ix = clip_index(s["clips"])
    kept = np.arange(0, ix.num_clips, max(1, every))[:first]
    if kept.size == ix.num_clips:
        return s
    keep = np.isin(ix.ids, kept)
    t = torch.from_numpy(keep)
    return {k: (v[t] if isinstance(v, torch.Tensor) else v[keep] if isinstance(v, np.ndarray)
                else v) for k, v in s.items()}


def load_sets(args) -> dict[str, dict]:
    """The scored sets: the input kind's S8 (val) or S9/S11 (test), and HumanEva-I if asked."""
    from sealloss.data import (
        TRAIN_SUBJECTS,
        fit_neck_nose_rule,
        h36m_pairs,
        humaneva_as_h36m17,
        humaneva_pairs,
        load_h36m,
    )

    ds = load_h36m(args.data_root)
    validate = args.split == "val"
    name, p = next(iter(scored_pairs(ds, args.inputs, 1, validate).items()))
    sets = {name: clip_set(p, FPS["h36m"])}
    if args.humaneva and not validate:
        neck = fit_neck_nose_rule(h36m_pairs(TRAIN_SUBJECTS, dataset=ds, every=10))
        he17, idx = humaneva_as_h36m17(humaneva_pairs(args.data_root, split="Validate"),
                                       neck_rule=neck)
        s = clip_set(he17, FPS["humaneva"])
        s["skeleton"], s["pred_index"] = "humaneva15", [int(i) for i in idx]
        sets["HumanEva-I (zero-shot)"] = s
    prior = training_prior(ds, validate)
    for v in sets.values():
        v["prior"] = prior
    every = args.val_clips_every if validate else args.clips_every
    return {k: keep_clips(s, every, args.max_clips) for k, s in sets.items()}


def training_prior(ds, validate: bool) -> tuple[float, ...]:
    """Mean bone lengths (metres, symmetric pairs averaged) of the split's training subjects'
    ground truth (S1/S5/S6/S7 for val, S1/S5/S6/S7/S8 for test; every 10th frame)."""
    from h36m_sets import pairs, train_subjects

    from sealloss.pose.priors import mean_bone_lengths

    y = torch.from_numpy(pairs(ds, train_subjects(validate), "gt", 10, validate)["y3d"])
    return tuple(round(float(v), 6) for v in mean_bone_lengths(y.double(), SK))


# ------------------------------------------------------------------ methods (no ground truth)
def run_method(net, s: dict, pred: torch.Tensor, method: str, setting: dict, fps: float,
               device: str = "cpu") -> tuple[torch.Tensor, float]:
    """One method's poses ``(N, 17, 3)`` and wall seconds. Reads only ``s["x2d"]``,
    ``s["clips"]`` and ``s["frames"]`` of the set: never its ground truth."""
    x, clips, frames = s["x2d"], s["clips"], s["frames"]
    t0 = time.perf_counter()
    if method == "plain":
        out = pred.clone()
    elif method == "median bones":
        out = sequence_median_bones(pred, clip_index(clips).ids, SK)
    elif method == "moving average":
        out = moving_average(pred, clips, frames, fps, setting["half_window"], SK)
    elif method == BAR:
        out = median_bones_moving_average(pred, clips, frames, fps, setting["half_window"], SK)
    elif method == PRIOR_RIVAL:
        out = median_bones_moving_average(pred, clips, frames, fps, setting["half_window"], SK,
                                          prior_weight=setting["prior_weight"], prior=s["prior"])
    elif method == "per-frame refinement":
        r = refine(net, x.to(device), pred.to(device), steps=setting["steps"], lr=setting["lr"],
                   pull=setting["pull"])
        return r.poses.cpu(), r.seconds
    elif method in ("clip refinement", ABLATION, "per-frame refinement + prior"):
        if method == ABLATION:
            net = zero_energy(net)
        st = ClipSettings(w2d=setting["w2d"], smooth=setting["smooth"], fps=fps,
                          length_lr=setting.get("length_lr"),
                          prior_weight=setting.get("prior_weight", 0.0), prior=s["prior"])
        alone = method == "per-frame refinement + prior"  # each pose its own clip
        r = refine(net, x.to(device), pred.to(device), steps=setting["steps"], lr=setting["lr"],
                   pull=setting["pull"], clips=np.arange(len(x)) if alone else clips,
                   frames=None if alone else frames, clip=st)
        return r.poses.cpu(), r.seconds
    else:
        raise ValueError(f"unknown method {method!r}; one of {METHODS}")
    return out, time.perf_counter() - t0


def zero_energy(net):
    """A loss-net of ``net``'s skeleton whose energy is 0 for every pose (all weights zero)."""
    from sealloss.nn import MLPLossNet

    zero = MLPLossNet(net.skeleton.name, width=8, blocks=1)
    with torch.no_grad():
        for p in zero.parameters():
            p.zero_()
    return zero.to(next(net.parameters()).device)


def run_methods(net, s: dict, pred: torch.Tensor, settings: dict[str, dict], fps: float,
                device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Every method of :data:`METHODS` with its setting (``settings[method]``; ``plain`` and
    ``median bones`` have none; a method with no setting there is skipped, as in the JSON of a
    round before it existed): ``({method: poses}, {method: seconds})``."""
    poses, seconds = {}, {}
    for m in METHODS:
        key = "clip refinement" if m == ABLATION else m
        if key not in settings and key not in UNSET:  # a JSON of a round without the method
            continue
        poses[m], seconds[m] = run_method(net, s, pred, m, settings.get(key, {}), fps, device)
    return poses, seconds


# ------------------------------------------------------------------ scoring
def score(s: dict, poses: torch.Tensor, seconds: float) -> dict[str, float]:
    """The metrics of one method's poses on a set (the only place the ground truth is read)."""
    sk = s.get("skeleton", "h36m17")
    p = poses if s.get("pred_index") is None else poses[:, s["pred_index"]]
    pos = evaluate(p, s["y3d"], sk).summary
    tem = evaluate_temporal(p, s["y3d"], sk, s["clips"], s["frames"], s["fps"]).summary
    n = max(1, poses.shape[0])
    return {"MPJPE": pos["MPJPE"], "P-MPJPE": pos["P-MPJPE"], "BSLE": pos["BSLE"],
            "BoneStd": tem["BoneStd"], "BoneStd_gt": tem["BoneStd_gt"], "MPJVE": tem["MPJVE"],
            "AccErr": tem["AccErr"], "ms/1000": 1e6 * seconds / n}


def _mean_mpjpe(net, s, preds, method, setting, device) -> tuple[float, list[dict]]:
    rows = []
    for pred in preds:
        poses, sec = run_method(net, s, pred, method, setting, s["fps"], device)
        rows.append(score(s, poses, sec))
    return statistics.fmean(r["MPJPE"] for r in rows), rows


def choose(net, s: dict, preds: list[torch.Tensor], device: str, smoke: bool = False,
           round_: int = 1) -> tuple[dict, dict]:
    """The S8 choice (module docstring): ``(chosen settings per method, every tried row)``;
    ``smoke``: only the first setting of each grid and stage (a quick check, not a choice);
    ``round_``: 1 (:data:`GRID`, :data:`CLIP_START`, :data:`CLIP_STAGES`), 2 (``ROUND2_*``) ...
    5 (:data:`ROUND5_GRID`, no clip refinement): :data:`ROUNDS`."""
    cut = 1 if smoke else None
    grids, start, stages = ROUNDS[round_]
    chosen: dict[str, dict] = {}
    tried: dict[str, list] = {}
    for method, grid in grids.items():
        tried[method] = []
        for setting in tqdm(grid[:cut], desc=method, leave=False):
            mean, rows = _mean_mpjpe(net, s, preds, method, setting, device)
            tried[method].append({"setting": setting, "MPJPE": mean, "per_model": rows})
        chosen[method] = min(tried[method], key=lambda r: r["MPJPE"])["setting"]
    if start is None:  # a round without clip refinement
        return chosen, tried
    best = dict(start)
    best_mpjpe, rows = _mean_mpjpe(net, s, preds, "clip refinement", best, device)
    tried["clip refinement"] = [{"setting": dict(best), "MPJPE": best_mpjpe, "per_model": rows}]
    for stage in stages:
        stage_best = dict(best)
        for alt in tqdm(stage[:cut], desc="clip refinement", leave=False):
            setting = {**best, **alt}
            if setting == best:
                continue
            mean, rows = _mean_mpjpe(net, s, preds, "clip refinement", setting, device)
            tried["clip refinement"].append({"setting": setting, "MPJPE": mean,
                                             "per_model": rows})
            if mean < best_mpjpe:
                best_mpjpe, stage_best = mean, setting
        best = stage_best
    chosen["clip refinement"] = best
    return chosen, tried


def _paired(a: dict, b: dict) -> str:
    """``mean ± std`` of the per-lifter differences ``a - b`` (summary rows of two methods)."""
    d = [x - y for x, y in zip(a["per_model"], b["per_model"])]
    sd = statistics.stdev(d) if len(d) > 1 else 0.0
    return f"{statistics.fmean(d):+.2f} ± {sd:.2f}"


def summarise(per_model: list[dict[str, dict[str, float]]]) -> dict:
    """``per_model[i][method][metric]`` -> mean, std, per-model values and the paired change
    against ``plain`` and against :data:`BAR` (mean and std over models)."""
    sd = statistics.stdev if len(per_model) > 1 else (lambda v: 0.0)
    out: dict = {}
    for m in (m for m in METHODS if m in per_model[0]):
        row = {}
        for k in METRICS:
            vals = [pm[m][k] for pm in per_model]
            d_plain = [pm[m][k] - pm["plain"][k] for pm in per_model]
            d_bar = [pm[m][k] - pm[BAR][k] for pm in per_model]
            row[k] = {"mean": statistics.fmean(vals), "std": sd(vals), "per_model": vals,
                      "vs_plain": statistics.fmean(d_plain), "vs_plain_std": sd(d_plain),
                      "vs_bar": statistics.fmean(d_bar), "vs_bar_std": sd(d_bar)}
        out[m] = row
    out["BoneStd_gt"] = per_model[0]["plain"]["BoneStd_gt"]
    return out


# ------------------------------------------------------------------ output
def markdown(report: dict) -> str:
    a = report["meta"]["args"]
    lines = [f"# Clip refinement ({report['meta']['mode']}, 2D: {a['inputs']})", "",
             f"Lifters: {len(a['models'])} ({', '.join(Path(m).name for m in a['models'])}); "
             f"loss-net {report['meta']['lossnet']}; {report['meta']['threads']} thread(s), "
             f"device {a['device']}.", ""]
    lines += ["Chosen settings (S8):", ""]
    lines += [f"- {m}: {json.dumps(v)}" for m, v in report["settings"].items()]
    for name, res in report["sets"].items():
        t = res["summary"]
        lines += ["", f"## {name} ({res['rows']} poses, {res['clips']} clips; truth's bone "
                  f"spread {t['BoneStd_gt']:.1f} mm)", "",
                  "mean ± std over the lifters; MPJVE mm/s, AccErr mm/s^2, cost ms per 1,000 "
                  "poses on this machine", "",
                  "| method | " + " | ".join(METRICS) + " |",
                  "|---|" + "---|" * len(METRICS)]
        for m in METHODS:
            if m not in t:  # a report written before the method existed
                continue
            cells = [f"{t[m][k]['mean']:.1f} ± {t[m][k]['std']:.1f}" for k in METRICS]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        if "clip refinement" not in t:  # a round without clip refinement
            continue
        c = t["clip refinement"]
        lines += ["", f"Clip refinement against {BAR}, paired per lifter: " + ", ".join(
            f"{k} {c[k]['vs_bar']:+.2f} ± {c[k]['vs_bar_std']:.2f}"
            for k in ("MPJPE", "BSLE", "BoneStd", "MPJVE")) + "; against plain: " + ", ".join(
            f"{k} {c[k]['vs_plain']:+.2f} ± {c[k]['vs_plain_std']:.2f}"
            for k in ("MPJPE", "BSLE", "MPJVE")) + "."]
        if PRIOR_RIVAL in t:
            lines += ["", f"Against {PRIOR_RIVAL}, paired per lifter: " + ", ".join(
                f"{k} {_paired(c[k], t[PRIOR_RIVAL][k])}" for k in ("MPJPE", "BSLE", "MPJVE"))
                + "."]
    if report.get("tried"):
        lines += ["", "## S8 grid (mean MPJPE over the lifters)", ""]
        for m, rows in report["tried"].items():
            for r in rows:
                lines.append(f"- {m} {json.dumps(r['setting'])}: {r['MPJPE']:.2f} mm")
    return "\n".join(lines) + "\n"


def figure_data(s: dict, poses: dict[str, torch.Tensor]) -> dict:
    """The clip with the largest plain spread of :data:`FIGURE_BONE`, its times, that bone's
    length per method and the truth (mm), and the poses of a few frames."""
    ix = clip_index(s["clips"], s["frames"], s["fps"])
    from sealloss.pose.kinematics import bone_lengths

    plain_len = bone_lengths(poses["plain"], SK)[:, FIGURE_BONE]
    best, c_best = -1.0, 0
    for c in range(ix.num_clips):
        rows = ix.rows(c)
        if rows.size >= 10 and float(plain_len[rows].std()) > best:
            best, c_best = float(plain_len[rows].std()), c
    rows = ix.rows(c_best)
    out = {"clip": [int(v) for v in ix.labels[c_best]], "time_s": ix.times[rows].tolist(),
           "lengths_mm": {m: (bone_lengths(p[rows], SK)[:, FIGURE_BONE] * 1000).tolist()
                          for m, p in poses.items()}}
    if s.get("pred_index") is None:
        out["lengths_mm"]["truth"] = (bone_lengths(s["y3d"][rows], SK)[:, FIGURE_BONE]
                                      * 1000).tolist()
        pick = rows[np.linspace(0, min(rows.size, 20) - 1, 3).astype(int)]
        shown = "clip refinement" if "clip refinement" in poses else "per-frame refinement + prior"
        out["shown"] = shown
        out["poses"] = {m: poses[m][pick].tolist() for m in ("plain", shown)}
        out["poses"]["truth"] = s["y3d"][pick].tolist()
        out["pose_time_s"] = ix.times[pick].tolist()
    return out


def plot(fig_data: dict, path: Path, title: str) -> None:
    plt = agg_pyplot()
    if plt is None:
        return
    from sealloss.demo.skeleton_plots import draw_skeleton_3d

    fig = plt.figure(figsize=(15, 4.6))
    ax = fig.add_subplot(1, 5, (1, 2))
    t = np.asarray(fig_data["time_s"])
    t = t - t[0]
    colours = {"truth": "k", "plain": "tab:red", "median bones": "tab:olive",
               "moving average": "tab:orange", BAR: "tab:green", PRIOR_RIVAL: "tab:cyan",
               ABLATION: "tab:gray", "per-frame refinement + prior": "tab:brown",
               "per-frame refinement": "tab:purple", "clip refinement": "tab:blue"}
    for m, v in fig_data["lengths_mm"].items():
        lw = {"truth": 2.5, "clip refinement": 2.0}.get(m, 1.0)
        ax.plot(t, v, label=m, color=colours.get(m), lw=lw)
    ax.set_xlabel("time in the clip (s)")
    ax.set_ylabel("right thigh length (mm)")
    ax.set_title(f"{title}: clip {fig_data['clip']}", fontsize=9)
    ax.legend(fontsize=7)
    if "poses" in fig_data:
        for i in range(len(fig_data["pose_time_s"])):
            a3 = fig.add_subplot(1, 5, 3 + i, projection="3d")
            shown = fig_data.get("shown", "clip refinement")
            for m, col, ls in (("truth", "0.5", "-"), ("plain", "tab:red", "--"),
                               (shown, "tab:blue", "-")):
                draw_skeleton_3d(a3, np.asarray(fig_data["poses"][m][i]), SK, colour=col,
                                 linestyle=ls, linewidth=1.5)
            a3.set_title(f"t = {fig_data['pose_time_s'][i] - fig_data['pose_time_s'][0]:.1f} s",
                         fontsize=8)
        fig.text(0.7, 0.02, f"poses: grey truth, red dashed plain, blue {shown}",
                 ha="center", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def merged_settings(paths: list[str]) -> dict[str, dict]:
    """The chosen settings of validation JSONs, merged per method in order (a later file's
    choice of a method replaces an earlier one's)."""
    settings: dict[str, dict] = {}
    for path in paths:
        settings.update(json.loads(Path(path).read_text())["settings"])
    return settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--split", choices=("val", "test"), required=True)
    ap.add_argument("--inputs", choices=INPUTS, default="sh",
                    help="the 2D kind the lifters were trained on and are scored with")
    ap.add_argument("--models", nargs="+", required=True,
                    help="saved plain lifters (h36m_gain.py --save-models), one per seed")
    ap.add_argument("--lossnet", default="h36m17-dsm", help="loss-net name or .safetensors")
    ap.add_argument("--settings", nargs="+", default=None,
                    help="test: the validation JSON(s); with several, each method's setting comes "
                         "from the last file that chose it (e.g. round 4's clip terms, then round "
                         "5's per-frame settings)")
    ap.add_argument("--humaneva", action="store_true", help="test: also HumanEva-I zero-shot")
    ap.add_argument("--val-clips-every", type=int, default=4,
                    help="val: score every n-th S8 clip (the grid's cost)")
    ap.add_argument("--clips-every", type=int, default=1, help="test: every n-th clip")
    ap.add_argument("--max-clips", type=int, default=None, help="smoke runs: the first n clips")
    ap.add_argument("--round", type=int, choices=tuple(ROUNDS), default=1,
                    help="val: the settings grid (2-5: the later rounds, ROUND2_* ... ROUND5_GRID)")
    ap.add_argument("--smoke", action="store_true",
                    help="val: only the first setting of each grid (checks the script runs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="where the refinements run (cpu, cuda)")
    ap.add_argument("--out", required=True, help="output path without suffix")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.split == "test" and args.settings is None:
        raise SystemExit("--split test needs --settings (the validation JSON)")
    t0 = time.perf_counter()
    net = load_lossnet(args.lossnet).to(args.device)
    sets = load_sets(args)
    models = [load_model(p) for p in args.models]
    report: dict = {"meta": {"mode": "validation (S8)" if args.split == "val" else
                             "test (S9/S11)", "args": vars(args), "lossnet": args.lossnet,
                             "command": "python " + " ".join(sys.argv), "threads": args.threads,
                             "date": time.strftime("%Y-%m-%d"), "fps": FPS},
                    "sets": {}}
    fig = None
    for k, (name, s) in enumerate(sets.items()):
        with torch.no_grad():
            preds = [predict(m, s["x2d"]) for m in models]
        if k == 0:
            if args.split == "val":
                settings, tried = choose(net, s, preds, args.device, args.smoke, args.round)
                report["tried"] = tried
            else:
                settings = merged_settings(args.settings)
            report["settings"] = settings
        per_model = []
        for i, pred in enumerate(tqdm(preds, desc=name)):
            poses, seconds = run_methods(net, s, pred, settings, s["fps"], args.device)
            per_model.append({m: score(s, poses[m], seconds[m]) for m in poses})
            if k == 0 and i == 0:
                fig = figure_data(s, poses)
        report["sets"][name] = {"rows": int(s["x2d"].shape[0]),
                                "clips": clip_index(s["clips"]).num_clips,
                                "summary": summarise(per_model), "per_model": per_model}
    report["figure"] = fig
    report["meta"]["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    atomic_write(out.with_suffix(".json"), json.dumps(report, indent=1).encode())
    md = markdown(report)
    atomic_write(out.with_suffix(".md"), md.encode())
    print(md)
    if fig is not None:
        plot(fig, out.with_suffix(".png"), next(iter(sets)))


if __name__ == "__main__":
    main()

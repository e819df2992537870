"""What ``sealloss demo`` runs: a SimpleBaseline trained without and with SEAL (same seed, data
order and schedule), then the plain model's held-out predictions refined at test time by descent
on the score-matching energy (:func:`sealloss.refine`, the ``REFINE["gt"]`` defaults); all three
are scored on held-out poses, with figures, predictions, the SEAL arm's loss-net and a JSON
summary written to a folder. :func:`run_demo` is the API; the command's printing is in
:mod:`sealloss.cli.demo`.

The figures say how their poses were picked (:mod:`sealloss.demo.selection`: the most improved
and the most worsened poses, never neighbouring frames), the training curves carry held-out
MPJPE beside the training loss, and :meth:`DemoResult.verdict` says in words whether SEAL and
the refinement were better or worse than plain on the run.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..defaults import RECOMMENDED, recommended
from ..io.atomic import write_npz, write_text
from .pairs import DATA_ROOT_ALONE, evenly_spaced, load_pairs

__all__ = ["DemoConfig", "DemoResult", "run_demo"]

log = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    """Options of :func:`run_demo` (the ``sealloss demo`` command); :meth:`resolved` raises
    ValueError for values it cannot run with."""

    data: str = "embedded"  # "embedded" (shipped CMU clips) or "h36m"
    data_root: str | None = None
    out: str = "sealloss-demo"
    epochs: int | None = None  # default: 8 (embedded) / 3 (h36m)
    width: int = 256
    batch_size: int = 256
    seeds: tuple[int, ...] = (0,)
    every: int = 10  # H36M: keep every n-th 10 Hz frame
    lossnet_width: int = 64
    lossnet_layers: int = 3
    lossnet_batch: int = 128
    max_steps_per_epoch: int | None = None
    max_test: int | None = None
    log_every: int = 5
    plot_samples: int = 4
    plots: bool = True
    #: refine the plain model's held-out predictions (REFINE["gt"]: h36m17-dsm, 30 steps)
    refine: bool = True
    refine_batch: int = 4096
    #: training pairs scored in eval mode after each epoch, beside the held-out set
    train_eval: int = 2048
    quick: bool = False
    #: "static": the recommended setting (shipped h36m17 loss-net, frozen; RECOMMENDED);
    #: "dynamic": a fresh loss-net (lossnet_width/layers/batch) trained alongside
    seal_mode: str = RECOMMENDED["mode"]

    def resolved(self) -> DemoConfig:
        """A copy with ``quick`` and per-dataset defaults applied."""
        c = DemoConfig(**asdict(self))
        c.seeds = tuple(dict.fromkeys(int(v) for v in c.seeds))  # unique, in order
        if not c.seeds:
            raise ValueError("give at least one seed")
        if c.quick:
            c.epochs = c.epochs or 1
            c.width, c.batch_size = min(c.width, 64), min(c.batch_size, 64)
            c.lossnet_width, c.lossnet_layers, c.lossnet_batch = 16, 1, 32
            c.max_steps_per_epoch = c.max_steps_per_epoch or 3
            c.max_test = c.max_test or 32
            c.log_every = 1
            c.plot_samples = min(c.plot_samples, 2)
            c.train_eval = min(c.train_eval, 64)
        if c.epochs is None:
            c.epochs = 8 if c.data == "embedded" else 3
        if c.epochs < 1 or c.width < 1 or c.batch_size < 1:
            raise ValueError("epochs, width and batch size must be at least 1")
        if c.seal_mode not in ("static", "dynamic"):
            raise ValueError(f"seal mode must be 'static' or 'dynamic', got {c.seal_mode!r}")
        if c.data != "h36m" and c.data_root is not None:
            raise ValueError(DATA_ROOT_ALONE)
        return c


@dataclass
class DemoResult:
    """What :func:`run_demo` measured and wrote.

    ``metrics`` and ``step_time_s`` are means over seeds (arms ``plain``, ``SEAL`` and, when
    refined, ``plain + refine``: the plain model's predictions after test-time refinement, which
    has no training step); ``per_seed`` holds each seed's metrics; ``histories`` are the first
    seed's training records and ``epoch_evals`` its per-epoch eval-mode MPJPE (``step``,
    ``test_mpjpe_mm``, ``train_mpjpe_mm``). ``refine_ms_per_1000`` is the refinement's mean
    cost and ``conditions`` the threads and batch sizes every cost was measured with.
    """

    metrics: dict[str, dict[str, float]]  # arm -> summary metrics (mm / %)
    step_time_s: dict[str, float]
    histories: dict[str, list[dict[str, float]]]
    per_seed: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    notes: list[str] = field(default_factory=list)  # e.g. figures skipped without matplotlib
    epoch_evals: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    refine_ms_per_1000: float = math.nan
    conditions: dict[str, Any] = field(default_factory=dict)
    quick: bool = False
    #: figure -> the poses it shows: row, frame, why picked, per-pose MPJPE change (mm)
    picked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def paired_difference(self, key: str, arm: str = "SEAL") -> tuple[float, float]:
        """Mean and sample std over seeds of ``arm - plain`` for metric ``key`` (std NaN for
        one seed)."""
        d = np.array([m[arm][key] - m["plain"][key] for m in self.per_seed.values()])
        return float(d.mean()), float(d.std(ddof=1)) if d.size > 1 else math.nan

    def verdict(self) -> list[str]:
        """One line per compared arm saying plainly whether it was better or worse than plain on
        MPJPE on this run (inside the seed spread counts as no difference when there are several
        seeds), with its LSE and BSLE change; a ``--quick`` run says it is a smoke test."""
        lines = []
        if self.quick:
            lines.append("SMOKE TEST (--quick: tiny nets, a few steps): these numbers say nothing "
                         "about what SEAL or the refinement do; run 'sealloss demo' without "
                         "--quick for the comparison.")
        n = len(self.per_seed)
        for arm, what in (("SEAL", "SEAL (the energy as a training loss)"),
                          ("plain + refine", "refinement (plain's predictions refined at test "
                                             "time)")):
            if arm not in self.metrics or "plain" not in self.metrics or not self.per_seed:
                continue
            m, sd = self.paired_difference("MPJPE", arm)
            lse, _ = self.paired_difference("LSE", arm)
            bsle, _ = self.paired_difference("BSLE", arm)
            if n > 1 and math.isfinite(sd) and abs(m) <= sd:
                word = f"no different from plain (inside the spread of {n} seeds)"
            elif m > 0:
                word = "WORSE than plain" + (" on this run" if n == 1 else "")
            elif m < 0:
                word = "better than plain" + (" on this run" if n == 1 else "")
            else:
                word = "equal to plain"
            spread = f" ± {sd:.1f}" if n > 1 else ""
            lines.append(f"{what}: MPJPE {m:+.1f}{spread} mm against plain: {word}; "
                         f"LSE {lse:+.1f} mm, BSLE {bsle:+.1f} mm.")
        if n == 1 and lines:
            lines.append("One seed: differences below the seed spread mean nothing; measure it "
                         "with --seeds 0 1 2.")
        return lines

    def table(self, keys: Sequence[str] = ("MPJPE", "P-MPJPE", "LSE", "BSLE", "LSE%",
                                           "BSLE%")) -> str:
        """Arms as rows (means over seeds), metrics (mm / %) and step time as columns, then
        the paired difference SEAL - plain (and its std over seeds when there are several)."""
        arms = list(self.metrics)
        cols = [*keys, "step ms"]
        w = max(8, *(len(k) + 1 for k in cols))
        nw = max(len("SEAL - plain"), *(len(a) for a in arms))
        nw = max(nw, len("refine - plain"))
        lines = [f"{'arm':<{nw}}" + "".join(f"{k:>{w}}" for k in cols)]
        lines.append("-" * len(lines[0]))

        def row(name: str, vals: Sequence[float]) -> str:
            return f"{name:<{nw}}" + "".join(
                f"{v:>{w}.1f}" if math.isfinite(v) else f"{'':>{w}}" for v in vals)

        for a in arms:
            lines.append(row(a, [self.metrics[a][k] for k in keys]
                             + [self.step_time_s.get(a, math.nan) * 1000]))
        for arm, label in (("SEAL", "SEAL - plain"), ("plain + refine", "refine - plain")):
            if "plain" not in self.metrics or arm not in self.metrics or not self.per_seed:
                continue
            diffs = [self.paired_difference(k, arm) for k in keys]
            t = (self.step_time_s.get(arm, math.nan) - self.step_time_s["plain"]) * 1000
            lines.append(row(label, [m for m, _ in diffs] + [t]))
            if len(self.per_seed) > 1:
                lines.append(row("  std (seeds)", [sd for _, sd in diffs] + [math.nan]))
        return "\n".join(lines)


def run_demo(
    config: DemoConfig,
    progress: Callable[[str, int, int, dict[str, float]], None] | None = None,
) -> DemoResult:
    """Train a SimpleBaseline without and with SEAL (same seed, data order and schedule), refine
    the plain model's held-out predictions by descent on the ``REFINE["gt"]`` energy, score all
    three on the held-out set and write figures, predictions, the SEAL arm's loss-net and a JSON
    summary to ``config.out``.

    ``progress(arm, step, total, record)`` is called as training goes.
    """
    import torch

    from ..defaults import refine_defaults
    from ..io.weights import build_lossnet, load_lossnet, save_lossnet
    from ..metrics import evaluate
    from ..nn import GraphormerLossNet
    from ..posthoc.refinement import refine
    from .experiment import (
        ArmConfig,
        EvalSet,
        TrainConfig,
        evaluate_model,
        predict,
        seeded_rng,
        steps_per_epoch,
        train_arm,
    )

    cfg = config.resolved()
    out = Path(cfg.out)
    train, test = load_pairs(cfg.data, cfg.data_root, cfg.every, cfg.every)
    x_tr, y_tr = torch.from_numpy(train["x2d"]), torch.from_numpy(train["y3d"])
    sel = np.arange(len(test["x2d"]))
    if cfg.max_test is not None and cfg.max_test < sel.size:
        sel = np.asarray(evenly_spaced(sel.size, cfg.max_test))
    x_te, y_te = torch.from_numpy(test["x2d"][sel]), torch.from_numpy(test["y3d"][sel])
    actions = [str(a) for a in test["action"][sel]] if "action" in test else None
    frames = np.asarray(test["frame"])[sel] if "frame" in test else np.arange(sel.size)
    seqs = np.asarray(test["seq_id"])[sel] if "seq_id" in test else np.zeros(sel.size, int)
    if x_tr.shape[0] < cfg.batch_size:
        raise ValueError(f"only {x_tr.shape[0]} training pairs, fewer than one batch "
                       f"({cfg.batch_size})")
    tcfg = TrainConfig(epochs=int(cfg.epochs), batch_size=cfg.batch_size, width=cfg.width,
                       max_steps_per_epoch=cfg.max_steps_per_epoch)
    sets = {"test": EvalSet(x_te, y_te, actions=actions)}
    tr_rows = evenly_spaced(x_tr.shape[0], min(cfg.train_eval, x_tr.shape[0]))
    x_tr_eval, y_tr_eval = x_tr[tr_rows], y_tr[tr_rows]
    per_epoch = steps_per_epoch(x_tr.shape[0], tcfg)

    def held_out(epoch: int, model: torch.nn.Module) -> dict[str, float]:
        """Eval-mode MPJPE (mm) on the held-out set and on a training subset after an epoch
        (no dropout; draws nothing from torch's RNG)."""
        mm = {}
        for key, (x, y) in (("test_mpjpe_mm", (x_te, y_te)),
                            ("train_mpjpe_mm", (x_tr_eval, y_tr_eval))):
            mm[key] = float((predict(model, x) - y).norm(dim=-1).mean()) * 1000
        return {"step": float((epoch + 1) * per_epoch - 1), **mm}

    refiner = refine_defaults("gt")
    refine_net = load_lossnet(refiner["weights"]) if cfg.refine else None
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    times: dict[str, list[float]] = {}
    refine_ms: list[float] = []
    first: dict[str, Any] = {}
    refined_first: Any = None
    for seed in cfg.seeds:
        if cfg.seal_mode == "static":  # the recommended setting, as the wrapper's defaults
            seal_kwargs = recommended()
        else:
            with seeded_rng(seed + 10_007):  # the loss-net's initialisation, seeded and local
                lossnet = GraphormerLossNet("h36m17", width=cfg.lossnet_width,
                                            layers=cfg.lossnet_layers)
            seal_kwargs = recommended(lossnet=lossnet, mode="dynamic",
                                      lossnet_batch=cfg.lossnet_batch)
        arms = [ArmConfig("plain"), ArmConfig("SEAL", seal=True, seal_kwargs=seal_kwargs)]
        per_seed[seed] = {}
        for arm in arms:
            cb = None
            if progress is not None:
                def cb(step, total, rec, _name=f"{arm.name} (seed {seed})"):
                    progress(_name, step, total, rec)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Converting a tensor with requires_")
                res = train_arm(arm, x_tr, y_tr, tcfg, seed=seed, progress=cb,
                                log_every=cfg.log_every, on_epoch_end=held_out)
            per_seed[seed][arm.name] = evaluate_model(res.model, sets)["test"]
            times.setdefault(arm.name, []).append(res.step_time_s)
            if seed == cfg.seeds[0]:
                first[arm.name] = res
            if arm.name == "plain" and refine_net is not None:
                rr = refine(refine_net, x_te, predict(res.model, x_te), inputs="gt",
                            batch_size=cfg.refine_batch)
                summary = evaluate(rr.poses, y_te, "h36m17", actions=actions).summary
                per_seed[seed]["plain + refine"] = {k: float(v) for k, v in summary.items()}
                refine_ms.append(rr.ms_per_1000)
                if seed == cfg.seeds[0]:
                    refined_first = rr.poses
    names = [a for a in ("plain", "SEAL", "plain + refine") if a in per_seed[cfg.seeds[0]]]
    metrics = {a: {k: float(np.mean([per_seed[s][a][k] for s in cfg.seeds]))
                   for k in per_seed[cfg.seeds[0]][a]} for a in names}
    steps = {a: float(np.mean(times[a])) for a in times}
    hist = {a: first[a].history for a in first}
    evals = {a: [dict(r) for r in first[a].epochs] for a in first}
    files: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    preds = {name: predict(r.model, x_te) for name, r in first.items()}
    if refined_first is not None:
        preds["plain + refine"] = refined_first
    for name, p in preds.items():
        stem = "predictions_" + name.lower().replace(" + ", "_")
        f = out / f"{stem}.npz"
        # atomic: a killed demo leaves the old file or the new one
        write_npz(f, x2d=x_te.numpy(), pred=p.numpy(), gt=y_te.numpy(),
                  **({"actions": np.asarray(actions)} if actions else {}))
        files[stem] = str(f)
    state = first["SEAL"].seal_state
    if state is not None:
        net = build_lossnet(state["lossnet_config"])
        net.load_state_dict(state["lossnet"])
        files["lossnet"] = str(save_lossnet(net, out / "lossnet.safetensors"))
    files["results"] = str(out / "results.json")
    conditions = {"threads": int(torch.get_num_threads()), "train_batch": cfg.batch_size,
                  "refine_batch": cfg.refine_batch, "refine_poses": int(x_te.shape[0]),
                  "refine_steps": int(refiner["steps"]), "refine_weights": refiner["weights"]}
    result = DemoResult(metrics, steps, hist, per_seed, files, asdict(cfg),
                        int(x_tr.shape[0]), int(x_te.shape[0]), epoch_evals=evals,
                        refine_ms_per_1000=float(np.mean(refine_ms)) if refine_ms else math.nan,
                        conditions=conditions, quick=cfg.quick)

    def write_summary() -> None:
        summary = {k: v for k, v in asdict(result).items() if k != "histories"}
        summary["paired_difference"] = {
            arm: {k: dict(zip(("mean", "std"), result.paired_difference(k, arm)))
                  for k in metrics[arm]}
            for arm in metrics if arm != "plain"
        }
        summary["verdict"] = result.verdict()
        write_text(out / "results.json", json.dumps(summary, indent=2))

    picks, gap = _figure_picks(y_te.numpy(), {k: v.numpy() for k, v in preds.items()},
                               cfg.plot_samples, frames, seqs)
    result.picked = {name: [{"row": p.row, "frame": int(frames[p.row]), "why": p.why,
                             "delta_mm": p.delta_mm} for p in ps] for name, ps in picks.items()}
    result.conditions["min_frame_gap"] = gap
    write_summary()  # the numbers are on disk before any figure is drawn
    if cfg.plots:
        try:
            _demo_figures(out, files, x_te, y_te, preds, hist, evals, picks, gap, frames)
        except ImportError as e:  # matplotlib is optional (pip install 'sealloss[plots]')
            result.notes.append(f"figures skipped: {e}")
            log.warning("sealloss demo: figures skipped: %s", e)
        write_summary()
    return result


def _figure_picks(g: np.ndarray, preds: dict[str, np.ndarray], samples: int,
                  frames: np.ndarray, seqs: np.ndarray) -> tuple[dict[str, list[Any]], int]:
    """Which held-out poses each figure shows (:func:`~sealloss.demo.selection.pick_extremes`):
    ``skeletons``, the poses the refinement (SEAL without one) improved most and worsened most
    against plain; ``bones``, the pose SEAL improved most and the one it worsened most. Returns
    the picks and the minimum frame gap between two picks of one sequence."""
    from .selection import default_gap, per_pose_mpjpe_mm, pick_extremes

    samples = max(2, samples)
    gap = default_gap(frames, samples)
    base = per_pose_mpjpe_mm(preds["plain"], g)
    by = "plain + refine" if "plain + refine" in preds else "SEAL"
    picks = {"skeletons": pick_extremes(per_pose_mpjpe_mm(preds[by], g) - base,
                                        samples - samples // 2, samples // 2, frames, seqs, gap)}
    if "SEAL" in preds:
        picks["bones"] = pick_extremes(per_pose_mpjpe_mm(preds["SEAL"], g) - base, 1, 1,
                                       frames, seqs, gap)
    return picks, gap


def _demo_figures(out: Path, files: dict[str, str], x_te: Any, y_te: Any,
                  preds: dict[str, Any], hist: dict[str, list[dict[str, float]]],
                  evals: dict[str, list[dict[str, float]]], picks: dict[str, list[Any]],
                  gap: int, frames: np.ndarray) -> None:
    """The demo's PNGs: skeletons and bones of the poses in ``picks`` (:func:`_figure_picks`),
    each titled with how its poses were picked, and training curves with held-out MPJPE.
    Raises ImportError without matplotlib."""
    from .curve_plots import plot_training_curves
    from .selection import describe
    from .skeleton_plots import plot_bone_changes, plot_pose_comparison

    change = "refinement" if "plain + refine" in preds else "SEAL"
    if picks.get("skeletons"):
        ps = picks["skeletons"]
        idx = [p.row for p in ps]
        titles = [f"#{p.row}, frame {int(frames[p.row])}: {p.why}, {p.delta_mm:+.0f} mm"
                  for p in ps]
        files["skeletons"] = str(plot_pose_comparison(
            out / "demo_skeletons.png", y_te[idx], {k: v[idx] for k, v in preds.items()},
            "h36m17", x2d=x_te[idx], titles=titles, suptitle=describe(ps, change, "plain", gap)))
    target = RECOMMENDED["target_force_ratio"]
    files["curves"] = str(plot_training_curves(out / "demo_curves.png", hist,
                                               targets={"seal_force_ratio": target},
                                               evals=evals))
    if picks.get("bones"):
        ps = picks["bones"]
        files["bones"] = str(plot_bone_changes(
            out / "demo_bones.png", y_te, preds["plain"], preds["SEAL"], "h36m17",
            rows=[p.row for p in ps],
            row_titles=[f"#{p.row}: SEAL {p.why}, {p.delta_mm:+.0f} mm" for p in ps],
            suptitle=describe(ps, "SEAL", "plain", gap)))

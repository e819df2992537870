"""What ``sealloss demo`` runs: a SimpleBaseline trained without and with SEAL (same seed, data
order and schedule), scored on held-out poses, with figures, predictions, the SEAL arm's loss-net
and a JSON summary written to a folder. :func:`run_demo` is the API; the command's printing is in
:mod:`sealloss.commands.demo`.
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

from ..commands._common import DATA_ROOT_ALONE, CLIError, evenly_spaced, load_pairs
from ..defaults import RECOMMENDED, recommended

__all__ = ["DemoConfig", "DemoResult", "run_demo"]

log = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    """Options of :func:`run_demo` (the ``sealloss demo`` command)."""

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
    quick: bool = False
    #: "static": the recommended setting (shipped h36m17 loss-net, frozen; RECOMMENDED);
    #: "dynamic": a fresh loss-net (lossnet_width/layers/batch) trained alongside
    seal_mode: str = RECOMMENDED["mode"]

    def resolved(self) -> DemoConfig:
        """A copy with ``quick`` and per-dataset defaults applied."""
        c = DemoConfig(**asdict(self))
        c.seeds = tuple(dict.fromkeys(int(v) for v in c.seeds))  # unique, in order
        if not c.seeds:
            raise CLIError("give at least one seed")
        if c.quick:
            c.epochs = c.epochs or 1
            c.width, c.batch_size = min(c.width, 64), min(c.batch_size, 64)
            c.lossnet_width, c.lossnet_layers, c.lossnet_batch = 16, 1, 32
            c.max_steps_per_epoch = c.max_steps_per_epoch or 3
            c.max_test = c.max_test or 32
            c.log_every = 1
            c.plot_samples = min(c.plot_samples, 2)
        if c.epochs is None:
            c.epochs = 8 if c.data == "embedded" else 3
        if c.epochs < 1 or c.width < 1 or c.batch_size < 1:
            raise CLIError("epochs, width and batch size must be at least 1")
        if c.seal_mode not in ("static", "dynamic"):
            raise CLIError(f"seal mode must be 'static' or 'dynamic', got {c.seal_mode!r}")
        if c.data != "h36m" and c.data_root is not None:
            raise CLIError(DATA_ROOT_ALONE)
        return c


@dataclass
class DemoResult:
    """What :func:`run_demo` measured and wrote.

    ``metrics`` and ``step_time_s`` are means over seeds; ``per_seed`` holds each seed's
    metrics; ``histories`` are the first seed's training records.
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

    def paired_difference(self, key: str) -> tuple[float, float]:
        """Mean and sample std over seeds of ``SEAL - plain`` for metric ``key`` (std NaN for
        one seed)."""
        d = np.array([m["SEAL"][key] - m["plain"][key] for m in self.per_seed.values()])
        return float(d.mean()), float(d.std(ddof=1)) if d.size > 1 else math.nan

    def table(self, keys: Sequence[str] = ("MPJPE", "P-MPJPE", "LSE", "BSLE", "LSE%",
                                           "BSLE%")) -> str:
        """Arms as rows (means over seeds), metrics (mm / %) and step time as columns, then
        the paired difference SEAL - plain (and its std over seeds when there are several)."""
        arms = list(self.metrics)
        cols = [*keys, "step ms"]
        w = max(8, *(len(k) + 1 for k in cols))
        nw = max(len("SEAL - plain"), *(len(a) for a in arms))
        lines = [f"{'arm':<{nw}}" + "".join(f"{k:>{w}}" for k in cols)]
        lines.append("-" * len(lines[0]))

        def row(name: str, vals: Sequence[float]) -> str:
            return f"{name:<{nw}}" + "".join(
                f"{v:>{w}.1f}" if math.isfinite(v) else f"{'':>{w}}" for v in vals)

        for a in arms:
            lines.append(row(a, [self.metrics[a][k] for k in keys]
                             + [self.step_time_s[a] * 1000]))
        if "plain" in self.metrics and "SEAL" in self.metrics and self.per_seed:
            diffs = [self.paired_difference(k) for k in keys]
            t = (self.step_time_s["SEAL"] - self.step_time_s["plain"]) * 1000
            lines.append(row("SEAL - plain", [m for m, _ in diffs] + [t]))
            if len(self.per_seed) > 1:
                lines.append(row("  std (seeds)", [sd for _, sd in diffs] + [math.nan]))
        return "\n".join(lines)


def run_demo(
    config: DemoConfig,
    progress: Callable[[str, int, int, dict[str, float]], None] | None = None,
) -> DemoResult:
    """Train a SimpleBaseline without and with SEAL (same seed, data order and schedule), score
    both on the held-out set and write figures, predictions, the SEAL arm's loss-net and a
    JSON summary to ``config.out``.

    ``progress(arm, step, total, record)`` is called as training goes.
    """
    import torch

    from ..hub import build_lossnet, save_lossnet
    from ..nn import GraphormerLossNet
    from .experiment import (
        ArmConfig,
        EvalSet,
        TrainConfig,
        evaluate_model,
        predict,
        seeded_rng,
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
    if x_tr.shape[0] < cfg.batch_size:
        raise CLIError(f"only {x_tr.shape[0]} training pairs, fewer than one batch "
                       f"({cfg.batch_size})")
    tcfg = TrainConfig(epochs=int(cfg.epochs), batch_size=cfg.batch_size, width=cfg.width,
                       max_steps_per_epoch=cfg.max_steps_per_epoch)
    sets = {"test": EvalSet(x_te, y_te, actions=actions)}
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    times: dict[str, list[float]] = {}
    first: dict[str, Any] = {}
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
                                log_every=cfg.log_every)
            per_seed[seed][arm.name] = evaluate_model(res.model, sets)["test"]
            times.setdefault(arm.name, []).append(res.step_time_s)
            if seed == cfg.seeds[0]:
                first[arm.name] = res
    names = list(first)
    metrics = {a: {k: float(np.mean([per_seed[s][a][k] for s in cfg.seeds]))
                   for k in per_seed[cfg.seeds[0]][a]} for a in names}
    steps = {a: float(np.mean(times[a])) for a in names}
    hist = {a: first[a].history for a in names}
    files: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    preds = {name: predict(r.model, x_te) for name, r in first.items()}
    for name, p in preds.items():
        f = out / f"predictions_{name.lower()}.npz"
        np.savez(f, x2d=x_te.numpy(), pred=p.numpy(), gt=y_te.numpy(),
                 **({"actions": np.asarray(actions)} if actions else {}))
        files[f"predictions_{name.lower()}"] = str(f)
    state = first["SEAL"].seal_state
    if state is not None:
        net = build_lossnet(state["lossnet_config"])
        net.load_state_dict(state["lossnet"])
        files["lossnet"] = str(save_lossnet(net, out / "lossnet.safetensors"))
    files["results"] = str(out / "results.json")
    result = DemoResult(metrics, steps, hist, per_seed, files, asdict(cfg),
                        int(x_tr.shape[0]), int(x_te.shape[0]))

    def write_summary() -> None:
        summary = {k: v for k, v in asdict(result).items() if k != "histories"}
        summary["paired_difference"] = {
            k: dict(zip(("mean", "std"), result.paired_difference(k))) for k in metrics["SEAL"]
        }
        (out / "results.json").write_text(json.dumps(summary, indent=2))

    write_summary()  # the numbers are on disk before any figure is drawn
    if cfg.plots:
        try:
            _demo_figures(out, files, x_te, y_te, preds, hist, cfg.plot_samples)
        except ImportError as e:  # matplotlib is optional (pip install 'sealloss[plots]')
            result.notes.append(f"figures skipped: {e}")
            log.warning("sealloss demo: figures skipped: %s", e)
        write_summary()
    return result


def _demo_figures(out: Path, files: dict[str, str], x_te: Any, y_te: Any,
                  preds: dict[str, Any], hist: dict[str, list[dict[str, float]]],
                  samples: int) -> None:
    """The demo's PNGs: evenly spaced test poses, the poses whose bones SEAL changed most (bone
    lengths written) and the training curves. Raises ImportError without matplotlib."""
    from .plots import plot_bone_changes, plot_pose_comparison, plot_training_curves

    idx = evenly_spaced(x_te.shape[0], samples)
    files["skeletons"] = str(plot_pose_comparison(
        out / "demo_skeletons.png", y_te[idx], {k: v[idx] for k, v in preds.items()},
        "h36m17", x2d=x_te[idx], titles=[f"test pose #{i}" for i in idx]))
    target = RECOMMENDED["target_force_ratio"]
    files["curves"] = str(plot_training_curves(out / "demo_curves.png", hist,
                                               targets={"seal_force_ratio": target}))
    if "plain" in preds and "SEAL" in preds:
        files["bones"] = str(plot_bone_changes(
            out / "demo_bones.png", y_te, preds["plain"], preds["SEAL"], "h36m17",
            samples=max(1, min(samples, 3))))

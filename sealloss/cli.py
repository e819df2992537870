"""The ``sealloss`` command line: ``demo``, ``pretrain``, ``evaluate``, ``score`` and ``info``.

Every sub-command is a thin layer over the public API (:mod:`sealloss.experiment`,
:mod:`sealloss.metrics`, :mod:`sealloss.scoring`, :mod:`sealloss.hub`, :mod:`sealloss.plots`).
Bad input (missing or corrupt file, wrong shapes, unknown skeleton, missing data folder) ends
with exit status 2 and one line ``sealloss <command>: error: <reason>`` on stderr.

Run ``sealloss <command> --help`` for the options of each command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
import time
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .defaults import RECOMMENDED, SHIPPED_WEIGHTS_CARD, recommended
from .errors import DataNotFoundError, SealLossError

__all__ = ["main", "build_parser", "DemoConfig", "DemoResult", "run_demo", "CLIError"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

_THREADS_HELP = (
    "torch CPU threads. 1 is safest: the loss-net runs many small ops, and when threads compete "
    "for busy cores each op waits for the others (measured: a SEAL step took 4.4 s with 2 "
    "threads on 2 cores with one core busy, 0.27 s with 1 thread); try more on an idle machine"
)


class CLIError(SealLossError):
    """Bad command-line input (missing key in a file, unreadable file, bad option value)."""


# --------------------------------------------------------------------------- file input
def _load_file(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of a ``.npz`` (by key) or ``.npy`` (key ``""``) file."""
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"no such file: {str(p)!r}")
    try:
        if p.suffix == ".npy":
            return {"": np.load(p, allow_pickle=False)}
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise CLIError(f"cannot read {str(p)!r} as a numpy file: {e}") from None
    raise CLIError(f"{str(p)!r}: expected a .npz or .npy file, got suffix {p.suffix!r}")


def _pick(arrays: dict[str, np.ndarray], key: str | None, path: str, what: str) -> np.ndarray:
    """The array ``key`` of a loaded file (the only array of a ``.npy``)."""
    if "" in arrays:
        return arrays[""]
    if key is None or key not in arrays:
        raise CLIError(
            f"{path!r} has no array {key!r} ({what}); it holds {sorted(arrays) or 'nothing'}"
        )
    return arrays[key]


def _float_tensor(a: np.ndarray, what: str) -> Any:
    import torch

    if not np.issubdtype(a.dtype, np.number):
        raise CLIError(f"{what} must be numeric, got dtype {a.dtype}")
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Any:
    """Run with ``n`` torch CPU threads (``None``: unchanged), then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise CLIError(f"--threads must be at least 1, got {n}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- progress
def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


# --------------------------------------------------------------------------- demo
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
            raise CLIError(_DATA_ROOT_ALONE)
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


def _load_pairs(
    which: str, data_root: str | None, every_train: int, every_test: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Train and test pairs dicts: the shipped CMU clips, or Human3.6M (S1-S8 / S9, S11).

    ``--data-root`` without ``--data h36m`` is an error (it would be ignored), and the data
    loaders' messages are reworded in the command line's terms (``--data-root``, not ``root=``).
    """
    from . import data

    if which == "embedded":
        if data_root is not None:
            raise CLIError(_DATA_ROOT_ALONE)
        return data.load_embedded("train"), data.load_embedded("test")
    if which == "h36m":
        try:
            if data_root is None:
                data.resolve_data_root(None)  # raises DataNotFoundError naming $SEALLOSS_DATA
            ds = data.load_h36m(data_root)
        except DataNotFoundError as e:
            raise DataNotFoundError(_cli_wording(str(e))) from None
        return (
            data.h36m_pairs(data.TRAIN_SUBJECTS, every=every_train, dataset=ds),
            data.h36m_pairs(data.TEST_SUBJECTS, every=every_test, dataset=ds),
        )
    raise CLIError(f"unknown data {which!r}; use 'embedded' or 'h36m'")


_DATA_ROOT_ALONE = ("--data-root is only read with --data h36m (the default data, the shipped "
                    "CMU clips, needs no folder); add --data h36m or drop --data-root")


def _cli_wording(msg: str) -> str:
    """A data loader's message in the command line's terms: ``--data-root``, not ``root=``."""
    return (msg.replace("(passed as root=)", "(given as --data-root)")
            .replace("pass root=<folder>", "pass --data-root <folder>")
            .replace("pass root=", "pass --data-root"))


def _evenly_spaced(n: int, k: int) -> list[int]:
    k = max(0, min(k, n))
    return [int(round(v)) for v in np.linspace(0, n - 1, k + 2)[1:-1]] if k else []


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

    from .experiment import ArmConfig, EvalSet, TrainConfig, evaluate_model, predict, train_arm
    from .hub import build_lossnet, save_lossnet
    from .nn import GraphormerLossNet

    cfg = config.resolved()
    out = Path(cfg.out)
    train, test = _load_pairs(cfg.data, cfg.data_root, cfg.every, cfg.every)
    x_tr, y_tr = torch.from_numpy(train["x2d"]), torch.from_numpy(train["y3d"])
    sel = np.arange(len(test["x2d"]))
    if cfg.max_test is not None and cfg.max_test < sel.size:
        sel = np.asarray(_evenly_spaced(sel.size, cfg.max_test))
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
            with torch.random.fork_rng():  # the loss-net's initialisation, seeded and local
                torch.manual_seed(seed + 10_007)
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

    idx = _evenly_spaced(x_te.shape[0], samples)
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


def _cmd_demo(args: argparse.Namespace) -> int:
    with _torch_threads(args.threads):
        return _demo(args)


def _demo(args: argparse.Namespace) -> int:
    cfg = DemoConfig(data=args.data, data_root=args.data_root, out=args.out, epochs=args.epochs,
                     width=args.width, seeds=tuple(args.seeds), every=args.every,
                     quick=args.quick, plots=not args.no_plots, seal_mode=args.seal_mode)
    bars: dict[str, Any] = {}

    def progress(arm: str, step: int, total: int, rec: dict[str, float]) -> None:
        bar = bars.get(arm)
        if bar is None:
            bar = bars[arm] = _bar(total, f"train {arm}", not args.no_progress)
        bar.update(step + 1 - bar.n)
        bar.set_postfix(loss_mm=f"{rec['loss_sup_mm']:.1f}")
        if step + 1 >= total:
            bar.close()

    r = cfg.resolved()
    print(f"sealloss demo: SimpleBaseline (width {r.width}) without and with SEAL on "
          f"{'the embedded CMU clips' if r.data == 'embedded' else 'Human3.6M'}, "
          f"{r.epochs} epoch(s), seed(s) {', '.join(map(str, r.seeds))}")
    if r.seal_mode == "static":
        print("SEAL arm: the recommended setting: the shipped h36m17 loss-net, frozen "
              f"(static), lam auto at force ratio {RECOMMENDED['target_force_ratio']}, scoring "
              f"{RECOMMENDED['score_fraction']:.0%} of each batch")
    else:
        print(f"SEAL arm: a fresh loss-net (width {r.lossnet_width}, {r.lossnet_layers} "
              "layer(s)) trained alongside (dynamic)")
    t0 = time.perf_counter()
    res = run_demo(cfg, progress)
    for bar in bars.values():
        bar.close()
    print(f"trained on {res.n_train} pairs, tested on {res.n_test} held-out pairs "
          f"in {time.perf_counter() - t0:.0f} s (mm / %; lower is better)\n")
    print(res.table())
    if len(r.seeds) == 1:
        print("\nOne seed: a difference smaller than the spread between seeds says nothing; "
              "measure that spread with --seeds 0 1 2.")
    else:
        print(f"\nSEAL - plain: mean of the paired differences over {len(r.seeds)} seeds "
              "(same seed, data order and schedule per pair), then their std.")
    for k, v in res.files.items():
        print(f"  {k:<20} {v}")
    for note in res.notes:
        print(f"note: {note}")
    return EXIT_OK


# --------------------------------------------------------------------------- pretrain
def _cmd_pretrain(args: argparse.Namespace) -> int:
    with _torch_threads(args.threads):
        return _pretrain(args)


def _pretrain(args: argparse.Namespace) -> int:
    import torch

    from .hub import save_lossnet
    from .pretrain import PretrainConfig, format_ranking_table, pretrain_lossnet, ranking_report

    if args.quick:
        args.steps, args.batch_size, args.negatives = min(args.steps, 5), 16, 2
        args.width, args.layers, args.heads, args.max_test = 16, 1, 2, min(args.max_test, 64)
        args.sizes_mm = args.sizes_mm[:1]
    for name in ("steps", "batch_size", "negatives", "width", "layers", "heads", "max_test"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1")
    out = Path(args.out)
    if out.is_dir():
        raise CLIError(f"--out {str(out)!r} is a folder; give a file name such as "
                       "lossnet.safetensors")
    # refuse an unwritable --out (and --report) now, not after the whole training run
    import os
    import tempfile

    for flag, target in (("--out", out), ("--report", args.report)):
        if target is None:
            continue
        target = Path(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=target.parent):
                pass
            if target.exists() and not os.access(target, os.W_OK):
                raise PermissionError(f"{str(target)!r} is read-only")
        except OSError as e:
            raise CLIError(f"{flag} {str(target)!r} cannot be written ({e}); nothing was "
                           "trained") from None
    train, test = _load_pairs(args.data, args.data_root, args.every, args.every * 5)
    model = {"width": args.width, "layers": args.layers}
    if args.kind == "graphormer":
        model["heads"] = args.heads
    else:
        model = {"width": args.width, "blocks": args.layers}
    cfg = PretrainConfig(kind=args.kind, model=model, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr, objective=args.objective,
                         num_negatives=args.negatives, seed=args.seed)
    bar = _bar(cfg.steps, "pretrain", not args.no_progress)

    def progress(step: int, total: int, rec: dict[str, float]) -> None:
        bar.update(step + 1 - bar.n)
        bar.set_postfix(loss=f"{rec['loss']:.3f}", rank_acc=f"{rec['train_rank_acc']:.2f}")

    print(f"sealloss pretrain: {cfg.kind} loss-net ({model}) on "
          f"{'the embedded CMU clips' if args.data == 'embedded' else 'Human3.6M'}, "
          f"{cfg.steps} steps of {cfg.batch_size} poses x {cfg.num_negatives} negatives")
    t0 = time.perf_counter()
    x, y = torch.from_numpy(train["x2d"]), torch.from_numpy(train["y3d"])
    with bar:
        net, history = pretrain_lossnet(x, y, cfg, progress=progress)
    train_s = time.perf_counter() - t0
    sel = np.asarray(_evenly_spaced(len(test["x2d"]), args.max_test)) if args.max_test < len(
        test["x2d"]) else np.arange(len(test["x2d"]))
    report = ranking_report(net, torch.from_numpy(test["x2d"][sel]),
                            torch.from_numpy(test["y3d"][sel]), sizes_mm=tuple(args.sizes_mm))
    save_lossnet(net, out)
    print(f"trained in {train_s:.0f} s on {x.shape[0]} pairs; held-out ranking accuracy "
          f"P(E(ground truth) < E(negative)) on {sel.size} poses, %:\n")
    print(format_ranking_table(report))
    print(f"\nwrote {out} ({net.num_parameters:,} parameters); inspect it with "
          f"'sealloss info {out}'")
    if args.report:
        rep = {"config": cfg.as_dict(), "train_pairs": int(x.shape[0]),
               "test_pairs": int(sel.size), "train_seconds": train_s,
               "parameters": net.num_parameters, "history": history, "ranking": report}
        Path(args.report).write_text(json.dumps(rep, indent=2))
        print(f"wrote {args.report}")
    return EXIT_OK


# --------------------------------------------------------------------------- units check
#: plausible median distance of a person's joints from the root joint, metres (an adult's is
#: about 0.3-0.5 m; the bounds leave a factor of about 6 either way, while a wrong unit is a
#: factor of 10, 100 or 1000)
_PLAUSIBLE_EXTENT_M = (0.05, 2.5)
_UNIT_WORDS = {"m": "metres", "cm": "centimetres", "mm": "millimetres"}


def _check_scale(poses: Any, units: str, root: int, what: str, force: bool = False) -> None:
    """Refuse poses whose size, read in ``units``, is not a person's (``--units`` is wrong).

    The size is the median distance of the joints from the root joint, after converting to
    metres; outside :data:`_PLAUSIBLE_EXTENT_M` the error names ``--units`` and the units
    that would make the poses person-sized. All-zero poses and ``force`` skip the check.
    """
    from .canonical import UNIT_SCALE

    if force or poses.numel() == 0:
        return
    rel = poses - poses[..., root : root + 1, :]
    med = float(rel.norm(dim=-1).median()) * UNIT_SCALE[units]
    lo, hi = _PLAUSIBLE_EXTENT_M
    if med == 0.0 or not math.isfinite(med) or lo <= med <= hi:
        return
    fits = [u for u, s in UNIT_SCALE.items() if lo <= med / UNIT_SCALE[units] * s <= hi]
    hint = (f"they look like {_UNIT_WORDS[fits[0]]}: pass --units {fits[0]}" if fits
            else "check the poses' scale")
    raise CLIError(
        f"{what}: read as {_UNIT_WORDS[units]} (--units {units}), the joints' median distance "
        f"from the root is {med * 1000:.3g} mm, not a person's size ({lo * 1000:.0f}-"
        f"{hi * 1000:.0f} mm); {hint} (or --no-units-check to go on anyway)")


# --------------------------------------------------------------------------- evaluate
def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .metrics import evaluate
    from .skeleton import get_skeleton

    sk = get_skeleton(args.skeleton)
    arrays = _load_file(args.predictions)
    pred = _pick(arrays, args.pred_key, args.predictions, "predictions")
    if args.gt is not None:
        gt = _pick(_load_file(args.gt), args.gt_key, args.gt, "ground truth")
    elif "" in arrays:
        raise CLIError("a .npy predictions file needs --gt FILE with the ground truth")
    else:
        gt = _pick(arrays, args.gt_key, args.predictions, "ground truth")
    actions = None
    if args.actions_key and "" not in arrays and args.actions_key in arrays:
        actions = arrays[args.actions_key]
    p, g = _float_tensor(pred, "predictions"), _float_tensor(gt, "ground truth")
    if g.dim() >= 2 and g.shape[-2:] == (sk.num_joints, 3):
        _check_scale(g, args.units, sk.root, "ground truth", force=args.no_units_check)
    res = evaluate(p, g, sk, actions=actions, units=args.units)
    print(f"{res.count} poses, skeleton {sk.name} ({sk.num_joints} joints); mm and %")
    print(res.table(per_action=not args.no_actions, per_joint=args.per_joint))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(res), indent=2))
        print(f"wrote {args.json}")
    return EXIT_OK


# --------------------------------------------------------------------------- score
def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2:
        return math.nan
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(np.float64)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(np.float64)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / den) if den > 0 else math.nan


def _cmd_score(args: argparse.Namespace) -> int:
    import torch

    from .canonical import UNIT_SCALE, pixels_to_screen
    from .hub import load_lossnet
    from .scoring import energy_threshold, joint_baseline, pose_energies, score_poses

    net = load_lossnet(args.weights)
    arrays = _load_file(args.poses)
    ykey = args.y3d_key or ("y3d" if "y3d" in arrays else "pred")
    y3d = _float_tensor(_pick(arrays, ykey, args.poses, "3D poses"), "3D poses")
    if args.x2d is not None:
        x2d = _pick(_load_file(args.x2d), args.x2d_key, args.x2d, "2D inputs")
    elif "" in arrays:
        raise CLIError("a .npy poses file needs --x2d FILE with the 2D inputs")
    else:
        x2d = _pick(arrays, args.x2d_key, args.poses, "2D inputs")
    x2d = _float_tensor(x2d, "2D inputs")
    if args.image_size is not None:
        x2d = pixels_to_screen(x2d, *args.image_size)
    ref = None
    if args.reference_key and "" not in arrays and args.reference_key in arrays:
        ref = _float_tensor(arrays[args.reference_key], "reference poses")
    j = net.skeleton.num_joints
    if y3d.dim() >= 2 and y3d.shape[-2:] == (j, 3):
        for poses, what in ((ref, "reference poses"), (y3d, "3D poses")):
            if poses is not None:
                _check_scale(poses, args.units, net.skeleton.root, what,
                             force=args.no_units_check)
    n = int(np.prod(y3d.shape[:-2])) if y3d.dim() >= 2 else 0
    baseline = None
    if ref is not None and args.blame == "energy":
        baseline = joint_baseline(net, x2d, ref, units=args.units)
    bar = _bar(n, "score", not args.no_progress)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    with bar:
        s = score_poses(net, x2d, y3d, blame=args.blame, baseline=baseline, units=args.units,
                        batch_size=args.batch_size, progress=progress)
    e = s.energy.numpy()
    print(f"{len(s)} poses scored with {args.weights} ({net.kind}, skeleton "
          f"{net.skeleton.name}); blame: {s.method}; higher energy = less plausible")
    if len(s):
        print(f"energy: mean {e.mean():.4f}, median {np.median(e):.4f}, min {e.min():.4f}, "
              f"max {e.max():.4f}")
    extra: dict[str, np.ndarray] = {}
    if args.flag == "reference" and ref is None:
        raise CLIError(f"--flag reference needs reference poses (array "
                       f"{args.reference_key!r}, see --reference-key) in {args.poses!r}")
    if len(s) and args.flag == "batch":
        thr = energy_threshold(s.energy, args.quantile)
        flags = s.flag(thr).numpy()
        print(f"flagged: {int(flags.sum())} of {len(s)} poses lie above the {args.quantile:.0%} "
              f"quantile of these poses' own energies ({thr:.4f}): the least plausible "
              f"{1 - args.quantile:.0%} of this set (--flag batch)")
        extra = {"flagged": flags, "threshold": np.asarray(thr)}
    if ref is not None:
        ref_e = pose_energies(net, x2d, ref, units=args.units, batch_size=args.batch_size)
        rthr = energy_threshold(ref_e, args.quantile)
        rflags = s.flag(rthr).numpy()
        scale = UNIT_SCALE[args.units] * 1000.0
        yv, rv = y3d.reshape(-1, j, 3), ref.reshape(-1, j, 3)
        r = net.skeleton.root
        err = ((yv - yv[:, r : r + 1]) - (rv - rv[:, r : r + 1])).norm(dim=-1).mean(-1)
        err_mm = err.numpy() * scale
        rho = _spearman(e, err_mm)
        print(f"reference {args.reference_key!r}: its {args.quantile:.0%} energy quantile is "
              f"{rthr:.4f}; {int(rflags.sum())} of {len(s)} poses lie above it"
              + (" (--flag reference)" if args.flag == "reference" else
                 " (the loss-net ranks most predictions above any ground truth, so this count "
                 "is not used as the flag)"))
        print(f"rank correlation of energy with per-pose MPJPE against it: {rho:.3f}")
        extra.update({"mpjpe_mm": err_mm, "reference_energy": ref_e.numpy(),
                      "reference_threshold": np.asarray(rthr), "reference_flagged": rflags})
        if args.flag == "reference":
            extra.update({"flagged": rflags, "threshold": np.asarray(rthr)})
    print(s.table(args.top))
    if args.out:
        outp = Path(args.out)
        outp.parent.mkdir(parents=True, exist_ok=True)
        if outp.suffix == ".csv":
            worst = s.worst_joint().numpy()
            lines = ["index,energy,worst_joint,blame"] + [
                f"{i},{e[i]:.6g},{s.joint_names[worst[i]]},{float(s.blame[i, worst[i]]):.6g}"
                for i in range(len(s))
            ]
            outp.write_text("\n".join(lines) + "\n")
        else:
            np.savez(outp, **s.to_numpy(), **extra)
        print(f"wrote {outp}")
    if args.plot and len(s):
        top = s.ranking()[: min(4, args.top or 4)]
        yv = y3d.reshape(-1, j, 3)[top] * UNIT_SCALE[args.units]
        names = [f"#{int(i)}: E = {float(s.energy[i]):.3f}" for i in top]
        try:
            from .plots import plot_blame

            plot_blame(args.plot, yv, torch.clamp(s.blame[top], min=0), net.skeleton, names)
            print(f"wrote {args.plot}")
        except ImportError as err:  # matplotlib is optional: the scores above stand
            print(f"note: --plot skipped: {err}")
    return EXIT_OK


# --------------------------------------------------------------------------- info
def _is_shipped(weights: str, sha256: str) -> bool:
    """Whether ``weights`` is the shipped ``h36m17`` file (by name, or by its checksum)."""
    from .hub import PRETRAINED, pretrained_path, read_metadata

    if weights in PRETRAINED:
        return True
    try:
        return sha256 == read_metadata(pretrained_path("h36m17"))["sha256"]
    except (SealLossError, OSError, KeyError):
        return False


def _cmd_info(args: argparse.Namespace) -> int:
    from .hub import list_pretrained, load_lossnet, read_metadata
    from .skeleton import get_skeleton, list_skeletons

    if args.weights is None:
        print("skeleton presets:")
        for name in list_skeletons():
            print(f"  {name:<14} {get_skeleton(name).num_joints:>4} joints")
        print("registered loss-net weights:")
        for name, ok in list_pretrained().items():
            print(f"  {name:<20} {'installed' if ok else 'not installed'}")
        print("  (trained on Human3.6M: research use only; 'sealloss info h36m17' tells more)")
        print("recommended SEAL setting (the defaults of AlternatingWrapper, SealCallback, the "
              "--seal* flags and the demo):")
        print("  " + ", ".join(f"{k}={v!r}" for k, v in RECOMMENDED.items()))
        return EXIT_OK
    meta = read_metadata(args.weights)
    net = load_lossnet(args.weights)
    cfg = {k: v for k, v in meta["config"].items() if k not in ("skeleton", "spec", "kind",
                                                                 "extra_skeletons")}
    sk = meta["skeleton"]
    info = {
        "file": str(args.weights),
        "kind": meta["kind"],
        "format": f"{meta['format']} v{meta['format_version']}",
        "sealloss_version": meta.get("sealloss_version", "?"),
        "skeleton": f"{sk.get('name', '?')} ({len(sk.get('joint_names', []))} joints)",
        "canonical": meta["canonical"],
        "dtype": meta.get("dtype", "?"),
        "parameters": net.num_parameters,
        "config": cfg,
        "sha256": meta["sha256"],
    }
    if _is_shipped(args.weights, meta["sha256"]):
        info.update(SHIPPED_WEIGHTS_CARD)
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    for k, v in info.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        elif k == "parameters":
            v = f"{v:,}"
        print(f"{k:<17} {v}")
    return EXIT_OK


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .skeleton import list_skeletons

    p = argparse.ArgumentParser(
        prog="sealloss",
        description="A learned structural loss (SEAL-pose) for 3D human pose lifting.",
        epilog="Run 'sealloss <command> --help' for the options of a command.",
    )
    p.add_argument("--version", action="version", version=f"sealloss {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log library messages (INFO)")
    sub = p.add_subparsers(dest="command", metavar="command")
    sub.required = True
    fmt = argparse.ArgumentDefaultsHelpFormatter

    d = sub.add_parser(
        "demo", formatter_class=fmt,
        help="train a small SimpleBaseline with and without SEAL; print the comparison",
        description="Trains a SimpleBaseline lifter twice (plain MPJPE loss, and MPJPE + SEAL "
        "energy of the shipped pretrained loss-net, the recommended setting), same seed and "
        "data order, then scores both "
        "on held-out poses. Needs no download: by default it uses the CMU clips shipped with "
        "sealloss (a few minutes on 2 CPU cores). Writes skeleton figures, training curves, "
        "predictions, the SEAL loss-net and results.json to --out.")
    d.add_argument("--data", choices=("embedded", "h36m"), default="embedded",
                   help="training/test data: shipped CMU clips or Human3.6M (needs --data-root "
                   "or $SEALLOSS_DATA)")
    d.add_argument("--data-root", default=None, help="folder holding h36m/ (for --data h36m)")
    d.add_argument("--out", default="sealloss-demo", help="output folder")
    d.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default 8 embedded, 3 h36m)")
    d.add_argument("--width", type=int, default=256, help="SimpleBaseline width")
    d.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="seeds; each trains both arms with the same seed and data order")
    d.add_argument("--every", type=int, default=10,
                   help="Human3.6M: keep every n-th 10 Hz frame")
    d.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    d.add_argument("--quick", action="store_true",
                   help="tiny smoke run (seconds): small nets, a few steps")
    d.add_argument("--seal-mode", choices=("static", "dynamic"), default=RECOMMENDED["mode"],
                   help="SEAL arm: static = the recommended setting (shipped h36m17 loss-net, "
                   "frozen, lam auto at force ratio 0.3, a quarter of each batch scored); "
                   "dynamic = a fresh loss-net trained alongside")
    d.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.set_defaults(func=_cmd_demo)

    pt = sub.add_parser(
        "pretrain", formatter_class=fmt,
        help="pretrain a loss-net on ground truth vs synthetic negatives; save its weights",
        description="Trains a loss-net alone (SEAL-static) to rank ground-truth poses below "
        "synthetic negatives (joint noise, bone rotations, bone-length changes, limb swaps and "
        "flips, hard negatives), reports the held-out ranking accuracy per negative kind and "
        "size, and saves a weights file that 'sealloss score', 'sealloss info' and "
        "AlternatingWrapper(lossnet=PATH) read.")
    pt.add_argument("--out", default="lossnet.safetensors", help="weights file to write")
    pt.add_argument("--data", choices=("embedded", "h36m"), default="embedded",
                    help="training data: shipped CMU clips or Human3.6M")
    pt.add_argument("--data-root", default=None, help="folder holding h36m/ (for --data h36m)")
    pt.add_argument("--every", type=int, default=2,
                    help="Human3.6M: keep every n-th 10 Hz training frame (test: 5n)")
    pt.add_argument("--kind", choices=("graphormer", "mlp"), default="graphormer",
                    help="loss-net architecture")
    pt.add_argument("--width", type=int, default=64, help="loss-net width")
    pt.add_argument("--layers", type=int, default=3, help="transformer layers (MLP: blocks)")
    pt.add_argument("--heads", type=int, default=4, help="attention heads (graphormer)")
    pt.add_argument("--steps", type=int, default=1500, help="optimisation steps")
    pt.add_argument("--batch-size", type=int, default=64, help="ground-truth poses per step")
    pt.add_argument("--negatives", type=int, default=8, help="negatives per ground truth")
    pt.add_argument("--objective", choices=("nce", "margin"), default="nce",
                    help="ranking objective")
    pt.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    pt.add_argument("--seed", type=int, default=0, help="seed")
    pt.add_argument("--max-test", type=int, default=4096,
                    help="held-out poses of the ranking report (evenly spaced)")
    pt.add_argument("--sizes-mm", type=float, nargs="+", default=[10.0, 20.0, 40.0],
                    help="perturbation sizes (median MPJPE) of the ranking report")
    pt.add_argument("--report", default=None, help="also write the report to this JSON file")
    pt.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    pt.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    pt.add_argument("--no-progress", action="store_true", help="no progress bar")
    pt.set_defaults(func=_cmd_pretrain)

    e = sub.add_parser(
        "evaluate", formatter_class=fmt,
        help="metrics table (MPJPE, P-MPJPE, LSE, BSLE, ...) of predictions vs ground truth",
        description="Scores 3D predictions against ground truth: MPJPE, P-MPJPE, N-MPJPE, "
        "LSE, BSLE (mm), their ratio forms (%%), PCK and AUC, per action when the file has "
        "action labels. Input: a .npz with arrays pred (N, J, 3) and gt (N, J, 3), or a .npy "
        "of predictions with --gt FILE.")
    e.add_argument("predictions", help=".npz with pred and gt, or .npy of predictions")
    e.add_argument("--gt", default=None, help="separate ground-truth file (.npz or .npy)")
    e.add_argument("--skeleton", default="h36m17", choices=list_skeletons(),
                   help="joint layout of the poses")
    e.add_argument("--units", choices=("m", "cm", "mm"), default="m",
                   help="units of the poses; poses that are not person-sized in these units are "
                   "refused")
    e.add_argument("--no-units-check", action="store_true",
                   help="evaluate even when the poses are not person-sized in --units")
    e.add_argument("--pred-key", default="pred", help="array name of the predictions")
    e.add_argument("--gt-key", default="gt", help="array name of the ground truth")
    e.add_argument("--actions-key", default="actions",
                   help="array name of per-pose action labels (optional)")
    e.add_argument("--no-actions", action="store_true", help="no per-action rows")
    e.add_argument("--per-joint", action="store_true", help="also print per-joint MPJPE")
    e.add_argument("--json", default=None, help="also write all results to this JSON file")
    e.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser(
        "score", formatter_class=fmt,
        help="rank 3D poses by loss-net energy and blame joints (flag implausible frames)",
        description="Scores (2D input, 3D pose) pairs with a loss-net: energy per pose (higher "
        "= less plausible), the most implausible poses and the joint most to blame. Input: a "
        ".npz with x2d (N, J, 2, normalised screen frame, or pixels with --image-size) and "
        "y3d (or pred) (N, J, 3). When the file holds ground truth (--reference-key, default "
        "gt), it also reports how many poses lie above the ground truth's energy quantile and "
        "the rank correlation of energy with error.")
    s.add_argument("poses", help=".npz with x2d and y3d/pred, or .npy of 3D poses with --x2d")
    s.add_argument("--weights", required=True,
                   help="loss-net weights file (.safetensors) or registered name")
    s.add_argument("--x2d", default=None, help="separate 2D input file (.npz or .npy)")
    s.add_argument("--x2d-key", default="x2d", help="array name of the 2D inputs")
    s.add_argument("--y3d-key", default=None, help="array name of the 3D poses (y3d, else pred)")
    s.add_argument("--reference-key", default="gt",
                   help="array of plausible poses (ground truth) used as reference, if present")
    s.add_argument("--units", choices=("m", "cm", "mm"), default="m",
                   help="units of 3D poses; poses that are not person-sized in these units are "
                   "refused")
    s.add_argument("--no-units-check", action="store_true",
                   help="score even when the poses are not person-sized in --units")
    s.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"), default=None,
                   help="2D inputs are pixels of a W x H image (converted to the screen frame)")
    s.add_argument("--blame", choices=("auto", "energy", "gradient"), default="auto",
                   help="per-joint blame: |dE/dy_j| (auto) or per-joint energy above baseline")
    s.add_argument("--flag", choices=("batch", "reference"), default="batch",
                   help="which energies set the implausibility threshold: batch = the scored "
                   "poses' own (flags the least plausible 1 - QUANTILE of them); reference = "
                   "the ground truth's (--reference-key; a loss-net ranks nearly every model "
                   "prediction above the ground truth, so this flags most predictions)")
    s.add_argument("--quantile", type=float, default=0.95,
                   help="energy quantile above which poses are flagged (see --flag)")
    s.add_argument("--top", type=int, default=10, help="rows of the table of worst poses")
    s.add_argument("--batch-size", type=int, default=1024, help="poses per loss-net call")
    s.add_argument("--out", default=None, help="write all scores to .npz or .csv")
    s.add_argument("--plot", default=None, help="PNG of the worst poses coloured by blame")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_score)

    i = sub.add_parser(
        "info", formatter_class=fmt, help="what a loss-net weights file contains",
        description="Prints a weights file's metadata (kind, skeleton, format version, "
        "architecture, parameter count, checksum) after verifying it, and for the shipped "
        "h36m17 weights how they were trained, on which data and under which terms; "
        "without a file, lists "
        "skeleton presets and registered weights.")
    i.add_argument("weights", nargs="?", default=None, help=".safetensors file or name")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_cmd_info)

    from .commands import refine as _refine_cmd

    _refine_cmd.add_parser(sub, fmt)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sealloss`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (SealLossError, OSError, ValueError) as e:
        if args.verbose:
            log.exception("sealloss %s failed", args.command)
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"sealloss {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"sealloss {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

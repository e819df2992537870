"""Pretraining a loss-net alone on ground truth plus synthetic negatives (SEAL-static), and the
held-out ranking report (share of samples with ``E(ground truth) < E(negative)``) per sampler
kind and per perturbation size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..io.weights import build_lossnet
from ..negatives import (
    HardNegatives,
    bone_direction_noise,
    bone_length_noise,
    calibrate,
    gaussian_joint_noise,
    limb_flip,
    limb_swap,
    perturbation_size,
    pretraining_negatives,
)
from ..nn.base import LossNet
from ..objectives import DEFAULT_SIGMA_M, make_objective
from ..pose.canonical import root_relative
from ..pose.skeleton import get_skeleton
from .lossnet_trainer import LossNetTrainer

__all__ = [
    "PretrainConfig",
    "pretrain_lossnet",
    "ranking_report",
    "format_ranking_table",
]

log = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    """Settings of :func:`pretrain_lossnet` (stored in the report and the model card)."""

    kind: str = "graphormer"
    model: dict[str, Any] = field(default_factory=dict)  # extra constructor arguments
    skeleton: str = "h36m17"
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    final_lr_ratio: float = 0.05
    objective: str = "nce"  # one of sealloss.objectives.OBJECTIVES
    num_negatives: int = 8
    temperature: float = 0.1
    margin: float = 50.0
    energy_reg: float = 1e-3
    dsm_weight: float | None = None  # None: the objective's own default (1 for "...dsm")
    grad_weight: float | None = None  # gradient matching at the negatives
    sigma_m: tuple[float, float] = DEFAULT_SIGMA_M  # DSM noise scales (metres, log-uniform)
    hard_fraction: float = 0.25  # share of batches whose negatives are refined by hard steps
    hard_steps: int = 2
    grad_clip: float = 1.0
    seed: int = 0
    max_seconds: float | None = None  # stop early after this much training time
    stop_after: int | None = None  # stop after this many steps (the schedule follows ``steps``)

    def loss_objective(self):
        """The :class:`~sealloss.objectives.LossNetObjective` these settings describe."""
        return make_objective(
            self.objective,
            margin=self.margin,
            temperature=self.temperature,
            energy_reg=self.energy_reg,
            dsm_weight=self.dsm_weight,
            grad_weight=self.grad_weight,
            sigma_m=tuple(self.sigma_m),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pretrain_lossnet(
    x2d: Tensor,
    y3d: Tensor,
    cfg: PretrainConfig,
    net: LossNet | None = None,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    predictions: Tensor | None = None,
) -> tuple[LossNet, list[dict[str, float]]]:
    """Train a loss-net on canonical ground truth ``y3d (N, J, 3)`` (with its 2D ``x2d``)
    against synthetic negatives, by ``cfg.objective``. Returns the net (eval mode) and a loss
    history.

    ``predictions`` (optional, ``(N, J, 3)``, row-aligned with ``y3d``): a pose-net's
    predictions of these pairs made **out of fold** (by a model that did not train on them), so
    their errors look like test errors. Each batch then uses them as its first negative: ranked
    below the truth and, with a gradient term, taught to have ``-dE/dy`` point at the truth.
    """
    sk = get_skeleton(cfg.skeleton)
    if predictions is not None and predictions.shape != y3d.shape:
        raise ValueError(
            f"predictions {tuple(predictions.shape)} must be row-aligned with y3d "
            f"{tuple(y3d.shape)}"
        )
    # torch's global generator is seeded only inside fork_rng (the caller's stream is restored);
    # the net's initialisation and any dropout draw from it, the batches from ``gen``
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return _pretrain(x2d, y3d, cfg, sk, net, progress, predictions)


def _pretrain(x2d: Tensor, y3d: Tensor, cfg: PretrainConfig, sk, net: LossNet | None,
              progress, predictions: Tensor | None) -> tuple[LossNet, list[dict[str, float]]]:
    if net is None:
        net = build_lossnet({"kind": cfg.kind, "skeleton": sk.name, **cfg.model})
    gen = torch.Generator().manual_seed(cfg.seed)
    sampler = pretraining_negatives(sk)
    objective = cfg.loss_objective()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    # the wrapper's guarded loss-net step: a non-finite loss or gradient skips the step (warned,
    # counted in trainer.skipped); the learning-rate schedule below sets opt's groups
    trainer = LossNetTrainer(opt, batch=None, grad_clip=cfg.grad_clip or None,
                             objective=objective, negatives=None)
    trainer.bind(net, sk)
    gamma = cfg.final_lr_ratio ** (1.0 / max(1, cfg.steps))
    n = x2d.shape[0]
    history: list[dict[str, float]] = []
    net.train()
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cfg.lr * gamma**step
        idx = torch.randint(0, n, (cfg.batch_size,), generator=gen)
        x, y = x2d[idx], y3d[idx]
        y = root_relative(y, sk.root)
        pred_neg = None
        if predictions is not None:
            pred_neg = predictions[idx] - predictions[idx][:, sk.root : sk.root + 1]
        if cfg.num_negatives > 0:
            neg = sampler(y, cfg.num_negatives, gen).poses
        else:
            neg = y.new_zeros((y.shape[0], 0, *y.shape[1:]))
        if (
            cfg.num_negatives > 0
            and cfg.hard_fraction > 0
            and float(torch.rand((), generator=gen)) < cfg.hard_fraction
        ):
            net.eval()

            def energy_fn(p: Tensor, x=x) -> Tensor:
                return net.energy(x.unsqueeze(1).expand(-1, p.shape[1], -1, -1), p)

            hard = HardNegatives(sampler, steps=cfg.hard_steps, step_size=0.005, min_dist_m=0.01)
            neg = hard(y, cfg.num_negatives, gen, energy_fn=energy_fn).poses
            net.train()
        if pred_neg is not None:
            neg = torch.cat([pred_neg.unsqueeze(1), neg], 1)
        out = trainer.step(x, y, neg, gen, where=f"at pretraining step {step}")
        elapsed = time.perf_counter() - t0
        out_of_time = (cfg.max_seconds is not None and elapsed > cfg.max_seconds) or (
            cfg.stop_after is not None and step + 1 >= cfg.stop_after
        )
        if out is not None and (step % 50 == 0 or step == cfg.steps - 1 or out_of_time):
            loss, e_pos, e_neg = out.loss, out.e_pos, out.e_neg
            with torch.no_grad():
                acc = float((e_neg > e_pos[:, None]).float().mean()) if e_neg.numel() else 1.0
            rec = {
                "step": step,
                "loss": float(loss.detach()),
                "train_rank_acc": acc,
                "elapsed_s": elapsed,
                **{k: float(v) for k, v in out.parts.items()},
            }
            history.append(rec)
            if progress is not None:
                progress(step, cfg.steps, rec)
        if out_of_time:
            log.info("pretraining stopped at step %d (max_seconds=%s, stop_after=%s)", step,
                     cfg.max_seconds, cfg.stop_after)
            break
    net.eval()
    return net, history


# ---------------------------------------------------------------------------- ranking report

_SIZED = {
    "gaussian": lambda m, y, k, g, sk: gaussian_joint_noise(y, m, k, g, sk.root),
    "bone_direction": lambda m, y, k, g, sk: bone_direction_noise(y, sk, m, k, g),
    "bone_length": lambda m, y, k, g, sk: bone_length_noise(y, sk, m, k, g, "both"),
    "bone_length_one_side": lambda m, y, k, g, sk: bone_length_noise(y, sk, m, k, g, "one"),
}
_FIXED = {
    "limb_swap": lambda y, k, g, sk: limb_swap(y, sk, k, g),
    "limb_flip_depth": lambda y, k, g, sk: limb_flip(y, sk, k, g, "depth"),
}


@torch.no_grad()
def ranking_report(
    net: LossNet,
    x2d: Tensor,
    y3d: Tensor,
    sizes_mm: tuple[float, ...] = (10.0, 20.0, 40.0),
    k: int = 4,
    seed: int = 123,
    batch_size: int = 1024,
    predictions: dict[str, Tensor] | None = None,
) -> dict[str, dict[str, float]]:
    """Held-out ranking accuracy ``P(E(x, y*) < E(x, y_neg))`` per kind and perturbation size.

    Sized kinds are calibrated so their median MPJPE hits each size in ``sizes_mm``; limb swaps
    and flips have their natural size (reported as ``"natural"`` with the measured median).
    ``predictions`` maps names to real model predictions ``(N, J, 3)`` ranked the same way.
    """
    sk = net.skeleton
    gen = torch.Generator().manual_seed(seed)
    y3d = root_relative(y3d, sk.root)
    net.eval()
    out: dict[str, dict[str, float]] = {}

    def rank(neg_fn: Callable[[Tensor, torch.Generator], Tensor]) -> tuple[float, float]:
        wins, total, sizes = 0.0, 0, []
        for i in range(0, y3d.shape[0], batch_size):
            x, y = x2d[i : i + batch_size], y3d[i : i + batch_size]
            neg = neg_fn(y, gen)
            e_pos, e_neg = net.ranking_energies(x, y, neg)
            wins += float((e_neg > e_pos[:, None]).float().sum())
            total += e_neg.numel()
            sizes.append(perturbation_size(neg, y).flatten())
        return wins / max(1, total), float(torch.cat(sizes).median())

    calib_y = y3d[: min(2048, y3d.shape[0])]
    for name, fn in _SIZED.items():
        out[name] = {}
        for size in sizes_mm:
            c = calibrate(
                lambda m, y, kk, g, fn=fn: fn(m, y, kk, g, sk),
                size,
                calib_y,
                torch.Generator().manual_seed(seed),
            )
            acc, med = rank(lambda y, g, fn=fn, m=c.magnitude: fn(m, y, k, g, sk))
            out[name][f"{size:g}mm"] = acc
    for name, fn in _FIXED.items():
        acc, med = rank(lambda y, g, fn=fn: fn(y, k, g, sk))
        out[name] = {"natural": acc, "median_mm": med}
    for name, pred in (predictions or {}).items():
        p = root_relative(pred, sk.root)
        wins, total = 0.0, 0
        for i in range(0, y3d.shape[0], batch_size):
            e_pos, e_neg = net.ranking_energies(
                x2d[i : i + batch_size], y3d[i : i + batch_size],
                p[i : i + batch_size].unsqueeze(1),
            )
            wins += float((e_neg > e_pos[:, None]).float().sum())
            total += e_neg.numel()
        mpjpe = float((p - y3d).norm(dim=-1).mean() * 1000)
        out[f"predictions:{name}"] = {"natural": wins / max(1, total), "median_mm": mpjpe}
    return out



def format_ranking_table(report: dict[str, dict[str, float]]) -> str:
    """Markdown table of :func:`ranking_report` (accuracies in %)."""
    cols: list[str] = []
    for row in report.values():
        for c in row:
            if c != "median_mm" and c not in cols:
                cols.append(c)
    lines = ["| negative kind | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in report.items():
        cells = []
        for c in cols:
            v = row.get(c)
            if v is None:
                cells.append("")
            elif c == "natural" and "median_mm" in row:
                cells.append(f"{100 * v:.1f} (at {row['median_mm']:.0f} mm)")
            else:
                cells.append(f"{100 * v:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_h36m_pretraining(
    cfg: PretrainConfig,
    data_root: str | None = None,
    out_path: str | None = None,
    train_every: int = 2,
    test_every: int = 10,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    train_subjects: Sequence[str] | None = None,
    test_subjects: Sequence[str] | None = None,
    train_predictions: Any = None,
    init: str | None = None,
    inputs: str = "gt",
    gt_share: float = 0.0,
) -> dict[str, Any]:
    """Pretrain on Human3.6M training subjects (all cameras), report ranking on S9/S11 and
    optionally save the weights (safetensors). Returns a JSON-able report.

    ``inputs``: the 2D the loss-net is conditioned on: ``"gt"`` (GT-projected) or ``"sh"`` (the
    Stacked-Hourglass detections, :func:`sealloss.data.h36m_detected_pairs`, rules fitted on
    ``train_subjects``; the ranking then uses the test subjects' detections too). ``gt_share``
    (``"sh"`` only): the share of training rows, drawn with a generator seeded by ``cfg.seed``,
    whose 2D is the GT projection instead of the detection.

    ``train_subjects`` / ``test_subjects`` default to S1/S5/S6/S7/S8 and S9/S11; a validation
    loss-net for choosing settings on S8 uses S1/S5/S6/S7 and S8. ``train_predictions``:
    out-of-fold predictions row-aligned with ``h36m_pairs(train_subjects, every=train_every)``
    (see :func:`pretrain_lossnet`). ``init``: weights (name or path) to continue training from
    (fine-tuning) instead of a fresh net.
    """
    from ..data import TEST_SUBJECTS, TRAIN_SUBJECTS, h36m_input_pairs, h36m_pairs, load_h36m
    from ..data.h36m import INPUT_SOURCES
    from ..io.weights import save_lossnet

    if inputs not in INPUT_SOURCES:  # before any file is read
        raise ValueError(f"inputs must be one of {INPUT_SOURCES}, got {inputs!r}")
    if not 0.0 <= gt_share <= 1.0 or (gt_share > 0 and inputs == "gt"):
        raise ValueError(f"gt_share must be in [0, 1] and needs inputs='sh', got {gt_share!r} "
                         f"with inputs={inputs!r}")

    train_subjects = tuple(train_subjects or TRAIN_SUBJECTS)
    test_subjects = tuple(test_subjects or TEST_SUBJECTS)
    if set(train_subjects) & set(test_subjects):
        raise ValueError(
            f"train subjects {train_subjects} and test subjects {test_subjects} overlap"
        )
    ds = load_h36m(data_root)
    tr = h36m_input_pairs(train_subjects, inputs, train_every, ds, rules_from=train_subjects)
    te = h36m_input_pairs(test_subjects, inputs, test_every, ds, rules_from=train_subjects)
    if gt_share > 0:
        gt = h36m_pairs(train_subjects, dataset=ds, every=train_every)
        key = ["seq_id", "camera", "frame"]
        if not all(np.array_equal(gt[k], tr[k]) for k in key):  # rows missing a detection
            keep = np.isin(gt["seq_id"] * 10**8 + gt["camera"] * 10**7 + gt["frame"],
                           tr["seq_id"] * 10**8 + tr["camera"] * 10**7 + tr["frame"])
            gt = {k: v[keep] for k, v in gt.items()}
        use_gt = np.random.default_rng(cfg.seed).random(tr["x2d"].shape[0]) < gt_share
        tr["x2d"] = np.where(use_gt[:, None, None], gt["x2d"], tr["x2d"])
    t0 = time.perf_counter()
    preds = None
    if train_predictions is not None:
        preds = torch.as_tensor(train_predictions, dtype=torch.float32)
    start = None
    if init is not None:
        from ..io.weights import load_lossnet

        start = load_lossnet(init)
    net, history = pretrain_lossnet(
        torch.from_numpy(tr["x2d"]), torch.from_numpy(tr["y3d"]), cfg, net=start,
        progress=progress, predictions=preds,
    )
    train_s = time.perf_counter() - t0
    report = ranking_report(net, torch.from_numpy(te["x2d"]), torch.from_numpy(te["y3d"]))
    if out_path is not None:
        save_lossnet(net, out_path)
    return {
        "config": cfg.as_dict(),
        "train_subjects": list(train_subjects),
        "test_subjects": list(test_subjects),
        "inputs": inputs,
        "gt_share": gt_share,
        "train_pairs": int(tr["x2d"].shape[0]),
        "test_pairs": int(te["x2d"].shape[0]),
        "train_seconds": train_s,
        "threads": torch.get_num_threads(),
        "parameters": net.num_parameters,
        "history": history,
        "ranking": report,
        "ranking_table": format_ranking_table(report),
    }

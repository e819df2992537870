"""Paired training experiments: one lifter trained per *arm* (plain, SEAL, explicit, ...) with the
same seeds, data order, schedule and budget (METHOD.md s.7), then scored on several test sets.

Used by ``bench/h36m_gain.py``, ``sealloss demo`` and ``examples/h36m_simplebaseline.py``
(also importable as :mod:`sealloss.demo.experiment`).

Randomness is local: :func:`train_arm` seeds its model's initialisation and dropout inside
:func:`seeded_rng` (a fork of torch's RNG, restored on exit), the data order comes from its own
generator (:func:`epoch_order`) and the wrapper from its ``seed``; the caller's global RNG state
is the same after a run as before it.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..metrics import evaluate
from ..metrics.functional import bsle, lse
from ..metrics.structural import DEFAULT_EPS
from ..training.settings import build_wrapper
from ..training.wrapper import AlternatingWrapper
from .baselines import SimpleBaseline

__all__ = [
    "ArmConfig",
    "TrainConfig",
    "EvalSet",
    "TrainResult",
    "train_arm",
    "build_arm",
    "ArmRun",
    "steps_per_epoch",
    "interleaved_step_times",
    "interleaved_times",
    "ratio_summary",
    "predict",
    "evaluate_model",
    "epoch_order",
    "seeded_rng",
]

log = logging.getLogger(__name__)


@dataclass
class ArmConfig:
    """What one arm adds to the plain supervised loss.

    Args:
        name: label in tables.
        seal: add the learned energy through :class:`~sealloss.training.wrapper.AlternatingWrapper`.
        seal_kwargs: flat wrapper settings (``lossnet``, ``lam``, ``mode``, ...) of
            :func:`~sealloss.training.settings.build_wrapper`.
        w_bone: weight of :func:`~sealloss.metrics.functional.bsle` (metres).
        w_sym: weight of :func:`~sealloss.metrics.functional.lse` (metres).
    """

    name: str
    seal: bool = False
    seal_kwargs: dict[str, Any] = field(default_factory=dict)
    w_bone: float = 0.0
    w_sym: float = 0.0


@dataclass
class TrainConfig:
    """Schedule shared by every arm of a comparison."""

    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    final_lr_ratio: float = 0.05  # exponential decay to lr * ratio at the end of the budget
    width: int = 1024
    blocks: int = 2
    dropout: float = 0.5
    grad_clip: float = 1.0
    max_steps_per_epoch: int | None = None
    device: str = "cpu"


@dataclass
class EvalSet:
    """A test set: canonical 2D ``(N, 17, 2)``, 3D targets ``(N, J, 3)`` and which predicted
    joints to score (``pred_index``, for cross-dataset sets whose targets have fewer joints)."""

    x2d: Tensor
    y3d: Tensor
    skeleton: str = "h36m17"
    actions: list[str] | None = None
    pred_index: list[int] | None = None


@dataclass
class TrainResult:
    """One trained arm: the model, its median step time (after warm-up), the logged records,
    the wrapper's state (``None`` without SEAL) and what ``on_epoch_end`` returned per epoch."""

    model: SimpleBaseline
    step_time_s: float
    history: list[dict[str, float]]
    seal_state: dict[str, Any] | None = None
    epochs: list[dict[str, float]] = field(default_factory=list)


@contextmanager
def seeded_rng(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run a block with torch's CPU generator (and ``device``'s, for a CUDA device) seeded by
    ``seed``, inside :func:`torch.random.fork_rng`: modules built and dropout drawn in the block
    are reproducible, and the caller's RNG state is restored on exit.

    >>> with seeded_rng(3):
    ...     a = torch.rand(2)
    >>> with seeded_rng(3):
    ...     b = torch.rand(2)
    >>> bool(torch.equal(a, b))
    True
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    index = None
    if cuda:
        index = device.index if device.index is not None else torch.cuda.current_device()
    with torch.random.fork_rng(devices=[index] if cuda else []):
        torch.default_generator.manual_seed(int(seed))
        if cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(seed))
        yield


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The data order of one epoch: a permutation seeded by (seed, epoch) only, so every arm of
    a comparison sees the same batches whatever its model does with randomness."""
    g = torch.Generator().manual_seed(1_000_003 * int(seed) + int(epoch))
    return torch.randperm(n, generator=g)


EpochHook = Callable[[int, torch.nn.Module], "dict[str, float] | None"]


def train_arm(
    arm: ArmConfig,
    x2d: Tensor,
    y3d: Tensor,
    cfg: TrainConfig,
    seed: int,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    log_every: int = 200,
    on_epoch_end: EpochHook | None = None,
) -> TrainResult:
    """Train one SimpleBaseline on canonical pairs ``x2d (N, 17, 2)``, ``y3d (N, 17, 3)``.

    The model's initialisation and dropout are seeded by ``seed`` inside :func:`seeded_rng`
    (the caller's RNG state is left as it was); the data order by :func:`epoch_order`; the
    wrapper's own randomness by its ``seed``. ``on_epoch_end(epoch, model)`` runs after each
    epoch (e.g. a validation score; it must not draw from torch's RNG); a dict it returns is
    stored in ``TrainResult.epochs``.
    """
    device = torch.device(cfg.device)
    with seeded_rng(seed, device):
        return _train_arm(arm, x2d, y3d, cfg, seed, device, progress, log_every, on_epoch_end)


def steps_per_epoch(n: int, cfg: TrainConfig) -> int:
    """Optimizer steps per epoch over ``n`` training pairs (last partial batch dropped)."""
    per = n // cfg.batch_size
    return min(per, cfg.max_steps_per_epoch) if cfg.max_steps_per_epoch else per


@dataclass
class ArmRun:
    """One arm's live training state: the model, its optimizer, the wrapper (or ``None``) and
    the learning-rate decay; :meth:`step` is one training step. Built by :func:`build_arm` (inside
    a :func:`seeded_rng` block for reproducible initialisation)."""

    arm: ArmConfig
    cfg: TrainConfig
    model: SimpleBaseline
    opt: torch.optim.Optimizer
    seal: AlternatingWrapper | None
    gamma: float

    def step(self, xb: Tensor, yb: Tensor, step: int) -> Tensor:
        """One step on a batch ``xb (B, 17, 2)``, ``yb (B, 17, 3)`` (metres) at global step
        ``step`` (sets the learning rate); returns the detached supervised loss (metres)."""
        cfg, arm, model, opt = self.cfg, self.arm, self.model, self.opt
        for group in opt.param_groups:
            group["lr"] = cfg.lr * self.gamma**step
        pred = model(xb)
        loss_sup = (pred - yb).norm(dim=-1).mean()
        loss = loss_sup
        if arm.w_bone:
            loss = loss + arm.w_bone * bsle(pred, yb, "h36m17", eps=DEFAULT_EPS)
        if arm.w_sym:
            loss = loss + arm.w_sym * lse(pred, "h36m17", eps=DEFAULT_EPS)
        if self.seal is not None:
            loss = self.seal(loss, xb, pred, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        return loss_sup.detach()


def build_arm(arm: ArmConfig, x2d: Tensor, cfg: TrainConfig, seed: int, total_steps: int,
              log_every: int = 200) -> ArmRun:
    """The model (input statistics from ``x2d (N, 17, 2)``), Adam, the wrapper of a SEAL arm and
    the exponential learning-rate decay over ``total_steps``."""
    device = torch.device(cfg.device)
    model = SimpleBaseline("h36m17", cfg.width, cfg.blocks, cfg.dropout).to(device)
    model.set_input_stats(x2d.to(device))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    seal = None
    if arm.seal:
        kw: dict[str, Any] = {"seed": seed, "log_every": log_every}
        kw.update(arm.seal_kwargs)
        seal = build_wrapper(**kw)
    gamma = cfg.final_lr_ratio ** (1.0 / max(1, total_steps))
    return ArmRun(arm, cfg, model, opt, seal, gamma)


def _train_arm(
    arm: ArmConfig,
    x2d: Tensor,
    y3d: Tensor,
    cfg: TrainConfig,
    seed: int,
    device: torch.device,
    progress: Callable[[int, int, dict[str, float]], None] | None,
    log_every: int,
    on_epoch_end: EpochHook | None = None,
) -> TrainResult:
    """:func:`train_arm`'s body, run inside its :func:`seeded_rng` block."""
    n = x2d.shape[0]
    per_epoch = steps_per_epoch(n, cfg)
    total = per_epoch * cfg.epochs
    run = build_arm(arm, x2d, cfg, seed, total, log_every)
    history: list[dict[str, float]] = []
    epochs: list[dict[str, float]] = []
    step_times: list[float] = []
    step = 0
    for epoch in range(cfg.epochs):
        run.model.train()
        order = epoch_order(n, seed, epoch)
        for b in range(per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            xb, yb = x2d[idx].to(device), y3d[idx].to(device)
            t0 = time.perf_counter()
            loss_sup = run.step(xb, yb, step)
            step_times.append(time.perf_counter() - t0)
            if step % log_every == 0 or b == per_epoch - 1:
                rec = {"step": step, "epoch": epoch, "loss_sup_mm": float(loss_sup) * 1000}
                if run.seal is not None:
                    rec.update({f"seal_{k}": v for k, v in run.seal.stats.items()})
                history.append(rec)
                if progress is not None:
                    progress(step, total, rec)
            step += 1
        if on_epoch_end is not None:
            extra = on_epoch_end(epoch, run.model)
            if extra:
                epochs.append({"epoch": epoch, **extra})
    warm = step_times[min(20, len(step_times) // 10) :] or step_times
    return TrainResult(
        model=run.model,
        step_time_s=float(np.median(warm)) if warm else math.nan,
        history=history,
        seal_state=run.seal.state_dict() if run.seal is not None else None,
        epochs=epochs,
    )


def interleaved_times(
    steps: Mapping[str, Callable[[int], None]],
    rounds: int,
    warmup: int = 5,
    before_round: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Wall times (seconds) of several step functions measured **interleaved**: each round
    calls every ``steps[name](round)`` once, the order rotating per round, so a change in
    machine load hits every function alike; ``before_round(round)`` (untimed) prepares what
    the round shares. Returns ``{name: [seconds]}`` for the ``rounds`` rounds after ``warmup``
    untimed ones."""
    names = list(steps)
    if not names or rounds < 1 or warmup < 0:
        raise ValueError(f"interleaved_times needs step functions, rounds >= 1 and warmup >= 0; "
                         f"got {len(names)} functions, rounds={rounds}, warmup={warmup}")
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(rounds + warmup):
        if before_round is not None:
            before_round(i)
        k = i % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            steps[name](i)
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def ratio_summary(times: Sequence[float], base: Sequence[float]) -> dict[str, float]:
    """Cost of ``times`` relative to ``base`` (paired per round, same length): the ratio of the
    medians and the quartiles/extremes of the per-round ratios."""
    if len(times) != len(base) or not times:
        raise ValueError(f"need paired non-empty timings, got {len(times)} and {len(base)}")
    ratios = sorted(a / b for a, b in zip(times, base))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {"ratio_of_medians": statistics.median(times) / statistics.median(base),
            "ratio_min": ratios[0], "ratio_q1": q[0], "ratio_median": statistics.median(ratios),
            "ratio_q3": q[2], "ratio_max": ratios[-1]}


def interleaved_step_times(
    arms: list[ArmConfig],
    x2d: Tensor,
    y3d: Tensor,
    cfg: TrainConfig,
    seed: int,
    steps: int = 60,
    warmup: int = 5,
) -> dict[str, list[float]]:
    """Training-step wall times (seconds) of several arms measured **interleaved** in this
    process (:func:`interleaved_times`): each round runs one step of every arm on the same
    batch, the arms' order rotating per round, so a change in machine load hits every arm alike
    (unlike arms trained minutes apart). Returns ``{arm name: [seconds per step]}`` (``steps``
    rounds after ``warmup``)."""
    device = torch.device(cfg.device)
    with seeded_rng(seed, device):
        runs = [build_arm(a, x2d, cfg, seed, max(1, steps + warmup), log_every=10**9)
                for a in arms]
        for r in runs:
            r.model.train()
        order = epoch_order(x2d.shape[0], seed, 0)
        batch: list[Tensor] = []

        def next_batch(i: int) -> None:
            j = (i * cfg.batch_size) % max(1, x2d.shape[0] - cfg.batch_size)
            idx = order[j : j + cfg.batch_size]
            batch[:] = [x2d[idx].to(device), y3d[idx].to(device)]

        def stepper(r: ArmRun) -> Callable[[int], None]:
            return lambda i: r.step(batch[0], batch[1], i)

        return interleaved_times({r.arm.name: stepper(r) for r in runs}, steps, warmup,
                                 before_round=next_batch)


@torch.no_grad()
def predict(model: torch.nn.Module, x2d: Tensor, batch_size: int = 8192) -> Tensor:
    """Eval-mode predictions in batches, on the model's device, returned on CPU."""
    model.eval()
    dev = next(model.parameters()).device
    outs = [model(x2d[i : i + batch_size].to(dev)).cpu() for i in range(0, x2d.shape[0],
                                                                         batch_size)]
    return torch.cat(outs) if outs else x2d.new_zeros((0, x2d.shape[1], 3))


def evaluate_model(model: torch.nn.Module, sets: Mapping[str, EvalSet]) -> dict[str, dict]:
    """Summary metrics (mm / %) of ``model`` on each named :class:`EvalSet`."""
    out = {}
    for name, s in sets.items():
        pred = predict(model, s.x2d)
        if s.pred_index is not None:
            pred = pred[:, s.pred_index]
        res = evaluate(pred, s.y3d, s.skeleton, actions=s.actions)
        out[name] = {k: float(v) for k, v in res.summary.items()}
    return out

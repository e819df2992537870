"""Paired training experiments: one lifter trained per *arm* (plain, SEAL, explicit, ...) with the
same seeds, data order, schedule and budget (METHOD.md s.7), then scored on several test sets.

Used by ``bench/h36m_gain.py``, ``sealloss demo`` and ``examples/h36m_simplebaseline.py``
(also importable as :mod:`sealloss.experiment`).

Randomness is local: :func:`train_arm` seeds its model's initialisation and dropout inside
:func:`seeded_rng` (a fork of torch's RNG, restored on exit), the data order comes from its own
generator (:func:`epoch_order`) and the wrapper from its ``seed``; the caller's global RNG state
is the same after a run as before it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..metrics import evaluate
from ..skeleton import get_skeleton
from ..structural import bone_length_loss, symmetry_loss
from ..wrapper import AlternatingWrapper
from .baselines import SimpleBaseline

__all__ = [
    "ArmConfig",
    "TrainConfig",
    "EvalSet",
    "TrainResult",
    "train_arm",
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
        seal: add the learned energy through :class:`~sealloss.wrapper.AlternatingWrapper`.
        seal_kwargs: keyword arguments of the wrapper (``lossnet``, ``lam``, ``mode``, ...).
        w_bone: weight of :func:`~sealloss.structural.bone_length_loss` (metres).
        w_sym: weight of :func:`~sealloss.structural.symmetry_loss` (metres).
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
    """One trained arm: the model, its median step time (after warm-up), the logged records
    and the wrapper's state (``None`` without SEAL)."""

    model: SimpleBaseline
    step_time_s: float
    history: list[dict[str, float]]
    seal_state: dict[str, Any] | None = None


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


def train_arm(
    arm: ArmConfig,
    x2d: Tensor,
    y3d: Tensor,
    cfg: TrainConfig,
    seed: int,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    log_every: int = 200,
) -> TrainResult:
    """Train one SimpleBaseline on canonical pairs ``x2d (N, 17, 2)``, ``y3d (N, 17, 3)``.

    The model's initialisation and dropout are seeded by ``seed`` inside :func:`seeded_rng`
    (the caller's RNG state is left as it was); the data order by :func:`epoch_order`; the
    wrapper's own randomness by its ``seed``.
    """
    device = torch.device(cfg.device)
    with seeded_rng(seed, device):
        return _train_arm(arm, x2d, y3d, cfg, seed, device, progress, log_every)


def _train_arm(
    arm: ArmConfig,
    x2d: Tensor,
    y3d: Tensor,
    cfg: TrainConfig,
    seed: int,
    device: torch.device,
    progress: Callable[[int, int, dict[str, float]], None] | None,
    log_every: int,
) -> TrainResult:
    """:func:`train_arm`'s body, run inside its :func:`seeded_rng` block."""
    model = SimpleBaseline("h36m17", cfg.width, cfg.blocks, cfg.dropout).to(device)
    model.set_input_stats(x2d.to(device))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = x2d.shape[0]
    steps_per_epoch = n // cfg.batch_size
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    total = steps_per_epoch * cfg.epochs
    gamma = cfg.final_lr_ratio ** (1.0 / max(1, total))
    sk = get_skeleton("h36m17")
    seal = None
    if arm.seal:
        kw = {"seed": seed, "log_every": log_every}
        kw.update(arm.seal_kwargs)
        seal = AlternatingWrapper(opt, **kw)
    history: list[dict[str, float]] = []
    step_times: list[float] = []
    step = 0
    for epoch in range(cfg.epochs):
        model.train()
        order = epoch_order(n, seed, epoch)
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            xb, yb = x2d[idx].to(device), y3d[idx].to(device)
            t0 = time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = cfg.lr * gamma**step
            pred = model(xb)
            loss_sup = (pred - yb).norm(dim=-1).mean()
            loss = loss_sup
            if arm.w_bone:
                loss = loss + arm.w_bone * bone_length_loss(pred, yb, sk)
            if arm.w_sym:
                loss = loss + arm.w_sym * symmetry_loss(pred, sk)
            if seal is not None:
                loss = seal(loss, xb, pred, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step_times.append(time.perf_counter() - t0)
            if step % log_every == 0 or b == steps_per_epoch - 1:
                rec = {"step": step, "epoch": epoch, "loss_sup_mm": float(loss_sup.detach()) * 1000}
                if seal is not None:
                    rec.update({f"seal_{k}": v for k, v in seal.stats.items()})
                history.append(rec)
                if progress is not None:
                    progress(step, total, rec)
            step += 1
    warm = step_times[min(20, len(step_times) // 10) :] or step_times
    return TrainResult(
        model=model,
        step_time_s=float(np.median(warm)) if warm else math.nan,
        history=history,
        seal_state=seal.state_dict() if seal is not None else None,
    )


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

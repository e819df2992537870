"""AlternatingWrapper: adds a learned structural energy to a pose-net's training loop.

Per batch (METHOD.md sections 3-4):

1. every ``update_every`` batches (dynamic and warm modes), ``k`` loss-net steps ranking the
   ground truth ``y*`` below negatives: the pose-net's detached predictions plus synthetic
   perturbations of ``y*`` (one fused loss-net batch, :func:`sealloss.objectives.lossnet_loss`);
2. the pose-net term ``lam * mean(E(x, y_hat))`` with the loss-net frozen and in eval mode: no
   gradient reaches the loss-net's parameters, and the root output gets none either.

The energy's gradient on ``y_hat`` is computed once (one backward through the loss-net w.r.t.
the scored poses only) and injected into the user's graph as a first-order surrogate whose
value is ``mean E`` and whose gradient w.r.t. ``y_hat`` is ``d mean E / d y_hat``. So the user's
``loss.backward()`` never runs through the loss-net again, and the loss-net's parameter
gradients are never touched by the pose-net term.

Five-line use in a plain PyTorch loop::

    seal = AlternatingWrapper(optimizer, lossnet="h36m17", lam="auto")   # + 1
    for x2d, y3d in loader:
        y_hat = model(x2d)
        loss = criterion(y_hat, y3d)
        loss = seal(loss, x2d, y_hat, y3d)                                # + 1
        optimizer.zero_grad(); loss.backward(); optimizer.step()

The jobs live in their own modules: :mod:`sealloss.batch` (conversion and input checks),
:mod:`sealloss.lam` (the two lambdas), :mod:`sealloss.distributed` (collectives),
:mod:`sealloss.objectives` (the loss-net step). This module orchestrates them.

Host synchronisations of one training call (the statistics stay 0-dim tensors until
:attr:`~AlternatingWrapper.stats` is read or a log line is written):

* one in :func:`sealloss.batch.check_batch`: data errors (NaN/Inf inputs, wrong units) must
  raise at the call that has them, and a non-finite prediction must skip its step;
* one after the energy: is the energy and its gradient finite (skip with a warning and a
  counter, at the call), fused with the force-ratio read when ``lam`` or ``lam_unlabeled`` is
  ``"auto"`` and this is a measuring step (every ``force_every`` calls);
* dynamic/warm modes, per loss-net step: one (loss and gradients finite, else the step is
  skipped; distributed: a flag agreed by every rank);
* on logging steps (``log_every``, when ``logging`` INFO is on): the statistics;
* inside the loss-net's own ``energy`` call, its input checks (:mod:`sealloss.nn.base`).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

from . import distributed as dist
from .batch import canonical, check_batch
from .diagnostics import alignment as _alignment
from .diagnostics import energy_gap, force_ratio, margin_violations
from .lam import LambdaController
from .lam import check_number as _check_number
from .negatives import Sampler, default_negatives
from .nn.base import LossNet
from .objectives import COST_KINDS, OBJECTIVES, LossNetObjective, lossnet_loss, make_objective
from .objectives import task_cost as _task_cost
from .skeleton import Skeleton, get_skeleton

__all__ = ["AlternatingWrapper", "SealStats", "default_negatives"]

log = logging.getLogger(__name__)

_MODES = ("dynamic", "static", "warm")
_NAN = float("nan")


@dataclass
class SealStats:
    """Diagnostics of one wrapper call (METHOD.md s.4). NaN where not measured this step.

    Measured values are kept as 0-dim tensors (no host synchronisation during training);
    :meth:`as_dict` converts them all at once.
    """

    step: int = 0
    lam: float | Tensor = _NAN
    energy_pred: float | Tensor = _NAN
    energy_gt: float | Tensor = _NAN
    energy_gap: float | Tensor = _NAN
    gap_snr: float | Tensor = _NAN
    margin_violations: float | Tensor = _NAN
    lossnet_loss: float | Tensor = _NAN
    force_ratio: float | Tensor = _NAN
    alignment: float | Tensor = _NAN
    scored: int = 0
    lossnet_updated: bool = False
    skipped_energy_steps: int = 0
    skipped_lossnet_steps: int = 0

    def as_dict(self) -> dict[str, float]:
        """Every field as a plain float (one host synchronisation for all tensor fields)."""
        vals = {f.name: getattr(self, f.name) for f in fields(self)}
        tens = {k: v for k, v in vals.items() if isinstance(v, Tensor)}
        if tens:
            host = torch.stack([v.detach().double().cpu() for v in tens.values()]).tolist()
            vals.update(zip(tens, host))
        return {k: float(v) for k, v in vals.items()}


def _valid(n: Tensor) -> Tensor:
    """A gradient norm that can be used: finite and positive (bool 0-dim tensor)."""
    return torch.isfinite(n) & (n > 0)


class AlternatingWrapper:
    """Alternates loss-net updates with pose-net updates that add ``lam * E``.

    Every argument is a keyword except ``optimizer`` and ``lossnet``; the common call is
    ``AlternatingWrapper(opt)`` (the recommended setting, :data:`sealloss.defaults.RECOMMENDED`).

    **Loss-net.** ``lossnet``: a :class:`~sealloss.nn.LossNet`, a pretrained name or path
    (:func:`sealloss.hub.load_lossnet`), or ``None`` for a fresh
    :class:`~sealloss.nn.GraphormerLossNet` (dynamic mode only). ``mode``: ``"static"`` (frozen,
    usually pretrained), ``"dynamic"`` (trains alongside), ``"warm"`` (pretrained, then
    fine-tuned). ``skeleton`` of the canonical poses (default: the loss-net's); ``adapter``
    converts upstream tensors (:mod:`sealloss.adapters`; ``None``: canonical tensors, 2D
    ``(.., J, 2)`` screen frame, 3D ``(.., J, 3)`` root-relative metres); ``device``.

    **Energy weight.** ``lam``: a float, a callable ``step -> float`` or ``"auto"`` (keeps the
    force ratio ``||lam dE/dy_hat|| / ||dL_sup/dy_hat||`` at ``target_force_ratio``);
    ``lam_unlabeled`` likewise for :meth:`unlabeled` batches, ``"auto"`` keeping
    ``unlabeled_force_ratio`` against the supervised pull measured on labeled calls (an EMA:
    use batches of equal size). ``lam_init`` (auto start), ``lam_ema`` (EMA factor),
    ``lam_bounds`` (clamp), ``force_every`` (measure every this many calls). See
    :class:`sealloss.lam.LambdaController`.

    **Pose-net term.** ``score_fraction``: share of the batch's poses scored (an unbiased
    subsample of the mean energy); ``frames_per_clip``: for ``(B, T, J, 3)`` outputs, score this
    many random frames per clip.

    **Loss-net training** (dynamic and warm). ``k`` steps every ``update_every`` calls, Adam
    with ``lossnet_lr`` (or ``lossnet_optimizer``), ``grad_clip`` max-norm (``None``: off), at
    most ``lossnet_batch`` ground truths per step. ``objective``: one of
    :data:`~sealloss.objectives.OBJECTIVES` (``"margin"``: margin-rescaled hinge; ``"nce"``;
    ``"dsm"``; ``"margin+dsm"`` / ``"nce+dsm"``: ranking + DSM + gradient matching at the
    negatives) or a :class:`~sealloss.objectives.LossNetObjective` (then ``margin``,
    ``task_cost``, ``temperature`` and ``energy_reg`` come from it); ``margin`` (energy units
    per metre of task cost); ``task_cost`` (``"mpjpe"``, ``"mse"``, ``"bone"``,
    ``"mpjpe+bone"``, metres); ``temperature`` (NCE); ``energy_reg``; ``negatives`` (a
    :class:`~sealloss.negatives.Sampler`, ``None``: only predictions; default
    :func:`default_negatives`) and ``num_negatives`` per ground truth.

    **Run.** ``seed`` of the wrapper's own generator (negatives, subsets); ``log_every``:
    ``logging`` INFO diagnostics every this many calls.

    Distributed (``torch.distributed`` initialised): rank 0's loss-net is broadcast at the first
    training call, loss-net gradients are averaged over the ranks, ranks agree before skipping
    a loss-net step, and the auto-lambda force is averaged; so every rank must call the wrapper
    the same number of times. Bad inputs, skipped steps and resume: ``docs/RELIABILITY.md``.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer | None = None,
        lossnet: LossNet | str | None = "h36m17",
        *,
        lam: float | str | Callable[[int], float] = "auto",
        mode: str = "static",
        skeleton: Skeleton | str | None = None,
        adapter: Any = None,
        k: int = 1,
        update_every: int = 1,
        lossnet_lr: float = 3e-4,
        lossnet_optimizer: torch.optim.Optimizer | None = None,
        objective: str | LossNetObjective = "margin",
        margin: float = 10.0,
        task_cost: str = "mpjpe",
        temperature: float = 1.0,
        energy_reg: float = 1e-3,
        negatives: Sampler | None | str = "default",
        num_negatives: int = 2,
        lossnet_batch: int | None = 256,
        score_fraction: float = 0.25,
        frames_per_clip: int | None = None,
        target_force_ratio: float = 0.3,
        lam_init: float = 1e-3,
        lam_ema: float = 0.9,
        lam_bounds: tuple[float, float] = (1e-8, 1e3),
        force_every: int = 1,
        lam_unlabeled: float | str | Callable[[int], float] = "auto",
        unlabeled_force_ratio: float = 0.3,
        grad_clip: float | None = 1.0,
        seed: int = 0,
        log_every: int = 100,
        device: torch.device | str | None = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if not isinstance(objective, LossNetObjective) and objective not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {OBJECTIVES} or a LossNetObjective, got {objective!r}"
            )
        _check_number("score_fraction", score_fraction, 0.0, strict=True, high=1.0)
        for name, value in (("lam", lam), ("lam_unlabeled", lam_unlabeled)):
            if isinstance(value, str) and value != "auto":
                raise ValueError(f"{name} must be a float, a callable or 'auto', got {value!r}")
            if not isinstance(value, str) and not callable(value):
                _check_number(name, value, 0.0)
        for name, value, low, kw in (
            ("unlabeled_force_ratio", unlabeled_force_ratio, 0.0, {}),
            ("k", k, 1, {"integer": True}), ("update_every", update_every, 1, {"integer": True}),
            ("force_every", force_every, 1, {"integer": True}),
            ("log_every", log_every, 1, {"integer": True}),
            ("num_negatives", num_negatives, 0, {"integer": True}),
            ("lossnet_lr", lossnet_lr, 0.0, {"strict": True}),
            ("target_force_ratio", target_force_ratio, 0.0, {}),
            ("lam_init", lam_init, 0.0, {"strict": True}),
            ("lam_ema", lam_ema, 0.0, {"high": 0.999999}),
            ("lossnet_batch", lossnet_batch, 1, {"integer": True}),
            ("frames_per_clip", frames_per_clip, 1, {"integer": True}),
            ("grad_clip", grad_clip, 0.0, {"strict": True}),
        ):
            if value is not None or name not in ("lossnet_batch", "frames_per_clip", "grad_clip"):
                _check_number(name, value, low, **kw)
        if task_cost not in COST_KINDS:
            raise ValueError(f"task_cost must be one of {COST_KINDS}, got {task_cost!r}")
        lam_kw = {"init": lam_init, "ema": lam_ema, "bounds": lam_bounds}
        self._lam = LambdaController(lam, name="lam", target=target_force_ratio, **lam_kw)
        self._lam_u = LambdaController(lam_unlabeled, name="lam_unlabeled",
                                       target=unlabeled_force_ratio,
                                       target_name="unlabeled_force_ratio", **lam_kw)
        self.optimizer = optimizer
        self.mode = mode
        self.lossnet = self._resolve_lossnet(lossnet, mode, skeleton, device)
        self.skeleton = get_skeleton(skeleton) if skeleton is not None else self.lossnet.skeleton
        self.lossnet.skeleton.check_compatible(self.skeleton, "the wrapper's skeleton")
        self.adapter = adapter
        self.k, self.update_every = int(k), int(update_every)
        self.objective_name = objective if isinstance(objective, str) else "custom"
        self.objective: LossNetObjective = make_objective(
            objective, margin=float(margin), task_cost=task_cost,
            temperature=float(temperature), energy_reg=float(energy_reg), skeleton=self.skeleton,
        )
        self.negatives = default_negatives(self.skeleton) if negatives == "default" else negatives
        self.num_negatives = int(num_negatives) if self.negatives is not None else 0
        self.lossnet_batch = lossnet_batch
        self.score_fraction = float(score_fraction)
        self.frames_per_clip = frames_per_clip
        self.force_every, self.log_every = int(force_every), int(log_every)
        self.grad_clip = grad_clip
        self.generator = torch.Generator(device="cpu").manual_seed(int(seed))
        self.steps = self.lossnet_updates = 0
        self.skipped_energy_steps = self.skipped_lossnet_steps = 0
        self.unlabeled_steps = self.skipped_unlabeled_steps = 0
        self.last_stats, self.last_unlabeled_stats = SealStats(), SealStats()
        self._sup_norm: Tensor | None = None  # EMA of ||dL_sup/dy_hat|| (float64; NaN: none)
        self._ranks_synced = False
        self.lossnet.requires_grad_(mode != "static")
        self.lossnet_optimizer = None if mode == "static" else (
            lossnet_optimizer or torch.optim.Adam(self.lossnet.parameters(), lr=lossnet_lr)
        )

    @staticmethod
    def _resolve_lossnet(lossnet: LossNet | str | None, mode: str,
                         skeleton: Skeleton | str | None,
                         device: torch.device | str | None) -> LossNet:
        if isinstance(lossnet, LossNet):
            net = lossnet
        elif lossnet is None:
            if mode != "dynamic":
                raise ValueError(
                    f"mode={mode!r} needs a pretrained loss-net (name, path or LossNet); "
                    "use mode='dynamic' to train one from scratch"
                )
            from .nn import GraphormerLossNet

            net = GraphormerLossNet(skeleton or "h36m17")
        else:
            from .hub import load_lossnet

            net = load_lossnet(lossnet)
        return net.to(device) if device is not None else net

    # ------------------------------------------------------------------ lambda settings
    lam_mode = property(lambda self: self._lam.kind, doc="``fixed``, ``schedule`` or ``auto``")
    lam_u_mode = property(lambda self: self._lam_u.kind, doc="kind of ``lam_unlabeled``")
    target_force_ratio = property(lambda self: self._lam.target)
    unlabeled_force_ratio = property(lambda self: self._lam_u.target)
    lam_ema = property(lambda self: self._lam.ema)
    lam_bounds = property(lambda self: self._lam.bounds)

    @property
    def lam(self) -> float:
        """The lambda used at the current step."""
        return self._lam.at(self.steps)

    @property
    def lam_unlabeled(self) -> float:
        """The unlabeled-batch lambda used at the current unlabeled step."""
        return self._lam_u.at(self.unlabeled_steps)

    def __repr__(self) -> str:
        net = self.lossnet
        obj = self.objective
        return (
            f"AlternatingWrapper(mode={self.mode!r}, lossnet={type(net).__name__}"
            f"({net.skeleton.name}, {net.num_parameters:,} params), lam={self._lam!r}, "
            f"lam_unlabeled={self._lam_u!r}, objective={self.objective_name!r}(ranking="
            f"{obj.ranking}, margin={obj.margin:g}, task_cost={obj.task_cost}), "
            f"score_fraction={self.score_fraction:g}, k={self.k}, "
            f"update_every={self.update_every}, steps={self.steps})"
        )

    def _to_net(self, t: Tensor) -> Tensor:
        p = next(self.lossnet.parameters())
        return t.to(device=p.device, dtype=p.dtype)

    # ------------------------------------------------------------------ public API
    def energy_term(self, loss_sup: Tensor, x2d: Tensor, y_hat: Tensor, y_gt: Tensor) -> Tensor:
        """Run the loss-net update(s) and return ``lam * mean E(x, y_hat)`` only (0-dim).

        For loops that backpropagate their loss in an unusual way (MixSTE/KTPFormer call
        ``loss.backward(loss.clone().detach())``): call ``.backward(retain_graph=True)`` on this
        term separately. Returns a zero tensor that still accepts ``.backward()`` when the term
        is skipped (empty batch, non-finite prediction or energy).

        Under ``torch.no_grad()`` (validation) it only scores: no loss-net update, no lambda
        update, no change of counters or RNG state.

        Args:
            loss_sup: the supervised loss (0-dim); its gradient on ``y_hat`` is the reference
                of the force ratio.
            x2d: ``(B, [T,] J, 2)`` 2D inputs; y_hat, y_gt: ``(B, [T,] J, 3)`` metres (or the
                adapter's upstream layouts).

        Raises:
            PoseShapeError: wrong shapes or joint count, 2D/3D swapped, targets in millimetres.
            NonFiniteError: NaN/Inf in ``x2d`` or ``y_gt`` (a data error). A non-finite
                prediction ``y_hat`` is not an error: the step's energy term and loss-net update
                are skipped with a ``RuntimeWarning`` and counted in ``skipped_energy_steps``.
        """
        if not torch.is_grad_enabled():
            return self._eval_term(loss_sup, x2d, y_hat, y_gt)
        stats = SealStats(step=self.steps)
        x, yh, yg = canonical(self.adapter, x2d, y_hat, y_gt,
                              frames_per_clip=self.frames_per_clip, generator=self.generator)
        usable = check_batch(self.skeleton, x, yg, yh)  # host sync 1
        self._sync_ranks_once()
        n = yh.shape[0]
        if n > 0 and not usable:
            self.skipped_energy_steps += 1
            warnings.warn(
                f"sealloss: non-finite prediction y_hat at step {self.steps}; the energy term and "
                f"the loss-net update are skipped for this batch ({self.skipped_energy_steps} "
                "skipped so far)",
                RuntimeWarning,
                stacklevel=3,
            )
        if self.mode != "static" and self.steps % self.update_every == 0:
            # every rank updates or none does (the update all-reduces gradients)
            if dist.all_ok(usable, self.lossnet.device):
                self._lossnet_update(x.detach(), yg.detach(), yh.detach(), stats)
            elif n > 0 or dist.world_size() > 1:
                self.skipped_lossnet_steps += 1
        term, ok = self._energy_surrogate(x, yh, yg, stats) if usable else (None, None)
        measure = self.steps % self.force_every == 0 and (
            "auto" in (self._lam.kind, self._lam_u.kind) or self.steps % self.log_every == 0
        )
        per_unit, valid = self._force_per_unit(loss_sup, y_hat, term) if measure else (None, None)
        lam_before = self.lam
        if per_unit is not None:
            stats.force_ratio = torch.where(valid, lam_before * per_unit, _NAN)
        auto = measure and self._lam.kind == "auto"
        ok_h, valid_h, pu_h = _host(ok, valid if auto else None, per_unit if auto else None)
        if term is not None and not ok_h:
            self._energy_failed(stats, f"at step {self.steps}", stacklevel=3)
            term = None
        if auto:
            pu = pu_h if valid_h else None
            self._lam.observe(dist.mean_over_ranks(pu, self.lossnet.device))
        lam = self.lam
        if term is not None and not (math.isfinite(lam) and lam >= 0):
            self.skipped_energy_steps += 1
            warnings.warn(
                f"sealloss: lambda is {lam!r} at step {self.steps} (a schedule returned a "
                "non-finite or negative value); the energy term is skipped for this batch "
                f"({self.skipped_energy_steps} skipped so far)",
                RuntimeWarning,
                stacklevel=3,
            )
            term = None
        if term is None:
            needs_grad = loss_sup.requires_grad or y_hat.requires_grad
            out = loss_sup.new_zeros(()).requires_grad_(needs_grad)
        else:
            out = lam * term
        stats.lam = lam
        stats.skipped_energy_steps = self.skipped_energy_steps
        stats.skipped_lossnet_steps = self.skipped_lossnet_steps
        self.last_stats = stats
        if self.steps % self.log_every == 0 and log.isEnabledFor(logging.INFO):
            log.info("sealloss step %d: %s", self.steps, _fmt(stats.as_dict()))
        self.steps += 1
        return out.to(loss_sup.dtype) if out.dtype != loss_sup.dtype else out

    def __call__(
        self, loss_sup: Tensor, x2d: Tensor, y_hat: Tensor, y_gt: Tensor | None
    ) -> Tensor:
        """``loss_sup + lam * mean E(x2d, y_hat)`` after the loss-net update(s) of this batch;
        with ``y_gt=None``, ``loss_sup + ``:meth:`unlabeled` ``(x2d, y_hat)``."""
        if y_gt is None:
            return loss_sup + self.unlabeled(x2d, y_hat).to(loss_sup.dtype)
        return loss_sup + self.energy_term(loss_sup, x2d, y_hat, y_gt)

    def unlabeled(self, x2d: Tensor, y_hat: Tensor) -> Tensor:
        """``lam_unlabeled * mean E(x2d, y_hat)`` for a batch **without 3D labels**.

        Add it to the loss of the same step (e.g. ``loss = seal(loss_sup, x, y_hat, y) +
        seal.unlabeled(x_u, y_hat_u)``). It never reads or needs 3D ground truth, never updates
        the loss-net (in dynamic mode the loss-net trains on labeled batches only) and sends no
        gradient into its parameters. The same input checks as the labeled call; a non-finite
        prediction, energy or lambda skips the term with a ``RuntimeWarning`` (counted in
        ``skipped_unlabeled_steps``). Under ``torch.no_grad()`` it only scores. Statistics of the
        last call: :attr:`unlabeled_stats`.

        Args:
            x2d: ``(B, [T,] J, 2)`` 2D inputs (or the adapter's upstream layout).
            y_hat: ``(B, [T,] J, 3)`` predictions, metres (or the adapter's layout).

        Returns:
            0-dim tensor (a zero that accepts ``.backward()`` when skipped).
        """
        training = torch.is_grad_enabled()
        x, yh, _ = canonical(self.adapter, x2d, y_hat, None, generator=self.generator,
                             frames_per_clip=self.frames_per_clip if training else None)
        usable = check_batch(self.skeleton, x, None, yh)  # host sync 1
        if not training:
            return self._score_only(x, yh, usable, self.lam_unlabeled, y_hat)
        stats = SealStats(step=self.unlabeled_steps)
        self._sync_ranks_once()
        term, ok = self._energy_surrogate(x, yh, None, stats) if usable else (None, None)
        per_unit = valid = None
        measure = self.unlabeled_steps % self.force_every == 0
        n_e = self._grad_norm(term, y_hat) if measure else None
        sup = self._sup_norm
        if n_e is not None and sup is not None:
            sup = sup.to(n_e.device)
            per_unit, valid = n_e / sup, _valid(n_e) & ~torch.isnan(sup)
            stats.force_ratio = torch.where(valid, self.lam_unlabeled * per_unit, _NAN)
        auto = measure and self._lam_u.kind == "auto"
        ok_h, valid_h, pu_h = _host(ok, valid if auto else None, per_unit if auto else None)
        if term is not None and not ok_h:
            term, stats.energy_pred = None, _NAN
        if auto:  # every rank reaches this at the same calls
            pu = pu_h if valid_h else None
            self._lam_u.observe(dist.mean_over_ranks(pu, self.lossnet.device))
        lam = self.lam_unlabeled
        if yh.shape[0] > 0 and (term is None or not (math.isfinite(lam) and lam >= 0)):
            self.skipped_unlabeled_steps += 1
            what = "prediction or energy" if term is None else f"lambda ({lam!r})"
            warnings.warn(
                f"sealloss: non-finite {what} in unlabeled call {self.unlabeled_steps}; the "
                f"term is skipped ({self.skipped_unlabeled_steps} skipped so far)",
                RuntimeWarning,
                stacklevel=2,
            )
            term = None
        if term is None:
            out = y_hat.new_zeros(()).float().requires_grad_(y_hat.requires_grad)
        else:
            out = lam * term
        stats.lam = lam
        stats.skipped_energy_steps = self.skipped_unlabeled_steps
        self.last_unlabeled_stats = stats
        self.unlabeled_steps += 1
        return out

    @property
    def unlabeled_stats(self) -> dict[str, float]:
        """Diagnostics of the last :meth:`unlabeled` call (no alignment: it needs labels)."""
        return self.last_unlabeled_stats.as_dict()

    @property
    def stats(self) -> dict[str, float]:
        """Diagnostics of the last call as plain floats (reading them synchronises)."""
        return self.last_stats.as_dict()

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped pose-net optimizer's ``step``."""
        if self.optimizer is None:
            raise RuntimeError("AlternatingWrapper was built without an optimizer")
        return self.optimizer.step(*args, **kwargs)

    # ------------------------------------------------------------------ loss-net step
    def _lossnet_update(self, x: Tensor, y_gt: Tensor, y_hat: Tensor, stats: SealStats) -> None:
        """k ranking steps on (x, y*, negatives); x, y_gt, y_hat detached canonical (N, J, *)."""
        n = y_gt.shape[0]
        if self.lossnet_batch is not None and n > self.lossnet_batch:
            sel = torch.randperm(n, generator=self.generator)[: self.lossnet_batch]
            sel = sel.to(y_gt.device)
            x, y_gt, y_hat = x[sel], y_gt[sel], y_hat[sel]
        # canonical root-relative targets for the samplers (root exactly zero)
        root = self.skeleton.root
        y_gt = y_gt - y_gt[:, root : root + 1]
        y_hat = y_hat - y_hat[:, root : root + 1]
        negs = [y_hat.unsqueeze(1)]
        net = self.lossnet
        if self.negatives is not None and self.num_negatives > 0:
            x_net = self._to_net(x)

            def energy_fn(y: Tensor) -> Tensor:  # for hard negatives: (n, K, J, 3) -> (n, K)
                xx = x_net.unsqueeze(1).expand(-1, y.shape[1], -1, -1)
                was = net.training
                net.eval()
                try:
                    return net.energy(xx, self._to_net(y)).to(y.dtype)
                finally:
                    net.train(was)

            negs.append(
                self.negatives(y_gt, self.num_negatives, self.generator, energy_fn=energy_fn).poses
            )
        y_neg = torch.cat(negs, dim=1)  # (n, K, J, 3)
        x, y_gt, y_neg = self._to_net(x), self._to_net(y_gt), self._to_net(y_neg)
        opt = self.lossnet_optimizer
        assert opt is not None  # not static
        was_training = net.training
        net.train()
        for _ in range(self.k):
            with torch.autocast(device_type=x.device.type, enabled=False):
                out = lossnet_loss(net, x, y_gt, y_neg, self.objective, self.generator)
            loss = out.loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            dist.all_reduce_gradients(net.parameters())  # every rank holds the same gradients
            grads = [p.grad for p in net.parameters() if p.grad is not None]
            flags = torch.stack([torch.isfinite(loss.detach()).all()]
                                + [torch.isfinite(g).all() for g in grads])
            loss_ok, *grads_ok = flags.tolist()  # one host sync per loss-net step
            if not dist.all_ok(bool(loss_ok) and all(grads_ok), loss.device):
                self.skipped_lossnet_steps += 1
                opt.zero_grad(set_to_none=True)
                what = ("gradients" if loss_ok else "loss (on this or another rank)")
                warnings.warn(
                    f"sealloss: non-finite loss-net {what} at step {self.steps}; loss-net step "
                    f"skipped ({self.skipped_lossnet_steps} so far)",
                    RuntimeWarning,
                    stacklevel=4,
                )
                break
            if self.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.grad_clip)
            opt.step()
            self.lossnet_updates += 1
            stats.lossnet_updated = True
            stats.lossnet_loss = loss.detach()
            # the prediction negative is index 0; statistics before this update
            gap = energy_gap(out.e_neg[:, 0], out.e_pos)
            stats.energy_gt = out.e_pos.detach().mean()
            stats.energy_gap, stats.gap_snr = gap.mean, gap.ratio
            cost = out.cost if out.cost is not None else _task_cost(
                y_neg.detach(), y_gt.detach(), "mpjpe"
            )
            stats.margin_violations = margin_violations(
                out.e_neg[:, 0], out.e_pos, cost[:, 0], self.objective.margin
            )
        net.train(was_training)

    def _sync_ranks_once(self) -> None:
        """Distributed: copy rank 0's loss-net weights to every rank, once, at the first
        training call (the ranks may have initialised or loaded different weights)."""
        if not self._ranks_synced:
            self._ranks_synced = True
            dist.broadcast_module(self.lossnet, src=0)

    # ------------------------------------------------------------------ pose-net term
    def _energy_surrogate(
        self, x: Tensor, y_hat: Tensor, y_gt: Tensor | None, stats: SealStats
    ) -> tuple[Tensor, Tensor]:
        """``(term, ok)``: ``term`` has the value ``mean E(x, y_hat)`` and the gradient of the
        mean energy w.r.t. ``y_hat``; ``ok`` (bool 0-dim, not read here) says whether the
        energy and its gradient are finite. ``x (N, J, 2)``, ``y_hat (N, J, 3)`` canonical."""
        n = y_hat.shape[0]
        if self.score_fraction < 1.0 and n > 1:
            m = max(1, int(math.ceil(self.score_fraction * n)))
            sel = torch.randperm(n, generator=self.generator)[:m].to(y_hat.device)
            x, y_hat = x[sel], y_hat[sel]
            y_gt = y_gt[sel] if y_gt is not None else None
        net = self.lossnet
        was_training = net.training
        net.eval()
        leaf = self._to_net(y_hat.detach()).requires_grad_(True)
        with torch.enable_grad(), torch.autocast(device_type=leaf.device.type, enabled=False):
            e = net.energy(self._to_net(x.detach()), leaf).float()
            (g,) = torch.autograd.grad(e.mean(), leaf)
        net.train(was_training)
        stats.scored = int(e.numel())
        ok = torch.isfinite(e).all() & torch.isfinite(g).all()
        g = g.to(device=y_hat.device, dtype=y_hat.dtype)
        stats.energy_pred = e.detach().mean()
        if y_gt is not None:
            r = self.skeleton.root
            yh_rel = y_hat.detach() - y_hat.detach()[:, r : r + 1]
            yg_rel = y_gt.detach() - y_gt.detach()[:, r : r + 1]
            stats.alignment = _alignment(g, yh_rel, yg_rel)
        e_mean = e.mean().detach().to(y_hat.device)
        return e_mean + (g * (y_hat - y_hat.detach())).sum(), ok

    def _energy_failed(self, stats: SealStats, where: str, stacklevel: int) -> None:
        """Count and warn about a non-finite energy or energy gradient (the term is dropped)."""
        self.skipped_energy_steps += 1
        stats.energy_pred = stats.alignment = _NAN
        warnings.warn(
            f"sealloss: non-finite energy or energy gradient {where}; the energy term is skipped "
            f"for this batch ({self.skipped_energy_steps} so far)",
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )

    @staticmethod
    def _grad_norm(t: Tensor | None, y_hat_up: Tensor) -> Tensor | None:
        """``||d t / d y_hat||`` (float64 0-dim, may be non-finite or 0; not read here), or
        ``None`` when ``t`` does not depend on ``y_hat``."""
        if t is None or not (t.requires_grad and y_hat_up.requires_grad):
            return None
        (g,) = torch.autograd.grad(t, y_hat_up, retain_graph=True, allow_unused=True)
        return None if g is None else g.detach().double().norm()

    def _force_per_unit(
        self, loss_sup: Tensor, y_hat_up: Tensor, term: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None]:
        """``(||d term / d y_hat|| / ||d L_sup / d y_hat||, valid)`` as tensors (``None``: not
        measurable); also keeps, on the device, the EMA of the supervised pull that the
        unlabeled auto-lambda uses."""
        n_sup, n_e = self._grad_norm(loss_sup, y_hat_up), self._grad_norm(term, y_hat_up)
        if n_sup is not None:
            v, ema = _valid(n_sup), self._sup_norm
            if ema is None:
                self._sup_norm = torch.where(v, n_sup, _NAN)
            else:
                ema = ema.to(n_sup.device)
                b = self._lam.ema
                blend = torch.where(torch.isnan(ema), n_sup, b * ema + (1 - b) * n_sup)
                self._sup_norm = torch.where(v, blend, ema)
        if n_sup is None or n_e is None:
            return None, None
        # float32 inputs, as the measurement has always been made
        return force_ratio(n_e.float(), n_sup.float(), 1.0), _valid(n_sup) & _valid(n_e)

    def _eval_term(self, loss_sup: Tensor, x2d: Tensor, y_hat: Tensor, y_gt: Tensor) -> Tensor:
        """``lam * mean E(x, y_hat)`` as a value, for calls under ``torch.no_grad()``
        (validation): no loss-net update, no lambda update, no counter or RNG change."""
        x, yh, yg = canonical(self.adapter, x2d, y_hat, y_gt)
        usable = check_batch(self.skeleton, x, yg, yh)
        return self._score_only(x, yh, usable, self.lam, loss_sup)

    def _score_only(self, x: Tensor, yh: Tensor, usable: bool, lam: float,
                    like: Tensor) -> Tensor:
        """``lam * mean E(x, yh)`` without any state change, in ``like``'s dtype/device; 0 (and
        a warning) for an empty batch or a non-finite prediction, energy or lambda."""
        zero = like.new_zeros(())
        if yh.shape[0] == 0:
            return zero
        net = self.lossnet
        was_training = net.training
        net.eval()
        ok = usable and math.isfinite(lam)
        if ok:
            with torch.autocast(device_type=yh.device.type, enabled=False):
                e = net.energy(self._to_net(x), self._to_net(yh)).float()
            ok = bool(torch.isfinite(e).all())
        net.train(was_training)
        if not ok:
            warnings.warn(
                "sealloss: non-finite prediction, energy or lambda in an evaluation call "
                "(no_grad); the energy term is reported as 0",
                RuntimeWarning,
                stacklevel=3,
            )
            return zero
        return (lam * e.mean()).to(device=like.device, dtype=like.dtype)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Loss-net weights, its optimizer, counters, the lambdas' state and the RNG state
        (one host synchronisation for the supervised-pull EMA)."""
        sup = None if self._sup_norm is None else float(self._sup_norm)
        lam, lam_u = self._lam.state_dict(), self._lam_u.state_dict()
        return {
            "lossnet": {k: v.detach().clone() for k, v in self.lossnet.state_dict().items()},
            "lossnet_config": self.lossnet.config,
            "lossnet_optimizer": (
                self.lossnet_optimizer.state_dict() if self.lossnet_optimizer else None
            ),
            "steps": self.steps,
            "lossnet_updates": self.lossnet_updates,
            "skipped_energy_steps": self.skipped_energy_steps,
            "skipped_lossnet_steps": self.skipped_lossnet_steps,
            "lam_value": lam["value"],
            "lam_ema_ratio": lam["ema_ratio"],
            "generator": self.generator.get_state(),
            "mode": self.mode,
            "lam_mode": lam["kind"],
            "lam_sup_norm": None if sup is None or math.isnan(sup) else sup,
            "unlabeled": {
                "lam_mode": lam_u["kind"],
                "lam_value": lam_u["value"],
                "lam_ema_ratio": lam_u["ema_ratio"],
                "steps": self.unlabeled_steps,
                "skipped": self.skipped_unlabeled_steps,
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: all of it or nothing.

        Refuses (``ValueError``, the wrapper unchanged) a state of another mode, of another
        lambda kind (an ``"auto"`` state into a fixed-lambda wrapper would replace the user's
        lambda), of a loss-net with another config (same tensor shapes are not enough), or with
        missing entries; if loading fails half way, everything loaded so far is rolled back.
        States written before ``lam_mode`` or ``unlabeled`` existed load as this wrapper's kind.
        """
        required = ("lossnet", "steps", "lossnet_updates", "skipped_energy_steps",
                    "skipped_lossnet_steps", "lam_value", "lam_ema_ratio", "generator")
        missing = [k for k in required if k not in state]
        if missing:
            raise ValueError(f"wrapper state is missing {missing}: not a wrapper state_dict?")
        if state.get("mode", self.mode) != self.mode:
            raise ValueError(
                f"state was saved in mode {state['mode']!r}, this wrapper is {self.mode!r}"
            )
        unl = state.get("unlabeled")
        u = None
        if unl is not None:
            u = self._lam_u.parse_state({"kind": unl.get("lam_mode", self._lam_u.kind),
                                         "value": unl["lam_value"],
                                         "ema_ratio": unl["lam_ema_ratio"]})
            u_counts = int(unl["steps"]), int(unl["skipped"])
        lam = self._lam.parse_state({"kind": state.get("lam_mode", self._lam.kind),
                                     "value": state["lam_value"],
                                     "ema_ratio": state["lam_ema_ratio"]})
        cfg = state.get("lossnet_config")
        if cfg is not None and _jsonable(cfg) != _jsonable(self.lossnet.config):
            raise ValueError(
                "state holds a loss-net of another config than this wrapper's "
                f"(saved {_jsonable(cfg)}, here {_jsonable(self.lossnet.config)})"
            )
        net_before = {k: v.detach().clone() for k, v in self.lossnet.state_dict().items()}
        opt = self.lossnet_optimizer
        opt_before = copy.deepcopy(opt.state_dict()) if opt else None
        gen_before = self.generator.get_state()
        try:
            counters = {k: int(state[k]) for k in required[1:5]}
            sup = state.get("lam_sup_norm")
            sup = None if sup is None else torch.tensor(float(sup), dtype=torch.float64)
            self.lossnet.load_state_dict(state["lossnet"], strict=True)
            if opt is not None and state.get("lossnet_optimizer") is not None:
                opt.load_state_dict(state["lossnet_optimizer"])
            self.generator.set_state(state["generator"])
        except Exception:
            self.lossnet.load_state_dict(net_before)
            if opt is not None and opt_before is not None:
                opt.load_state_dict(opt_before)
            self.generator.set_state(gen_before)
            raise
        self.steps = counters["steps"]
        self.lossnet_updates = counters["lossnet_updates"]
        self.skipped_energy_steps = counters["skipped_energy_steps"]
        self.skipped_lossnet_steps = counters["skipped_lossnet_steps"]
        self._lam.value, self._lam.ema_ratio = lam
        self._sup_norm = sup
        if u is not None:
            self._lam_u.value, self._lam_u.ema_ratio = u
            self.unlabeled_steps, self.skipped_unlabeled_steps = u_counts


def _host(*ts: Tensor | None) -> list[float | None]:
    """The given 0-dim tensors as floats in **one** host synchronisation (``None`` stays)."""
    present = [t for t in ts if t is not None]
    if not present:
        return [None] * len(ts)
    dev = present[0].device
    vals = iter(torch.stack([t.detach().double().to(dev) for t in present]).tolist())
    return [None if t is None else next(vals) for t in ts]


def _jsonable(cfg: Any) -> Any:
    """A config compared by value (tuples and lists alike, as after a JSON round trip)."""
    return json.loads(json.dumps(cfg, sort_keys=True, default=str))


def _fmt(d: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in d.items() if not math.isnan(v))

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

The jobs live in their own modules: :mod:`sealloss.training.batch` (conversion and input checks),
:mod:`sealloss.training.lam` (the two lambdas), :mod:`sealloss.training.distributed` (collectives),
:mod:`sealloss.objectives` (the loss-net step), :mod:`sealloss.training.lossnet_update` (the
wrapper's
loss-net update), :mod:`sealloss.training.posenet_term` (the energy surrogate and force
measurement),
:mod:`sealloss.training.wrapper_state` (save and resume), :mod:`sealloss.training.wrapper_options`
(option checks),
:mod:`sealloss.training.seal_stats` (diagnostics). This module orchestrates them.

Host synchronisations of one training call (the statistics stay 0-dim tensors until
:attr:`~AlternatingWrapper.stats` is read or a log line is written):

* one in :func:`sealloss.training.batch.check_batch`: data errors (NaN/Inf inputs, wrong units) must
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

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from ..negatives import Sampler, default_negatives
from ..nn.base import LossNet
from ..objectives import LossNetObjective, make_objective
from ..pose.skeleton import Skeleton, get_skeleton
from . import distributed as dist
from .batch import canonical, check_batch, check_loss
from .lam import LambdaController
from .lossnet_update import lossnet_update
from .posenet_term import energy_failed, energy_surrogate, eval_term, force_per_unit, unlabeled_term
from .seal_stats import NAN as _NAN
from .seal_stats import SealStats
from .seal_stats import format_stats as _fmt
from .seal_stats import host_floats as _host
from .wrapper_options import check_options, resolve_lossnet
from .wrapper_state import load_wrapper_state, wrapper_state_dict

__all__ = ["AlternatingWrapper", "SealStats", "default_negatives"]

log = logging.getLogger(__name__)


class AlternatingWrapper:
    """Alternates loss-net updates with pose-net updates that add ``lam * E``.

    Every argument is a keyword except ``optimizer`` and ``lossnet``; the common call is
    ``AlternatingWrapper(opt)`` (the recommended setting, :data:`sealloss.defaults.RECOMMENDED`).

    **Loss-net.** ``lossnet``: a :class:`~sealloss.nn.LossNet`, a pretrained name or path
    (:func:`sealloss.io.weights.load_lossnet`), or ``None`` for a fresh
    :class:`~sealloss.nn.GraphormerLossNet` (dynamic mode only). ``mode``: ``"static"`` (frozen,
    usually pretrained), ``"dynamic"`` (trains alongside), ``"warm"`` (pretrained, then
    fine-tuned). ``skeleton`` of the canonical poses (default: the loss-net's); ``adapter``
    converts upstream tensors (:mod:`sealloss.adapters`; ``None``: canonical tensors, 2D
    ``(.., J, 2)`` screen frame, 3D ``(.., J, 3)`` root-relative metres); ``device``.

    **Energy weight.** ``lam``: a float, a callable ``step -> float`` or ``"auto"`` (keeps the
    force ratio ``||lam dE/dy_hat|| / ||dL_sup/dy_hat||`` at ``target_force_ratio``, a float or
    a schedule ``step -> ratio``);
    ``lam_unlabeled`` likewise for :meth:`unlabeled` batches, ``"auto"`` keeping
    ``unlabeled_force_ratio`` against the supervised pull measured on labeled calls (an EMA;
    the forces are compared per pose, so unlabeled batches may differ in size). ``lam_init``
    (auto start), ``lam_ema`` (EMA factor),
    ``lam_bounds`` (clamp), ``force_every`` (measure every this many calls). See
    :class:`sealloss.training.lam.LambdaController`.

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
        target_force_ratio: float | Callable[[int], float] = 0.3,
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
        check_options(
            mode=mode, objective=objective, score_fraction=score_fraction, lam=lam,
            lam_unlabeled=lam_unlabeled, unlabeled_force_ratio=unlabeled_force_ratio, k=k,
            update_every=update_every, force_every=force_every, log_every=log_every,
            num_negatives=num_negatives, lossnet_lr=lossnet_lr,
            target_force_ratio=target_force_ratio, lam_init=lam_init, lam_ema=lam_ema,
            lossnet_batch=lossnet_batch, frames_per_clip=frames_per_clip, grad_clip=grad_clip,
            task_cost=task_cost,
        )
        lam_kw = {"init": lam_init, "ema": lam_ema, "bounds": lam_bounds}
        self._lam = LambdaController(lam, name="lam", target=target_force_ratio, **lam_kw)
        self._lam_u = LambdaController(lam_unlabeled, name="lam_unlabeled",
                                       target=unlabeled_force_ratio,
                                       target_name="unlabeled_force_ratio", **lam_kw)
        self.optimizer = optimizer
        self.mode = mode
        self.lossnet = resolve_lossnet(lossnet, mode, skeleton, device)
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
        self._sup_n: int | None = None  # poses of the labeled batch last measured
        self._warned_no_sup = False  # lam_unlabeled="auto" called before any labeled call
        self._ranks_synced = False
        self.lossnet.requires_grad_(mode != "static")
        self.lossnet_optimizer = None if mode == "static" else (
            lossnet_optimizer or torch.optim.Adam(self.lossnet.parameters(), lr=lossnet_lr)
        )

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
            PoseShapeError: wrong shapes or joint count, 2D/3D swapped, targets in millimetres,
                2D beyond the screen frame; numpy arrays, integer, bool or complex poses; a
                ``loss_sup`` that is not a 0-dim tensor (nothing is changed).
            TypeError: a ``lam`` or ``target_force_ratio`` schedule returned a non-number
                (nothing is changed; a schedule that raises changes nothing either).
            NonFiniteError: NaN/Inf in ``x2d`` or ``y_gt`` (a data error). A non-finite
                prediction ``y_hat`` is not an error: the step's energy term and loss-net update
                are skipped with a ``RuntimeWarning`` and counted in ``skipped_energy_steps``.
        """
        check_loss(loss_sup)
        if not torch.is_grad_enabled():
            return eval_term(self, loss_sup, x2d, y_hat, y_gt)
        self._lam.check_step(self.steps)  # a schedule that raises changes nothing
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
                lossnet_update(self, x.detach(), yg.detach(), yh.detach(), stats)
            elif n > 0 or dist.world_size() > 1:
                self.skipped_lossnet_steps += 1
        term, ok = energy_surrogate(self, x, yh, yg, stats) if usable else (None, None)
        measure = self.steps % self.force_every == 0 and (
            "auto" in (self._lam.kind, self._lam_u.kind) or self.steps % self.log_every == 0
        )
        per_unit, valid = (force_per_unit(self, loss_sup, y_hat, term, n) if measure
                           else (None, None))
        lam_before = self.lam
        if per_unit is not None:
            stats.force_ratio = torch.where(valid, lam_before * per_unit, _NAN)
        auto = measure and self._lam.kind == "auto"
        ok_h, valid_h, pu_h = _host(ok, valid if auto else None, per_unit if auto else None)
        if term is not None and not ok_h:
            energy_failed(self, stats, f"at step {self.steps}", stacklevel=3)
            term = None
        if auto:
            pu = pu_h if valid_h else None
            self._lam.observe(dist.mean_over_ranks(pu, self.lossnet.device), self.steps)
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
            check_loss(loss_sup)
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
        return unlabeled_term(self, x2d, y_hat)

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

    def _sync_ranks_once(self) -> None:
        """Distributed: copy rank 0's loss-net weights to every rank, once, at the first
        training call (the ranks may have initialised or loaded different weights)."""
        if not self._ranks_synced:
            self._ranks_synced = True
            dist.broadcast_module(self.lossnet, src=0)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Loss-net weights, its optimizer, counters, the lambdas' state and the RNG state
        (one host synchronisation for the supervised-pull EMA); see
        :func:`sealloss.training.wrapper_state.wrapper_state_dict`."""
        return wrapper_state_dict(self)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: all of it or nothing.

        Refuses (``ValueError``, the wrapper unchanged) a state of another mode, of another
        lambda kind, of a loss-net with another config, or with missing entries; see
        :func:`sealloss.training.wrapper_state.load_wrapper_state`.
        """
        load_wrapper_state(self, state)

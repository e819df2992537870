"""AlternatingWrapper: adds a learned structural energy to a pose-net's training loop.

Per labeled batch (METHOD.md sections 3-4):

1. with a :class:`~sealloss.training.lossnet_trainer.LossNetTrainer` (dynamic and warm SEAL),
   every ``update_every`` batches, ``k`` loss-net steps ranking the ground truth ``y*`` below
   negatives (the pose-net's detached predictions plus synthetic perturbations of ``y*``);
   without a trainer the loss-net stays frozen (static SEAL);
2. the :class:`~sealloss.training.energy_term.EnergyTerm` ``lam * mean E(x, y_hat)`` with the
   loss-net frozen and in eval mode, injected as a first-order surrogate: the user's
   ``loss.backward()`` never runs through the loss-net and never touches its parameter gradients;
3. ``lam`` from a :class:`~sealloss.training.lam.LambdaController` (fixed, a schedule, or
   ``"auto"``: a target force ratio).

Five-line use in a plain PyTorch loop::

    seal = AlternatingWrapper()                                          # + 1 (the recommended)
    for x2d, y3d in loader:
        y_hat = model(x2d)
        loss = criterion(y_hat, y3d)
        loss = seal(loss, x2d, y_hat, y3d)                                # + 1
        optimizer.zero_grad(); loss.backward(); optimizer.step()

The wrapper composes its parts (each owns its settings, counters and ``state_dict``): the batch
(:class:`~sealloss.training.batch.ScoredBatch`: converted, checked and flattened once per call),
the trainer, the energy term and the two lambda controllers. Flat settings (CLI flags, benches,
:data:`sealloss.defaults.RECOMMENDED`) are mapped onto the parts by
:func:`sealloss.training.settings.build_wrapper`.

Host synchronisations of one training call (the statistics stay 0-dim tensors until
:attr:`~AlternatingWrapper.stats` is read or a log line is written):

* one in :func:`sealloss.training.batch.check_batch`: data errors (NaN/Inf inputs, wrong units)
  must raise at the call that has them, and a non-finite prediction must skip its step;
* one after the energy: is the energy and its gradient finite (skip with a warning and a
  counter, at the call), fused with the force-ratio read when a lambda is ``"auto"`` and this is
  a measuring step (every ``force_every`` calls);
* with a trainer, per loss-net step: one (loss and gradients finite, else the step is skipped;
  distributed: a flag agreed by every rank);
* on logging steps (``log_every``, when ``logging`` INFO is on): the statistics;
* inside the loss-net's own ``energy`` call, its input checks (:mod:`sealloss.nn.base`).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from ..defaults import RECOMMENDED
from ..nn.base import LossNet
from ..pose.skeleton import Skeleton, get_skeleton
from . import distributed as dist
from .batch import check_loss
from .diagnostics import SealStats
from .energy_term import LABELED, UNLABELED, EnergyTerm
from .lam import LambdaController
from .lossnet_trainer import LossNetTrainer
from .options import check_number

__all__ = ["AlternatingWrapper", "resolve_lossnet"]

log = logging.getLogger(__name__)

LamArg = float | str | Callable[[int], float] | LambdaController


def resolve_lossnet(lossnet: LossNet | str | None, device: torch.device | str | None = None,
                    skeleton: Skeleton | str | None = None) -> LossNet | None:
    """A :class:`LossNet` as given, a name or path loaded by
    :func:`sealloss.io.weights.load_lossnet`, or ``None`` (kept: a fresh net is built by the
    wrapper, which needs a trainer for it); moved to ``device`` when one is given."""
    if lossnet is None:
        return None
    if isinstance(lossnet, LossNet):
        net = lossnet
    else:
        from ..io.weights import load_lossnet

        net = load_lossnet(lossnet)
    return net.to(device) if device is not None else net


def _controller(spec: LamArg, name: str, target_name: str) -> LambdaController:
    if isinstance(spec, LambdaController):
        if spec.name != name:
            raise ValueError(f"{name}= got the LambdaController named {spec.name!r}: build it "
                             f"with name={name!r} (its errors and states carry the name)")
        return spec
    return LambdaController(spec, name=name, target_name=target_name)


class AlternatingWrapper:
    """Alternates loss-net updates with pose-net updates that add ``lam * E``.

    Args:
        lossnet: a :class:`~sealloss.nn.LossNet`, a pretrained name or path
            (:func:`sealloss.io.weights.load_lossnet`), or ``None`` for a fresh
            :class:`~sealloss.nn.GraphormerLossNet` (needs a ``trainer``).
        trainer: a :class:`~sealloss.training.lossnet_trainer.LossNetTrainer` that trains the
            loss-net alongside (dynamic / warm SEAL); ``None``: the loss-net stays frozen
            (static SEAL).
        energy: the :class:`~sealloss.training.energy_term.EnergyTerm` (scored share, frames per
            clip, force-measurement period); default ``EnergyTerm()``.
        lam: a float ``>= 0``, a callable ``step -> float``, ``"auto"`` (force ratio 0.3) or a
            :class:`~sealloss.training.lam.LambdaController` named ``"lam"``.
        lam_unlabeled: likewise for :meth:`unlabeled` batches (named ``"lam_unlabeled"``;
            ``"auto"`` holds its target against the supervised pull of labeled calls, per pose).
        skeleton: of the canonical poses (default: the loss-net's).
        adapter: converts upstream tensors (:mod:`sealloss.adapters`; ``None``: canonical
            tensors, 2D ``(.., J, 2)`` screen frame, 3D ``(.., J, 3)`` root-relative metres).
        seed: of the wrapper's own generator (negatives, subsets, frames).
        log_every: ``logging`` INFO statistics every this many labeled calls.
        device: where the loss-net lives (``None``: where it is).

    Raises:
        ValueError: a conflicting pair, naming both arguments: ``lossnet=None`` without a
            ``trainer``; a ``trainer`` whose optimizer does not hold the ``lossnet``'s
            parameters or that trains another loss-net; one controller passed as both ``lam``
            and ``lam_unlabeled``; a ``skeleton`` of another structure than the ``lossnet``'s
            (``SkeletonMismatchError``).

    Distributed (``torch.distributed`` initialised): rank 0's loss-net is broadcast at the first
    training call, loss-net gradients are averaged over the ranks, ranks agree before skipping
    a loss-net step, and the auto-lambda force is averaged; so every rank must call the wrapper
    the same number of times. Bad inputs, skipped steps and resume: ``docs/RELIABILITY.md``.
    """

    def __init__(
        self,
        lossnet: LossNet | str | None = RECOMMENDED["lossnet"],
        *,
        trainer: LossNetTrainer | None = None,
        energy: EnergyTerm | None = None,
        lam: LamArg = RECOMMENDED["lam"],
        lam_unlabeled: LamArg = "auto",
        skeleton: Skeleton | str | None = None,
        adapter: Any = None,
        seed: int = 0,
        log_every: int = 100,
        device: torch.device | str | None = None,
    ) -> None:
        if lossnet is None and trainer is None:
            raise ValueError("lossnet=None (a fresh, untrained loss-net) needs trainer= to train "
                             "it: pass a LossNetTrainer, or a pretrained lossnet (name, path or "
                             "LossNet) for static SEAL")
        if trainer is not None and not isinstance(trainer, LossNetTrainer):
            raise ValueError(f"trainer must be a LossNetTrainer or None, got "
                             f"{type(trainer).__name__}")
        if energy is not None and not isinstance(energy, EnergyTerm):
            raise ValueError(f"energy must be an EnergyTerm or None, got {type(energy).__name__}")
        if isinstance(lam, LambdaController) and lam is lam_unlabeled:
            raise ValueError("lam= and lam_unlabeled= are the same LambdaController: each needs "
                             "its own (they keep separate states)")
        check_number("seed", seed, 0, integer=True, owner="AlternatingWrapper")
        check_number("log_every", log_every, 1, integer=True, owner="AlternatingWrapper")
        self.lam_control = _controller(lam, "lam", "target_force_ratio")
        self.lam_unlabeled_control = _controller(lam_unlabeled, "lam_unlabeled",
                                                 "unlabeled_force_ratio")
        net = resolve_lossnet(lossnet, device)
        if net is None:
            from ..nn import GraphormerLossNet

            net = GraphormerLossNet(skeleton or "h36m17")
            if device is not None:
                net = net.to(device)
        self.lossnet: LossNet = net
        self.skeleton = get_skeleton(skeleton) if skeleton is not None else net.skeleton
        net.skeleton.check_compatible(self.skeleton, "the wrapper's skeleton")
        self.adapter = adapter
        self.log_every = int(log_every)
        self.energy = energy if energy is not None else EnergyTerm()
        self.trainer = trainer
        self.generator = torch.Generator(device="cpu").manual_seed(int(seed))
        self._last = {LABELED: SealStats(), UNLABELED: SealStats()}
        self._ranks_synced = False
        net.requires_grad_(trainer is not None)
        if trainer is not None:
            trainer.bind(net, self.skeleton)

    # ------------------------------------------------------------------ read-only views
    @property
    def mode(self) -> str:
        """``"static"`` (no trainer) or ``"dynamic"`` (a trainer trains the loss-net)."""
        return "static" if self.trainer is None else "dynamic"

    steps = property(lambda self: self.energy.steps, doc="labeled training calls made")
    unlabeled_steps = property(lambda self: self.energy.unlabeled_steps,
                               doc="unlabeled training calls made")
    skipped_energy_steps = property(lambda self: self.energy.skipped,
                                    doc="labeled calls whose energy term was skipped")
    skipped_unlabeled_steps = property(lambda self: self.energy.skipped_unlabeled,
                                       doc="unlabeled calls whose energy term was skipped")
    lossnet_updates = property(
        lambda self: 0 if self.trainer is None else self.trainer.updates,
        doc="loss-net optimizer steps taken")
    skipped_lossnet_steps = property(
        lambda self: 0 if self.trainer is None else self.trainer.skipped,
        doc="loss-net updates skipped")

    @property
    def lam(self) -> float:
        """The lambda used at the current labeled step."""
        return self.lam_control.at(self.steps)

    @property
    def lam_unlabeled(self) -> float:
        """The lambda used at the current unlabeled step."""
        return self.lam_unlabeled_control.at(self.unlabeled_steps)

    @property
    def stats(self) -> dict[str, float]:
        """Statistics of the last labeled call as plain floats (reading them synchronises)."""
        return self._last[LABELED].as_dict()

    @property
    def unlabeled_stats(self) -> dict[str, float]:
        """Statistics of the last :meth:`unlabeled` call (no alignment: it needs labels)."""
        return self._last[UNLABELED].as_dict()

    @property
    def last_stats(self) -> SealStats:
        """The :class:`~sealloss.training.diagnostics.SealStats` record of the last labeled
        call (values still tensors)."""
        return self._last[LABELED]

    def __repr__(self) -> str:
        net = self.lossnet
        return (
            f"AlternatingWrapper(lossnet={type(net).__name__}({net.skeleton.name}, "
            f"{net.num_parameters:,} params), trainer={self.trainer!r}, energy={self.energy!r}, "
            f"lam={self.lam_control!r}, lam_unlabeled={self.lam_unlabeled_control!r}, "
            f"steps={self.steps})"
        )

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
        e = self.energy
        if not torch.is_grad_enabled():
            batch = e.batch(self.adapter, self.skeleton, x2d, y_hat, y_gt, self.generator)
            return e.score(self.lossnet, batch, self.lam, loss_sup, stacklevel=3)
        step = e.steps
        self.lam_control.check_step(step)  # a schedule that raises changes nothing
        batch = e.batch(self.adapter, self.skeleton, x2d, y_hat, y_gt, self.generator)
        self._sync_ranks_once()
        stats = SealStats(step=step)
        if self.trainer is not None:
            self.trainer.maybe_update(batch, step, self.generator, stats)
        kinds = (self.lam_control.kind, self.lam_unlabeled_control.kind)
        log_step = step % self.log_every == 0
        out = e.term(self.lossnet, batch, self.lam_control, stats, self.generator,
                     loss_sup=loss_sup, needs_force="auto" in kinds, log_step=log_step,
                     sup_ema=self.lam_control.ema, stacklevel=3)
        stats.skipped_lossnet_steps = self.skipped_lossnet_steps
        self._last[LABELED] = stats
        if log_step and log.isEnabledFor(logging.INFO):
            log.info("sealloss step %d: %s", step, stats.format())
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
        the loss-net (the trainer learns from labeled batches only) and sends no gradient into
        its parameters. The same input checks, skips and zero as the labeled call (one path,
        :meth:`EnergyTerm.term <sealloss.training.energy_term.EnergyTerm.term>`), counted in
        ``skipped_unlabeled_steps``. Under ``torch.no_grad()`` it only scores. Statistics of the
        last call: :attr:`unlabeled_stats`.

        Args:
            x2d: ``(B, [T,] J, 2)`` 2D inputs (or the adapter's upstream layout).
            y_hat: ``(B, [T,] J, 3)`` predictions, metres (or the adapter's layout).

        Returns:
            0-dim tensor (a zero that accepts ``.backward()`` when skipped).
        """
        e, lam = self.energy, self.lam_unlabeled_control
        if not torch.is_grad_enabled():
            batch = e.batch(self.adapter, self.skeleton, x2d, y_hat, None, self.generator)
            return e.score(self.lossnet, batch, self.lam_unlabeled, y_hat, stacklevel=2)
        step = e.unlabeled_steps
        lam.check_step(step)  # a schedule that raises changes nothing
        batch = e.batch(self.adapter, self.skeleton, x2d, y_hat, None, self.generator)
        self._sync_ranks_once()
        stats = SealStats(step=step)
        out = e.term(self.lossnet, batch, lam, stats, self.generator, loss_sup=None,
                     needs_force=lam.kind == "auto", log_step=step % self.log_every == 0,
                     sup_ema=self.lam_control.ema, stacklevel=2)
        self._last[UNLABELED] = stats
        return out

    def _sync_ranks_once(self) -> None:
        """Distributed: copy rank 0's loss-net weights to every rank, once, at the first
        training call (the ranks may have initialised or loaded different weights)."""
        if not self._ranks_synced:
            self._ranks_synced = True
            dist.broadcast_module(self.lossnet, src=0)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The loss-net's weights and config, the generator, and each part's ``state_dict``
        nested: ``energy``, ``trainer`` (``None`` without one), ``lam``, ``lam_unlabeled``
        (one host synchronisation for the supervised-pull EMA)."""
        return {
            "lossnet": {k: v.detach().clone() for k, v in self.lossnet.state_dict().items()},
            "lossnet_config": self.lossnet.config,
            "generator": self.generator.get_state(),
            "energy": self.energy.state_dict(),
            "trainer": None if self.trainer is None else self.trainer.state_dict(),
            "lam": self.lam_control.state_dict(),
            "lam_unlabeled": self.lam_unlabeled_control.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: all of it or nothing.

        Every part checks its entry before anything changes; refused (``ValueError``, the
        wrapper unchanged): missing entries, a state with a trainer into a wrapper without one
        (or the reverse), another lambda kind (an ``"auto"`` state into a fixed-lambda wrapper
        would replace the user's lambda), a loss-net of another config (same tensor shapes are
        not enough), non-finite loss-net weights, counters that are not integers ``>= 0``, an
        optimizer state of another kind. If loading fails half way, everything is rolled back.
        """
        keys = ("lossnet", "generator", "energy", "trainer", "lam", "lam_unlabeled")
        missing = [k for k in keys if k not in state]
        if missing:
            raise ValueError(f"wrapper state is missing {missing}: not a wrapper state_dict?")
        saved_trainer = state["trainer"]
        if (saved_trainer is None) != (self.trainer is None):
            have = "has no trainer (static)" if self.trainer is None else "has a trainer"
            was = "without" if saved_trainer is None else "with"
            raise ValueError(f"state was saved {was} a loss-net trainer, this wrapper {have}: "
                             "build the wrapper with the same trainer= to resume")
        lam = self.lam_control.parse_state(_mapping(state["lam"], "lam"))
        lam_u = self.lam_unlabeled_control.parse_state(
            _mapping(state["lam_unlabeled"], "lam_unlabeled"))
        self.energy.check_state(state["energy"])
        if self.trainer is not None:
            self.trainer.check_state(saved_trainer)
        cfg = state.get("lossnet_config")
        if cfg is not None and _jsonable(cfg) != _jsonable(self.lossnet.config):
            raise ValueError(
                "state holds a loss-net of another config than this wrapper's "
                f"(saved {_jsonable(cfg)}, here {_jsonable(self.lossnet.config)})"
            )
        _check_lossnet_tensors(state["lossnet"])
        net_before = {k: v.detach().clone() for k, v in self.lossnet.state_dict().items()}
        opt = None if self.trainer is None else self.trainer.optimizer
        opt_before = copy.deepcopy(opt.state_dict()) if opt is not None else None
        gen_before = self.generator.get_state()
        try:
            self.lossnet.load_state_dict(state["lossnet"], strict=True)
            self.generator.set_state(state["generator"])
            if self.trainer is not None:
                self.trainer.load_state_dict(saved_trainer)
        except Exception:
            self.lossnet.load_state_dict(net_before)
            if opt is not None and opt_before is not None:
                opt.load_state_dict(opt_before)
            self.generator.set_state(gen_before)
            raise
        self.energy.load_state_dict(state["energy"])
        self.lam_control.value, self.lam_control.ema_ratio = lam
        self.lam_unlabeled_control.value, self.lam_unlabeled_control.ema_ratio = lam_u


def _mapping(v: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise ValueError(f"wrapper state: {key!r} must be a dict, got {v!r}")
    return v


def _jsonable(cfg: Any) -> Any:
    """A config compared by value (tuples and lists alike, as after a JSON round trip)."""
    return json.loads(json.dumps(cfg, sort_keys=True, default=str))


def _check_lossnet_tensors(sd: Any) -> None:
    """The saved loss-net weights: a dict of tensors with finite values."""
    if not isinstance(sd, Mapping):
        raise ValueError(f"wrapper state: 'lossnet' must be a state dict, got {type(sd).__name__}")
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"wrapper state: lossnet[{k!r}] is a {type(v).__name__}, not a tensor")
        if v.is_floating_point() and v.numel() and not torch.isfinite(v).all():
            raise ValueError(
                f"wrapper state: lossnet[{k!r}] holds NaN/Inf: the saved loss-net had diverged "
                "or the state is damaged; resume from an earlier checkpoint"
            )

"""The loss-net trainer: ranks the ground truth ``y*`` below negatives, ``k`` optimizer steps
every ``update_every`` calls (METHOD.md section 3).

Negatives of one update: the pose-net's detached predictions plus ``num_negatives`` synthetic
perturbations of ``y*`` per pose (one fused loss-net batch, :func:`sealloss.objectives.
lossnet_loss`). Every step is guarded: a non-finite loss or gradient skips the step (counted in
:attr:`LossNetTrainer.skipped`, warned about; distributed, every rank agrees before skipping).

The trainer owns its optimizer (default Adam, lr ``3e-4``), its settings, its counters and its
``state_dict``. :class:`~sealloss.training.wrapper.AlternatingWrapper` binds it to its loss-net;
:mod:`sealloss.training.pretrain` uses the same guarded :meth:`LossNetTrainer.step`.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..negatives import Sampler, default_negatives
from ..nn.base import LossNet
from ..objectives import OBJECTIVES, LossNetObjective, StepOutput, lossnet_loss, make_objective
from ..objectives import task_cost as _task_cost
from ..pose.canonical import root_relative
from ..pose.skeleton import Skeleton
from . import distributed as dist
from .batch import ScoredBatch, to_lossnet
from .diagnostics import SealStats, energy_gap, margin_violations
from .options import check_count, check_number

__all__ = ["LossNetTrainer", "DEFAULT_LR", "DEFAULT_NUM_NEGATIVES"]

#: learning rate of the default Adam optimizer
DEFAULT_LR = 3e-4
#: synthetic negatives per ground truth when a sampler is used
DEFAULT_NUM_NEGATIVES = 2

_OWNER = "LossNetTrainer"
_DEFAULT = "default"


class LossNetTrainer:
    """Trains a loss-net alongside the pose-net (dynamic / warm SEAL).

    Args:
        optimizer: the loss-net's optimizer; it must hold exactly the loss-net's parameters
            (checked when the wrapper binds the trainer). ``None``: Adam with ``lr``.
        lr: learning rate of the default Adam (``3e-4``); refused together with ``optimizer``.
        k: optimizer steps per update.
        update_every: update on every this many labeled calls.
        batch: at most this many ground truths per update (a random subset; ``None``: all).
        grad_clip: max-norm gradient clipping (``None``: off).
        objective: one of :data:`~sealloss.objectives.OBJECTIVES` (built with its defaults and
            the loss-net's skeleton at bind time) or a :class:`~sealloss.objectives.
            LossNetObjective`.
        negatives: a :class:`~sealloss.negatives.Sampler` of synthetic negatives, ``None`` (only
            the predictions) or ``"default"`` (:func:`~sealloss.negatives.default_negatives` of
            the loss-net's skeleton).
        num_negatives: synthetic negatives per ground truth (default 2 with a sampler, 0
            without one).

    Raises:
        ValueError: a bad option, or a conflicting pair (``optimizer`` with ``lr``;
            ``num_negatives > 0`` with ``negatives=None``; ``num_negatives=0`` with a sampler),
            naming both.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        lr: float | None = None,
        k: int = 1,
        update_every: int = 1,
        batch: int | None = 256,
        grad_clip: float | None = 1.0,
        objective: str | LossNetObjective = "margin",
        negatives: Sampler | str | None = _DEFAULT,
        num_negatives: int | None = None,
    ) -> None:
        if optimizer is not None and lr is not None:
            raise ValueError(f"{_OWNER}: lr={lr!r} and optimizer= conflict (the optimizer has its "
                             "own learning rate): pass one of them")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"{_OWNER}: optimizer must be a torch.optim.Optimizer, got "
                             f"{type(optimizer).__name__}")
        if lr is not None:
            check_number("lr (lossnet_lr)", lr, 0.0, strict=True, owner=_OWNER)
        check_number("k", k, 1, integer=True, owner=_OWNER)
        check_number("update_every", update_every, 1, integer=True, owner=_OWNER)
        if batch is not None:
            check_number("batch (lossnet_batch)", batch, 1, integer=True, owner=_OWNER)
        if grad_clip is not None:
            check_number("grad_clip", grad_clip, 0.0, strict=True, owner=_OWNER)
        if not isinstance(objective, LossNetObjective) and objective not in OBJECTIVES:
            raise ValueError(f"{_OWNER}: objective must be one of {OBJECTIVES} or a "
                             f"LossNetObjective, got {objective!r}")
        if isinstance(negatives, str) and negatives != _DEFAULT:
            raise ValueError(f"{_OWNER}: negatives must be a Sampler, None or 'default', got "
                             f"{negatives!r}")
        if num_negatives is not None:
            check_number("num_negatives", num_negatives, 0, integer=True, owner=_OWNER)
            if negatives is None and num_negatives > 0:
                raise ValueError(f"{_OWNER}: num_negatives={num_negatives} and negatives=None "
                                 "conflict (no sampler draws them): pass a sampler or "
                                 "num_negatives=0")
            if negatives is not None and negatives != _DEFAULT and num_negatives == 0:
                raise ValueError(f"{_OWNER}: num_negatives=0 and negatives={negatives!r} "
                                 "conflict (the sampler would never be called): pass "
                                 "negatives=None")
        self.k, self.update_every = int(k), int(update_every)
        self.batch = None if batch is None else int(batch)
        self.grad_clip = grad_clip
        self._objective_spec = objective
        self.objective: LossNetObjective | None = (
            objective if isinstance(objective, LossNetObjective) else None)
        self._negatives_spec = negatives
        self.negatives: Sampler | None = None if negatives == _DEFAULT else negatives
        default_n = DEFAULT_NUM_NEGATIVES if negatives is not None else 0
        self.num_negatives = int(num_negatives) if num_negatives is not None else default_n
        self.optimizer = optimizer
        self._lr = DEFAULT_LR if lr is None else float(lr)
        self._net: LossNet | None = None
        self._skeleton: Skeleton | None = None
        self._updates = 0
        self._skipped = 0

    # ------------------------------------------------------------------ binding
    def bind(self, net: LossNet, skeleton: Skeleton) -> None:
        """Attach the trainer to the loss-net it trains (once): build the default optimizer,
        the objective of a name and the default negatives for ``skeleton``.

        Raises:
            ValueError: the trainer is bound to another loss-net already, or its optimizer does
                not hold exactly ``net``'s parameters (naming the trainer's optimizer and the
                loss-net).
        """
        if self._net is not None:
            if self._net is net:
                return
            raise ValueError(f"{_OWNER}: this trainer already trains another loss-net; build one "
                             "trainer per wrapper (trainer= and lossnet= conflict)")
        if self.optimizer is not None:
            held = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
            own = {id(p) for p in net.parameters()}
            if held != own:
                raise ValueError(
                    f"the trainer's optimizer holds {len(held)} parameter tensors, the lossnet "
                    f"has {len(own)} and {len(held & own)} are shared: trainer.optimizer must be "
                    "built on lossnet.parameters() (trainer= and lossnet= conflict)")
        else:
            self.optimizer = torch.optim.Adam(net.parameters(), lr=self._lr)
        if self.objective is None:
            self.objective = make_objective(self._objective_spec, skeleton=skeleton)
        if self._negatives_spec == _DEFAULT:
            self.negatives = default_negatives(skeleton)
        self._net, self._skeleton = net, skeleton

    # ------------------------------------------------------------------ counters
    @property
    def updates(self) -> int:
        """Optimizer steps taken."""
        return self._updates

    @property
    def skipped(self) -> int:
        """Updates skipped (non-finite loss, gradient or prediction)."""
        return self._skipped

    def _need_net(self) -> LossNet:
        if self._net is None or self.objective is None or self.optimizer is None:
            raise RuntimeError(f"{_OWNER} is not bound to a loss-net (call bind(net, skeleton))")
        return self._net

    # ------------------------------------------------------------------ training
    def maybe_update(self, batch: ScoredBatch, call: int, generator: torch.Generator,
                     stats: SealStats) -> None:
        """On every ``update_every``-th labeled call: :meth:`update` on ``batch`` (detached),
        or count a skip when the prediction is unusable here or on another rank (every rank
        updates or none does: the update all-reduces gradients)."""
        net = self._need_net()
        if call % self.update_every != 0:
            return
        if dist.all_ok(batch.usable, net.device):
            assert batch.y_gt is not None  # labeled calls only
            self.update(batch.x.detach(), batch.y_gt.detach(), batch.y_hat.detach(), generator,
                        stats, call)
        elif batch.n > 0 or dist.world_size() > 1:
            self._skipped += 1

    def update(self, x: Tensor, y_gt: Tensor, y_hat: Tensor, generator: torch.Generator,
               stats: SealStats, call: int = 0) -> None:
        """``k`` ranking steps on ``(x, y*, negatives)``; ``x (N, J, 2)``, ``y_gt``, ``y_hat``
        ``(N, J, 3)`` detached canonical, metres. Fills the loss-net fields of ``stats``."""
        net = self._need_net()
        objective = self.objective
        assert objective is not None and self.optimizer is not None
        n = y_gt.shape[0]
        if self.batch is not None and n > self.batch:
            sel = torch.randperm(n, generator=generator)[: self.batch]
            sel = sel.to(y_gt.device)
            x, y_gt, y_hat = x[sel], y_gt[sel], y_hat[sel]
        # canonical root-relative targets for the samplers (root exactly zero)
        root = (self._skeleton or net.skeleton).root
        y_gt, y_hat = root_relative(y_gt, root), root_relative(y_hat, root)
        negs = [y_hat.unsqueeze(1)]
        if self.negatives is not None and self.num_negatives > 0:
            x_net = to_lossnet(x, net)

            def energy_fn(y: Tensor) -> Tensor:  # for hard negatives: (n, K, J, 3) -> (n, K)
                xx = x_net.unsqueeze(1).expand(-1, y.shape[1], -1, -1)
                was = net.training
                net.eval()
                try:
                    return net.energy(xx, to_lossnet(y, net)).to(y.dtype)
                finally:
                    net.train(was)

            negs.append(self.negatives(y_gt, self.num_negatives, generator,
                                       energy_fn=energy_fn).poses)
        y_neg = torch.cat(negs, dim=1)  # (n, K, J, 3)
        x, y_gt, y_neg = to_lossnet(x, net), to_lossnet(y_gt, net), to_lossnet(y_neg, net)
        was_training = net.training
        net.train()
        for _ in range(self.k):
            with torch.autocast(device_type=x.device.type, enabled=False):
                out = self.step(x, y_gt, y_neg, generator, where=f"at step {call}",
                                stacklevel=5)
            if out is None:
                break
            stats.lossnet_updated = True
            stats.lossnet_loss = out.loss.detach()
            # the prediction negative is index 0; statistics before this update
            gap = energy_gap(out.e_neg[:, 0], out.e_pos)
            stats.energy_gt = out.e_pos.detach().mean()
            stats.energy_gap, stats.energy_gap_std, stats.gap_snr = gap.mean, gap.std, gap.ratio
            cost = out.cost if out.cost is not None else _task_cost(
                y_neg.detach(), y_gt.detach(), "mpjpe"
            )
            stats.margin_violations = margin_violations(
                out.e_neg[:, 0], out.e_pos, cost[:, 0], objective.margin
            )
        net.train(was_training)

    def step(self, x: Tensor, y_gt: Tensor, y_neg: Tensor, generator: torch.Generator | None,
             *, where: str = "", stacklevel: int = 2) -> StepOutput | None:
        """One guarded optimizer step of :func:`~sealloss.objectives.lossnet_loss` on canonical
        ``x (B, J, 2)``, ``y_gt (B, J, 3)``, ``y_neg (B, K, J, 3)`` (the loss-net's dtype; the
        net in the mode the caller wants). Gradients are averaged over the ranks; a non-finite
        loss or gradient (on any rank) skips the step with a ``RuntimeWarning`` and returns
        ``None``. One host synchronisation."""
        net = self._need_net()
        opt, objective = self.optimizer, self.objective
        assert opt is not None and objective is not None
        out = lossnet_loss(net, x, y_gt, y_neg, objective, generator)
        loss = out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        dist.all_reduce_gradients(net.parameters())  # every rank holds the same gradients
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        flags = torch.stack([torch.isfinite(loss.detach()).all()]
                            + [torch.isfinite(g).all() for g in grads])
        loss_ok, *grads_ok = flags.tolist()  # one host sync per loss-net step
        if not dist.all_ok(bool(loss_ok) and all(grads_ok), loss.device):
            self._skipped += 1
            opt.zero_grad(set_to_none=True)
            what = ("gradients" if loss_ok else "loss (on this or another rank)")
            warnings.warn(
                f"sealloss: non-finite loss-net {what}{' ' + where if where else ''}; loss-net "
                f"step skipped ({self._skipped} so far)",
                RuntimeWarning,
                stacklevel=stacklevel + 1,
            )
            return None
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), self.grad_clip)
        opt.step()
        self._updates += 1
        return out

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """``{"optimizer", "updates", "skipped"}`` (the loss-net's weights belong to its owner)."""
        opt = self.optimizer
        return {"optimizer": None if opt is None else opt.state_dict(),
                "updates": self._updates, "skipped": self._skipped}

    def check_state(self, state: Mapping[str, Any]) -> tuple[int, int]:
        """Validate a :meth:`state_dict` without changing anything; returns the counters.

        Raises:
            ValueError: missing entries, counters that are not integers ``>= 0``, or an optimizer
                state this optimizer would accept but fail on at its next step (another kind of
                optimizer, other parameter shapes).
        """
        if not isinstance(state, Mapping):
            raise ValueError(f"trainer state must be a dict, got {type(state).__name__}")
        missing = [k for k in ("optimizer", "updates", "skipped") if k not in state]
        if missing:
            raise ValueError(f"trainer state is missing {missing}")
        counts = (check_count(state, "updates", "trainer state"),
                  check_count(state, "skipped", "trainer state"))
        if self.optimizer is not None and state["optimizer"] is not None:
            _check_optimizer_state(self.optimizer, state["optimizer"])
        return counts

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: all of it or nothing."""
        updates, skipped = self.check_state(state)
        opt = self.optimizer
        if opt is not None and state["optimizer"] is not None:
            before = copy.deepcopy(opt.state_dict())
            try:
                opt.load_state_dict(state["optimizer"])
            except Exception:
                opt.load_state_dict(before)
                raise
        self._updates, self._skipped = updates, skipped

    def __repr__(self) -> str:
        obj = self.objective or self._objective_spec
        if isinstance(obj, LossNetObjective):
            extra = " + dsm" if obj.dsm_weight else ""
            obj_s = f"{obj.ranking}{extra}(margin={obj.margin:g}, task_cost={obj.task_cost})"
        else:
            obj_s = repr(obj)
        opt = type(self.optimizer).__name__ if self.optimizer is not None else f"Adam({self._lr:g})"
        return (f"LossNetTrainer(optimizer={opt}, objective={obj_s}, k={self.k}, "
                f"update_every={self.update_every}, batch={self.batch}, "
                f"num_negatives={self.num_negatives}, updates={self._updates})")


def _check_optimizer_state(opt: torch.optim.Optimizer, saved: Any) -> None:
    """Refuse an optimizer state that ``opt`` would accept but fail on at its next step: one
    of another optimizer kind (its options are not this optimizer's), or with per-parameter
    tensors of other shapes."""
    kind = type(opt).__name__
    if not isinstance(saved, Mapping) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state"), Mapping):
        raise ValueError("trainer state: 'optimizer' is not an optimizer state_dict "
                         "(needs 'state' and 'param_groups')")
    groups = saved["param_groups"]
    if len(groups) != len(opt.param_groups):
        raise ValueError(f"trainer state: 'optimizer' has {len(groups)} parameter "
                         f"groups, this trainer's {kind} has {len(opt.param_groups)}")
    params = [p for g in opt.param_groups for p in g["params"]]
    for g, mine in zip(groups, opt.param_groups):
        if not isinstance(g, Mapping):
            raise ValueError("trainer state: 'optimizer' has a malformed param group")
        extra = sorted(set(g) - set(mine))
        if extra:
            raise ValueError(
                f"trainer state: 'optimizer' was saved by another kind of optimizer "
                f"(options {extra} that this trainer's {kind} does not have); build the trainer "
                f"with the same kind of optimizer to resume"
            )
    for idx, st in saved["state"].items():
        if not isinstance(idx, int) or not 0 <= idx < len(params) or not isinstance(st, Mapping):
            raise ValueError(f"trainer state: 'optimizer' has state for parameter "
                             f"{idx!r}, this trainer's {kind} has {len(params)} parameters")
        shape = params[idx].shape
        for name, t in st.items():
            if isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape != shape:
                raise ValueError(
                    f"trainer state: 'optimizer' entry {name!r} of parameter {idx} has "
                    f"shape {tuple(t.shape)}, the parameter has {tuple(shape)}"
                )

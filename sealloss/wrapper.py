"""AlternatingWrapper: adds a learned structural energy to a pose-net's training loop.

Per batch (METHOD.md sections 3-4):

1. every ``update_every`` batches (dynamic and warm modes), ``k`` loss-net steps ranking the
   ground truth ``y*`` below negatives: the pose-net's detached predictions plus synthetic
   perturbations of ``y*`` (one fused loss-net batch);
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
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from .checks import _MM_THRESHOLD_M, check_finite, guess_units
from .diagnostics import alignment as _alignment
from .diagnostics import energy_gap, force_ratio, margin_violations
from .errors import PoseShapeError
from .negatives import Sampler, default_negatives
from .nn.base import LossNet
from .objectives import COST_KINDS, OBJECTIVES, LossNetObjective, lossnet_loss, make_objective
from .objectives import task_cost as _task_cost
from .skeleton import Skeleton, get_skeleton

__all__ = ["AlternatingWrapper", "SealStats", "default_negatives"]

log = logging.getLogger(__name__)

_MODES = ("dynamic", "static", "warm")


@dataclass
class SealStats:
    """Diagnostics of one wrapper call (METHOD.md s.4). NaN where not measured this step."""

    step: int = 0
    lam: float = float("nan")
    energy_pred: float = float("nan")
    energy_gt: float = float("nan")
    energy_gap: float = float("nan")
    gap_snr: float = float("nan")
    margin_violations: float = float("nan")
    lossnet_loss: float = float("nan")
    force_ratio: float = float("nan")
    alignment: float = float("nan")
    scored: int = 0
    lossnet_updated: bool = False
    skipped_energy_steps: int = 0
    skipped_lossnet_steps: int = 0

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


@dataclass
class _LamState:
    value: float
    ema_ratio: float | None = None  # EMA of force per unit lambda
    sup_norm: float | None = None  # EMA of ||dL_sup/dy_hat|| (labeled calls; unlabeled auto)


def _check_number(name: str, value: Any, low: float, *, strict: bool = False,
                  integer: bool = False, high: float = math.inf) -> None:
    """Refuse an option that is not a finite number in ``[low, high]`` (``(low, high]`` when
    ``strict``), naming it."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = float(value).is_integer()
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if strict else v >= low) and v <= high
    if not ok:
        kind = "an integer" if integer else "a finite number"
        bound = f"> {low:g}" if strict else f">= {low:g}"
        upper = f" and <= {high:g}" if math.isfinite(high) else ""
        raise ValueError(f"AlternatingWrapper: {name} must be {kind} {bound}{upper}, got "
                         f"{value!r}")


def _flatten_poses(x: Tensor, dim: int, what: str) -> tuple[Tensor, tuple[int, ...]]:
    if x.dim() < 3 or x.shape[-1] != dim:
        hint = ""
        if x.dim() >= 3 and x.shape[-1] in (2, 3) and dim in (2, 3):
            hint = f"; a {x.shape[-1]}D pose was given where a {dim}D one is expected: swapped?"
        raise PoseShapeError(
            f"{what}: expected (B, J, {dim}) or (B, T, J, {dim}) canonical poses, got "
            f"{tuple(x.shape)} (pass an adapter= to convert upstream layouts{hint})"
        )
    return x.reshape(-1, x.shape[-2], dim), tuple(x.shape[:-2])


def _world_size() -> int:
    """Processes in the default ``torch.distributed`` group (1 when not initialised)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def _all_ok(flag: bool, device: torch.device) -> bool:
    """``flag`` agreed by every rank (logical AND); a collective when distributed.

    Every rank must reach the same calls in the same order, or the job hangs: this is why a
    step that one rank wants to skip is skipped by all of them.
    """
    if _world_size() == 1:
        return flag
    t = torch.tensor([0.0 if flag else 1.0], device=device)
    torch.distributed.all_reduce(t)
    return bool(t.item() == 0)


def _mean_over_ranks(value: float | None, device: torch.device) -> float | None:
    """Mean of the ranks' values (``None`` = no value on this rank); a collective when
    distributed. ``None`` when no rank has a value."""
    if _world_size() == 1:
        return value
    t = torch.tensor([value or 0.0, 0.0 if value is None else 1.0], device=device,
                     dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t[0] / t[1]) if t[1] > 0 else None


class AlternatingWrapper:
    """Alternates loss-net updates with pose-net updates that add ``lam * E``.

    Args:
        optimizer: the pose-net's optimizer (kept for :meth:`step`; optional).
        lossnet: a :class:`~sealloss.nn.LossNet`, a pretrained name or path (loaded with
            :func:`sealloss.hub.load_lossnet`), or ``None`` for a fresh
            :class:`~sealloss.nn.GraphormerLossNet` (dynamic mode only).
        lam: ``float``, a callable ``step -> float``, or ``"auto"`` (keeps the force ratio
            ``||lam dE/dy_hat|| / ||dL_sup/dy_hat||`` at ``target_force_ratio`` by an EMA).
        mode: ``"dynamic"`` (loss-net trains alongside), ``"static"`` (frozen, usually
            pretrained), ``"warm"`` (pretrained, then fine-tuned: needs ``lossnet``).
        skeleton: skeleton of the canonical poses (default: the loss-net's).
        adapter: converts upstream tensors (see :mod:`sealloss.adapters`); ``None`` when the
            caller passes canonical tensors (2D ``(.., J, 2)`` screen frame, 3D ``(.., J, 3)``
            root-relative metres).
        k: loss-net steps per update.
        update_every: update the loss-net every this many calls.
        lossnet_lr: Adam learning rate of the loss-net (ignored if ``lossnet_optimizer``).
        objective: the loss-net's training objective (:func:`sealloss.objectives.lossnet_loss`):
            one of :data:`~sealloss.objectives.OBJECTIVES` (``"margin"``: margin-rescaled
            hinge, per-sample cost; ``"nce"``; ``"dsm"``: denoising score matching;
            ``"margin+dsm"`` / ``"nce+dsm"``: ranking + DSM + gradient matching at the
            negatives, so ``-dE/dy`` points at the truth) or a
            :class:`~sealloss.objectives.LossNetObjective` (then ``margin``, ``task_cost``,
            ``temperature`` and ``energy_reg`` are taken from it).
        margin: energy units per metre of task cost (margin objective).
        task_cost: the margin's per-negative cost Delta (:func:`sealloss.objectives.task_cost`):
            ``"mpjpe"`` (default), ``"mse"``, ``"bone"`` (mean bone-length error) or
            ``"mpjpe+bone"`` (their sum, metres): makes a structurally wrong negative need a
            wider energy gap than a joint-noise one of equal MPJPE.
        temperature: NCE temperature.
        energy_reg: weight of the energy-magnitude regulariser.
        negatives: a :class:`~sealloss.negatives.Sampler` of synthetic negatives (``None``: only
            predictions), default :func:`default_negatives`.
        num_negatives: synthetic negatives per ground truth.
        lossnet_batch: at most this many ground-truth poses per loss-net step (subsampled).
        score_fraction: share of the batch's poses scored for the pose-net term (unbiased
            subsample of the mean energy).
        frames_per_clip: for ``(B, T, J, 3)`` outputs, score this many random frames per clip.
        target_force_ratio: force ratio kept by ``lam="auto"``.
        lam_init: starting lambda for ``"auto"``.
        lam_ema: EMA factor of the auto-lambda force measurement.
        lam_bounds: clamp of the auto lambda.
        force_every: measure the force ratio every this many calls (auto lambda and logs).
        lam_unlabeled: weight of the energy on unlabeled batches (:meth:`unlabeled`): a float,
            a callable ``unlabeled_step -> float`` or ``"auto"``: keeps
            ``||lam_u dE/dy_u|| / ||dL_sup/dy_hat||`` at ``unlabeled_force_ratio``, against the
            supervised pull measured on the labeled calls (an EMA; use batches of equal size).
        unlabeled_force_ratio: force ratio kept by ``lam_unlabeled="auto"``.
        grad_clip: max-norm clipping of the loss-net gradients (``None`` = off).
        seed: seeds the wrapper's own generator (negatives, subsets): deterministic runs.
        log_every: log diagnostics every this many calls (``logging`` INFO).

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
        _check_number("unlabeled_force_ratio", unlabeled_force_ratio, 0.0)
        _check_number("k", k, 1, integer=True)
        _check_number("update_every", update_every, 1, integer=True)
        _check_number("force_every", force_every, 1, integer=True)
        _check_number("log_every", log_every, 1, integer=True)
        _check_number("num_negatives", num_negatives, 0, integer=True)
        _check_number("lossnet_lr", lossnet_lr, 0.0, strict=True)
        _check_number("target_force_ratio", target_force_ratio, 0.0)
        _check_number("lam_init", lam_init, 0.0, strict=True)
        _check_number("lam_ema", lam_ema, 0.0, high=0.999999)
        if lossnet_batch is not None:
            _check_number("lossnet_batch", lossnet_batch, 1, integer=True)
        if frames_per_clip is not None:
            _check_number("frames_per_clip", frames_per_clip, 1, integer=True)
        if grad_clip is not None:
            _check_number("grad_clip", grad_clip, 0.0, strict=True)
        if (
            not isinstance(lam_bounds, (tuple, list))
            or len(lam_bounds) != 2
            or not all(isinstance(b, (int, float)) and math.isfinite(b) for b in lam_bounds)
            or not 0 < lam_bounds[0] <= lam_bounds[1]
        ):
            raise ValueError(
                f"AlternatingWrapper: lam_bounds must be (low, high) with 0 < low <= high, "
                f"finite; got {lam_bounds!r}"
            )
        self.optimizer = optimizer
        self.mode = mode
        self.lossnet = self._resolve_lossnet(lossnet, mode, skeleton, device)
        self.skeleton = get_skeleton(skeleton) if skeleton is not None else self.lossnet.skeleton
        self.lossnet.skeleton.check_compatible(self.skeleton, "the wrapper's skeleton")
        self.adapter = adapter
        self.k = int(k)
        self.update_every = max(1, int(update_every))
        if task_cost not in COST_KINDS:
            raise ValueError(f"task_cost must be one of {COST_KINDS}, got {task_cost!r}")
        self.objective: LossNetObjective = make_objective(
            objective, margin=float(margin), task_cost=task_cost,
            temperature=float(temperature), energy_reg=float(energy_reg), skeleton=self.skeleton,
        )
        self.negatives = default_negatives(self.skeleton) if negatives == "default" else negatives
        self.num_negatives = int(num_negatives) if self.negatives is not None else 0
        self.lossnet_batch = lossnet_batch
        self.score_fraction = float(score_fraction)
        self.frames_per_clip = frames_per_clip
        self.lam_mode = "auto" if lam == "auto" else ("schedule" if callable(lam) else "fixed")
        self._lam_fn = lam if callable(lam) else None
        self._lam = _LamState(float(lam_init) if lam == "auto" else float("nan"))
        if self.lam_mode == "fixed":
            self._lam.value = float(lam)  # type: ignore[arg-type]
        self.lam_u_mode = (
            "auto" if lam_unlabeled == "auto" else ("schedule" if callable(lam_unlabeled)
                                                    else "fixed")
        )
        self._lam_u_fn = lam_unlabeled if callable(lam_unlabeled) else None
        self._lam_u = _LamState(
            float(lam_init) if self.lam_u_mode == "auto" else float("nan")
        )
        if self.lam_u_mode == "fixed":
            self._lam_u.value = float(lam_unlabeled)  # type: ignore[arg-type]
        self.unlabeled_force_ratio = float(unlabeled_force_ratio)
        self.unlabeled_steps = 0
        self.skipped_unlabeled_steps = 0
        self.last_unlabeled_stats = SealStats()
        self.target_force_ratio = float(target_force_ratio)
        self.lam_ema = float(lam_ema)
        self.lam_bounds = lam_bounds
        self.force_every = max(1, int(force_every))
        self.grad_clip = grad_clip
        self.log_every = max(1, int(log_every))
        self.generator = torch.Generator(device="cpu").manual_seed(int(seed))
        self.steps = 0
        self.lossnet_updates = 0
        self.skipped_energy_steps = 0
        self.skipped_lossnet_steps = 0
        self.last_stats = SealStats()
        self._ranks_synced = False
        if mode == "static":
            self.lossnet.requires_grad_(False)
            self.lossnet_optimizer = None
        else:
            self.lossnet.requires_grad_(True)
            self.lossnet_optimizer = lossnet_optimizer or torch.optim.Adam(
                self.lossnet.parameters(), lr=lossnet_lr
            )

    # ------------------------------------------------------------------ set-up helpers
    @staticmethod
    def _resolve_lossnet(lossnet, mode, skeleton, device) -> LossNet:
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
        if device is not None:
            net = net.to(device)
        return net

    @property
    def lam(self) -> float:
        """The lambda used at the current step."""
        if self.lam_mode == "schedule":
            return float(self._lam_fn(self.steps))  # type: ignore[misc]
        return self._lam.value

    @property
    def lam_unlabeled(self) -> float:
        """The unlabeled-batch lambda used at the current unlabeled step."""
        if self.lam_u_mode == "schedule":
            return float(self._lam_u_fn(self.unlabeled_steps))  # type: ignore[misc]
        return self._lam_u.value

    # ------------------------------------------------------------------ conversion
    def _canonical(
        self, x2d: Tensor, y_hat: Tensor, y_gt: Tensor | None, subsample: bool = True
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Upstream tensors -> flattened canonical ``(N, J, 2)``, ``(N, J, 3)`` and the target
        (``None`` for unlabeled batches)."""
        a = self.adapter
        if a is not None and hasattr(a, "convert"):
            # one call, so adapters whose scale depends on the target (MotionBERT) stay consistent
            c = a.convert(x2d, y_hat, y_gt)
            x2d, y_hat, y_gt = c.x2d, c.pred, c.target
        elif a is not None:
            x2d, y_hat = a.inputs_2d(x2d), a.pred_3d(y_hat)
            y_gt = a.target_3d(y_gt) if y_gt is not None else None
        if x2d.dim() and y_hat.dim() and x2d.shape[-1] == 3 and y_hat.shape[-1] == 2:
            raise PoseShapeError(
                f"2D input {tuple(x2d.shape)} has 3 coordinates and prediction "
                f"{tuple(y_hat.shape)} has 2: the arguments look swapped; the call is "
                "seal(loss_sup, x2d, y_hat, y_gt)"
            )
        if x2d.shape[:-1] != y_hat.shape[:-1] or (y_gt is not None and y_gt.shape != y_hat.shape):
            raise PoseShapeError(
                f"2D input {tuple(x2d.shape)}, prediction {tuple(y_hat.shape)} and target "
                f"{None if y_gt is None else tuple(y_gt.shape)} must share (B, [T,] J) after "
                "conversion"
            )
        fpc = self.frames_per_clip if subsample else None
        if y_hat.dim() == 4 and fpc and fpc < y_hat.shape[1]:
            t = y_hat.shape[1]
            idx = torch.randperm(t, generator=self.generator)[:fpc]
            idx = idx.to(y_hat.device)
            x2d, y_hat = x2d.index_select(1, idx), y_hat.index_select(1, idx)
            y_gt = y_gt.index_select(1, idx) if y_gt is not None else None
        x2d, _ = _flatten_poses(x2d, 2, "2D input")
        y_hat, _ = _flatten_poses(y_hat, 3, "prediction")
        if y_gt is not None:
            y_gt, _ = _flatten_poses(y_gt, 3, "target")
        return x2d, y_hat, y_gt

    def _check_batch(self, x: Tensor, y_gt: Tensor | None) -> None:
        """Data errors that must stop the run with a clear message (flattened canonical
        ``x (N, J, 2)``, ``y_gt (N, J, 3)``): wrong joint count, NaN/Inf, millimetre targets."""
        j = self.skeleton.num_joints
        if x.shape[-2] != j:
            raise PoseShapeError(
                f"poses have {x.shape[-2]} joints but the skeleton {self.skeleton.name!r} has "
                f"{j}: pass an adapter= (joint map) or a loss-net made for this skeleton"
            )
        check_finite(x, "x2d (2D input)")
        if y_gt is None:
            return
        check_finite(y_gt, "y_gt (3D target)")
        if y_gt.shape[0]:
            r = self.skeleton.root
            with torch.no_grad():
                med = float((y_gt - y_gt[:, r : r + 1]).float().norm(dim=-1).median())
            if med > _MM_THRESHOLD_M:
                name, div = guess_units(med)
                raise PoseShapeError(
                    f"y_gt (3D target): median joint distance from the root is {med:.1f}: the "
                    f"targets look like {name}, but canonical poses are in metres (divide by "
                    f"{div:g} or pass an adapter= that converts units)"
                )

    def _to_net(self, t: Tensor) -> Tensor:
        p = next(self.lossnet.parameters())
        return t.to(device=p.device, dtype=p.dtype)

    # ------------------------------------------------------------------ loss-net step
    def _lossnet_update(self, x: Tensor, y_gt: Tensor, y_hat: Tensor, stats: SealStats) -> None:
        """k ranking steps on (x, y*, negatives); x, y_gt, y_hat detached canonical (N, J, *)."""
        n = y_gt.shape[0]
        if self.lossnet_batch is not None and n > self.lossnet_batch:
            sel = torch.randperm(n, generator=self.generator)[: self.lossnet_batch]
            sel = sel.to(y_gt.device)
            x, y_gt, y_hat = x[sel], y_gt[sel], y_hat[sel]
            n = self.lossnet_batch
        # canonical root-relative targets for the samplers (root exactly zero)
        root = self.skeleton.root
        y_gt = y_gt - y_gt[:, root : root + 1]
        y_hat = y_hat - y_hat[:, root : root + 1]
        negs = [y_hat.unsqueeze(1)]
        if self.negatives is not None and self.num_negatives > 0:
            x_net = self._to_net(x)
            net_ = self.lossnet

            def energy_fn(y: Tensor) -> Tensor:  # for hard negatives: (n, K, J, 3) -> (n, K)
                kk = y.shape[1]
                xx = x_net.unsqueeze(1).expand(-1, kk, -1, -1)
                was = net_.training
                net_.eval()
                try:
                    return net_.energy(xx, self._to_net(y)).to(y.dtype)
                finally:
                    net_.train(was)

            negs.append(
                self.negatives(y_gt, self.num_negatives, self.generator, energy_fn=energy_fn).poses
            )
        y_neg = torch.cat(negs, dim=1)  # (n, K, J, 3)
        x, y_gt, y_neg = self._to_net(x), self._to_net(y_gt), self._to_net(y_neg)
        net = self.lossnet
        was_training = net.training
        net.train()
        for _ in range(self.k):
            with torch.autocast(device_type=x.device.type, enabled=False):
                out = lossnet_loss(net, x, y_gt, y_neg, self.objective, self.generator)
            loss = out.loss
            if not _all_ok(bool(torch.isfinite(loss)), loss.device):
                self.skipped_lossnet_steps += 1
                warnings.warn(
                    f"sealloss: non-finite loss-net loss at step {self.steps} (on this or "
                    f"another rank); loss-net step skipped ({self.skipped_lossnet_steps} so far)",
                    RuntimeWarning,
                    stacklevel=4,
                )
                break
            self.lossnet_optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]
            loss.backward()
            self._all_reduce_lossnet_grads()  # after it every rank holds the same gradients
            grads_ok = all(
                p.grad is None or torch.isfinite(p.grad).all() for p in net.parameters()
            )
            if not grads_ok:
                self.skipped_lossnet_steps += 1
                self.lossnet_optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]
                warnings.warn(
                    f"sealloss: non-finite loss-net gradients at step {self.steps}; skipped",
                    RuntimeWarning,
                    stacklevel=4,
                )
                break
            if self.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.grad_clip)
            self.lossnet_optimizer.step()  # type: ignore[union-attr]
            self.lossnet_updates += 1
            stats.lossnet_updated = True
            stats.lossnet_loss = float(loss.detach())
            # the prediction negative is index 0; statistics before this update
            gap = energy_gap(out.e_neg[:, 0], out.e_pos)
            stats.energy_gt = float(out.e_pos.detach().mean())
            stats.energy_gap = float(gap.mean)
            stats.gap_snr = float(gap.ratio)
            cost = out.cost if out.cost is not None else _task_cost(
                y_neg.detach(), y_gt.detach(), "mpjpe"
            )
            stats.margin_violations = float(
                margin_violations(out.e_neg[:, 0], out.e_pos, cost[:, 0], self.objective.margin)
            )
        net.train(was_training)

    def _sync_ranks_once(self) -> None:
        """Distributed: copy rank 0's loss-net weights to every rank, once, at the first
        training call (the ranks may have initialised or loaded different weights)."""
        if self._ranks_synced:
            return
        self._ranks_synced = True
        if _world_size() == 1:
            return
        with torch.no_grad():
            for t in self.lossnet.state_dict().values():
                torch.distributed.broadcast(t, src=0)

    def _all_reduce_lossnet_grads(self) -> None:
        world = _world_size()
        if world == 1:
            return
        for p in self.lossnet.parameters():
            if p.grad is not None:
                torch.distributed.all_reduce(p.grad)
                p.grad.div_(world)

    # ------------------------------------------------------------------ pose-net term
    def _energy_surrogate(
        self, x: Tensor, y_hat: Tensor, y_gt: Tensor | None, stats: SealStats
    ) -> Tensor | None:
        """Value ``mean E(x, y_hat)``; gradient w.r.t. ``y_hat`` that of the mean energy.

        ``None`` (and a warning) when the energy or its gradient is not finite.
        """
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
        if not (torch.isfinite(e).all() and torch.isfinite(g).all()):
            self.skipped_energy_steps += 1
            warnings.warn(
                f"sealloss: non-finite energy or energy gradient at step {self.steps}; the energy "
                f"term is skipped for this batch ({self.skipped_energy_steps} so far)",
                RuntimeWarning,
                stacklevel=4,
            )
            return None
        g = g.to(device=y_hat.device, dtype=y_hat.dtype)
        stats.energy_pred = float(e.detach().mean())
        if y_gt is not None:
            r = self.skeleton.root
            yh_rel = y_hat.detach() - y_hat.detach()[:, r : r + 1]
            yg_rel = y_gt.detach() - y_gt.detach()[:, r : r + 1]
            stats.alignment = float(_alignment(g, yh_rel, yg_rel))
        e_mean = e.mean().detach().to(y_hat.device)
        return e_mean + (g * (y_hat - y_hat.detach())).sum()

    @staticmethod
    def _grad_norms(
        loss_sup: Tensor | None, y_hat_up: Tensor, term: Tensor | None
    ) -> tuple[float | None, float | None]:
        """``(||d L_sup / d y_hat||, ||d term / d y_hat||)`` on this rank (None: not
        measurable or not finite/positive)."""

        def norm(t: Tensor | None) -> float | None:
            if t is None or not (t.requires_grad and y_hat_up.requires_grad):
                return None
            (g,) = torch.autograd.grad(t, y_hat_up, retain_graph=True, allow_unused=True)
            if g is None:
                return None
            v = float(g.detach().double().norm())
            return v if math.isfinite(v) and v > 0 else None

        return norm(loss_sup), norm(term)

    def _force_per_unit(
        self, loss_sup: Tensor, y_hat_up: Tensor, term: Tensor | None
    ) -> float | None:
        """``||d term / d y_hat|| / ||d L_sup / d y_hat||`` on this rank (None: not measurable);
        also keeps the EMA of the supervised pull that the unlabeled auto-lambda uses."""
        n_sup, n_e = self._grad_norms(loss_sup, y_hat_up, term)
        if n_sup is not None:
            ema = self._lam_u.sup_norm
            self._lam_u.sup_norm = (
                n_sup if ema is None else self.lam_ema * ema + (1 - self.lam_ema) * n_sup
            )
        if n_sup is None or n_e is None:
            return None
        return float(force_ratio(torch.tensor(n_e), torch.tensor(n_sup), 1.0))

    def _update_lambda(
        self, loss_sup: Tensor, y_hat_up: Tensor, term: Tensor | None, stats: SealStats
    ) -> None:
        """Measure the force ratio and, for ``lam="auto"``, move lambda towards the target.

        Distributed: the per-unit force is averaged over the ranks (every rank reaches this call
        at the same steps), so all ranks keep the same lambda.
        """
        need = (
            self.lam_mode == "auto"
            or self.lam_u_mode == "auto"
            or self.steps % self.log_every == 0
        )
        if not need or self.steps % self.force_every != 0:
            return
        per_unit = self._force_per_unit(loss_sup, y_hat_up, term)
        if per_unit is not None:
            stats.force_ratio = self.lam * per_unit
        if self.lam_mode != "auto":
            return
        per_unit = _mean_over_ranks(per_unit, self.lossnet.device)
        if per_unit is None:
            return
        ema = self._lam.ema_ratio
        ema = per_unit if ema is None else self.lam_ema * ema + (1 - self.lam_ema) * per_unit
        self._lam.ema_ratio = ema
        lo, hi = self.lam_bounds
        self._lam.value = min(hi, max(lo, self.target_force_ratio / ema))

    def _eval_term(self, loss_sup: Tensor, x2d: Tensor, y_hat: Tensor, y_gt: Tensor) -> Tensor:
        """``lam * mean E(x, y_hat)`` as a value, for calls under ``torch.no_grad()``
        (validation): no loss-net update, no lambda update, no counter or RNG change."""
        x, yh, yg = self._canonical(x2d, y_hat, y_gt, subsample=False)
        self._check_batch(x, yg)
        return self._score_only(x, yh, self.lam, loss_sup)

    def _score_only(self, x: Tensor, yh: Tensor, lam: float, like: Tensor) -> Tensor:
        """``lam * mean E(x, yh)`` without any state change, in ``like``'s dtype/device; 0 (and
        a warning) for an empty batch or a non-finite prediction, energy or lambda."""
        zero = like.new_zeros(())
        if yh.shape[0] == 0:
            return zero
        net = self.lossnet
        was_training = net.training
        net.eval()
        ok = bool(torch.isfinite(yh).all()) and math.isfinite(lam)
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

    # ------------------------------------------------------------------ public API
    def energy_term(self, loss_sup: Tensor, x2d: Tensor, y_hat: Tensor, y_gt: Tensor) -> Tensor:
        """Run the loss-net update(s) and return ``lam * mean E(x, y_hat)`` only.

        For loops that backpropagate their loss in an unusual way (MixSTE/KTPFormer call
        ``loss.backward(loss.clone().detach())``): call ``.backward(retain_graph=True)`` on this
        term separately. Returns a zero tensor that still accepts ``.backward()`` when the term
        is skipped (empty batch, non-finite prediction or energy).

        Under ``torch.no_grad()`` (validation) it only scores: no loss-net update, no lambda
        update, no change of counters or RNG state.

        Raises:
            PoseShapeError: wrong shapes or joint count, 2D/3D swapped, targets in millimetres.
            NonFiniteError: NaN/Inf in ``x2d`` or ``y_gt`` (a data error). A non-finite
                prediction ``y_hat`` is not an error: the step's energy term and loss-net update
                are skipped with a ``RuntimeWarning`` and counted in ``skipped_energy_steps``.
        """
        if not torch.is_grad_enabled():
            return self._eval_term(loss_sup, x2d, y_hat, y_gt)
        stats = SealStats(step=self.steps)
        x, yh, yg = self._canonical(x2d, y_hat, y_gt)
        self._check_batch(x, yg)
        self._sync_ranks_once()
        n = yh.shape[0]
        usable = n > 0 and bool(torch.isfinite(yh.detach()).all())
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
            if _all_ok(usable, self.lossnet.device):
                self._lossnet_update(x.detach(), yg.detach(), yh.detach(), stats)
            elif n > 0 or _world_size() > 1:
                self.skipped_lossnet_steps += 1
        term = self._energy_surrogate(x, yh, yg, stats) if usable else None
        self._update_lambda(loss_sup, y_hat, term, stats)
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
        if self.steps % self.log_every == 0:
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
        prediction or lambda skips the term with a ``RuntimeWarning`` (counted in
        ``skipped_unlabeled_steps``). Under ``torch.no_grad()`` it only scores. Statistics of the
        last call: :attr:`unlabeled_stats`.

        Args:
            x2d: ``(B, [T,] J, 2)`` 2D inputs (or the adapter's upstream layout).
            y_hat: ``(B, [T,] J, 3)`` predictions, metres (or the adapter's layout).

        Returns:
            0-dim tensor (a zero that accepts ``.backward()`` when skipped).
        """
        x, yh, _ = self._canonical(x2d, y_hat, None, subsample=torch.is_grad_enabled())
        self._check_batch(x, None)
        if not torch.is_grad_enabled():
            return self._score_only(x, yh, self.lam_unlabeled, y_hat)
        stats = SealStats(step=self.unlabeled_steps)
        self._sync_ranks_once()
        n = yh.shape[0]
        usable = n > 0 and bool(torch.isfinite(yh.detach()).all())
        term = self._energy_surrogate(x, yh, None, stats) if usable else None
        if term is not None and self.unlabeled_steps % self.force_every == 0:
            _, n_e = self._grad_norms(None, y_hat, term)
            sup = self._lam_u.sup_norm
            per_unit = n_e / sup if (n_e is not None and sup) else None
            if per_unit is not None:
                stats.force_ratio = self.lam_unlabeled * per_unit
            if self.lam_u_mode == "auto":
                per_unit = _mean_over_ranks(per_unit, self.lossnet.device)
                if per_unit is not None:
                    ema = self._lam_u.ema_ratio
                    ema = per_unit if ema is None else (
                        self.lam_ema * ema + (1 - self.lam_ema) * per_unit
                    )
                    self._lam_u.ema_ratio = ema
                    lo, hi = self.lam_bounds
                    self._lam_u.value = min(hi, max(lo, self.unlabeled_force_ratio / ema))
        lam = self.lam_unlabeled
        if n > 0 and (term is None or not (math.isfinite(lam) and lam >= 0)):
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

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped pose-net optimizer's ``step``."""
        if self.optimizer is None:
            raise RuntimeError("AlternatingWrapper was built without an optimizer")
        return self.optimizer.step(*args, **kwargs)

    @property
    def stats(self) -> dict[str, float]:
        """Diagnostics of the last call as plain floats."""
        return self.last_stats.as_dict()

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Loss-net weights, its optimizer, counters, auto-lambda state and the RNG state."""
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
            "lam_value": self._lam.value,
            "lam_ema_ratio": self._lam.ema_ratio,
            "generator": self.generator.get_state(),
            "mode": self.mode,
            "lam_mode": self.lam_mode,
            "lam_sup_norm": self._lam_u.sup_norm,
            "unlabeled": {
                "lam_mode": self.lam_u_mode,
                "lam_value": self._lam_u.value,
                "lam_ema_ratio": self._lam_u.ema_ratio,
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
        if unl is not None and unl.get("lam_mode", self.lam_u_mode) != self.lam_u_mode:
            raise ValueError(
                f"state was saved with lam_unlabeled mode {unl['lam_mode']!r}, this wrapper's "
                f"is {self.lam_u_mode!r}: build it with the same kind of lam_unlabeled to resume"
            )
        if state.get("lam_mode", self.lam_mode) != self.lam_mode:
            raise ValueError(
                f"state was saved with lam mode {state['lam_mode']!r}, this wrapper's lam is "
                f"{self.lam_mode!r}: build the wrapper with the same kind of lam (a float, a "
                "schedule or 'auto') to resume"
            )
        cfg = state.get("lossnet_config")
        if cfg is not None and _jsonable(cfg) != _jsonable(self.lossnet.config):
            raise ValueError(
                "state holds a loss-net of another config than this wrapper's "
                f"(saved {_jsonable(cfg)}, here {_jsonable(self.lossnet.config)})"
            )
        net_before = {k: v.detach().clone() for k, v in self.lossnet.state_dict().items()}
        opt_before = (
            copy.deepcopy(self.lossnet_optimizer.state_dict()) if self.lossnet_optimizer else None
        )
        gen_before = self.generator.get_state()
        try:
            counters = {k: int(state[k]) for k in required[1:5]}
            lam_value = float(state["lam_value"])
            ema = state["lam_ema_ratio"]
            ema = None if ema is None else float(ema)
            sup = state.get("lam_sup_norm")
            sup = None if sup is None else float(sup)
            u = None
            if unl is not None:
                u = (float(unl["lam_value"]),
                     None if unl["lam_ema_ratio"] is None else float(unl["lam_ema_ratio"]),
                     int(unl["steps"]), int(unl["skipped"]))
            self.lossnet.load_state_dict(state["lossnet"], strict=True)
            if self.lossnet_optimizer is not None and state.get("lossnet_optimizer") is not None:
                self.lossnet_optimizer.load_state_dict(state["lossnet_optimizer"])
            self.generator.set_state(state["generator"])
        except Exception:
            self.lossnet.load_state_dict(net_before)
            if self.lossnet_optimizer is not None and opt_before is not None:
                self.lossnet_optimizer.load_state_dict(opt_before)
            self.generator.set_state(gen_before)
            raise
        self.steps = counters["steps"]
        self.lossnet_updates = counters["lossnet_updates"]
        self.skipped_energy_steps = counters["skipped_energy_steps"]
        self.skipped_lossnet_steps = counters["skipped_lossnet_steps"]
        self._lam.value = lam_value
        self._lam.ema_ratio = ema
        self._lam_u.sup_norm = sup
        if u is not None:
            self._lam_u.value, self._lam_u.ema_ratio = u[0], u[1]
            self.unlabeled_steps, self.skipped_unlabeled_steps = u[2], u[3]


def _jsonable(cfg: Any) -> Any:
    """A config compared by value (tuples and lists alike, as after a JSON round trip)."""
    import json

    return json.loads(json.dumps(cfg, sort_keys=True, default=str))


def _fmt(d: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in d.items() if not math.isnan(v))

"""The pose-net's energy term: ``lam * mean E(x, y_hat)`` on a scored subset of the batch, as a
first-order surrogate, with the force measurement that drives ``lam="auto"`` and scoring without
any state change (calls under ``torch.no_grad()``).

The surrogate: one backward through the frozen loss-net (eval mode) w.r.t. the scored poses
only gives ``g = d mean E / d y_hat``; the term ``mean E + sum(g * (y_hat - y_hat.detach()))``
has the value ``mean E`` and the gradient ``g``, so the caller's ``backward`` never runs
through the loss-net and never touches its parameter gradients.

Labeled and unlabeled batches go through **one** path (:meth:`EnergyTerm.term`): the same
skips (a non-finite prediction, energy or lambda drops the term with a ``RuntimeWarning`` and
a count), the same zero, the same force measurement. They differ only in the reference pull
the force is measured against: a labeled call measures ``||dL_sup/dy_hat||`` and keeps an EMA
of it; an unlabeled call (no supervised loss) is compared with that EMA, per pose.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..defaults import RECOMMENDED
from ..nn.base import LossNet
from ..pose.canonical import root_relative
from ..pose.skeleton import Skeleton
from . import distributed as dist
from .batch import ScoredBatch, to_lossnet
from .diagnostics import NAN, SealStats, force_ratio
from .diagnostics import alignment as _alignment
from .lam import LambdaController
from .options import check_count, check_number

__all__ = ["EnergyTerm", "LABELED", "UNLABELED"]

LABELED, UNLABELED = "labeled", "unlabeled"
_OWNER = "EnergyTerm"


def _usable_norm(n: Tensor) -> Tensor:
    """A gradient norm that can be used: finite and positive (bool 0-dim tensor)."""
    return torch.isfinite(n) & (n > 0)


def _host_floats(*ts: Tensor | None) -> list[float | None]:
    """The given 0-dim tensors as floats in **one** host synchronisation (``None`` stays)."""
    present = [t for t in ts if t is not None]
    if not present:
        return [None] * len(ts)
    dev = present[0].device
    vals = iter(torch.stack([t.detach().double().to(dev) for t in present]).tolist())
    return [None if t is None else next(vals) for t in ts]


def _grad_norm(t: Tensor | None, y_hat_up: Tensor) -> Tensor | None:
    """``||d t / d y_hat||`` (float64 0-dim, may be non-finite or 0; not read here), or
    ``None`` when ``t`` does not depend on ``y_hat``."""
    if t is None or not (t.requires_grad and y_hat_up.requires_grad):
        return None
    (g,) = torch.autograd.grad(t, y_hat_up, retain_graph=True, allow_unused=True)
    return None if g is None else g.detach().double().norm()


class EnergyTerm:
    """The pose-net term of the wrapper, and the owner of the scored batch.

    Args:
        score_fraction: share of the batch's poses scored, in ``(0, 1]`` (an unbiased subsample
            of the mean energy; at least one pose).
        frames_per_clip: for ``(B, T, J, 3)`` outputs, score this many random frames per clip
            (the same frames for every clip); ``None``: all.
        force_every: measure the force ratio on every this many calls of each kind.

    Counters (read-only): :attr:`steps` / :attr:`skipped` of labeled calls,
    :attr:`unlabeled_steps` / :attr:`skipped_unlabeled` of unlabeled ones. State: the counters
    and the EMA of the supervised pull (:meth:`state_dict`).
    """

    def __init__(self, *, score_fraction: float = RECOMMENDED["score_fraction"],
                 frames_per_clip: int | None = None, force_every: int = 1) -> None:
        check_number("score_fraction", score_fraction, 0.0, strict=True, high=1.0, owner=_OWNER)
        if frames_per_clip is not None:
            check_number("frames_per_clip", frames_per_clip, 1, integer=True, owner=_OWNER)
        check_number("force_every", force_every, 1, integer=True, owner=_OWNER)
        self.score_fraction = float(score_fraction)
        self.frames_per_clip = None if frames_per_clip is None else int(frames_per_clip)
        self.force_every = int(force_every)
        self._calls = {LABELED: 0, UNLABELED: 0}
        self._skipped = {LABELED: 0, UNLABELED: 0}
        self._sup_norm: Tensor | None = None  # EMA of ||dL_sup/dy_hat|| (float64; NaN: none)
        self._sup_n: int | None = None  # poses of the labeled batch last measured
        self._warned_no_sup = False  # an unlabeled auto call before any labeled one

    # ------------------------------------------------------------------ counters
    steps = property(lambda self: self._calls[LABELED], doc="labeled training calls made")
    unlabeled_steps = property(lambda self: self._calls[UNLABELED],
                               doc="unlabeled training calls made")
    skipped = property(lambda self: self._skipped[LABELED],
                       doc="labeled calls whose term was skipped (non-finite input or lambda)")
    skipped_unlabeled = property(lambda self: self._skipped[UNLABELED],
                                 doc="unlabeled calls whose term was skipped")

    def calls(self, kind: str) -> int:
        """Training calls made of ``kind`` (:data:`LABELED` or :data:`UNLABELED`)."""
        return self._calls[kind]

    # ------------------------------------------------------------------ the batch
    def batch(self, adapter: Any, skeleton: Skeleton, x2d: Tensor, y_hat: Tensor,
              y_gt: Tensor | None, generator: torch.Generator) -> ScoredBatch:
        """The call's :class:`~sealloss.training.batch.ScoredBatch` (converted, checked and
        flattened once); frames of clips are subsampled only when gradients are on."""
        training = torch.is_grad_enabled()
        return ScoredBatch.prepare(
            adapter, skeleton, x2d, y_hat, y_gt, generator=generator,
            frames_per_clip=self.frames_per_clip if training else None,
        )

    # ------------------------------------------------------------------ the term
    def term(
        self,
        lossnet: LossNet,
        batch: ScoredBatch,
        lam: LambdaController,
        stats: SealStats,
        generator: torch.Generator,
        *,
        loss_sup: Tensor | None,
        needs_force: bool,
        log_step: bool,
        sup_ema: float,
        stacklevel: int = 2,
    ) -> Tensor:
        """``lam * mean E(x, y_hat)`` (0-dim) of one training call, labeled when ``loss_sup``
        is given (its gradient on ``y_hat`` is the force reference), unlabeled otherwise.

        A non-finite prediction, energy or lambda skips the term (warned ``stacklevel``
        frames up, counted): a zero that still accepts ``.backward()`` is returned. ``lam``
        observes the force when it is ``"auto"`` (``needs_force``: some controller needs
        the measurement; ``log_step``: measure for the statistics anyway); ``sup_ema`` is the
        EMA factor of the supervised pull. Fills ``stats``; counts the call.
        """
        kind = LABELED if loss_sup is not None else UNLABELED
        step = self._calls[kind]
        where = f"at step {step}" if kind == LABELED else f"in unlabeled call {step}"
        if batch.n > 0 and not batch.usable:
            what = ("the energy term and the loss-net update are" if kind == LABELED
                    else "the energy term is")
            self._skip(kind, f"non-finite prediction y_hat {where}; {what} skipped for this "
                             "batch", stacklevel)
        term, ok = self._surrogate(lossnet, batch, generator, stats) if batch.usable else (None,
                                                                                           None)
        measure = step % self.force_every == 0 and (needs_force or log_step)
        per_unit = valid = None
        if measure:
            per_unit, valid = self._force(kind, loss_sup, batch, term, lam, sup_ema, stacklevel)
        lam_before = lam.at(step)
        if per_unit is not None:
            stats.force_ratio = torch.where(valid, lam_before * per_unit, NAN)
        auto = measure and lam.kind == "auto"
        ok_h, valid_h, pu_h = _host_floats(ok, valid if auto else None, per_unit if auto else None)
        if term is not None and not ok_h:
            stats.energy_pred = stats.alignment = NAN
            self._skip(kind, f"non-finite energy or energy gradient {where}; the energy term is "
                             "skipped for this batch", stacklevel)
            term = None
        if auto:  # every rank reaches this at the same calls
            pu = pu_h if valid_h else None
            lam.observe(dist.mean_over_ranks(pu, lossnet.device), self._calls[LABELED])
        value = lam.at(step)
        if term is not None and not (math.isfinite(value) and value >= 0):
            self._skip(kind, f"lambda is {value!r} {where} (a schedule returned a non-finite or "
                             "negative value); the energy term is skipped for this batch",
                       stacklevel)
            term = None
        if term is None:
            like = loss_sup if loss_sup is not None else batch.upstream.new_zeros(()).float()
            out = like.new_zeros(()).requires_grad_(like.requires_grad
                                                    or batch.upstream.requires_grad)
        else:
            out = value * term
        stats.lam = value
        stats.skipped_energy_steps = self._skipped[kind]
        self._calls[kind] += 1
        return out

    def _skip(self, kind: str, message: str, stacklevel: int) -> None:
        self._skipped[kind] += 1
        warnings.warn(f"sealloss: {message} ({self._skipped[kind]} skipped so far)",
                      RuntimeWarning, stacklevel=stacklevel + 2)

    def _surrogate(self, lossnet: LossNet, batch: ScoredBatch, generator: torch.Generator,
                   stats: SealStats) -> tuple[Tensor, Tensor]:
        """``(term, ok)``: ``term`` has the value ``mean E(x, y_hat)`` and the gradient of the
        mean energy w.r.t. ``y_hat``; ``ok`` (bool 0-dim, not read here) says whether the
        energy and its gradient are finite."""
        x, y_hat, y_gt = batch.x, batch.y_hat, batch.y_gt
        n = batch.n
        if self.score_fraction < 1.0 and n > 1:
            m = max(1, int(math.ceil(self.score_fraction * n)))
            sel = torch.randperm(n, generator=generator)[:m].to(y_hat.device)
            x, y_hat = x[sel], y_hat[sel]
            y_gt = y_gt[sel] if y_gt is not None else None
        net = lossnet
        was_training = net.training
        net.eval()
        leaf = to_lossnet(y_hat.detach(), net).requires_grad_(True)
        with torch.enable_grad(), torch.autocast(device_type=leaf.device.type, enabled=False):
            e = net.energy(to_lossnet(x.detach(), net), leaf).float()
            (g,) = torch.autograd.grad(e.mean(), leaf)
        net.train(was_training)
        stats.scored = int(e.numel())
        ok = torch.isfinite(e).all() & torch.isfinite(g).all()
        g = g.to(device=y_hat.device, dtype=y_hat.dtype)
        stats.energy_pred = e.detach().mean()
        if y_gt is not None:
            r = net.skeleton.root
            yh_rel, yg_rel = root_relative(y_hat.detach(), r), root_relative(y_gt.detach(), r)
            stats.alignment = _alignment(g, yh_rel, yg_rel)
        e_mean = e.mean().detach().to(y_hat.device)
        return e_mean + (g * (y_hat - y_hat.detach())).sum(), ok

    def _force(self, kind: str, loss_sup: Tensor | None, batch: ScoredBatch,
               term: Tensor | None, lam: LambdaController, sup_ema: float,
               stacklevel: int) -> tuple[Tensor | None, Tensor | None]:
        """``(||d term / d y_hat|| / reference, valid)`` as tensors (``None``: not measurable).

        Labeled: the reference is ``||dL_sup/dy_hat||`` of this call, whose EMA (and the pose
        count it was measured on) is kept for unlabeled calls. Unlabeled: that EMA, scaled per
        pose (the gradient of a mean over n poses has a norm ~ 1/sqrt(n), so an unlabeled batch
        k times the labeled size gets the intended pull, not 1/sqrt(k) of it; equal sizes are
        left untouched)."""
        y_up = batch.upstream
        if kind == LABELED:
            assert loss_sup is not None
            n_sup, n_e = _grad_norm(loss_sup, y_up), _grad_norm(term, y_up)
            if n_sup is not None:
                self._observe_sup(n_sup, batch.n, sup_ema)
            if n_sup is None or n_e is None:
                return None, None
            # float32 inputs, as the measurement has always been made
            return (force_ratio(n_e.float(), n_sup.float(), 1.0),
                    _usable_norm(n_sup) & _usable_norm(n_e))
        n_e = _grad_norm(term, y_up)
        sup = self._sup_norm
        if lam.kind == "auto" and sup is None and not self._warned_no_sup:
            self._warned_no_sup = True
            warnings.warn(
                "sealloss: lam_unlabeled='auto' measures the unlabeled pull against the "
                "supervised pull of labeled calls, and no labeled call has been made yet: "
                f"lam_unlabeled stays at lam_init ({lam.value:g}) and the force ratio is NaN "
                "until one is made (call seal(loss_sup, x2d, y_hat, y_gt) on labeled batches, "
                "or pass a fixed lam_unlabeled)",
                RuntimeWarning,
                stacklevel=stacklevel + 2,
            )
        if n_e is None or sup is None:
            return None, None
        sup = sup.to(n_e.device)
        per_unit, valid = n_e / sup, _usable_norm(n_e) & ~torch.isnan(sup)
        n_u = batch.n
        if self._sup_n and n_u and n_u != self._sup_n:
            per_unit = per_unit * math.sqrt(self._sup_n / n_u)
        return per_unit, valid

    def _observe_sup(self, n_sup: Tensor, n: int, b: float) -> None:
        """Fold one supervised-pull measurement into its EMA (on the device, no sync)."""
        self._sup_n = n
        v, ema = _usable_norm(n_sup), self._sup_norm
        if ema is None:
            self._sup_norm = torch.where(v, n_sup, NAN)
        else:
            ema = ema.to(n_sup.device)
            blend = torch.where(torch.isnan(ema), n_sup, b * ema + (1 - b) * n_sup)
            self._sup_norm = torch.where(v, blend, ema)

    # ------------------------------------------------------------------ scoring
    def score(self, lossnet: LossNet, batch: ScoredBatch, lam: float, like: Tensor,
              stacklevel: int = 2) -> Tensor:
        """``lam * mean E(x, y_hat)`` without any state change (no counter, no RNG), in
        ``like``'s dtype/device; 0 (and a warning ``stacklevel`` frames up) for an empty batch
        or a non-finite prediction, energy or lambda. For calls under ``torch.no_grad()``."""
        zero = like.new_zeros(())
        if batch.n == 0:
            return zero
        net = lossnet
        was_training = net.training
        net.eval()
        ok = batch.usable and math.isfinite(lam)
        if ok:
            with torch.autocast(device_type=batch.y_hat.device.type, enabled=False):
                e = net.energy(to_lossnet(batch.x, net), to_lossnet(batch.y_hat, net)).float()
            ok = bool(torch.isfinite(e).all())
        net.train(was_training)
        if not ok:
            warnings.warn(
                "sealloss: non-finite prediction, energy or lambda in an evaluation call "
                "(no_grad); the energy term is reported as 0",
                RuntimeWarning,
                stacklevel=stacklevel + 1,
            )
            return zero
        return (lam * e.mean()).to(device=like.device, dtype=like.dtype)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Counters and the supervised-pull EMA (one host synchronisation for the EMA)."""
        sup = None if self._sup_norm is None else float(self._sup_norm)
        return {
            "steps": self._calls[LABELED], "skipped": self._skipped[LABELED],
            "unlabeled_steps": self._calls[UNLABELED],
            "skipped_unlabeled": self._skipped[UNLABELED],
            "sup_norm": None if sup is None or math.isnan(sup) else sup,
            "sup_n": self._sup_n,
        }

    def check_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a :meth:`state_dict` without changing anything (``ValueError``)."""
        if not isinstance(state, Mapping):
            raise ValueError(f"energy state must be a dict, got {type(state).__name__}")
        keys = ("steps", "skipped", "unlabeled_steps", "skipped_unlabeled", "sup_norm", "sup_n")
        missing = [k for k in keys if k not in state]
        if missing:
            raise ValueError(f"energy state is missing {missing}")
        out: dict[str, Any] = {k: check_count(state, k, "energy state") for k in keys[:4]}
        sup = state["sup_norm"]
        real = isinstance(sup, (int, float)) and not isinstance(sup, bool)
        if sup is not None and not (real and 0 <= sup < math.inf):
            raise ValueError(f"energy state: 'sup_norm' must be None or a finite number >= 0, "
                             f"got {sup!r}")
        out["sup_norm"] = sup
        sup_n = state["sup_n"]
        out["sup_n"] = None if sup_n is None else check_count(state, "sup_n", "energy state")
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: all of it or nothing."""
        s = self.check_state(state)
        self._calls = {LABELED: s["steps"], UNLABELED: s["unlabeled_steps"]}
        self._skipped = {LABELED: s["skipped"], UNLABELED: s["skipped_unlabeled"]}
        sup = s["sup_norm"]
        self._sup_norm = None if sup is None else torch.tensor(float(sup), dtype=torch.float64)
        self._sup_n = s["sup_n"]

    def __repr__(self) -> str:
        return (f"EnergyTerm(score_fraction={self.score_fraction:g}, "
                f"frames_per_clip={self.frames_per_clip}, force_every={self.force_every}, "
                f"steps={self.steps})")

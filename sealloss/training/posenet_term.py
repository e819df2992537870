"""The pose-net term of :class:`~sealloss.training.wrapper.AlternatingWrapper`: the energy surrogate
(value ``mean E(x, y_hat)``, gradient ``d mean E / d y_hat``, one backward through the frozen
loss-net), the force measurement that drives ``lam="auto"``, and scoring without any state
change (calls under ``torch.no_grad()``).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from . import distributed as dist
from .batch import canonical, check_batch
from .diagnostics import alignment as _alignment
from .diagnostics import force_ratio
from .seal_stats import NAN as _NAN
from .seal_stats import SealStats, host_floats, usable_norm

if TYPE_CHECKING:
    from .wrapper import AlternatingWrapper

__all__ = ["energy_surrogate", "energy_failed", "grad_norm", "force_per_unit", "eval_term",
           "score_only", "unlabeled_term"]


def energy_surrogate(
    w: AlternatingWrapper, x: Tensor, y_hat: Tensor, y_gt: Tensor | None, stats: SealStats
) -> tuple[Tensor, Tensor]:
    """``(term, ok)``: ``term`` has the value ``mean E(x, y_hat)`` and the gradient of the
    mean energy w.r.t. ``y_hat``; ``ok`` (bool 0-dim, not read here) says whether the
    energy and its gradient are finite. ``x (N, J, 2)``, ``y_hat (N, J, 3)`` canonical."""
    n = y_hat.shape[0]
    if w.score_fraction < 1.0 and n > 1:
        m = max(1, int(math.ceil(w.score_fraction * n)))
        sel = torch.randperm(n, generator=w.generator)[:m].to(y_hat.device)
        x, y_hat = x[sel], y_hat[sel]
        y_gt = y_gt[sel] if y_gt is not None else None
    net = w.lossnet
    was_training = net.training
    net.eval()
    leaf = w._to_net(y_hat.detach()).requires_grad_(True)
    with torch.enable_grad(), torch.autocast(device_type=leaf.device.type, enabled=False):
        e = net.energy(w._to_net(x.detach()), leaf).float()
        (g,) = torch.autograd.grad(e.mean(), leaf)
    net.train(was_training)
    stats.scored = int(e.numel())
    ok = torch.isfinite(e).all() & torch.isfinite(g).all()
    g = g.to(device=y_hat.device, dtype=y_hat.dtype)
    stats.energy_pred = e.detach().mean()
    if y_gt is not None:
        r = w.skeleton.root
        yh_rel = y_hat.detach() - y_hat.detach()[:, r : r + 1]
        yg_rel = y_gt.detach() - y_gt.detach()[:, r : r + 1]
        stats.alignment = _alignment(g, yh_rel, yg_rel)
    e_mean = e.mean().detach().to(y_hat.device)
    return e_mean + (g * (y_hat - y_hat.detach())).sum(), ok


def energy_failed(w: AlternatingWrapper, stats: SealStats, where: str, stacklevel: int) -> None:
    """Count and warn about a non-finite energy or energy gradient (the term is dropped)."""
    w.skipped_energy_steps += 1
    stats.energy_pred = stats.alignment = _NAN
    warnings.warn(
        f"sealloss: non-finite energy or energy gradient {where}; the energy term is skipped "
        f"for this batch ({w.skipped_energy_steps} so far)",
        RuntimeWarning,
        stacklevel=stacklevel + 1,
    )


def grad_norm(t: Tensor | None, y_hat_up: Tensor) -> Tensor | None:
    """``||d t / d y_hat||`` (float64 0-dim, may be non-finite or 0; not read here), or
    ``None`` when ``t`` does not depend on ``y_hat``."""
    if t is None or not (t.requires_grad and y_hat_up.requires_grad):
        return None
    (g,) = torch.autograd.grad(t, y_hat_up, retain_graph=True, allow_unused=True)
    return None if g is None else g.detach().double().norm()


def force_per_unit(
    w: AlternatingWrapper, loss_sup: Tensor, y_hat_up: Tensor, term: Tensor | None,
    n: int | None = None,
) -> tuple[Tensor | None, Tensor | None]:
    """``(||d term / d y_hat|| / ||d L_sup / d y_hat||, valid)`` as tensors (``None``: not
    measurable); also keeps, on the device, the EMA of the supervised pull that the
    unlabeled auto-lambda uses, and the labeled batch's pose count ``n`` it was measured on."""
    n_sup, n_e = grad_norm(loss_sup, y_hat_up), grad_norm(term, y_hat_up)
    if n_sup is not None:
        w._sup_n = n
        v, ema = usable_norm(n_sup), w._sup_norm
        if ema is None:
            w._sup_norm = torch.where(v, n_sup, _NAN)
        else:
            ema = ema.to(n_sup.device)
            b = w._lam.ema
            blend = torch.where(torch.isnan(ema), n_sup, b * ema + (1 - b) * n_sup)
            w._sup_norm = torch.where(v, blend, ema)
    if n_sup is None or n_e is None:
        return None, None
    # float32 inputs, as the measurement has always been made
    return force_ratio(n_e.float(), n_sup.float(), 1.0), usable_norm(n_sup) & usable_norm(n_e)


def eval_term(
    w: AlternatingWrapper, loss_sup: Tensor, x2d: Tensor, y_hat: Tensor, y_gt: Tensor
) -> Tensor:
    """``lam * mean E(x, y_hat)`` as a value, for calls under ``torch.no_grad()``
    (validation): no loss-net update, no lambda update, no counter or RNG change."""
    x, yh, yg = canonical(w.adapter, x2d, y_hat, y_gt)
    usable = check_batch(w.skeleton, x, yg, yh)
    return score_only(w, x, yh, usable, w.lam, loss_sup)


def score_only(
    w: AlternatingWrapper, x: Tensor, yh: Tensor, usable: bool, lam: float, like: Tensor,
    stacklevel: int = 3,
) -> Tensor:
    """``lam * mean E(x, yh)`` without any state change, in ``like``'s dtype/device; 0 (and
    a warning, ``stacklevel`` frames up) for an empty batch or a non-finite prediction, energy
    or lambda."""
    zero = like.new_zeros(())
    if yh.shape[0] == 0:
        return zero
    net = w.lossnet
    was_training = net.training
    net.eval()
    ok = usable and math.isfinite(lam)
    if ok:
        with torch.autocast(device_type=yh.device.type, enabled=False):
            e = net.energy(w._to_net(x), w._to_net(yh)).float()
        ok = bool(torch.isfinite(e).all())
    net.train(was_training)
    if not ok:
        warnings.warn(
            "sealloss: non-finite prediction, energy or lambda in an evaluation call "
            "(no_grad); the energy term is reported as 0",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return zero
    return (lam * e.mean()).to(device=like.device, dtype=like.dtype)


def unlabeled_term(w: AlternatingWrapper, x2d: Tensor, y_hat: Tensor) -> Tensor:
    """:meth:`AlternatingWrapper.unlabeled
    <sealloss.training.wrapper.AlternatingWrapper.unlabeled>`'s
    body (see there); its warnings point at the method's caller."""
    training = torch.is_grad_enabled()
    if training:
        w._lam_u.check_step(w.unlabeled_steps)  # a schedule that raises changes nothing
    x, yh, _ = canonical(w.adapter, x2d, y_hat, None, generator=w.generator,
                         frames_per_clip=w.frames_per_clip if training else None)
    usable = check_batch(w.skeleton, x, None, yh)  # host sync 1
    if not training:
        return score_only(w, x, yh, usable, w.lam_unlabeled, y_hat, stacklevel=4)
    stats = SealStats(step=w.unlabeled_steps)
    w._sync_ranks_once()
    term, ok = energy_surrogate(w, x, yh, None, stats) if usable else (None, None)
    per_unit = valid = None
    measure = w.unlabeled_steps % w.force_every == 0
    n_e = grad_norm(term, y_hat) if measure else None
    sup = w._sup_norm
    if measure and w._lam_u.kind == "auto" and sup is None and not w._warned_no_sup:
        w._warned_no_sup = True
        warnings.warn(
            "sealloss: lam_unlabeled='auto' measures the unlabeled pull against the supervised "
            "pull of labeled calls, and no labeled call has been made yet: lam_unlabeled stays "
            f"at lam_init ({w._lam_u.value:g}) and the force ratio is NaN until one is made "
            "(call seal(loss_sup, x2d, y_hat, y_gt) on labeled batches, or pass a fixed "
            "lam_unlabeled)",
            RuntimeWarning,
            stacklevel=3,
        )
    if n_e is not None and sup is not None:
        sup = sup.to(n_e.device)
        per_unit, valid = n_e / sup, usable_norm(n_e) & ~torch.isnan(sup)
        n_u = yh.shape[0]
        if w._sup_n and n_u and n_u != w._sup_n:
            # the gradient of a mean over n poses has a norm ~ 1/sqrt(n): compare the forces
            # per pose, so an unlabeled batch k times the labeled size gets the intended pull
            # (not 1/sqrt(k) of it); equal sizes are left untouched (factor exactly 1)
            per_unit = per_unit * math.sqrt(w._sup_n / n_u)
        stats.force_ratio = torch.where(valid, w.lam_unlabeled * per_unit, _NAN)
    auto = measure and w._lam_u.kind == "auto"
    ok_h, valid_h, pu_h = host_floats(ok, valid if auto else None, per_unit if auto else None)
    if term is not None and not ok_h:
        term, stats.energy_pred = None, _NAN
    if auto:  # every rank reaches this at the same calls
        pu = pu_h if valid_h else None
        w._lam_u.observe(dist.mean_over_ranks(pu, w.lossnet.device), w.steps)
    lam = w.lam_unlabeled
    if yh.shape[0] > 0 and (term is None or not (math.isfinite(lam) and lam >= 0)):
        w.skipped_unlabeled_steps += 1
        what = "prediction or energy" if term is None else f"lambda ({lam!r})"
        warnings.warn(
            f"sealloss: non-finite {what} in unlabeled call {w.unlabeled_steps}; the "
            f"term is skipped ({w.skipped_unlabeled_steps} skipped so far)",
            RuntimeWarning,
            stacklevel=3,  # the caller of AlternatingWrapper.unlabeled
        )
        term = None
    if term is None:
        out = y_hat.new_zeros(()).float().requires_grad_(y_hat.requires_grad)
    else:
        out = lam * term
    stats.lam = lam
    stats.skipped_energy_steps = w.skipped_unlabeled_steps
    w.last_unlabeled_stats = stats
    w.unlabeled_steps += 1
    return out

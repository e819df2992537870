"""Training diagnostics of the loss-net and of its pull on the pose-net (METHOD.md s.4).

Pure functions on tensors returning 0-dim tensors (or ``(K,)`` for per-column ranking), and
:class:`SealStats`, the one statistics record: the wrapper fills one per call, and
:meth:`SealStats.collect` fills one from whatever tensors a caller has. Nothing here changes a
model.

- energy gap ``E(y_hat) - E(y*)``: mean, std (population, ``correction=0``) and mean/std;
- margin violations: share of entries with ``E(y_hat) - E(y*) < m * cost``;
- force ratio ``||lam * dE/dy_hat|| / ||dL_sup/dy_hat||`` (global Frobenius norms);
- alignment: mean per-sample cosine between ``-dE/dy_hat`` and ``y* - y_hat``;
- ranking accuracy: share of samples with ``E(y*) < E(y_neg)`` (ties count as failures).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import PoseShapeError

__all__ = [
    "EnergyGap",
    "energy_gap",
    "margin_violations",
    "force_ratio",
    "alignment",
    "ranking_accuracy",
    "ranking_accuracy_by_kind",
    "SealStats",
    "NAN",
]


class EnergyGap(NamedTuple):
    """Mean, population std and mean/std of ``E(y_hat) - E(y*)`` (0-dim tensors)."""

    mean: torch.Tensor
    std: torch.Tensor
    ratio: torch.Tensor


def _same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise PoseShapeError(f"{names} must have the same shape, got {tuple(a.shape)} and "
                             f"{tuple(b.shape)}")


def energy_gap(e_pred: torch.Tensor, e_gt: torch.Tensor) -> EnergyGap:
    """Statistics of ``gap = e_pred - e_gt`` over all entries (any equal shapes, e.g. ``(B,)``).

    ``ratio = mean / std``; ``nan`` when ``std == 0`` (e.g. a single sample).
    """
    _same_shape(e_pred, e_gt, "energy_gap: e_pred and e_gt")
    gap = (e_pred - e_gt).detach().flatten().double()
    mean = gap.mean()
    std = gap.std(correction=0) if gap.numel() else gap.new_tensor(math.nan)
    ratio = torch.where(std > 0, mean / std.clamp_min(1e-300), gap.new_tensor(math.nan))
    return EnergyGap(mean, std, ratio)


def margin_violations(
    e_pred: torch.Tensor,
    e_gt: torch.Tensor,
    cost: torch.Tensor | float,
    margin: float = 1.0,
) -> torch.Tensor:
    """Share of entries where ``e_pred - e_gt < margin * cost``.

    Args:
        e_pred: ``(B,)`` or ``(B, K)`` energies of predictions / negatives.
        e_gt: ``(B,)`` ground-truth energies (broadcast over K).
        cost: per-entry task cost of ``e_pred``'s shape (e.g. MPJPE in metres) or a float.
    """
    e_pred = e_pred.detach()
    e_gt = e_gt.detach()
    if e_pred.dim() == 2 and e_gt.dim() == 1:
        e_gt = e_gt.unsqueeze(1)
    if e_pred.shape[0] != e_gt.shape[0]:
        raise PoseShapeError(
            f"margin_violations: e_pred {tuple(e_pred.shape)} and e_gt {tuple(e_gt.shape)} "
            "disagree in batch size"
        )
    if isinstance(cost, torch.Tensor):
        _same_shape(cost, e_pred, "margin_violations: cost and e_pred")
        cost = cost.detach()
    viol = (e_pred - e_gt) < margin * cost
    return viol.double().mean()


def force_ratio(
    grad_energy: torch.Tensor, grad_sup: torch.Tensor, lam: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """``||lam * dE/dy_hat|| / ||dL_sup/dy_hat||`` with global (Frobenius) norms.

    Args:
        grad_energy: ``(B, ...)`` gradient of the (unweighted) energy term w.r.t. the
            predictions. grad_sup: same shape, gradient of the supervised loss.
        lam: the energy weight lambda.

    Returns:
        0-dim tensor; ``inf`` when the supervised gradient is zero and the energy's is not.
    """
    _same_shape(grad_energy, grad_sup, "force_ratio: grad_energy and grad_sup")
    lam_t = torch.as_tensor(lam, dtype=torch.float64).abs()
    num = grad_energy.detach().double().norm() * lam_t.to(grad_energy.device)
    return num / grad_sup.detach().double().norm()


def alignment(
    grad_energy: torch.Tensor,
    y_hat: torch.Tensor,
    y_gt: torch.Tensor,
    eps: float = 1e-12,
    per_sample: bool = False,
) -> torch.Tensor:
    """Mean over samples of ``cos(-dE/dy_hat, y* - y_hat)`` (each sample flattened).

    ``+1``: the energy pulls every prediction straight towards its ground truth; ``0``:
    orthogonal (or a zero vector, cosine defined as 0); ``-1``: away.

    Args:
        grad_energy, y_hat, y_gt: ``(B, ...)`` tensors of one shape.
        per_sample: return the ``(B,)`` cosines instead of their mean.
    """
    _same_shape(grad_energy, y_hat, "alignment: grad_energy and y_hat")
    _same_shape(y_gt, y_hat, "alignment: y_gt and y_hat")
    a = (-grad_energy.detach()).flatten(1).double()
    b = (y_gt.detach() - y_hat.detach()).flatten(1).double()
    cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(eps)
    return cos if per_sample else cos.mean()


def ranking_accuracy(e_pos: torch.Tensor, e_neg: torch.Tensor) -> torch.Tensor:
    """Per negative column, the share of samples with ``E(y*) < E(y_neg)``.

    Args:
        e_pos: ``(B,)``; e_neg: ``(B, K)`` (a ``(B,)`` tensor is treated as ``K = 1``).

    Returns:
        ``(K,)`` float64 shares (``.mean()`` for the overall accuracy).
    """
    if e_neg.dim() == 1:
        e_neg = e_neg.unsqueeze(1)
    if e_pos.dim() != 1 or e_neg.dim() != 2 or e_neg.shape[0] != e_pos.shape[0]:
        raise PoseShapeError(
            f"ranking_accuracy: expected e_pos (B,) and e_neg (B, K), got {tuple(e_pos.shape)} "
            f"and {tuple(e_neg.shape)}"
        )
    return (e_pos.detach().unsqueeze(1) < e_neg.detach()).double().mean(0)


def ranking_accuracy_by_kind(
    e_pos: torch.Tensor, e_neg: torch.Tensor, kinds: Sequence[str]
) -> dict[str, float]:
    """Ranking accuracy per negative kind: ``kinds`` labels the K columns of ``e_neg``
    (e.g. ``NegativeSample.kinds``); columns of one kind are pooled."""
    per_col = ranking_accuracy(e_pos, e_neg)
    if len(kinds) != per_col.shape[0]:
        raise PoseShapeError(
            f"ranking_accuracy_by_kind: {len(kinds)} labels for K={per_col.shape[0]} columns"
        )
    out: dict[str, list[float]] = {}
    for kind, acc in zip(kinds, per_col.tolist()):
        out.setdefault(kind, []).append(acc)
    return {kind: sum(v) / len(v) for kind, v in out.items()}


NAN = float("nan")


@dataclass
class SealStats:
    """The one statistics record: diagnostics of one wrapper call (METHOD.md s.4), or of any
    tensors a caller has (:meth:`collect`). NaN where not measured.

    During training the measured values stay 0-dim tensors (no host synchronisation);
    :meth:`as_dict` converts them all at once. ``ranking`` maps a negative kind to its ranking
    accuracy (``ranking/<kind>`` in :meth:`as_dict`).
    """

    step: int = 0
    lam: float | Tensor = NAN
    energy_pred: float | Tensor = NAN
    energy_gt: float | Tensor = NAN
    energy_gap: float | Tensor = NAN  # mean of E(y_hat) - E(y*)
    energy_gap_std: float | Tensor = NAN  # population std of the gap
    gap_snr: float | Tensor = NAN  # mean / std of the gap
    margin_violations: float | Tensor = NAN
    lossnet_loss: float | Tensor = NAN
    force_ratio: float | Tensor = NAN
    alignment: float | Tensor = NAN
    scored: int = 0
    lossnet_updated: bool = False
    skipped_energy_steps: int = 0
    skipped_lossnet_steps: int = 0
    ranking: dict[str, float] = field(default_factory=dict)

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """Every field as a plain float (one host synchronisation for all tensor fields), the
        ranking accuracies as ``ranking/<kind>``; keys start with ``prefix``."""
        vals = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "ranking"}
        tens = {k: v for k, v in vals.items() if isinstance(v, Tensor)}
        if tens:
            host = torch.stack([v.detach().double().cpu() for v in tens.values()]).tolist()
            vals.update(zip(tens, host))
        out = {prefix + k: float(v) for k, v in vals.items()}
        out.update({f"{prefix}ranking/{k}": float(v) for k, v in self.ranking.items()})
        return out

    def measured(self, prefix: str = "") -> dict[str, float]:
        """:meth:`as_dict` without the values that were not measured (NaN)."""
        return {k: v for k, v in self.as_dict(prefix).items() if not math.isnan(v)}

    def format(self) -> str:
        """``key=value`` pairs of the measured statistics, for log lines."""
        return ", ".join(f"{k}={v:.4g}" for k, v in self.measured().items())

    @classmethod
    def collect(
        cls,
        e_pred: torch.Tensor | None = None,
        e_gt: torch.Tensor | None = None,
        cost: torch.Tensor | float | None = None,
        margin: float = 1.0,
        grad_energy: torch.Tensor | None = None,
        grad_sup: torch.Tensor | None = None,
        lam: float | torch.Tensor = 1.0,
        y_hat: torch.Tensor | None = None,
        y_gt: torch.Tensor | None = None,
        e_neg: torch.Tensor | None = None,
        kinds: Sequence[str] | None = None,
    ) -> SealStats:
        """Compute every diagnostic whose inputs are given (values stay 0-dim tensors).

        ``e_pred``/``e_gt`` (``(B,)``) give the gap (and, with ``cost``, the violations);
        ``grad_energy`` with ``grad_sup`` gives the force ratio, with ``y_hat`` and ``y_gt``
        the alignment; ``e_gt`` with ``e_neg`` (and optional ``kinds``) the ranking accuracy
        (key ``"all"`` without kinds). ``e_pred`` also counts as the ``"prediction"`` ranking.
        """
        d = cls()
        if e_pred is not None and e_gt is not None:
            gap = energy_gap(e_pred, e_gt)
            d.energy_pred, d.energy_gt = e_pred.detach().mean(), e_gt.detach().mean()
            d.energy_gap, d.energy_gap_std, d.gap_snr = gap.mean, gap.std, gap.ratio
            d.ranking["prediction"] = float(ranking_accuracy(e_gt, e_pred).mean())
            if cost is not None:
                d.margin_violations = margin_violations(e_pred, e_gt, cost, margin)
        if grad_energy is not None and grad_sup is not None:
            d.force_ratio = force_ratio(grad_energy, grad_sup, lam)
        if grad_energy is not None and y_hat is not None and y_gt is not None:
            d.alignment = alignment(grad_energy, y_hat, y_gt)
        if e_gt is not None and e_neg is not None:
            if kinds is not None:
                d.ranking.update(ranking_accuracy_by_kind(e_gt, e_neg, kinds))
            else:
                d.ranking["all"] = float(ranking_accuracy(e_gt, e_neg).mean())
        return d

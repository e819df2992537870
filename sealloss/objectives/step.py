"""The one loss-net training loss, shared by pretraining and the wrapper.

``loss = ranking(e_pos, e_neg) + dsm_weight * DSM + grad_weight * gradient matching at the
negatives + energy_reg * energy magnitude``

in **one fused forward** over ``[y*, negatives, y* + sigma * eps]`` (and one double backward
when a gradient term is on). The ranking term (margin or NCE) keeps the critic; the gradient
terms (:mod:`.score`) make ``-dE/dy`` point at the truth, so the energy is also a loss.

Named objectives (:data:`OBJECTIVES`, :func:`make_objective`):

================ =========================================================================
``"margin"``     margin-rescaled hinge, per-sample task cost (no gradient terms)
``"nce"``        NCE ranking among ``{y*} + negatives`` (no gradient terms)
``"dsm"``        denoising score matching only (plus the energy regulariser)
``"margin+dsm"`` margin + DSM + gradient matching at the negatives
``"nce+dsm"``    NCE + DSM + gradient matching at the negatives
================ =========================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..metrics.reduction import Reduction
from ..pose.skeleton import Skeleton
from .margin import COST_KINDS, margin_loss, task_cost
from .nce import nce_loss
from .regularisers import energy_magnitude
from .score import (
    DEFAULT_SIGMA_M,
    dsm_perturb,
    energy_and_gradient,
    gradient_matching_loss,
    sample_sigma,
    score_matching_loss,
)

__all__ = ["OBJECTIVES", "LossNetObjective", "StepOutput", "make_objective", "lossnet_loss"]

OBJECTIVES = ("margin", "nce", "dsm", "margin+dsm", "nce+dsm")


@dataclass
class LossNetObjective:
    """Weights and settings of :func:`lossnet_loss`.

    Args:
        ranking: ``"margin"``, ``"nce"`` or ``None`` (no ranking term).
        margin: energy units per metre of task cost (margin ranking).
        task_cost: the margin's per-negative cost (:data:`~.margin.COST_KINDS`).
        temperature: NCE temperature.
        dsm_weight: weight of denoising score matching on ``y* + sigma * eps`` (0: off).
        sigma_m: ``(low, high)`` metres, log-uniform DSM noise scales.
        grad_weight: weight of gradient matching at the negatives (0: off).
        energy_reg: weight of the energy-magnitude regulariser.
        reducer: how per-sample losses become a scalar (``"mean"`` or a reducer).
        skeleton: needed by the bone task costs.
    """

    ranking: str | None = "margin"
    margin: float = 10.0
    task_cost: str = "mpjpe"
    temperature: float = 1.0
    dsm_weight: float = 0.0
    sigma_m: tuple[float, float] = DEFAULT_SIGMA_M
    grad_weight: float = 0.0
    energy_reg: float = 1e-3
    reducer: Reduction = "mean"
    skeleton: Skeleton | str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.ranking not in ("margin", "nce", None):
            raise ValueError(f"ranking must be 'margin', 'nce' or None, got {self.ranking!r}")
        if self.task_cost not in COST_KINDS:
            raise ValueError(f"task_cost must be one of {COST_KINDS}, got {self.task_cost!r}")
        for name in ("margin", "temperature", "dsm_weight", "grad_weight", "energy_reg"):
            v = float(getattr(self, name))
            if not (v == v and abs(v) != float("inf")) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        if self.ranking == "nce" and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        lo, hi = self.sigma_m
        if not (0 < lo <= hi < float("inf")):
            raise ValueError(f"sigma_m must satisfy 0 < low <= high < inf, got {self.sigma_m}")
        if self.ranking is None and self.dsm_weight == 0 and self.grad_weight == 0:
            raise ValueError("the objective has no term: set ranking, dsm_weight or grad_weight")
        if "bone" in self.task_cost and self.skeleton is None and self.ranking == "margin":
            raise ValueError(f"task cost {self.task_cost!r} needs the skeleton (its bones)")

    @property
    def needs_gradient(self) -> bool:
        """Whether the loss involves ``dE/dy`` (double backward through the loss-net)."""
        return self.dsm_weight > 0 or self.grad_weight > 0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("skeleton")
        d["reducer"] = self.reducer if isinstance(self.reducer, str) else repr(self.reducer)
        return d


def make_objective(name: str | LossNetObjective, **overrides: Any) -> LossNetObjective:
    """A :class:`LossNetObjective` from one of :data:`OBJECTIVES` (or returned unchanged).

    ``"X+dsm"`` turns on DSM and gradient matching with weight 1 each unless overridden;
    ``"dsm"`` is DSM alone. ``overrides`` set any field (``margin=``, ``sigma_m=``, ...).
    """
    if isinstance(name, LossNetObjective):
        return name
    if name not in OBJECTIVES:
        raise ValueError(f"unknown loss-net objective {name!r}; use one of {OBJECTIVES}")
    base: dict[str, Any] = {}
    if name == "dsm":
        base = {"ranking": None, "dsm_weight": 1.0}
    elif name.endswith("+dsm"):
        base = {"ranking": name.split("+")[0], "dsm_weight": 1.0, "grad_weight": 1.0}
    else:
        base = {"ranking": name}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return LossNetObjective(**base)


@dataclass
class StepOutput:
    """What :func:`lossnet_loss` returns.

    Attributes:
        loss: 0-dim training loss.
        e_pos: ``(B,)`` ground-truth energies (with graph).
        e_neg: ``(B, K)`` negative energies (with graph).
        cost: ``(B, K)`` task costs of the negatives (metres), or ``None`` without margin.
        parts: 0-dim detached value of each term (``"ranking"``, ``"dsm"``, ``"grad"``,
            ``"energy_reg"``).
    """

    loss: Tensor
    e_pos: Tensor
    e_neg: Tensor
    cost: Tensor | None
    parts: dict[str, Tensor]


def lossnet_loss(
    net: Any,
    x2d: Tensor,
    y_gt: Tensor,
    y_neg: Tensor,
    objective: LossNetObjective,
    generator: torch.Generator | None = None,
) -> StepOutput:
    """One loss-net training loss on a batch (the net must be in training mode if wanted).

    Args:
        net: a :class:`~sealloss.nn.LossNet` (anything with ``.energy(x2d, y)`` and
            ``.skeleton``).
        x2d: ``(B, J, 2)`` canonical 2D input shared by every candidate of a sample.
        y_gt: ``(B, J, 3)`` ground truth (root-relative metres, the net's dtype).
        y_neg: ``(B, K, J, 3)`` negatives (K may be 0 for ``"dsm"``).
        objective: the terms and weights (:func:`make_objective`).
        generator: CPU generator of the DSM noise.

    Returns:
        :class:`StepOutput`.
    """
    obj = objective
    b, k = y_neg.shape[:2]
    root = net.skeleton.root
    cands = [y_gt.unsqueeze(1), y_neg]
    sigma = eps_disp = None
    if obj.dsm_weight > 0:
        sigma = sample_sigma(b, obj.sigma_m, generator, y_gt.device, y_gt.dtype)
        y_noisy, eps = dsm_perturb(y_gt, sigma, generator, root)
        eps_disp = sigma[:, None, None] * eps
        cands.append(y_noisy.unsqueeze(1))
    poses = torch.cat(cands, 1)
    xx = x2d.unsqueeze(1).expand(b, poses.shape[1], *x2d.shape[1:])
    grad = None
    if obj.needs_gradient:
        e, grad = energy_and_gradient(net.energy, xx, poses, create_graph=True)
    else:
        e = net.energy(xx, poses)
    e = e.float()
    e_pos, e_neg = e[:, 0], e[:, 1 : 1 + k]
    parts: dict[str, Tensor] = {}
    total = e.new_zeros(())
    cost = None
    if obj.ranking is not None and k > 0:
        if obj.ranking == "margin":
            cost = task_cost(y_neg.detach(), y_gt.detach(), obj.task_cost, obj.skeleton)
            rank = margin_loss(e_pos, e_neg, cost, obj.margin, obj.reducer)
        else:
            rank = nce_loss(e_pos, e_neg, obj.temperature, reduction=obj.reducer)
        parts["ranking"] = rank.detach()
        total = total + rank
    if grad is not None and sigma is not None and eps_disp is not None:
        dsm = score_matching_loss(grad[:, -1].float(), eps_disp, sigma, root, obj.reducer)
        parts["dsm"] = dsm.detach()
        total = total + obj.dsm_weight * dsm
    if grad is not None and obj.grad_weight > 0 and k > 0:
        gm = gradient_matching_loss(grad[:, 1 : 1 + k].float(), y_neg, y_gt, root, obj.reducer)
        parts["grad"] = gm.detach()
        total = total + obj.grad_weight * gm
    if obj.energy_reg > 0:
        reg = energy_magnitude(e_pos, e_neg if k > 0 else None).mean()
        parts["energy_reg"] = reg.detach()
        total = total + obj.energy_reg * reg
    return StepOutput(total, e_pos, e_neg, cost, parts)

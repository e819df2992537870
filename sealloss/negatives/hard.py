"""Hard negatives: synthetic negatives moved a few steps down the current energy.

Starting from negatives ``y_0`` (any sampler), each step is

``y <- P(y - eta * g / rms(g))``, ``g = dE/dy`` with the root's gradient zeroed,
``rms(g) = sqrt(mean_j ||g_j||^2)`` per negative (so each step moves a joint by ``eta`` metres
in the RMS sense whatever the energy's scale), and ``P`` the **radial projection** onto
``{y : MPJPE(y, y*) >= d}``: a candidate closer than ``d`` has its offset from the ground truth
scaled up, ``y* + (y - y*) * d / MPJPE(y, y*)``, which puts it exactly at distance ``d`` in the
direction it already had (MPJPE is 1-homogeneous in the offset). ``P`` is also applied to the
starting negatives. A candidate identical to the ground truth (offset below 1e-9 m) has no
direction and is returned unchanged.

The function keeps, per negative, the iterate of lowest energy (the projected start included),
so the returned energy never exceeds the start's. Gradients are taken with
``torch.autograd.grad`` w.r.t. the poses only: the loss-net's parameters and their ``.grad``
are never touched. The result is detached.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import PoseShapeError
from ..pose.skeleton import Skeleton, get_skeleton
from .base import NegativeSample, Sampler

__all__ = ["hard_negatives", "project_min_distance", "HardNegatives"]

EnergyFn = Callable[[torch.Tensor], torch.Tensor]


def project_min_distance(
    y: torch.Tensor, y_gt: torch.Tensor, min_dist_m: float, eps: float = 1e-9
) -> torch.Tensor:
    """Radial projection of ``y (B, K, J, 3)`` to MPJPE ``>= min_dist_m`` from ``y_gt (B, J, 3)``
    (module docstring)."""
    off = y - y_gt.unsqueeze(1)
    dist = off.norm(dim=-1).mean(-1)  # (B, K)
    scale = torch.where(
        (dist < min_dist_m) & (dist > eps), min_dist_m / dist.clamp_min(eps), torch.ones_like(dist)
    )
    return y_gt.unsqueeze(1) + off * scale[..., None, None]


def hard_negatives(
    y_neg: torch.Tensor,
    y_gt: torch.Tensor,
    energy_fn: EnergyFn,
    steps: int = 3,
    step_size: float = 0.01,
    min_dist_m: float = 0.02,
    root: int = 0,
) -> torch.Tensor:
    """Move negatives down ``energy_fn`` by normalised gradient steps, at least ``min_dist_m``
    (MPJPE, metres) from the ground truth.

    Args:
        y_neg: ``(B, K, J, 3)`` starting negatives (canonical metres).
        y_gt: ``(B, J, 3)`` ground truth.
        energy_fn: ``y (B, K, J, 3) -> (B, K)`` energies (the current loss-net with its 2D input
            bound in); called ``steps + 1`` times.
        steps: gradient steps. step_size: RMS joint displacement per step (metres).
        min_dist_m: minimum per-negative MPJPE to the ground truth (metres).
        root: root joint index; its coordinates never move.

    Returns:
        ``(B, K, J, 3)`` detached hard negatives.
    """
    if y_neg.dim() != 4 or y_gt.dim() != 3 or y_neg.shape[2:] != y_gt.shape[1:]:
        raise PoseShapeError(
            f"hard_negatives: expected y_neg (B, K, J, 3) and y_gt (B, J, 3), got "
            f"{tuple(y_neg.shape)} and {tuple(y_gt.shape)}"
        )
    if steps < 0 or step_size < 0 or min_dist_m < 0:
        raise ValueError("hard_negatives: steps, step_size and min_dist_m must be >= 0")
    y_gt = y_gt.detach()
    y = project_min_distance(y_neg.detach(), y_gt, min_dist_m)
    best = y.clone()
    best_e: torch.Tensor | None = None
    with torch.enable_grad():
        for t in range(steps + 1):
            y = y.detach().requires_grad_(t < steps)
            e = energy_fn(y)
            if e.shape != y.shape[:2]:
                raise PoseShapeError(
                    f"hard_negatives: energy_fn returned {tuple(e.shape)}, expected "
                    f"{tuple(y.shape[:2])}"
                )
            e_d = e.detach()
            if best_e is None:
                best_e = e_d.clone()
            else:
                better = e_d < best_e
                best = torch.where(better[..., None, None], y.detach(), best)
                best_e = torch.where(better, e_d, best_e)
            if t == steps:
                break
            (g,) = torch.autograd.grad(e.sum(), y)
            g = g.detach().clone()
            g[:, :, root] = 0
            rms = g.pow(2).sum(-1).mean(-1).sqrt().clamp_min(1e-12)[..., None, None]
            y = project_min_distance(y.detach() - step_size * g / rms, y_gt, min_dist_m)
    return best.detach()


class HardNegatives(Sampler):
    """Draws negatives from ``base`` and refines them with :func:`hard_negatives`.

    ``energy_fn`` may be given at construction or per call (``sampler(y_gt, k, gen,
    energy_fn=...)``, e.g. a closure over the batch's 2D input and the current loss-net).
    Column labels are the base sample's with a ``hard_`` prefix (a mixer base keeps its
    per-column kinds).
    """

    def __init__(
        self,
        base: Sampler,
        energy_fn: EnergyFn | None = None,
        steps: int = 3,
        step_size: float = 0.01,
        min_dist_m: float = 0.02,
        skeleton: Skeleton | str | None = None,
        kind: str | None = None,
    ) -> None:
        self.base = base
        self.energy_fn = energy_fn
        self.steps = steps
        self.step_size = step_size
        self.min_dist_m = min_dist_m
        sk = skeleton if skeleton is not None else base.skeleton
        self.skeleton = get_skeleton(sk) if sk is not None else None
        self.kind = kind or f"hard_{base.kind}"

    def sample(self, y_gt, k, generator, energy_fn: EnergyFn | None = None, **context):
        fn = energy_fn or self.energy_fn
        if fn is None:
            raise ValueError("HardNegatives needs an energy_fn (at construction or per call)")
        start = self.base(y_gt, k, generator, **context)
        root = self.skeleton.root if self.skeleton is not None else 0
        poses = hard_negatives(
            start.poses, y_gt, fn, self.steps, self.step_size, self.min_dist_m, root
        )
        kinds = tuple(f"hard_{label}" for label in start.kinds)
        return NegativeSample(poses, self.kind, None, kinds)

    def __repr__(self) -> str:
        return (
            f"HardNegatives(base={self.base!r}, steps={self.steps}, step_size={self.step_size}, "
            f"min_dist_m={self.min_dist_m})"
        )

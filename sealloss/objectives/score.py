r"""Gradient-matching objectives: make ``-dE/dy`` point from a pose towards its ground truth.

A margin or NCE objective only constrains energies at the ground truth and at the sampled
negatives; the gradient of the energy elsewhere is free, and a pose-net descending it finds the
easy directions (METHOD.md s.8). These objectives constrain the gradient itself.

**Conditional denoising score matching** (weighted by ``sigma^2``). For a ground truth ``y*``
with 2D ``x``, a noise scale ``sigma`` per sample and ``eps ~ N(0, I)`` on the non-root joints,
``y~ = y* + sigma * eps``; the optimal energy of

.. math:: \ell = \frac{1}{3(J-1)} \big\| \sigma\, \nabla_y E(x, \tilde y) - \epsilon \big\|^2

is ``E(x, y) = -log p_sigma(y | x)`` up to a constant, whose gradient at ``y~`` is
``(y~ - E[y* | x, y~]) / sigma^2``: ``-dE/dy`` points at the expected truth.

**Gradient matching at any displacement.** The same formula with ``d = y - y*`` in place of
``sigma * eps`` and ``s = rms(d)`` (root-mean-square per non-root coordinate) in place of
``sigma``: ``s * dE/dy`` should equal ``d / s``. For a structured negative (a bent bone, a
one-sided length change) this asks the gradient to point from the truth to the negative,
scaled by its size, as DSM does for Gaussian noise.

All functions are pure functions of tensors: the energy gradient is computed by the caller
(:func:`energy_and_gradient`) so the same loss serves pretraining and the wrapper.
Units: poses in metres, ``sigma`` in metres, gradients in energy units per metre; the losses
are dimensionless.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import PoseShapeError
from ..metrics.reduction import Reduction, reduce
from ..pose.canonical import root_relative

__all__ = [
    "DEFAULT_SIGMA_M",
    "sample_sigma",
    "dsm_perturb",
    "displacement_scale",
    "score_matching_loss",
    "gradient_matching_loss",
    "energy_and_gradient",
]

#: Default range of DSM noise scales (metres): about the size of real lifting errors per joint.
DEFAULT_SIGMA_M: tuple[float, float] = (0.005, 0.15)


def _non_root_mask(num_joints: int, root: int, like: Tensor) -> Tensor:
    m = torch.ones(num_joints, 1, dtype=like.dtype, device=like.device)
    m[root] = 0
    return m


def sample_sigma(
    n: int,
    sigma_m: tuple[float, float] = DEFAULT_SIGMA_M,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``n`` noise scales drawn log-uniformly in ``[sigma_m[0], sigma_m[1]]`` metres: ``(n,)``.

    Example:
        >>> s = sample_sigma(1000, (0.01, 0.1), torch.Generator().manual_seed(0))
        >>> bool((s >= 0.01).all() and (s <= 0.1).all())
        True
    """
    lo, hi = float(sigma_m[0]), float(sigma_m[1])
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(f"sigma_m must satisfy 0 < low <= high < inf, got {sigma_m}")
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    s = torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    return s.to(device=device, dtype=dtype)


def dsm_perturb(
    y: Tensor,
    sigma: Tensor,
    generator: torch.Generator | None = None,
    root: int = 0,
) -> tuple[Tensor, Tensor]:
    """Noisy poses for DSM: ``y~ = y + sigma * eps`` with the root joint left untouched.

    Args:
        y: ``(B, J, 3)`` ground truth, metres.
        sigma: ``(B,)`` noise scale per sample, metres (:func:`sample_sigma`).
        generator: CPU generator of the noise (drawn on CPU, moved to ``y``'s device).
        root: root joint index (its noise is zero).

    Returns:
        ``y_noisy (B, J, 3)`` and ``eps (B, J, 3)`` (standard normal, zero at the root).
    """
    if y.dim() != 3 or y.shape[-1] != 3:
        raise PoseShapeError(f"dsm_perturb: y must be (B, J, 3), got {tuple(y.shape)}")
    if sigma.shape != y.shape[:1]:
        raise PoseShapeError(
            f"dsm_perturb: sigma must be (B,) = {tuple(y.shape[:1])}, got {tuple(sigma.shape)}"
        )
    eps = torch.randn(y.shape, generator=generator, dtype=torch.float32).to(y.device, y.dtype)
    eps = eps * _non_root_mask(y.shape[1], root, y)
    return y + sigma.to(y.dtype)[:, None, None] * eps, eps


def displacement_scale(d: Tensor, root: int = 0, min_m: float = 1e-3) -> Tensor:
    """Root-mean-square per non-root coordinate of displacements ``d (..., J, 3)``: ``(...)``
    metres, clamped below at ``min_m`` (a near-zero displacement carries no direction)."""
    j = d.shape[-2]
    if j < 2:
        raise PoseShapeError(f"displacement_scale: need at least 2 joints, got {tuple(d.shape)}")
    sq = d.pow(2).sum((-1, -2)) - d[..., root, :].pow(2).sum(-1)
    return (sq / (3 * (j - 1))).clamp_min(0).sqrt().clamp_min(min_m)


def score_matching_loss(
    grad: Tensor,
    displacement: Tensor,
    sigma: Tensor,
    root: int = 0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Weighted score-matching residual ``|| sigma * grad - displacement / sigma ||^2`` per pose,
    averaged over the non-root coordinates.

    For DSM ``displacement = y~ - y* = sigma * eps``, so the target is ``eps``.

    Args:
        grad: ``(..., J, 3)`` energy gradient ``dE/dy`` at the displaced poses (1/m).
        displacement: ``(..., J, 3)`` displaced pose minus ground truth (metres).
        sigma: ``(...)`` scale per pose (metres, > 0).
        root: root joint (excluded: the loss-net gives it no gradient).
        reduction: ``"mean" | "sum" | "none"`` or a reducer.

    Returns:
        ``(...)`` per-pose losses for ``"none"``, else 0-dim.

    Example:
        >>> g = torch.zeros(1, 2, 3); d = torch.zeros(1, 2, 3); d[0, 1, 0] = 0.1
        >>> score_matching_loss(g, d, torch.tensor([0.1]), reduction="none")  # (0 - 1)^2 / 3
        tensor([0.3333])
    """
    if grad.shape != displacement.shape or grad.shape[-1] != 3 or grad.dim() < 3:
        raise PoseShapeError(
            "score_matching_loss: grad and displacement must both be (..., J, 3), got "
            f"{tuple(grad.shape)} and {tuple(displacement.shape)}"
        )
    if sigma.shape != grad.shape[:-2]:
        raise PoseShapeError(
            f"score_matching_loss: sigma must have shape {tuple(grad.shape[:-2])}, got "
            f"{tuple(sigma.shape)}"
        )
    s = sigma.detach().to(grad.dtype)[..., None, None]
    target = displacement.detach().to(grad.dtype) / s
    r = (s * grad - target) * _non_root_mask(grad.shape[-2], root, grad)
    per_pose = r.pow(2).sum((-1, -2)) / (3 * (grad.shape[-2] - 1))
    return reduce(per_pose, reduction)


def gradient_matching_loss(
    grad_neg: Tensor,
    y_neg: Tensor,
    y_gt: Tensor,
    root: int = 0,
    reduction: Reduction = "mean",
) -> Tensor:
    """Ask ``dE/dy`` at each negative to point from the truth to it, scaled by its size.

    :func:`score_matching_loss` with ``d = y_neg - y*`` (root-relative) and
    ``sigma = displacement_scale(d)``.

    Args:
        grad_neg: ``(B, K, J, 3)`` energy gradients at the negatives (1/m).
        y_neg: ``(B, K, J, 3)`` negatives, metres.
        y_gt: ``(B, J, 3)`` ground truth, metres.

    Returns:
        ``(B,)`` (mean over the K negatives) for ``"none"``, else 0-dim.
    """
    if y_neg.dim() != 4 or y_gt.dim() != 3 or y_neg.shape[2:] != y_gt.shape[1:]:
        raise PoseShapeError(
            "gradient_matching_loss: expected y_neg (B, K, J, 3) and y_gt (B, J, 3), got "
            f"{tuple(y_neg.shape)} and {tuple(y_gt.shape)}"
        )
    rel_n = root_relative(y_neg, root)
    rel_g = root_relative(y_gt, root)[:, None]
    d = (rel_n - rel_g).detach()
    per = score_matching_loss(grad_neg, d, displacement_scale(d, root), root, "none")
    per_sample = per.mean(1) if per.shape[1] else per.sum(1)
    return reduce(per_sample, reduction)


def energy_and_gradient(
    energy_fn, x2d: Tensor, y: Tensor, create_graph: bool = True
) -> tuple[Tensor, Tensor]:
    """Energies ``E(x, y)`` and ``dE/dy`` with a graph for a second backward.

    Args:
        energy_fn: a loss-net (or any callable ``(x2d, y) -> energies``), e.g.
            ``lossnet.energy``.
        x2d: ``(..., J, 2)``; y: ``(..., J, 3)`` (a fresh leaf is made from it).
        create_graph: keep the graph of the gradient (needed to train on it).

    Returns:
        ``e (...)`` and ``grad (..., J, 3)``.
    """
    leaf = y.detach().requires_grad_(True)
    with torch.enable_grad():
        e = energy_fn(x2d, leaf)
        (g,) = torch.autograd.grad(e.sum(), leaf, create_graph=create_graph)
    return e, g

"""Find the sampler magnitude that gives a target median perturbation size (MPJPE, mm)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from .base import NegativeSample, perturbation_size

__all__ = ["Calibration", "median_perturbation_mm", "calibrate"]

SamplerFn = Callable[[float, torch.Tensor, int, torch.Generator], "torch.Tensor | NegativeSample"]


class Calibration(NamedTuple):
    """Result of :func:`calibrate`: the magnitude and the median MPJPE (mm) it gives."""

    magnitude: float
    median_mm: float


def _fresh(state: torch.Tensor, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.set_state(state)
    return g


def median_perturbation_mm(
    sampler_fn: SamplerFn,
    magnitude: float,
    y: torch.Tensor,
    k: int,
    gen: torch.Generator,
) -> float:
    """Median over all (sample, negative) of the per-negative MPJPE in mm."""
    with torch.no_grad():
        out = sampler_fn(magnitude, y, k, gen)
        poses = out.poses if isinstance(out, NegativeSample) else out
        return float(perturbation_size(poses, y).median())


def calibrate(
    sampler_fn: SamplerFn,
    target_mpjpe_mm: float,
    y: torch.Tensor,
    gen: torch.Generator | None = None,
    k: int = 4,
    lo: float = 1e-4,
    hi: float = 1.0,
    rtol: float = 0.01,
    max_iter: int = 60,
) -> Calibration:
    """Bisect (in log space) the magnitude whose median perturbation is ``target_mpjpe_mm``.

    Every evaluation reuses the same random numbers (a fresh generator with ``gen``'s state),
    so the median is a deterministic function of the magnitude, monotone for the scale-type
    samplers (Gaussian sigma, bone-direction angle, bone-length scale).

    Args:
        sampler_fn: ``(magnitude, y (B, J, 3), k, gen) -> (B, K, J, 3)`` or a
            :class:`~.base.NegativeSample`, e.g.
            ``lambda m, y, k, g: gaussian_joint_noise(y, m, k, g)``.
        target_mpjpe_mm: target median per-negative MPJPE (mm).
        y: ``(B, J, 3)`` canonical ground truth (metres).
        gen: generator whose state fixes the draws (default: seed 0).
        k: negatives per sample used for the estimate.
        lo, hi: initial bracket; ``hi`` is doubled (up to 20 times) until it brackets.
        rtol: stop when the median is within ``rtol * target``.

    Returns:
        :class:`Calibration` ``(magnitude, median_mm)``.

    Raises:
        ValueError: when no magnitude in ``[lo, hi * 2**20]`` reaches the target (e.g. bone
            rotations saturate near 180 degrees).
    """
    if not target_mpjpe_mm > 0:
        raise ValueError(f"target_mpjpe_mm must be > 0, got {target_mpjpe_mm}")
    if not 0 < lo < hi:
        raise ValueError(f"need 0 < lo < hi, got lo={lo}, hi={hi}")
    if gen is None:
        gen = torch.Generator().manual_seed(0)
    state = gen.get_state()

    def med(m: float) -> float:
        return median_perturbation_mm(sampler_fn, m, y, k, _fresh(state, gen.device))

    m_lo, m_hi = med(lo), med(hi)
    if m_lo > target_mpjpe_mm:
        raise ValueError(
            f"calibrate: the smallest magnitude {lo} already gives {m_lo:.2f} mm > target "
            f"{target_mpjpe_mm} mm; lower lo"
        )
    grow = 0
    while m_hi < target_mpjpe_mm:
        if grow == 20:
            raise ValueError(
                f"calibrate: magnitude {hi} gives only {m_hi:.2f} mm < target "
                f"{target_mpjpe_mm} mm; the sampler cannot reach it"
            )
        lo, m_lo = hi, m_hi
        hi *= 2.0
        m_hi = med(hi)
        grow += 1
    best = Calibration(hi, m_hi)
    for _ in range(max_iter):
        mid = math.sqrt(lo * hi)
        m_mid = med(mid)
        if abs(m_mid - target_mpjpe_mm) < abs(best.median_mm - target_mpjpe_mm):
            best = Calibration(mid, m_mid)
        if abs(m_mid - target_mpjpe_mm) <= rtol * target_mpjpe_mm:
            break
        if m_mid < target_mpjpe_mm:
            lo = mid
        else:
            hi = mid
    return best

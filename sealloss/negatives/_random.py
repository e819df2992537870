"""Seeded draws that give the same numbers whatever device the poses live on."""

from __future__ import annotations

import math

import torch

__all__ = ["randn", "rand", "magnitude", "Magnitude"]

Magnitude = float | tuple[float, float] | torch.Tensor


def _draw(fn, shape: tuple[int, ...], gen: torch.Generator | None, like: torch.Tensor):
    # draw on the generator's device (CPU generators stay usable for CUDA poses), then move
    device = gen.device if gen is not None else like.device
    out = fn(shape, generator=gen, device=device, dtype=like.dtype)
    return out.to(like.device)


def randn(shape: tuple[int, ...], gen: torch.Generator | None, like: torch.Tensor):
    """Standard normal ``shape`` draw with ``like``'s dtype and device."""
    return _draw(torch.randn, shape, gen, like)


def rand(shape: tuple[int, ...], gen: torch.Generator | None, like: torch.Tensor):
    """Uniform [0, 1) ``shape`` draw with ``like``'s dtype and device."""
    return _draw(torch.rand, shape, gen, like)


def magnitude(
    m: Magnitude, b: int, k: int, gen: torch.Generator | None, like: torch.Tensor
) -> torch.Tensor:
    """A ``(B, K)`` magnitude: a float (constant), a ``(lo, hi)`` range (log-uniform per
    negative; ``lo = 0`` falls back to uniform) or a tensor broadcastable to ``(B, K)``."""
    if isinstance(m, torch.Tensor):
        return m.to(like).expand(b, k)
    if isinstance(m, tuple | list):
        lo, hi = float(m[0]), float(m[1])
        if not 0 <= lo <= hi:
            raise ValueError(f"magnitude range must satisfy 0 <= lo <= hi, got {m}")
        u = rand((b, k), gen, like)
        if lo > 0:
            return torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        return lo + u * (hi - lo)
    m = float(m)
    if m < 0:
        raise ValueError(f"magnitude must be >= 0, got {m}")
    return like.new_full((b, k), m)

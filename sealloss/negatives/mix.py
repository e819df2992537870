"""Mix several samplers into one set of K negatives per sample, labelled per column."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .base import NegativeSample, Sampler

__all__ = ["allocate", "NegativeMixer"]


def allocate(weights: Sequence[float], k: int, gen: torch.Generator | None = None) -> list[int]:
    """Split ``k`` negatives across samplers in proportion to ``weights``.

    Each sampler gets ``floor(k * w_i)`` plus, by **systematic sampling** of the fractional
    parts with one uniform offset drawn from ``gen``, one extra with probability equal to its
    fractional part. The counts always sum to ``k`` and their expectation is exactly
    ``k * w_i`` (weights are normalised). With ``gen=None`` the offset is 0.5 (deterministic
    rounding).
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    w = [float(x) for x in weights]
    if not w or any(x < 0 or not math.isfinite(x) for x in w) or sum(w) <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all zero, got {list(weights)}")
    total = sum(w)
    exact = [k * x / total for x in w]
    base = [math.floor(e) for e in exact]
    frac = [e - b for e, b in zip(exact, base)]
    rest = k - sum(base)
    if rest == 0:
        return base
    if gen is None:
        u = 0.5
    else:
        u = float(torch.rand((), generator=gen, device=gen.device))
    cum = 0.0
    prev_hits = 0
    for i, f in enumerate(frac):
        cum = cum + f if i < len(frac) - 1 else float(rest)
        hits = math.ceil(cum - u - 1e-12)  # points u, u+1, ... below cum
        base[i] += hits - prev_hits
        prev_hits = hits
    return base


class NegativeMixer(Sampler):
    """``NegativeMixer([(sampler, weight), ...])(y_gt, k, gen, **context)``.

    Columns are filled sampler by sampler (in the given order) with the counts of
    :func:`allocate`; the result's ``kinds`` labels every column with its sampler's kind so
    that ranking accuracy can be reported per kind. ``context`` (e.g. ``y_hat``,
    ``energy_fn``) is passed to every sampler. ``log_q`` is the concatenation of the samplers'
    ``log_q`` when every used sampler provides one (each column's density is that of its own
    sampler, since columns are assigned, not drawn from the mixture), else ``None``.
    """

    kind = "mixed"

    def __init__(self, samplers: Sequence[tuple[Sampler, float]]) -> None:
        if not samplers:
            raise ValueError("NegativeMixer needs at least one (sampler, weight) pair")
        self.samplers = [s for s, _ in samplers]
        self.weights = [float(w) for _, w in samplers]
        allocate(self.weights, 0)  # validates the weights
        skeletons = {s.skeleton.name for s in self.samplers if s.skeleton is not None}
        if len(skeletons) > 1:
            raise ValueError(f"NegativeMixer: samplers use different skeletons {skeletons}")
        self.skeleton = next((s.skeleton for s in self.samplers if s.skeleton is not None), None)

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        counts = allocate(self.weights, k, generator)
        parts = [
            s(y_gt, c, generator, **context) for s, c in zip(self.samplers, counts) if c > 0
        ]
        if not parts:
            empty = y_gt.new_zeros((y_gt.shape[0], 0) + tuple(y_gt.shape[1:]))
            return NegativeSample(empty, self.kind)
        poses = torch.cat([p.poses for p in parts], dim=1)
        kinds = tuple(label for p in parts for label in p.kinds)
        log_q = None
        if all(p.log_q is not None for p in parts):
            log_q = torch.cat([p.log_q for p in parts], dim=1)  # type: ignore[misc]
        return NegativeSample(poses, self.kind, log_q, kinds)

    def __repr__(self) -> str:
        inner = ", ".join(f"({s!r}, {w})" for s, w in zip(self.samplers, self.weights))
        return f"NegativeMixer([{inner}])"

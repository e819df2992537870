"""The few ``torch.distributed`` collectives the wrapper needs (pure functions, no state).

Every rank must reach the same collective calls in the same order, or the job hangs. The
wrapper therefore makes every decision that leads to a collective (skip a loss-net step, update
an auto lambda) from values that all ranks agree on: :func:`all_ok` for flags and
:func:`mean_over_ranks` for measurements. Outside an initialised process group every function
here is a no-op (world size 1) and costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = [
    "world_size",
    "all_ok",
    "mean_over_ranks",
    "broadcast_module",
    "all_reduce_gradients",
]


def world_size() -> int:
    """Processes in the default ``torch.distributed`` group (1 when not initialised)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def all_ok(flag: bool, device: torch.device) -> bool:
    """``flag`` agreed by every rank (logical AND); a collective when distributed.

    Every rank must reach the same calls in the same order, or the job hangs: this is why a
    step that one rank wants to skip is skipped by all of them. Distributed, it reads the
    reduced flag back to the host (one synchronisation).
    """
    if world_size() == 1:
        return flag
    t = torch.tensor([0.0 if flag else 1.0], device=device)
    torch.distributed.all_reduce(t)
    return bool(t.item() == 0)


def mean_over_ranks(value: float | None, device: torch.device) -> float | None:
    """Mean of the ranks' values (``None`` = no value on this rank); a collective when
    distributed. ``None`` when no rank has a value."""
    if world_size() == 1:
        return value
    t = torch.tensor([value or 0.0, 0.0 if value is None else 1.0], device=device,
                     dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t[0] / t[1]) if t[1] > 0 else None


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers (its ``state_dict`` tensors) to every rank, in
    place; no-op when not distributed. No host synchronisation."""
    if world_size() == 1:
        return
    with torch.no_grad():
        for t in module.state_dict().values():
            torch.distributed.broadcast(t, src=src)


def all_reduce_gradients(params: Iterable[Tensor]) -> None:
    """Average ``p.grad`` over the ranks, in place (parameters without a gradient are left
    alone: every rank must have the same ones); no-op when not distributed."""
    world = world_size()
    if world == 1:
        return
    for p in params:
        if p.grad is not None:
            torch.distributed.all_reduce(p.grad)
            p.grad.div_(world)

"""Checks of :class:`~sealloss.training.wrapper.AlternatingWrapper`'s options (each refused with a
named
``ValueError`` when set) and the resolution of its ``lossnet`` argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..nn.base import LossNet
from ..objectives import COST_KINDS, OBJECTIVES, LossNetObjective
from ..pose.skeleton import Skeleton
from .lam import check_number as _check_number

__all__ = ["MODES", "check_options", "resolve_lossnet"]

#: the wrapper's modes
MODES = ("dynamic", "static", "warm")
_MODES = MODES


def check_options(
    *,
    mode: str,
    objective: str | LossNetObjective,
    score_fraction: float,
    lam: float | str | Callable[[int], float],
    lam_unlabeled: float | str | Callable[[int], float],
    unlabeled_force_ratio: float,
    k: int,
    update_every: int,
    force_every: int,
    log_every: int,
    num_negatives: int,
    lossnet_lr: float,
    target_force_ratio: float | Callable[[int], float],
    lam_init: float,
    lam_ema: float,
    lossnet_batch: int | None,
    frames_per_clip: int | None,
    grad_clip: float | None,
    task_cost: str,
    **_: Any,
) -> None:
    """Refuse a bad option value with a ``ValueError`` naming it (in the order they are listed).
    Other keywords are ignored, so the constructor can pass all of its arguments."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if not isinstance(objective, LossNetObjective) and objective not in OBJECTIVES:
        raise ValueError(
            f"objective must be one of {OBJECTIVES} or a LossNetObjective, got {objective!r}"
        )
    _check_number("score_fraction", score_fraction, 0.0, strict=True, high=1.0)
    for name, value in (("lam", lam), ("lam_unlabeled", lam_unlabeled)):
        if isinstance(value, str) and value != "auto":
            raise ValueError(f"{name} must be a float, a callable or 'auto', got {value!r}")
        if not isinstance(value, str) and not callable(value):
            _check_number(name, value, 0.0)
    for name, value, low, kw in (
        ("unlabeled_force_ratio", unlabeled_force_ratio, 0.0, {}),
        ("k", k, 1, {"integer": True}), ("update_every", update_every, 1, {"integer": True}),
        ("force_every", force_every, 1, {"integer": True}),
        ("log_every", log_every, 1, {"integer": True}),
        ("num_negatives", num_negatives, 0, {"integer": True}),
        ("lossnet_lr", lossnet_lr, 0.0, {"strict": True}),
        ("target_force_ratio", target_force_ratio, 0.0, {}),
        ("lam_init", lam_init, 0.0, {"strict": True}),
        ("lam_ema", lam_ema, 0.0, {"high": 0.999999}),
        ("lossnet_batch", lossnet_batch, 1, {"integer": True}),
        ("frames_per_clip", frames_per_clip, 1, {"integer": True}),
        ("grad_clip", grad_clip, 0.0, {"strict": True}),
    ):
        if name == "target_force_ratio" and callable(value):
            continue  # a schedule: each value is checked where it is used
        if value is not None or name not in ("lossnet_batch", "frames_per_clip", "grad_clip"):
            _check_number(name, value, low, **kw)
    if task_cost not in COST_KINDS:
        raise ValueError(f"task_cost must be one of {COST_KINDS}, got {task_cost!r}")


def resolve_lossnet(
    lossnet: LossNet | str | None,
    mode: str,
    skeleton: Skeleton | str | None,
    device: torch.device | str | None,
) -> LossNet:
    """The wrapper's loss-net: a :class:`LossNet` as given, a fresh
    :class:`~sealloss.nn.GraphormerLossNet` for ``None`` (dynamic mode only), or a name or path
    loaded by :func:`sealloss.io.weights.load_lossnet`; moved to ``device`` when one is given."""
    if isinstance(lossnet, LossNet):
        net = lossnet
    elif lossnet is None:
        if mode != "dynamic":
            raise ValueError(
                f"mode={mode!r} needs a pretrained loss-net (name, path or LossNet); "
                "use mode='dynamic' to train one from scratch"
            )
        from ..nn import GraphormerLossNet

        net = GraphormerLossNet(skeleton or "h36m17")
    else:
        from ..io.weights import load_lossnet

        net = load_lossnet(lossnet)
    return net.to(device) if device is not None else net

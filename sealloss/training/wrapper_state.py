"""Saving and restoring an :class:`~sealloss.training.wrapper.AlternatingWrapper`'s state: loss-net
weights and optimizer, counters, both lambdas, the supervised-pull EMA and the generator; loads
all of it or nothing. The wrapper's ``state_dict`` / ``load_state_dict`` call these.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .wrapper import AlternatingWrapper

__all__ = ["wrapper_state_dict", "load_wrapper_state"]


def wrapper_state_dict(w: AlternatingWrapper) -> dict[str, Any]:
    """Loss-net weights, its optimizer, counters, the lambdas' state and the RNG state
    (one host synchronisation for the supervised-pull EMA)."""
    sup = None if w._sup_norm is None else float(w._sup_norm)
    lam, lam_u = w._lam.state_dict(), w._lam_u.state_dict()
    return {
        "lossnet": {k: v.detach().clone() for k, v in w.lossnet.state_dict().items()},
        "lossnet_config": w.lossnet.config,
        "lossnet_optimizer": (
            w.lossnet_optimizer.state_dict() if w.lossnet_optimizer else None
        ),
        "steps": w.steps,
        "lossnet_updates": w.lossnet_updates,
        "skipped_energy_steps": w.skipped_energy_steps,
        "skipped_lossnet_steps": w.skipped_lossnet_steps,
        "lam_value": lam["value"],
        "lam_ema_ratio": lam["ema_ratio"],
        "generator": w.generator.get_state(),
        "mode": w.mode,
        "lam_mode": lam["kind"],
        "lam_sup_norm": None if sup is None or math.isnan(sup) else sup,
        "lam_sup_n": w._sup_n,
        "unlabeled": {
            "lam_mode": lam_u["kind"],
            "lam_value": lam_u["value"],
            "lam_ema_ratio": lam_u["ema_ratio"],
            "steps": w.unlabeled_steps,
            "skipped": w.skipped_unlabeled_steps,
        },
    }

def load_wrapper_state(w: AlternatingWrapper, state: Mapping[str, Any]) -> None:
    """Restore :meth:`AlternatingWrapper.state_dict`: all of it or nothing.

    Refuses (``ValueError``, the wrapper unchanged) a state of another mode, of another
    lambda kind (an ``"auto"`` state into a fixed-lambda wrapper would replace the user's
    lambda), of a loss-net with another config (same tensor shapes are not enough), or with
    missing entries; if loading fails half way, everything loaded so far is rolled back.
    States written before ``lam_mode`` or ``unlabeled`` existed load as this wrapper's kind.

    Every value is checked before anything changes: counters must be integers ``>= 0`` (``-5``,
    ``3.7``, ``'7'`` and ``True`` are refused, not converted), lambda values numbers, the
    loss-net tensors finite, and the loss-net optimizer state must come from the same kind of
    optimizer (an SGD state into an Adam wrapper is refused here, not at the next step).
    """
    required = ("lossnet", "steps", "lossnet_updates", "skipped_energy_steps",
                "skipped_lossnet_steps", "lam_value", "lam_ema_ratio", "generator")
    missing = [k for k in required if k not in state]
    if missing:
        raise ValueError(f"wrapper state is missing {missing}: not a wrapper state_dict?")
    if state.get("mode", w.mode) != w.mode:
        raise ValueError(
            f"state was saved in mode {state['mode']!r}, this wrapper is {w.mode!r}"
        )
    counters = {k: _count(state, k, "wrapper state") for k in required[1:5]}
    unl = state.get("unlabeled")
    u = None
    if unl is not None:
        if not isinstance(unl, Mapping):
            raise ValueError(f"wrapper state: 'unlabeled' must be a dict, got {unl!r}")
        u = w._lam_u.parse_state({"kind": unl.get("lam_mode", w._lam_u.kind),
                                     "value": unl.get("lam_value"),
                                     "ema_ratio": unl.get("lam_ema_ratio")})
        u_counts = (_count(unl, "steps", "wrapper state['unlabeled']"),
                    _count(unl, "skipped", "wrapper state['unlabeled']"))
    lam = w._lam.parse_state({"kind": state.get("lam_mode", w._lam.kind),
                                 "value": state["lam_value"],
                                 "ema_ratio": state["lam_ema_ratio"]})
    cfg = state.get("lossnet_config")
    if cfg is not None and _jsonable(cfg) != _jsonable(w.lossnet.config):
        raise ValueError(
            "state holds a loss-net of another config than this wrapper's "
            f"(saved {_jsonable(cfg)}, here {_jsonable(w.lossnet.config)})"
        )
    sup = state.get("lam_sup_norm")
    if sup is not None and not (_real(sup) and 0 <= sup < math.inf):
        raise ValueError(f"wrapper state: 'lam_sup_norm' must be None or a finite number >= 0, "
                         f"got {sup!r}")
    sup_n = state.get("lam_sup_n")
    if sup_n is not None:
        sup_n = _count(state, "lam_sup_n", "wrapper state")
    _check_lossnet_tensors(state["lossnet"])
    opt = w.lossnet_optimizer
    if opt is not None and state.get("lossnet_optimizer") is not None:
        _check_optimizer_state(opt, state["lossnet_optimizer"])
    net_before = {k: v.detach().clone() for k, v in w.lossnet.state_dict().items()}
    opt_before = copy.deepcopy(opt.state_dict()) if opt else None
    gen_before = w.generator.get_state()
    try:
        sup = None if sup is None else torch.tensor(float(sup), dtype=torch.float64)
        w.lossnet.load_state_dict(state["lossnet"], strict=True)
        if opt is not None and state.get("lossnet_optimizer") is not None:
            opt.load_state_dict(state["lossnet_optimizer"])
        w.generator.set_state(state["generator"])
    except Exception:
        w.lossnet.load_state_dict(net_before)
        if opt is not None and opt_before is not None:
            opt.load_state_dict(opt_before)
        w.generator.set_state(gen_before)
        raise
    w.steps = counters["steps"]
    w.lossnet_updates = counters["lossnet_updates"]
    w.skipped_energy_steps = counters["skipped_energy_steps"]
    w.skipped_lossnet_steps = counters["skipped_lossnet_steps"]
    w._lam.value, w._lam.ema_ratio = lam
    w._sup_norm = sup
    w._sup_n = sup_n
    if u is not None:
        w._lam_u.value, w._lam_u.ema_ratio = u
        w.unlabeled_steps, w.skipped_unlabeled_steps = u_counts



def _jsonable(cfg: Any) -> Any:
    """A config compared by value (tuples and lists alike, as after a JSON round trip)."""
    return json.loads(json.dumps(cfg, sort_keys=True, default=str))


def _real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _count(state: Mapping[str, Any], key: str, where: str) -> int:
    """``state[key]`` as a counter: an integer ``>= 0`` (not a bool, a float or a string)."""
    v = state.get(key)
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
        raise ValueError(f"{where}: {key!r} must be an integer >= 0, got {v!r} "
                         f"({type(v).__name__}): a damaged or hand-edited state?")
    return int(v)


def _check_lossnet_tensors(sd: Any) -> None:
    """The saved loss-net weights: a dict of tensors with finite values."""
    if not isinstance(sd, Mapping):
        raise ValueError(f"wrapper state: 'lossnet' must be a state dict, got {type(sd).__name__}")
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"wrapper state: lossnet[{k!r}] is a {type(v).__name__}, not a tensor")
        if v.is_floating_point() and v.numel() and not torch.isfinite(v).all():
            raise ValueError(
                f"wrapper state: lossnet[{k!r}] holds NaN/Inf: the saved loss-net had diverged "
                "or the state is damaged; resume from an earlier checkpoint"
            )


def _check_optimizer_state(opt: torch.optim.Optimizer, saved: Any) -> None:
    """Refuse an optimizer state that ``opt`` would accept but fail on at its next step: one
    of another optimizer kind (its options are not this optimizer's), or with per-parameter
    tensors of other shapes."""
    kind = type(opt).__name__
    if not isinstance(saved, Mapping) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state"), Mapping):
        raise ValueError("wrapper state: 'lossnet_optimizer' is not an optimizer state_dict "
                         "(needs 'state' and 'param_groups')")
    groups = saved["param_groups"]
    if len(groups) != len(opt.param_groups):
        raise ValueError(f"wrapper state: 'lossnet_optimizer' has {len(groups)} parameter "
                         f"groups, this wrapper's {kind} has {len(opt.param_groups)}")
    params = [p for g in opt.param_groups for p in g["params"]]
    for g, mine in zip(groups, opt.param_groups):
        if not isinstance(g, Mapping):
            raise ValueError("wrapper state: 'lossnet_optimizer' has a malformed param group")
        extra = sorted(set(g) - set(mine))
        if extra:
            raise ValueError(
                f"wrapper state: 'lossnet_optimizer' was saved by another kind of optimizer "
                f"(options {extra} that this wrapper's {kind} does not have); build the wrapper "
                f"with the same lossnet_optimizer kind to resume"
            )
    for idx, st in saved["state"].items():
        if not isinstance(idx, int) or not 0 <= idx < len(params) or not isinstance(st, Mapping):
            raise ValueError(f"wrapper state: 'lossnet_optimizer' has state for parameter "
                             f"{idx!r}, this wrapper's {kind} has {len(params)} parameters")
        shape = params[idx].shape
        for name, t in st.items():
            if isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape != shape:
                raise ValueError(
                    f"wrapper state: 'lossnet_optimizer' entry {name!r} of parameter {idx} has "
                    f"shape {tuple(t.shape)}, the parameter has {tuple(shape)}"
                )

"""Saving and restoring an :class:`~sealloss.wrapper.AlternatingWrapper`'s state: loss-net
weights and optimizer, counters, both lambdas, the supervised-pull EMA and the generator; loads
all of it or nothing. The wrapper's ``state_dict`` / ``load_state_dict`` call these.
"""

from __future__ import annotations

import copy
import json
import math
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
    unl = state.get("unlabeled")
    u = None
    if unl is not None:
        u = w._lam_u.parse_state({"kind": unl.get("lam_mode", w._lam_u.kind),
                                     "value": unl["lam_value"],
                                     "ema_ratio": unl["lam_ema_ratio"]})
        u_counts = int(unl["steps"]), int(unl["skipped"])
    lam = w._lam.parse_state({"kind": state.get("lam_mode", w._lam.kind),
                                 "value": state["lam_value"],
                                 "ema_ratio": state["lam_ema_ratio"]})
    cfg = state.get("lossnet_config")
    if cfg is not None and _jsonable(cfg) != _jsonable(w.lossnet.config):
        raise ValueError(
            "state holds a loss-net of another config than this wrapper's "
            f"(saved {_jsonable(cfg)}, here {_jsonable(w.lossnet.config)})"
        )
    net_before = {k: v.detach().clone() for k, v in w.lossnet.state_dict().items()}
    opt = w.lossnet_optimizer
    opt_before = copy.deepcopy(opt.state_dict()) if opt else None
    gen_before = w.generator.get_state()
    try:
        counters = {k: int(state[k]) for k in required[1:5]}
        sup = state.get("lam_sup_norm")
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
    if u is not None:
        w._lam_u.value, w._lam_u.ema_ratio = u
        w.unlabeled_steps, w.skipped_unlabeled_steps = u_counts



def _jsonable(cfg: Any) -> Any:
    """A config compared by value (tuples and lists alike, as after a JSON round trip)."""
    return json.loads(json.dumps(cfg, sort_keys=True, default=str))

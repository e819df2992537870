"""Flat settings -> an :class:`~sealloss.training.wrapper.AlternatingWrapper` of parts.

CLI flags, the example patches, the Lightning callback, :data:`sealloss.defaults.RECOMMENDED`
and the benches describe SEAL with one flat dict (``mode``, ``lossnet_lr``, ``margin``, ...).
:func:`build_wrapper` maps those keys onto the parts and refuses any key that would be ignored,
so a setting never silently does nothing.

====================  =========================================================================
key                   goes to
====================  =========================================================================
lossnet, skeleton,    :class:`AlternatingWrapper` (same names)
adapter, seed,
log_every, device
mode                  ``"static"``: no trainer; ``"dynamic"``: a trainer (``lossnet=None``: a
                      fresh loss-net); ``"warm"``: a trainer on a pretrained loss-net
k, update_every,      :class:`LossNetTrainer` ``k``, ``update_every``, ``grad_clip``,
grad_clip,            ``negatives``, ``num_negatives``
negatives,
num_negatives
lossnet_lr,           :class:`LossNetTrainer` ``lr``, ``optimizer``, ``batch``
lossnet_optimizer,
lossnet_batch
objective, margin,    :class:`LossNetTrainer` ``objective``: a name with these fields
task_cost,            (:func:`sealloss.objectives.make_objective`) or a ``LossNetObjective``
temperature,
energy_reg
score_fraction,       :class:`EnergyTerm` (same names)
frames_per_clip,
force_every
lam,                  :class:`LambdaController` ``lam`` (``target=``) and ``lam_unlabeled``
target_force_ratio,   (``target=unlabeled_force_ratio``); ``lam_init``, ``lam_ema`` and
lam_unlabeled,        ``lam_bounds`` are both controllers' ``init``, ``ema`` and ``bounds``
unlabeled_force_ratio,
lam_init, lam_ema,
lam_bounds
====================  =========================================================================

Defaults are the recommended setting of the input kind (``inputs="gt"``:
:data:`sealloss.defaults.RECOMMENDED`; ``inputs="detected"``: ``TRAIN["detected"]``, the
alternating scheme warm-started from ``h36m17-sh-refiner``), then the parts' own defaults. A
preset's key gives way to the caller's choice that makes it moot, without a refusal: with
``mode="static"`` the preset's loss-net training keys are dropped, with another ``objective``
its objective fields, with ``lossnet_optimizer`` its ``lossnet_lr``. The caller's own keys are
still refused when they would be ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..defaults import train_defaults
from ..nn.base import LossNet
from ..objectives import OBJECTIVES, LossNetObjective, make_objective
from ..pose.skeleton import get_skeleton
from .energy_term import EnergyTerm
from .lam import LambdaController
from .lossnet_trainer import LossNetTrainer
from .wrapper import AlternatingWrapper, resolve_lossnet

__all__ = ["build_wrapper", "MODES", "SETTINGS", "TRAINER_KEYS", "OBJECTIVE_KEYS"]

#: the values of ``mode``
MODES = ("static", "dynamic", "warm")

_WRAPPER_KEYS = ("lossnet", "skeleton", "adapter", "seed", "log_every", "device")
_ENERGY_KEYS = ("score_fraction", "frames_per_clip", "force_every")
#: objective fields settable by name (the ranking they apply to; ``None``: every objective)
_OBJECTIVE_FIELDS = {"margin": "margin", "task_cost": "margin", "temperature": "nce",
                     "energy_reg": None}
OBJECTIVE_KEYS = tuple(_OBJECTIVE_FIELDS)
#: keys that only a trainer reads (refused with ``mode="static"``)
TRAINER_KEYS = ("k", "update_every", "grad_clip", "negatives", "num_negatives", "lossnet_lr",
                "lossnet_optimizer", "lossnet_batch", "objective", *OBJECTIVE_KEYS)
_LAM_KEYS = ("lam", "target_force_ratio", "lam_unlabeled", "unlabeled_force_ratio", "lam_init",
             "lam_ema", "lam_bounds")
#: every key :func:`build_wrapper` knows
SETTINGS = ("mode", *_WRAPPER_KEYS, *_ENERGY_KEYS, *TRAINER_KEYS, *_LAM_KEYS)


def _refuse(key: str, reason: str) -> None:
    raise ValueError(f"build_wrapper: {key} would be ignored: {reason}")


def _preset(inputs: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The recommended setting of ``inputs``, less the keys the caller's ``given`` makes moot."""
    preset = dict(train_defaults(inputs))
    moot: set[str] = set()
    if given.get("mode", preset["mode"]) == "static":
        moot.update(TRAINER_KEYS)
    if "objective" in given:
        moot.update(OBJECTIVE_KEYS)
    if "lossnet_optimizer" in given:
        moot.add("lossnet_lr")
    if given.get("lam", preset["lam"]) != "auto":
        moot.add("target_force_ratio")
    return {k: v for k, v in preset.items() if k not in moot}


def build_wrapper(inputs: str = "gt", **settings: Any) -> AlternatingWrapper:
    """An :class:`AlternatingWrapper` from flat settings (the keys: :data:`SETTINGS`, mapped as
    the module's table says).

    Args:
        inputs: the kind of 2D the model trains on, ``"gt"`` (GT-projected) or ``"detected"``
            (a detector's output); its recommended setting
            (:data:`sealloss.defaults.TRAIN`) fills every key not given.
        **settings: flat settings that override the recommended ones.

    Raises:
        ValueError: an unknown key; a key that would be ignored, naming it and the setting that
            makes it so (a loss-net training key with ``mode="static"``; an objective field with
            an objective object or with an objective that has no such term; ``lossnet_lr`` with
            ``lossnet_optimizer``; a target force ratio with a lambda that is not ``"auto"``;
            ``lam_init``/``lam_ema``/``lam_bounds`` with no ``"auto"`` lambda); a ``mode`` that
            needs a pretrained loss-net with ``lossnet=None``; and whatever a part refuses.
    """
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"build_wrapper: unknown settings {unknown}; known: {', '.join(SETTINGS)}")
    given = dict(settings)
    s: dict[str, Any] = {**_preset(inputs, given), **given}
    mode = s["mode"]
    if mode not in MODES:
        raise ValueError(f"build_wrapper: mode must be one of {MODES}, got {mode!r}")
    lossnet = s["lossnet"]
    if lossnet is None and mode != "dynamic":
        raise ValueError(f"build_wrapper: mode={mode!r} needs a pretrained loss-net (name, path "
                         "or LossNet) but lossnet=None; use mode='dynamic' to train one from "
                         "scratch")
    if mode == "static":
        for key in TRAINER_KEYS:
            if key in given:
                _refuse(key, "mode='static' trains no loss-net (use mode='dynamic' or 'warm')")
    net = resolve_lossnet(lossnet, s.get("device"))
    trainer = _trainer(given, s, net) if mode != "static" else None
    energy = EnergyTerm(**{k: s[k] for k in _ENERGY_KEYS if k in s})
    lam, lam_u = _lambdas(given, s)
    wrapper_kw = {k: s[k] for k in _WRAPPER_KEYS if k in s}
    wrapper_kw["lossnet"] = net
    return AlternatingWrapper(trainer=trainer, energy=energy, lam=lam, lam_unlabeled=lam_u,
                              **wrapper_kw)


def _trainer(given: Mapping[str, Any], s: Mapping[str, Any],
             net: LossNet | None) -> LossNetTrainer:
    """The loss-net trainer of settings ``s``; ``given`` (the caller's own keys) decides what is
    refused."""
    kw: dict[str, Any] = {}
    for key, dest in (("k", "k"), ("update_every", "update_every"), ("grad_clip", "grad_clip"),
                      ("negatives", "negatives"), ("num_negatives", "num_negatives"),
                      ("lossnet_lr", "lr"), ("lossnet_optimizer", "optimizer"),
                      ("lossnet_batch", "batch")):
        if key in s:
            kw[dest] = s[key]
    if "lossnet_lr" in given and given.get("lossnet_optimizer") is not None:
        _refuse("lossnet_lr", "lossnet_optimizer has its own learning rate")
    if kw.get("optimizer", 0) is None:
        del kw["optimizer"]
    objective = s.get("objective", "margin")
    fields = {k: s[k] if k == "task_cost" else float(s[k]) for k in OBJECTIVE_KEYS if k in s}
    if isinstance(objective, LossNetObjective):
        for key in fields:
            _refuse(key, "objective is a LossNetObjective, which carries its own "
                         f"{key} (set it there)")
        kw["objective"] = objective
        return LossNetTrainer(**kw)
    if objective not in OBJECTIVES:
        raise ValueError(f"build_wrapper: objective must be one of {OBJECTIVES} or a "
                         f"LossNetObjective, got {objective!r}")
    ranking = None if objective == "dsm" else objective.split("+")[0]
    for key in fields:  # the preset's fields fit its objective: only the caller's can misfit
        needs = _OBJECTIVE_FIELDS[key]
        if needs is not None and needs != ranking:
            _refuse(key, f"objective={objective!r} has no {needs} ranking term")
    if fields:  # a named objective with fields, for the loss-net's skeleton (bone costs)
        sk = get_skeleton(s["skeleton"] if s.get("skeleton") is not None
                          else net.skeleton if net is not None else "h36m17")
        kw["objective"] = make_objective(objective, skeleton=sk, **fields)
    else:
        kw["objective"] = objective
    return LossNetTrainer(**kw)


def _lambdas(given: Mapping[str, Any],
             s: Mapping[str, Any]) -> tuple[LambdaController | Any, LambdaController | Any]:
    lam = s.get("lam", "auto")
    lam_u = s.get("lam_unlabeled", "auto")
    auto = [name for name, v in (("lam", lam), ("lam_unlabeled", lam_u)) if v == "auto"]
    for key, which, value in (("target_force_ratio", "lam", lam),
                              ("unlabeled_force_ratio", "lam_unlabeled", lam_u)):
        if key in given and value != "auto":
            _refuse(key, f"{which}={value!r} is not 'auto' (only 'auto' holds a force ratio)")
    for key in ("lam_init", "lam_ema", "lam_bounds"):
        if key in given and not auto:
            _refuse(key, "neither lam nor lam_unlabeled is 'auto'")
    common = {dest: given[key] for key, dest in (("lam_init", "init"), ("lam_ema", "ema"),
                                                 ("lam_bounds", "bounds")) if key in given}
    out = []
    for name, value, key, target_name in (
        ("lam", lam, "target_force_ratio", "target_force_ratio"),
        ("lam_unlabeled", lam_u, "unlabeled_force_ratio", "unlabeled_force_ratio"),
    ):
        if isinstance(value, LambdaController):
            for k in ("lam_init", "lam_ema", "lam_bounds", key):
                if k in given:
                    _refuse(k, f"{name} is a LambdaController, which carries its own settings")
            out.append(value)
            continue
        kw = dict(common)
        if key in s and value == "auto":
            kw["target"] = s[key]
        out.append(LambdaController(value, name=name, target_name=target_name, **kw))
    return out[0], out[1]

"""The Human3.6M training pairs and scoring sets of every bench, for either 2D input kind.

``inputs="gt"``: the 2D is the 3D ground truth projected through the camera (the old protocol).
``inputs="sh"``: the 2D is the Stacked-Hourglass detections (the detected-2D protocol users are
in): the training subjects' file for training and S8 validation, the S9/S11 file for scoring only.
The Neck/Nose and Spine rules that fill the joints MPII-16 lacks are fitted on the *training*
subjects' GT-projected 2D (every 10th frame), never on a scored subject.

Choosing settings (``validate=True``): train S1/S5/S6/S7, score S8 (the input kind's set first,
then the other kind). Final runs: train S1/S5/S6/S7/S8, score S9/S11 (the input kind first),
S9/S11 with the other kind, then HumanEva-I Validate zero-shot (GT-projected 2D; evaluation only).
The first set of the returned dict is the primary one (per-epoch curves, convergence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sealloss.data import (
    TEST_SUBJECTS,
    TRAIN_SUBJECTS,
    H36MData,
    SegmentRule,
    fit_neck_nose_rule,
    fit_spine_rule,
    h36m_pairs,
    h36m_sh_detections,
    humaneva_as_h36m17,
    humaneva_pairs,
)
from sealloss.experiment import EvalSet

INPUTS = ("gt", "sh")
VALIDATION_TRAIN = ("S1", "S5", "S6", "S7")
VALIDATION_SUBJECTS = ("S8",)
_LABEL = {"gt": "GT-2D", "sh": "SH-2D"}


@dataclass(frozen=True)
class Rules:
    """The Neck/Nose and Spine rules of one training split (fitted on its GT-projected 2D)."""

    neck: SegmentRule
    spine: SegmentRule


def fit_rules(ds: H36MData, train_subjects) -> Rules:
    src = h36m_pairs(tuple(train_subjects), dataset=ds, every=10)
    return Rules(fit_neck_nose_rule(src), fit_spine_rule(src))


def check_inputs(inputs: str) -> str:
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")
    return inputs


def pairs(ds: H36MData, subjects, inputs: str, every: int, rules: Rules) -> dict[str, np.ndarray]:
    """The pairs dict of ``subjects`` (see :mod:`sealloss.data.h36m`) with ``x2d`` of the given
    input kind; rows whose detection is missing are dropped (``valid`` is False there)."""
    p = h36m_pairs(tuple(subjects), dataset=ds, every=every)
    if check_inputs(inputs) == "gt":
        return p
    sh = h36m_sh_detections(dataset=ds, subjects=tuple(subjects), every=every,
                            neck_rule=rules.neck, spine_rule=rules.spine)
    keep = sh["valid"]
    out = {k: v[keep] for k, v in p.items()}
    out["x2d"] = sh["x2d"][keep]
    return out


def training_pairs(ds: H36MData, inputs: str, every: int, validate: bool
                   ) -> tuple[torch.Tensor, torch.Tensor, dict[str, np.ndarray], Rules]:
    """``(x2d (N, 17, 2), y3d (N, 17, 3) metres, the pairs dict, rules)`` of the training split."""
    subjects = VALIDATION_TRAIN if validate else TRAIN_SUBJECTS
    rules = fit_rules(ds, subjects)
    p = pairs(ds, subjects, inputs, every, rules)
    return torch.from_numpy(p["x2d"]), torch.from_numpy(p["y3d"]), p, rules


def _eval_set(p: dict[str, np.ndarray]) -> EvalSet:
    return EvalSet(torch.from_numpy(p["x2d"]), torch.from_numpy(p["y3d"]),
                   actions=list(p["action"]))


def scoring_sets(ds: H36MData, data_root, inputs: str, test_every: int, validate: bool,
                 rules: Rules, humaneva: bool = True) -> dict[str, EvalSet]:
    """The scoring sets, the input kind's first (module docstring)."""
    other = "gt" if check_inputs(inputs) == "sh" else "sh"
    subjects, tag = (VALIDATION_SUBJECTS, "S8 val") if validate else (TEST_SUBJECTS, "S9/S11")
    sets = {f"{tag} {_LABEL[k]}": _eval_set(pairs(ds, subjects, k, test_every, rules))
            for k in (inputs, other)}
    if humaneva and not validate:
        he = humaneva_pairs(data_root, split="Validate")
        he17, idx = humaneva_as_h36m17(he, neck_rule=rules.neck)
        sets["HumanEva-I (zero-shot)"] = EvalSet(
            torch.from_numpy(he17["x2d"]), torch.from_numpy(he17["y3d"]), skeleton="humaneva15",
            pred_index=[int(i) for i in idx])
    return sets

"""The Human3.6M training pairs and scoring sets of every bench, for either 2D input kind.

``inputs="gt"``: the 2D is the 3D ground truth projected through the camera (the old protocol).
``inputs="sh"``: the 2D is the Stacked-Hourglass detections (the detected-2D protocol users are
in): the training subjects' file for training and S8 validation, the S9/S11 file for scoring only.
The Neck/Nose and Spine rules that fill the joints MPII-16 lacks are fitted on the *training*
subjects' GT-projected 2D (every 10th frame), never on a scored subject
(:func:`sealloss.data.h36m_input_pairs`).

Choosing settings (``validate=True``): train S1/S5/S6/S7, score S8 (the input kind's set first,
then the other kind). Final runs: train S1/S5/S6/S7/S8, score S9/S11 (the input kind first),
S9/S11 with the other kind, then HumanEva-I Validate zero-shot (GT-projected 2D; evaluation only).
The first set of the returned dict is the primary one (per-epoch curves, convergence).
"""

from __future__ import annotations

import numpy as np
import torch

from sealloss.data import (
    TEST_SUBJECTS,
    TRAIN_SUBJECTS,
    H36MData,
    fit_neck_nose_rule,
    h36m_input_pairs,
    h36m_pairs,
    humaneva_as_h36m17,
    humaneva_pairs,
)
from sealloss.demo.experiment import EvalSet

INPUTS = ("gt", "sh")
VALIDATION_TRAIN = ("S1", "S5", "S6", "S7")
VALIDATION_SUBJECTS = ("S8",)
_LABEL = {"gt": "GT-2D", "sh": "SH-2D"}


def check_inputs(inputs: str) -> str:
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")
    return inputs


def train_subjects(validate: bool) -> tuple[str, ...]:
    return VALIDATION_TRAIN if validate else TRAIN_SUBJECTS


def pairs(ds: H36MData, subjects, inputs: str, every: int, validate: bool,
          rules_from=None) -> dict[str, np.ndarray]:
    """The pairs dict of ``subjects`` (see :mod:`sealloss.data.h36m`) with ``x2d`` of the given
    input kind; for ``sh``, rows whose detection is missing are dropped and the rules are fitted
    on ``rules_from`` (default: the training subjects of the split, ``validate``)."""
    return h36m_input_pairs(subjects, check_inputs(inputs), every, ds,
                            rules_from=tuple(rules_from or train_subjects(validate)))


def training_pairs(ds: H36MData, inputs: str, every: int, validate: bool
                   ) -> tuple[torch.Tensor, torch.Tensor, dict[str, np.ndarray]]:
    """``(x2d (N, 17, 2), y3d (N, 17, 3) metres, the pairs dict)`` of the training split."""
    p = pairs(ds, train_subjects(validate), inputs, every, validate)
    return torch.from_numpy(p["x2d"]), torch.from_numpy(p["y3d"]), p


def _eval_set(p: dict[str, np.ndarray]) -> EvalSet:
    return EvalSet(torch.from_numpy(p["x2d"]), torch.from_numpy(p["y3d"]),
                   actions=list(p["action"]))


def scored_pairs(ds: H36MData, inputs: str, test_every: int, validate: bool
                 ) -> dict[str, dict[str, np.ndarray]]:
    """``{set name: pairs dict}`` of the scored subjects (S8, or S9/S11), input kind first."""
    other = "gt" if check_inputs(inputs) == "sh" else "sh"
    subjects, tag = (VALIDATION_SUBJECTS, "S8 val") if validate else (TEST_SUBJECTS, "S9/S11")
    return {f"{tag} {_LABEL[k]}": pairs(ds, subjects, k, test_every, validate)
            for k in (inputs, other)}


def scoring_sets(ds: H36MData, data_root, inputs: str, test_every: int, validate: bool,
                 humaneva: bool = True) -> dict[str, EvalSet]:
    """The scoring sets, the input kind's first (module docstring)."""
    sets = {name: _eval_set(p) for name, p in scored_pairs(ds, inputs, test_every,
                                                           validate).items()}
    if humaneva and not validate:
        neck = fit_neck_nose_rule(h36m_pairs(TRAIN_SUBJECTS, dataset=ds, every=10))
        he = humaneva_pairs(data_root, split="Validate")
        he17, idx = humaneva_as_h36m17(he, neck_rule=neck)
        sets["HumanEva-I (zero-shot)"] = EvalSet(
            torch.from_numpy(he17["x2d"]), torch.from_numpy(he17["y3d"]), skeleton="humaneva15",
            pred_index=[int(i) for i in idx])
    return sets

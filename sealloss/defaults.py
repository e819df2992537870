"""The recommended SEAL setting: one constant that every entry point's defaults follow.

:class:`~sealloss.wrapper.AlternatingWrapper`, the Lightning ``SealCallback``, the ``--seal*``
flags of the example patches (:mod:`sealloss.adapters.hooks`) and the SEAL arm of
``sealloss demo`` all default to :data:`RECOMMENDED` (checked by ``tests/test_defaults.py``).

Why this setting: the shipped pretrained loss-net (``"h36m17"``), frozen (``mode="static"``),
with ``lam="auto"`` holding the energy's pull at 0.3 of the supervised pull and scoring a random
quarter of each batch, is the row our Human3.6M S8 ablation chose (best structure for no MPJPE
cost, and the cheapest: no loss-net updates). See the README's results section.

The module imports nothing heavy, so reading it costs nothing.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

__all__ = ["RECOMMENDED", "recommended", "SHIPPED_WEIGHTS_CARD", "REFINE"]

#: The recommended, measured setting (read-only). Keys are AlternatingWrapper arguments.
RECOMMENDED: MappingProxyType[str, Any] = MappingProxyType({
    "lossnet": "h36m17",
    "mode": "static",
    "lam": "auto",
    "target_force_ratio": 0.3,
    "score_fraction": 0.25,
})


def recommended(**overrides: Any) -> dict[str, Any]:
    """A mutable copy of :data:`RECOMMENDED`, with ``overrides`` applied (unknown keys are
    kept: they are passed on to the wrapper, which checks them)."""
    return {**RECOMMENDED, **overrides}


#: What ``sealloss info`` prints about the shipped weights (``"h36m17"``, file
#: ``sealloss/weights/h36m17-graphormer.safetensors``); the numbers come from
#: ``bench/results/pretrain_h36m17.json`` in the source repository.
SHIPPED_WEIGHTS_CARD: MappingProxyType[str, str] = MappingProxyType({
    "trained_on": (
        "Human3.6M training subjects S1, S5, S6, S7, S8, all 4 cameras, every 2nd 10 Hz frame: "
        "146,724 (GT-projected 2D, camera-frame 3D) pairs; no test subject (S9/S11), "
        "HumanEva or 2D detection was used"
    ),
    "objective": (
        "NCE ranking (temperature 0.1) of the ground truth against 8 synthetic negatives per "
        "pose (joint noise, bone rotations, bone-length changes, limb swaps, depth flips, 10 % "
        "hard negatives), energy regulariser 1e-3; Adam 1e-3 decayed to 5e-5, batch 64, "
        "600 steps, seed 0, 22 min on 2 CPU threads"
    ),
    "command": "python bench/pretrain_h36m.py --data-root <folder> --steps 600",
    "terms": (
        "derived from Human3.6M, whose licence allows non-commercial academic research only: "
        "use these weights for research only, and only if you may use Human3.6M yourself; for "
        "anything else pretrain your own loss-net on data you may use (sealloss pretrain)"
    ),
})


#: Defaults of test-time refinement (:func:`sealloss.refine.refine`, ``sealloss refine``):
#: the weights and the descent setting chosen on Human3.6M S8 by ``bench/lossnet_landscape.py``
#: (see the README's landscape section).
REFINE: MappingProxyType[str, Any] = MappingProxyType({
    "weights": "h36m17",
    "steps": 5,
    "lr": 2e-3,
    "pull": 0.0,
})

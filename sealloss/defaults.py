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

__all__ = ["RECOMMENDED", "recommended"]

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

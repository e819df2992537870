"""Where the loss-net weights-file functions live, looked up by name.

:class:`~sealloss.nn.LossNet`'s ``save`` and ``from_pretrained`` are shortcuts to
:func:`sealloss.hub.save_lossnet` and :func:`sealloss.hub.load_lossnet`, while :mod:`sealloss.hub`
builds loss-nets from :mod:`sealloss.nn`. So that neither package imports the other both ways,
``sealloss.nn`` asks this module for the function by name; only the hub imports ``sealloss.nn``.
This module imports nothing of sealloss.

>>> weights_function("save_lossnet").__module__
'sealloss.hub'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["WEIGHTS_MODULE", "WEIGHTS_FUNCTIONS", "weights_function"]

#: the module that reads and writes loss-net weights files
WEIGHTS_MODULE = "sealloss.hub"
#: the functions of :data:`WEIGHTS_MODULE` that may be looked up
WEIGHTS_FUNCTIONS = ("save_lossnet", "load_lossnet")


def weights_function(name: str) -> Callable[..., Any]:
    """The weights-file function ``name`` (one of :data:`WEIGHTS_FUNCTIONS`), imported on use."""
    if name not in WEIGHTS_FUNCTIONS:
        raise ValueError(f"unknown weights function {name!r}; one of {WEIGHTS_FUNCTIONS}")
    return getattr(importlib.import_module(WEIGHTS_MODULE), name)

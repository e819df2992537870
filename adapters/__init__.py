"""Adapters between upstream backbone repositories and sealloss's canonical pose convention.

Installed as ``sealloss.adapters``. ``get(name)`` returns a registered adapter instance.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["get", "register", "available"]

_REGISTRY: dict[str, Callable[..., object]] = {}


def register(name: str) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """Class decorator: register an adapter factory under ``name``."""

    def deco(factory: Callable[..., object]) -> Callable[..., object]:
        """Register ``factory`` and return it unchanged."""
        _REGISTRY[name] = factory
        return factory

    return deco


def available() -> list[str]:
    """Names of the registered adapters, sorted (``get`` accepts each)."""
    return sorted(_REGISTRY)


def get(name: str, **kwargs: object) -> object:
    """Build the adapter registered as ``name`` (e.g. ``"motionbert"``); ``kwargs`` go to its
    constructor. Every adapter but ``"simplebaseline"`` has defaults for all of them;
    SimpleBaseline needs its z-score statistics: ``mean_3d``, ``std_3d`` (millimetres) and
    ``mean_2d``, ``std_2d`` (pixels), or use ``SimpleBaselineAdapter.fit(x2d, y3d)`` /
    ``.from_stats(stat_3d, stat_2d)``."""
    try:
        factory = _REGISTRY[name.lower()]
    except KeyError:
        raise KeyError(f"unknown adapter {name!r}; available: {', '.join(available())}") from None
    return factory(**kwargs)


# Importing the adapter modules registers them (they import ``register`` from this module).
from . import (  # noqa: E402,F401
    ktpformer,
    mixste,
    motionagformer,
    motionbert,
    poseformer,
    poseformerv2,
    simplebaseline,
    videopose3d,
)

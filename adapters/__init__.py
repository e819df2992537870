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
        _REGISTRY[name] = factory
        return factory

    return deco


def available() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str, **kwargs: object) -> object:
    """Build the adapter registered as ``name`` (e.g. ``"motionbert"``)."""
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

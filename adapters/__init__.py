"""Adapters between upstream backbone repositories and sealloss's canonical pose convention.

Installed as ``sealloss.adapters``. ``get(name)`` returns an adapter instance of the table
:data:`ADAPTERS` (at this size a dict is the registry: add a backbone's adapter class to it).
"""

from __future__ import annotations

from .ktpformer import KTPFormerAdapter
from .mixste import MixSTEAdapter
from .motionagformer import MotionAGFormerAdapter
from .motionbert import MotionBERTAdapter
from .poseformer import PoseFormerAdapter
from .poseformerv2 import PoseFormerV2Adapter
from .simplebaseline import SimpleBaselineAdapter
from .videopose3d import VideoPose3DAdapter

__all__ = ["ADAPTERS", "get", "available"]

#: adapter name -> its class (``get`` builds it)
ADAPTERS: dict[str, type] = {
    "ktpformer": KTPFormerAdapter,
    "mixste": MixSTEAdapter,
    "motionagformer": MotionAGFormerAdapter,
    "motionbert": MotionBERTAdapter,
    "poseformer": PoseFormerAdapter,
    "poseformerv2": PoseFormerV2Adapter,
    "simplebaseline": SimpleBaselineAdapter,
    "videopose3d": VideoPose3DAdapter,
}


def available() -> list[str]:
    """Names of the adapters, sorted (``get`` accepts each)."""
    return sorted(ADAPTERS)


def get(name: str, **kwargs: object) -> object:
    """Build the adapter named ``name`` (e.g. ``"motionbert"``); ``kwargs`` go to its
    constructor. Every adapter but ``"simplebaseline"`` has defaults for all of them;
    SimpleBaseline needs its z-score statistics: ``mean_3d``, ``std_3d`` (millimetres) and
    ``mean_2d``, ``std_2d`` (pixels), or use ``SimpleBaselineAdapter.fit(x2d, y3d)`` /
    ``.from_stats(stat_3d, stat_2d)``."""
    try:
        cls = ADAPTERS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown adapter {name!r}; available: {', '.join(available())}") from None
    return cls(**kwargs)

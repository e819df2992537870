"""Old path of :mod:`sealloss.demo.baselines`: the SimpleBaseline lifter now lives there."""

from .demo.baselines import SimpleBaseline

__all__ = ["SimpleBaseline"]

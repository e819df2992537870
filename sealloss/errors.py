"""Error and warning types raised by sealloss.

Every error names the problem (shape, joint count, units, NaN, skeleton mismatch, corrupt file)
so that a training run that has to stop says why.
"""

from __future__ import annotations


class SealLossError(Exception):
    """Base class of every sealloss error."""


class PoseShapeError(SealLossError, ValueError):
    """A pose tensor has the wrong rank, joint count or coordinate dimension."""


class NonFiniteError(SealLossError, ValueError):
    """A tensor contains NaN or Inf."""


class SkeletonMismatchError(SealLossError, ValueError):
    """Poses, weights or maps were made for another skeleton."""


class WeightsFileError(SealLossError, ValueError):
    """A weights file is missing, truncated, corrupt, or made for another model kind."""


class DataNotFoundError(SealLossError, FileNotFoundError):
    """A data file that the caller asked for is not where it was looked for."""


class UnitsWarning(UserWarning):
    """Coordinates look like they are in other units than the ones declared."""

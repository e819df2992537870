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


class CheckpointError(WeightsFileError):
    """A training checkpoint cannot be written or read back (corrupt, truncated, foreign file,
    or states that loading would refuse).

    Subclass of :class:`WeightsFileError`, which checkpoints raised before they had their own
    type, so existing ``except WeightsFileError`` clauses keep working.
    """


class DataNotFoundError(SealLossError, FileNotFoundError):
    """A data file that the caller asked for is not where it was looked for."""


class DataFormatError(SealLossError, ValueError):
    """A data file is present but unreadable or not what its loader expects (corrupt archive,
    missing entry, wrong joint count or units, non-finite values, invalid header fields)."""


class DegeneratePoseError(SealLossError, ValueError):
    """A pose is degenerate for the requested computation, e.g. a zero-length ground-truth bone
    in a ratio that divides by that length."""


class UnitsWarning(UserWarning):
    """Coordinates look like they are in other units than the ones declared."""

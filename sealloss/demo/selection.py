"""Which test poses the demo's figures show, picked by a rule the figures state.

:func:`pick_extremes` takes the poses a change improved most and worsened most (per-pose MPJPE
against a reference prediction), never two poses closer than ``min_gap`` frames of the same
sequence (the same frame seen by another camera counts as the same pose), so the rows of a
figure are never consecutive, near-identical frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Pick", "per_pose_mpjpe_mm", "pick_extremes", "default_gap", "describe"]


@dataclass(frozen=True)
class Pick:
    """One picked pose: its row in the test set, why it was picked (``"most improved"`` or
    ``"most worsened"``) and its per-pose MPJPE change (mm, negative = better)."""

    row: int
    why: str
    delta_mm: float


def per_pose_mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(N, J, 3)`` predictions and ground truth (metres) -> ``(N,)`` MPJPE per pose in mm."""
    return np.linalg.norm(np.asarray(pred, float) - np.asarray(gt, float), axis=-1).mean(-1) * 1e3


def default_gap(frames: np.ndarray, rows: int) -> int:
    """A minimum frame distance that spreads ``rows`` picks over the frame range: a third of
    the range per row (at least 1)."""
    f = np.asarray(frames)
    span = int(f.max() - f.min()) if f.size else 0
    return max(1, span // max(1, 3 * rows))


def pick_extremes(
    delta_mm: np.ndarray,
    improved: int,
    worsened: int,
    frames: np.ndarray | None = None,
    sequences: np.ndarray | None = None,
    min_gap: int | None = None,
) -> list[Pick]:
    """The ``improved`` poses with the most negative ``delta_mm`` and the ``worsened`` poses with
    the most positive one, greedily, skipping any pose within ``min_gap`` frames of an earlier
    pick of the same sequence (default :func:`default_gap`).

    Args:
        delta_mm: ``(N,)`` per-pose MPJPE change (mm), changed minus reference.
        improved, worsened: how many of each to pick.
        frames: ``(N,)`` frame numbers (default: the row numbers).
        sequences: ``(N,)`` sequence labels (default: one sequence).
        min_gap: minimum frame distance between two picks of one sequence.

    Returns:
        The picks, most improved first, then most worsened. Fewer than asked when the gap leaves
        no pose, and a pose is never picked as worsened when its change is not positive (nor as
        improved when it is not negative).

    >>> d = np.array([-5.0, -4.9, 0.0, 3.0, 2.9, -1.0])
    >>> [(p.row, p.why) for p in pick_extremes(d, 1, 1, min_gap=2)]
    [(0, 'most improved'), (3, 'most worsened')]
    >>> [p.row for p in pick_extremes(d, 2, 0, min_gap=2)]  # row 1 neighbours row 0: skipped
    [0, 5]
    """
    d = np.asarray(delta_mm, dtype=float)
    n = d.shape[0]
    f = np.arange(n) if frames is None else np.asarray(frames)
    s = np.zeros(n, dtype=int) if sequences is None else np.asarray(sequences)
    if f.shape != (n,) or s.shape != (n,):
        raise ValueError(f"frames and sequences must be ({n},), got {f.shape} and {s.shape}")
    gap = default_gap(f, improved + worsened) if min_gap is None else int(min_gap)
    picks: list[Pick] = []

    def free(i: int) -> bool:
        return all(s[p.row] != s[i] or abs(int(f[p.row]) - int(f[i])) >= gap for p in picks)

    for count, order, why, ok in ((improved, np.argsort(d, kind="stable"), "most improved",
                                   lambda v: v < 0),
                                  (worsened, np.argsort(-d, kind="stable"), "most worsened",
                                   lambda v: v > 0)):
        taken = 0
        for i in order:
            if taken >= count or not ok(d[i]):
                break
            if free(int(i)):
                picks.append(Pick(int(i), why, float(d[i])))
                taken += 1
    return picks


def describe(picks: Sequence[Pick], change: str, reference: str, gap: int) -> str:
    """One sentence saying how ``picks`` were chosen (for a figure's title)."""
    kinds = {p.why for p in picks}
    parts = [k for k in ("most improved", "most worsened") if k in kinds]
    return (f"Rows: the test poses {change} {' and '.join(parts) or 'changed'} "
            f"(per-pose MPJPE vs {reference}), at least {gap} frames apart within a sequence")

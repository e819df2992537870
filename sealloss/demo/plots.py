"""Figures: 3D skeletons side by side, bone-length changes, training curves, per-joint blame.

matplotlib is imported only when a figure is drawn (``pip install sealloss[plots]``), through
its object-oriented API (:class:`matplotlib.figure.Figure`): no pyplot, no global backend
change. Every function writes a PNG (or any format matplotlib knows from the suffix) and
returns its path.

Poses are camera-frame ``(J, 3)`` metres (x right, y down, z forward); they are drawn with the
vertical axis up: plot axes (x, z, -y), labelled in metres. Limbs are coloured by side and kind
(left: blues, right: oranges; arms lighter than legs; the centre line grey) and every skeleton
figure carries a legend saying so. Ground truth is drawn as a thick black dashed line.
"""

from __future__ import annotations

from ._plot_common import (  # noqa: F401  (re-exported: private names kept importable here)
    _ARM_WORDS,
    _GT_COLOUR,
    _GT_STYLE,
    _LEFT,
    _LEFT_ARM,
    _MID,
    _RIGHT,
    _RIGHT_ARM,
    _as_np,
    _bone_colour,
    _figure,
    _figure_legend,
    _is_arm,
    _legend_handles,
    _save,
    _view,
)
from .curve_plots import _ARM_STYLES, DEFAULT_PANELS, _series, plot_training_curves  # noqa: F401
from .skeleton_plots import (  # noqa: F401
    _centred,
    _frame_3d,
    bone_lengths,
    draw_skeleton_2d,
    draw_skeleton_3d,
    plot_blame,
    plot_bone_changes,
    plot_pose_comparison,
)

__all__ = [
    "plot_pose_comparison",
    "plot_bone_changes",
    "plot_training_curves",
    "plot_blame",
    "bone_lengths",
    "draw_skeleton_3d",
    "draw_skeleton_2d",
]

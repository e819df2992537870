"""Old path of :mod:`sealloss.demo.plots`: the figures now live there (re-exported here)."""

from .demo.plots import (
    bone_lengths,
    draw_skeleton_2d,
    draw_skeleton_3d,
    plot_blame,
    plot_bone_changes,
    plot_pose_comparison,
    plot_training_curves,
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

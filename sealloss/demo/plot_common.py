"""What every figure shares: limb colours and legend, the lazily imported matplotlib figure,
saving, array conversion and the plot view of a pose. The figures themselves are in
:mod:`sealloss.demo.skeleton_plots` (skeletons side by side, bone-length changes, per-joint
blame) and :mod:`sealloss.demo.curve_plots` (training curves).

matplotlib is imported only when a figure is drawn (``pip install sealloss[plots]``), through
its object-oriented API (:class:`matplotlib.figure.Figure`): no pyplot, no global backend
change. Every figure function writes a PNG (or any format matplotlib knows from the suffix) and
returns its path.

Poses are camera-frame ``(J, 3)`` metres (x right, y down, z forward); they are drawn with the
vertical axis up: plot axes (x, z, -y), labelled in metres. Limbs are coloured by side and kind
(left: blues, right: oranges; arms lighter than legs; the centre line grey) and every skeleton
figure carries a legend saying so. Ground truth is drawn as a thick black dashed line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..pose.skeleton import Skeleton

__all__ = [
    "LEFT", "LEFT_ARM", "RIGHT", "RIGHT_ARM", "MID", "GT_COLOUR", "GT_STYLE", "new_figure",
    "save_figure", "bone_colour", "figure_legend", "as_numpy", "plot_view",
]

#: colours of the left leg and arm, right leg and arm, and the centre line (Okabe-Ito
#: colour-blind safe: blue/sky blue on the left, vermillion/orange on the right)
LEFT, LEFT_ARM = "#0072b2", "#56b4e9"
RIGHT, RIGHT_ARM = "#d55e00", "#e69f00"
MID = "#555555"
#: ground truth drawn behind predictions
GT_COLOUR, GT_STYLE = "#000000", (0, (4, 2))
_ARM_WORDS = ("shoulder", "elbow", "wrist", "hand", "arm", "finger", "thumb")


def new_figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
        from mpl_toolkits import mplot3d  # noqa: F401  (registers the 3d projection)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sealloss plots need matplotlib: pip install 'sealloss[plots]' (or matplotlib)"
        ) from e
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _is_arm(sk: Skeleton, joint: int) -> bool:
    name = sk.joint_names[joint].lower()
    return any(w in name for w in _ARM_WORDS)


def bone_colour(sk: Skeleton, child: int) -> str:
    """Colour of the bone ending at ``child``: side (left/right/centre) and arm or leg."""
    if child in sk.left:
        return LEFT_ARM if _is_arm(sk, child) else LEFT
    if child in sk.right:
        return RIGHT_ARM if _is_arm(sk, child) else RIGHT
    return MID


def _legend_handles(sk: Skeleton, with_gt: bool = False) -> list[Any]:
    """Legend entries for the limb colours present in ``sk`` (and the ground-truth style)."""
    from matplotlib.lines import Line2D

    present = {bone_colour(sk, c) for _, c in sk.bones}
    entries = [(LEFT, "left leg"), (LEFT_ARM, "left arm"), (RIGHT, "right leg"),
               (RIGHT_ARM, "right arm"), (MID, "centre (spine, head)")]
    handles = [Line2D([], [], color=c, lw=2.5, label=lab) for c, lab in entries if c in present]
    if with_gt:
        handles.append(Line2D([], [], color=GT_COLOUR, lw=2.0, ls=GT_STYLE,
                              label="ground truth"))
    return handles


def figure_legend(fig: Any, sk: Skeleton, with_gt: bool = False) -> None:
    fig.legend(handles=_legend_handles(sk, with_gt), loc="outside lower center",
               ncol=6, fontsize=8, frameon=False)


def as_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def plot_view(pose: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> plot axes (x, depth z, up -y)."""
    return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)

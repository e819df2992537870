"""Shared pieces of the figures in :mod:`sealloss.demo.plots`: limb colours and legend, the
lazily imported matplotlib figure, saving, array conversion and the plot view of a pose."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..pose.skeleton import Skeleton

#: colours of the left leg and arm, right leg and arm, and the centre line (Okabe-Ito
#: colour-blind safe: blue/sky blue on the left, vermillion/orange on the right)
_LEFT, _LEFT_ARM = "#0072b2", "#56b4e9"
_RIGHT, _RIGHT_ARM = "#d55e00", "#e69f00"
_MID = "#555555"
#: ground truth drawn behind predictions
_GT_COLOUR, _GT_STYLE = "#000000", (0, (4, 2))
_ARM_WORDS = ("shoulder", "elbow", "wrist", "hand", "arm", "finger", "thumb")


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
        from mpl_toolkits import mplot3d  # noqa: F401  (registers the 3d projection)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sealloss plots need matplotlib: pip install 'sealloss[plots]' (or matplotlib)"
        ) from e
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _is_arm(sk: Skeleton, joint: int) -> bool:
    name = sk.joint_names[joint].lower()
    return any(w in name for w in _ARM_WORDS)


def _bone_colour(sk: Skeleton, child: int) -> str:
    """Colour of the bone ending at ``child``: side (left/right/centre) and arm or leg."""
    if child in sk.left:
        return _LEFT_ARM if _is_arm(sk, child) else _LEFT
    if child in sk.right:
        return _RIGHT_ARM if _is_arm(sk, child) else _RIGHT
    return _MID


def _legend_handles(sk: Skeleton, with_gt: bool = False) -> list[Any]:
    """Legend entries for the limb colours present in ``sk`` (and the ground-truth style)."""
    from matplotlib.lines import Line2D

    present = {_bone_colour(sk, c) for _, c in sk.bones}
    entries = [(_LEFT, "left leg"), (_LEFT_ARM, "left arm"), (_RIGHT, "right leg"),
               (_RIGHT_ARM, "right arm"), (_MID, "centre (spine, head)")]
    handles = [Line2D([], [], color=c, lw=2.5, label=lab) for c, lab in entries if c in present]
    if with_gt:
        handles.append(Line2D([], [], color=_GT_COLOUR, lw=2.0, ls=_GT_STYLE,
                              label="ground truth"))
    return handles


def _figure_legend(fig: Any, sk: Skeleton, with_gt: bool = False) -> None:
    fig.legend(handles=_legend_handles(sk, with_gt), loc="outside lower center",
               ncol=6, fontsize=8, frameon=False)


def _as_np(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _view(pose: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> plot axes (x, depth z, up -y)."""
    return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)

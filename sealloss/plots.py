"""Figures: 3D skeletons side by side, training curves, per-joint blame.

matplotlib is imported only when a figure is drawn (``pip install sealloss[plots]``), through
its object-oriented API (:class:`matplotlib.figure.Figure`): no pyplot, no global backend
change. Every function writes a PNG (or any format matplotlib knows from the suffix) and
returns its path.

Poses are camera-frame ``(J, 3)`` metres (x right, y down, z forward); they are drawn with the
vertical axis up: plot axes (x, z, -y).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .skeleton import Skeleton, get_skeleton

__all__ = [
    "plot_pose_comparison",
    "plot_training_curves",
    "plot_blame",
    "draw_skeleton_3d",
    "draw_skeleton_2d",
]

#: colours of left limbs, right limbs and the centre line (colour-blind safe pairs)
_LEFT, _RIGHT, _MID = "#1f77b4", "#d62728", "#444444"


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


def _bone_colour(sk: Skeleton, child: int) -> str:
    if child in sk.left:
        return _LEFT
    if child in sk.right:
        return _RIGHT
    return _MID


def _as_np(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _view(pose: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> plot axes (x, depth z, up -y)."""
    return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)


def draw_skeleton_3d(
    ax: Any,
    pose: Any,
    skeleton: Skeleton | str = "h36m17",
    alpha: float = 1.0,
    linewidth: float = 2.0,
    colour: str | None = None,
    joint_colours: Sequence[Any] | None = None,
) -> None:
    """Draw one ``(J, 3)`` camera-frame pose on a 3D axis (left blue, right red)."""
    sk = get_skeleton(skeleton)
    p = _view(_as_np(pose))
    for parent, child in sk.bones:
        c = colour or _bone_colour(sk, child)
        seg = p[[parent, child]]
        ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=c, alpha=alpha, lw=linewidth)
    if joint_colours is not None:
        ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=list(joint_colours), s=28, depthshade=False,
                   zorder=5)


def draw_skeleton_2d(ax: Any, pose2d: Any, skeleton: Skeleton | str = "h36m17") -> None:
    """Draw one ``(J, 2)`` screen-frame pose (y down) on a 2D axis."""
    sk = get_skeleton(skeleton)
    p = _as_np(pose2d)
    for parent, child in sk.bones:
        seg = p[[parent, child]]
        ax.plot(seg[:, 0], seg[:, 1], color=_bone_colour(sk, child), lw=2)
    ax.invert_yaxis()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])


def _frame_3d(ax: Any, poses: Sequence[np.ndarray], radius: float | None = None) -> None:
    """Equal-aspect cube around the poses' bounding box (half side ``radius`` if given)."""
    pts = np.concatenate([_view(np.asarray(p)) for p in poses], axis=0)
    lo, hi = pts.min(0), pts.max(0)
    mid = (lo + hi) / 2
    r = radius if radius is not None else max(0.3, float((hi - lo).max()) / 2 * 1.05)
    ax.set_xlim(mid[0] - r, mid[0] + r)
    ax.set_ylim(mid[1] - r, mid[1] + r)
    ax.set_zlim(mid[2] - r, mid[2] + r)
    ax.set_box_aspect((1, 1, 1), zoom=1.2)
    ax.view_init(elev=15, azim=-70)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])


def _centred(p: np.ndarray, root: int) -> np.ndarray:
    return p - p[..., root : root + 1, :]


def plot_pose_comparison(
    path: str | os.PathLike,
    gt: Any,
    predictions: Mapping[str, Any],
    skeleton: Skeleton | str = "h36m17",
    x2d: Any | None = None,
    titles: Sequence[str] | None = None,
) -> Path:
    """Rows of samples; columns: 2D input (if given), ground truth, then each prediction drawn
    over the ground truth (grey), titled with its MPJPE in mm.

    Args:
        path: output file (PNG).
        gt: ``(S, J, 3)`` ground-truth poses (metres, root-relative).
        predictions: name -> ``(S, J, 3)`` predicted poses of the same samples.
        skeleton: joint layout.
        x2d: optional ``(S, J, 2)`` screen-frame inputs, drawn in the first column.
        titles: optional row labels (e.g. the sample index).
    """
    sk = get_skeleton(skeleton)
    g = _as_np(gt)
    preds = {k: _as_np(v) for k, v in predictions.items()}
    if g.ndim != 3 or g.shape[1:] != (sk.num_joints, 3):
        raise ValueError(f"gt must be (S, {sk.num_joints}, 3), got {g.shape}")
    for k, v in preds.items():
        if v.shape != g.shape:
            raise ValueError(f"prediction {k!r} has shape {v.shape}, gt {g.shape}")
    s = g.shape[0]
    cols = (x2d is not None) + 1 + len(preds)
    fig = _figure(2.6 * cols, 2.6 * s)
    g = _centred(g, sk.root)
    preds = {k: _centred(v, sk.root) for k, v in preds.items()}
    for i in range(s):
        c = 0
        if x2d is not None:
            ax = fig.add_subplot(s, cols, i * cols + 1)
            draw_skeleton_2d(ax, _as_np(x2d)[i], sk)
            ax.set_title("2D input" + (f" ({titles[i]})" if titles else ""), fontsize=9)
            c = 1
        radius = max(0.3, float(np.ptp(_view(g[i]), axis=0).max()) / 2 * 1.05)
        ax = fig.add_subplot(s, cols, i * cols + c + 1, projection="3d")
        draw_skeleton_3d(ax, g[i], sk)
        _frame_3d(ax, [g[i]], radius)
        ax.set_title("ground truth", fontsize=9)
        for n, (name, p) in enumerate(preds.items()):
            ax = fig.add_subplot(s, cols, i * cols + c + 2 + n, projection="3d")
            draw_skeleton_3d(ax, g[i], sk, alpha=0.35, linewidth=1.5, colour="#888888")
            draw_skeleton_3d(ax, p[i], sk)
            _frame_3d(ax, [g[i]], radius)
            err = float(np.linalg.norm(p[i] - g[i], axis=-1).mean())
            ax.set_title(f"{name}: {err * 1000:.0f} mm", fontsize=9)
    return _save(fig, path)


def _series(history: Sequence[Mapping[str, float]], key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for rec in history:
        v = rec.get(key)
        if v is not None and math.isfinite(float(v)):
            xs.append(float(rec.get("step", len(xs))))
            ys.append(float(v))
    return np.asarray(xs), np.asarray(ys)


def plot_training_curves(
    path: str | os.PathLike,
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    panels: Sequence[tuple[str, str]] = (
        ("loss_sup_mm", "supervised loss (MPJPE, mm)"),
        ("seal_energy_gap", "energy gap E(pred) - E(gt)"),
        ("seal_force_ratio", "force ratio |lam dE| / |dL_sup|"),
    ),
) -> Path:
    """One panel per history key, one line per arm (records as from
    :func:`sealloss.experiment.train_arm`: dicts with ``step`` and the keys). Arms without a
    key (the plain arm has no ``seal_*``) are left out of that panel."""
    fig = _figure(4.0 * len(panels), 3.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, label) in zip(axes, panels):
        drawn = False
        for name, hist in histories.items():
            x, y = _series(hist, key)
            if x.size:
                ax.plot(x, y, marker="." if x.size < 30 else None, label=name)
                drawn = True
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, path)


def plot_blame(
    path: str | os.PathLike,
    poses: Any,
    blame: Any,
    skeleton: Skeleton | str = "h36m17",
    titles: Sequence[str] | None = None,
) -> Path:
    """3D poses ``(S, J, 3)`` with joints coloured by blame ``(S, J)`` (white = none, dark red =
    the most blamed joint of the figure) and a bar chart of each pose's blame per joint."""
    sk = get_skeleton(skeleton)
    p, b = _as_np(poses), _as_np(blame)
    if p.ndim != 3 or b.shape != p.shape[:2]:
        raise ValueError(f"poses (S, J, 3) and blame (S, J) expected, got {p.shape} and {b.shape}")
    from matplotlib import colormaps

    cmap = colormaps["Reds"]
    top = max(float(b.max()), 1e-12)
    s = p.shape[0]
    fig = _figure(8.0, 2.8 * s)
    for i in range(s):
        ax = fig.add_subplot(s, 2, 2 * i + 1, projection="3d")
        cols = [cmap(max(0.0, float(v)) / top) for v in b[i]]
        pose = _centred(p[i], sk.root)
        draw_skeleton_3d(ax, pose, sk, joint_colours=cols)
        _frame_3d(ax, [pose])
        if titles:
            ax.set_title(titles[i], fontsize=9)
        ax = fig.add_subplot(s, 2, 2 * i + 2)
        ax.barh(range(sk.num_joints), b[i], color=cols, edgecolor="#555555", linewidth=0.5)
        ax.set_yticks(range(sk.num_joints))
        ax.set_yticklabels(sk.joint_names, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlabel("blame", fontsize=8)
    return _save(fig, path)

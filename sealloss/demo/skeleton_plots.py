"""Skeleton figures: 3D/2D skeleton drawing, poses side by side, bone-length changes and
per-joint blame (see :mod:`sealloss.demo.plot_common` for colours and conventions)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..pose.canonical import root_relative
from ..pose.skeleton import Skeleton, get_skeleton
from .plot_common import (
    GT_COLOUR,
    GT_STYLE,
    LEFT,
    as_numpy,
    bone_colour,
    figure_legend,
    new_figure,
    plot_view,
    save_figure,
)

__all__ = [
    "draw_skeleton_3d", "draw_skeleton_2d", "plot_pose_comparison", "bone_lengths",
    "plot_bone_changes", "plot_blame",
]


def draw_skeleton_3d(
    ax: Any,
    pose: Any,
    skeleton: Skeleton | str = "h36m17",
    alpha: float = 1.0,
    linewidth: float = 2.0,
    colour: str | None = None,
    joint_colours: Sequence[Any] | None = None,
    linestyle: Any = "-",
) -> None:
    """Draw one ``(J, 3)`` camera-frame pose on a 3D axis (left blues, right oranges, arms
    lighter than legs; ``colour`` draws every bone in one colour and ``linestyle`` applies to
    every bone)."""
    sk = get_skeleton(skeleton)
    p = plot_view(as_numpy(pose))
    for parent, child in sk.bones:
        c = colour or bone_colour(sk, child)
        seg = p[[parent, child]]
        ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=c, alpha=alpha, lw=linewidth,
                ls=linestyle)
    if joint_colours is not None:
        ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=list(joint_colours), s=28, depthshade=False,
                   zorder=5)


def draw_skeleton_2d(ax: Any, pose2d: Any, skeleton: Skeleton | str = "h36m17") -> None:
    """Draw one ``(J, 2)`` screen-frame pose (y down) on a 2D axis."""
    sk = get_skeleton(skeleton)
    p = as_numpy(pose2d)
    for parent, child in sk.bones:
        seg = p[[parent, child]]
        ax.plot(seg[:, 0], seg[:, 1], color=bone_colour(sk, child), lw=2)
    ax.invert_yaxis()
    ax.set_aspect("equal", adjustable="datalim")
    ax.tick_params(labelsize=6)
    ax.set_xlabel("x (screen frame)", fontsize=7, labelpad=1)
    ax.set_ylabel("y (down)", fontsize=7, labelpad=1)


def _frame_3d(ax: Any, poses: Sequence[np.ndarray], radius: float | None = None) -> None:
    """Equal-aspect cube around the poses' bounding box (half side ``radius`` if given)."""
    pts = np.concatenate([plot_view(np.asarray(p)) for p in poses], axis=0)
    lo, hi = pts.min(0), pts.max(0)
    mid = (lo + hi) / 2
    r = radius if radius is not None else max(0.3, float((hi - lo).max()) / 2 * 1.05)
    ax.set_xlim(mid[0] - r, mid[0] + r)
    ax.set_ylim(mid[1] - r, mid[1] + r)
    ax.set_zlim(mid[2] - r, mid[2] + r)
    ax.set_box_aspect((1, 1, 1), zoom=1.0)
    ax.view_init(elev=15, azim=-70)
    step = 0.5 if r > 0.4 else 0.25
    for axis, m in zip((ax.xaxis, ax.yaxis, ax.zaxis), mid):
        lo_t, hi_t = math.ceil((m - r) / step), math.floor((m + r) / step)
        axis.set_ticks([k * step for k in range(lo_t, hi_t + 1)])
    ax.tick_params(labelsize=6, pad=0)
    ax.set_xlabel("x (m)", fontsize=7, labelpad=-6)
    ax.set_ylabel("depth (m)", fontsize=7, labelpad=-6)
    ax.set_zlabel("up (m)", fontsize=7, labelpad=-6)


def plot_pose_comparison(
    path: str | os.PathLike,
    gt: Any,
    predictions: Mapping[str, Any],
    skeleton: Skeleton | str = "h36m17",
    x2d: Any | None = None,
    titles: Sequence[str] | None = None,
    suptitle: str | None = None,
) -> Path:
    """Rows of samples; columns: 2D input (if given), ground truth, then each prediction drawn
    over the ground truth (black dashed), titled with its MPJPE in mm; a legend names the limb
    colours and the ground-truth line. Axes in metres.

    Args:
        path: output file (PNG).
        gt: ``(S, J, 3)`` ground-truth poses (metres, root-relative).
        predictions: name -> ``(S, J, 3)`` predicted poses of the same samples.
        skeleton: joint layout.
        x2d: optional ``(S, J, 2)`` screen-frame inputs, drawn in the first column.
        titles: optional row labels (e.g. the sample index).
        suptitle: optional figure title (e.g. how the rows were picked).
    """
    sk = get_skeleton(skeleton)
    g = as_numpy(gt)
    preds = {k: as_numpy(v) for k, v in predictions.items()}
    if g.ndim != 3 or g.shape[1:] != (sk.num_joints, 3):
        raise ValueError(f"gt must be (S, {sk.num_joints}, 3), got {g.shape}")
    for k, v in preds.items():
        if v.shape != g.shape:
            raise ValueError(f"prediction {k!r} has shape {v.shape}, gt {g.shape}")
    s = g.shape[0]
    cols = (x2d is not None) + 1 + len(preds)
    fig = new_figure(3.0 * cols, 3.0 * s + 0.4)
    g = root_relative(g, sk.root)
    preds = {k: root_relative(v, sk.root) for k, v in preds.items()}
    for i in range(s):
        c = 0
        if x2d is not None:
            ax = fig.add_subplot(s, cols, i * cols + 1)
            draw_skeleton_2d(ax, as_numpy(x2d)[i], sk)
            ax.set_title("2D input" + (f" ({titles[i]})" if titles else ""), fontsize=9)
            c = 1
        radius = max(0.3, float(np.ptp(plot_view(g[i]), axis=0).max()) / 2 * 1.05)
        ax = fig.add_subplot(s, cols, i * cols + c + 1, projection="3d")
        draw_skeleton_3d(ax, g[i], sk, linewidth=2.5)
        _frame_3d(ax, [g[i]], radius)
        ax.set_title("ground truth", fontsize=9)
        for n, (name, p) in enumerate(preds.items()):
            ax = fig.add_subplot(s, cols, i * cols + c + 2 + n, projection="3d")
            draw_skeleton_3d(ax, g[i], sk, alpha=0.7, linewidth=2.0, colour=GT_COLOUR,
                             linestyle=GT_STYLE)
            draw_skeleton_3d(ax, p[i], sk, linewidth=2.2)
            _frame_3d(ax, [g[i]], radius)
            err = float(np.linalg.norm(p[i] - g[i], axis=-1).mean())
            ax.set_title(f"{name}: MPJPE {err * 1000:.0f} mm", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    figure_legend(fig, sk, with_gt=True)
    return save_figure(fig, path)


def bone_lengths(poses: Any, skeleton: Skeleton | str = "h36m17") -> np.ndarray:
    """``(..., J, 3)`` poses -> ``(..., B)`` bone lengths (units of the poses), bones in
    ``skeleton.bones`` order."""
    sk = get_skeleton(skeleton)
    p = as_numpy(poses)
    par = np.array([a for a, _ in sk.bones])
    chi = np.array([b for _, b in sk.bones])
    return np.linalg.norm(p[..., chi, :] - p[..., par, :], axis=-1)


def plot_bone_changes(
    path: str | os.PathLike,
    gt: Any,
    plain: Any,
    seal: Any,
    skeleton: Skeleton | str = "h36m17",
    samples: int = 3,
    names: tuple[str, str] = ("plain", "SEAL"),
    rows: Sequence[int] | None = None,
    row_titles: Sequence[str] | None = None,
    suptitle: str | None = None,
) -> Path:
    """The poses whose bone lengths SEAL changed most against the plain model, with the bone
    lengths written.

    The poses are ranked by the sum over bones of ``|len_SEAL - len_plain|``; for each of the
    top ``samples``, one row shows the ground truth, the plain and the SEAL prediction (3D, the
    ground truth dashed behind), and a bar chart of every bone's length (mm) in the three poses
    with the numbers written for the three bones that changed most.

    Args:
        path: output file (PNG).
        gt, plain, seal: ``(N, J, 3)`` poses in metres (ground truth, plain and SEAL model).
        skeleton: joint layout.
        samples: rows (poses) to show.
        names: labels of the two models.
        rows: show these poses instead (e.g. picked by
            :func:`sealloss.demo.selection.pick_extremes`); ``samples`` is then ignored.
        row_titles: one title per row (default: the test pose's index).
        suptitle: optional figure title (e.g. how the rows were picked).
    """
    sk = get_skeleton(skeleton)
    g, a, b = as_numpy(gt), as_numpy(plain), as_numpy(seal)
    if g.ndim != 3 or g.shape[1:] != (sk.num_joints, 3) or not a.shape == b.shape == g.shape:
        raise ValueError(f"gt, plain and seal must be (N, {sk.num_joints}, 3) alike, got "
                         f"{g.shape}, {a.shape}, {b.shape}")
    lg, la, lb = (bone_lengths(v, sk) * 1000.0 for v in (g, a, b))  # mm
    change = np.abs(lb - la).sum(-1)
    if rows is None:
        rows = [int(i) for i in
                np.argsort(-change, kind="stable")[: max(1, min(samples, len(g)))]]
    rows = [int(i) for i in rows]
    if not rows or min(rows) < 0 or max(rows) >= len(g):
        raise ValueError(f"rows must index the {len(g)} poses, got {rows}")
    if row_titles is not None and len(row_titles) != len(rows):
        raise ValueError(f"{len(row_titles)} row titles for {len(rows)} rows")
    bone_names = [f"{sk.joint_names[p]}-{sk.joint_names[c]}" for p, c in sk.bones]
    fig = new_figure(13.0, 3.3 * len(rows))
    g, a, b = (root_relative(v, sk.root) for v in (g, a, b))
    for r, i in enumerate(rows):
        radius = max(0.3, float(np.ptp(plot_view(g[i]), axis=0).max()) / 2 * 1.05)
        for c, (title, pose) in enumerate((("ground truth", None), (names[0], a[i]),
                                           (names[1], b[i]))):
            ax = fig.add_subplot(len(rows), 5, r * 5 + c + 1, projection="3d")
            if pose is None:
                draw_skeleton_3d(ax, g[i], sk, linewidth=2.5)
            else:
                draw_skeleton_3d(ax, g[i], sk, alpha=0.7, linewidth=2.0, colour=GT_COLOUR,
                                 linestyle=GT_STYLE)
                draw_skeleton_3d(ax, pose, sk, linewidth=2.2)
            _frame_3d(ax, [g[i]], radius)
            label = row_titles[r] if row_titles is not None else f"test pose #{i}"
            ax.set_title(f"{title} ({label})" if c == 0 else title, fontsize=9)
        ax = fig.add_subplot(len(rows), 5, (r * 5 + 4, r * 5 + 5))
        y = np.arange(len(sk.bones))
        h = 0.27
        ax.barh(y - h, lg[i], h, color="#333333", label="ground truth")
        ax.barh(y, la[i], h, color="#999999", label=names[0])
        ax.barh(y + h, lb[i], h, color=LEFT, label=names[1])
        for k in np.argsort(-np.abs(lb[i] - la[i]), kind="stable")[:3]:
            ax.text(max(lg[i][k], la[i][k], lb[i][k]) + 5, y[k],
                    f"gt {lg[i][k]:.0f} | {names[0]} {la[i][k]:.0f} | {names[1]} "
                    f"{lb[i][k]:.0f} mm", va="center", fontsize=6.5)
        ax.set_yticks(y)
        ax.set_yticklabels(bone_names, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlim(0, float(max(lg[i].max(), la[i].max(), lb[i].max())) * 1.9)
        ax.set_xlabel("bone length (mm)", fontsize=8)
        ax.set_title(f"sum of |bone length change| {names[1]} vs {names[0]}: "
                     f"{change[i]:.0f} mm", fontsize=8)
        ax.legend(fontsize=6, loc="lower right")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    figure_legend(fig, sk, with_gt=True)
    return save_figure(fig, path)



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
    p, b = as_numpy(poses), as_numpy(blame)
    if p.ndim != 3 or b.shape != p.shape[:2]:
        raise ValueError(f"poses (S, J, 3) and blame (S, J) expected, got {p.shape} and {b.shape}")
    from matplotlib import colormaps

    cmap = colormaps["Reds"]
    top = max(float(b.max()), 1e-12)
    s = p.shape[0]
    fig = new_figure(8.0, 2.8 * s)
    for i in range(s):
        ax = fig.add_subplot(s, 2, 2 * i + 1, projection="3d")
        cols = [cmap(max(0.0, float(v)) / top) for v in b[i]]
        pose = root_relative(p[i], sk.root)
        draw_skeleton_3d(ax, pose, sk, joint_colours=cols)
        _frame_3d(ax, [pose])
        if titles:
            ax.set_title(titles[i], fontsize=9)
        ax = fig.add_subplot(s, 2, 2 * i + 2)
        ax.barh(range(sk.num_joints), b[i], color=cols, edgecolor="#555555", linewidth=0.5)
        ax.set_yticks(range(sk.num_joints))
        ax.set_yticklabels(sk.joint_names, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlabel("blame (|dE/dy_j| or energy above baseline)", fontsize=8)
    figure_legend(fig, sk)
    return save_figure(fig, path)

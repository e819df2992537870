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

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..skeleton import Skeleton, get_skeleton

__all__ = [
    "plot_pose_comparison",
    "plot_bone_changes",
    "plot_training_curves",
    "plot_blame",
    "bone_lengths",
    "draw_skeleton_3d",
    "draw_skeleton_2d",
]

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
    p = _view(_as_np(pose))
    for parent, child in sk.bones:
        c = colour or _bone_colour(sk, child)
        seg = p[[parent, child]]
        ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=c, alpha=alpha, lw=linewidth,
                ls=linestyle)
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
    ax.tick_params(labelsize=6)
    ax.set_xlabel("x (screen frame)", fontsize=7, labelpad=1)
    ax.set_ylabel("y (down)", fontsize=7, labelpad=1)


def _frame_3d(ax: Any, poses: Sequence[np.ndarray], radius: float | None = None) -> None:
    """Equal-aspect cube around the poses' bounding box (half side ``radius`` if given)."""
    pts = np.concatenate([_view(np.asarray(p)) for p in poses], axis=0)
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
    over the ground truth (black dashed), titled with its MPJPE in mm; a legend names the limb
    colours and the ground-truth line. Axes in metres.

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
    fig = _figure(3.0 * cols, 3.0 * s + 0.4)
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
        draw_skeleton_3d(ax, g[i], sk, linewidth=2.5)
        _frame_3d(ax, [g[i]], radius)
        ax.set_title("ground truth", fontsize=9)
        for n, (name, p) in enumerate(preds.items()):
            ax = fig.add_subplot(s, cols, i * cols + c + 2 + n, projection="3d")
            draw_skeleton_3d(ax, g[i], sk, alpha=0.7, linewidth=2.0, colour=_GT_COLOUR,
                             linestyle=_GT_STYLE)
            draw_skeleton_3d(ax, p[i], sk, linewidth=2.2)
            _frame_3d(ax, [g[i]], radius)
            err = float(np.linalg.norm(p[i] - g[i], axis=-1).mean())
            ax.set_title(f"{name}: MPJPE {err * 1000:.0f} mm", fontsize=9)
    _figure_legend(fig, sk, with_gt=True)
    return _save(fig, path)


def bone_lengths(poses: Any, skeleton: Skeleton | str = "h36m17") -> np.ndarray:
    """``(..., J, 3)`` poses -> ``(..., B)`` bone lengths (units of the poses), bones in
    ``skeleton.bones`` order."""
    sk = get_skeleton(skeleton)
    p = _as_np(poses)
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
    """
    sk = get_skeleton(skeleton)
    g, a, b = _as_np(gt), _as_np(plain), _as_np(seal)
    if g.ndim != 3 or g.shape[1:] != (sk.num_joints, 3) or not a.shape == b.shape == g.shape:
        raise ValueError(f"gt, plain and seal must be (N, {sk.num_joints}, 3) alike, got "
                         f"{g.shape}, {a.shape}, {b.shape}")
    lg, la, lb = (bone_lengths(v, sk) * 1000.0 for v in (g, a, b))  # mm
    change = np.abs(lb - la).sum(-1)
    rows = [int(i) for i in np.argsort(-change, kind="stable")[: max(1, min(samples, len(g)))]]
    bone_names = [f"{sk.joint_names[p]}-{sk.joint_names[c]}" for p, c in sk.bones]
    fig = _figure(13.0, 3.3 * len(rows))
    g, a, b = (_centred(v, sk.root) for v in (g, a, b))
    for r, i in enumerate(rows):
        radius = max(0.3, float(np.ptp(_view(g[i]), axis=0).max()) / 2 * 1.05)
        for c, (title, pose) in enumerate((("ground truth", None), (names[0], a[i]),
                                           (names[1], b[i]))):
            ax = fig.add_subplot(len(rows), 5, r * 5 + c + 1, projection="3d")
            if pose is None:
                draw_skeleton_3d(ax, g[i], sk, linewidth=2.5)
            else:
                draw_skeleton_3d(ax, g[i], sk, alpha=0.7, linewidth=2.0, colour=_GT_COLOUR,
                                 linestyle=_GT_STYLE)
                draw_skeleton_3d(ax, pose, sk, linewidth=2.2)
            _frame_3d(ax, [g[i]], radius)
            ax.set_title(f"{title} (test pose #{i})" if c == 0 else title, fontsize=9)
        ax = fig.add_subplot(len(rows), 5, (r * 5 + 4, r * 5 + 5))
        y = np.arange(len(sk.bones))
        h = 0.27
        ax.barh(y - h, lg[i], h, color="#333333", label="ground truth")
        ax.barh(y, la[i], h, color="#999999", label=names[0])
        ax.barh(y + h, lb[i], h, color=_LEFT, label=names[1])
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
    _figure_legend(fig, sk, with_gt=True)
    return _save(fig, path)


def _series(history: Sequence[Mapping[str, float]], key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for rec in history:
        v = rec.get(key)
        if v is not None and math.isfinite(float(v)):
            xs.append(float(rec.get("step", len(xs))))
            ys.append(float(v))
    return np.asarray(xs), np.asarray(ys)


#: the default panels of :func:`plot_training_curves`: (history key, title, y-axis label).
#: Energies come out of the loss-net without a physical unit ("energy units").
DEFAULT_PANELS: tuple[tuple[str, str, str], ...] = (
    ("loss_sup_mm", "supervised loss", "MPJPE (mm)"),
    ("seal_energy_gap", "energy gap E(pred) - E(gt)", "energy units (dimensionless)"),
    ("seal_energy_pred", "mean energy of predictions E(pred)", "energy units (dimensionless)"),
    ("seal_force_ratio", "force ratio |lam dE/dy| / |dL_sup/dy|", "ratio"),
)

#: line styles per arm, in order: the first arm (plain) thick and solid underneath, later
#: arms thinner, dashed and marked on top, so coinciding curves stay visible
_ARM_STYLES = (
    {"lw": 3.0, "ls": "-", "color": "#999999", "zorder": 2},
    {"lw": 1.4, "ls": "--", "color": _LEFT, "zorder": 3},
    {"lw": 1.4, "ls": ":", "color": _RIGHT, "zorder": 4},
)


def plot_training_curves(
    path: str | os.PathLike,
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    panels: Sequence[tuple[str, ...]] | None = None,
    targets: Mapping[str, float] | None = None,
) -> Path:
    """One panel per history key, one line per arm (records as from
    :func:`sealloss.experiment.train_arm`: dicts with ``step`` and the keys).

    The first arm (plain) is drawn thick, grey and underneath; the others thinner and dashed on
    top, so a curve that coincides with another stays visible; a last panel shows the second
    arm's supervised loss minus the first's. Panels whose key no arm recorded are dropped when
    ``panels`` is not given (a static loss-net records no energy gap) and say "not recorded"
    otherwise. ``targets`` draws a horizontal reference line per key (e.g. the force ratio that
    ``lam="auto"`` holds).

    Args:
        path: output file (PNG).
        histories: arm name -> records.
        panels: ``(key, title)`` or ``(key, title, y label)`` tuples; default
            :data:`DEFAULT_PANELS` (those recorded).
        targets: key -> reference value.
    """
    if panels is None:  # the default panels that some arm recorded (finite values)
        panels = [p for p in DEFAULT_PANELS
                  if any(_series(h, p[0])[0].size for h in histories.values())]
    arms = list(histories)
    diff = len(arms) >= 2 and all(
        _series(histories[a], "loss_sup_mm")[0].size for a in arms[:2])
    n = len(panels) + bool(diff)
    fig = _figure(3.8 * n, 3.3)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        key, title = panel[0], panel[1]
        drawn = False
        for a, name in enumerate(arms):
            x, y = _series(histories[name], key)
            if x.size:
                style = _ARM_STYLES[min(a, len(_ARM_STYLES) - 1)]
                ax.plot(x, y, marker="." if x.size < 30 and a else None, label=name, **style)
                drawn = True
        if targets and key in targets:
            ax.axhline(targets[key], color="#000000", lw=0.8, ls="-.",
                       label=f"target {targets[key]:g}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        if len(panel) > 2:
            ax.set_ylabel(panel[2], fontsize=8)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    if diff:
        ax = axes[-1]
        (x0, y0), (x1, y1) = (_series(histories[a], "loss_sup_mm") for a in arms[:2])
        common, i0, i1 = np.intersect1d(x0, x1, return_indices=True)
        ax.axhline(0.0, color="#999999", lw=3.0)
        ax.plot(common, y1[i1] - y0[i0], color=_LEFT, lw=1.4, ls="--",
                marker="." if common.size < 30 else None)
        ax.set_title(f"supervised loss, {arms[1]} - {arms[0]}", fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel("difference (mm)", fontsize=8)
        ax.grid(alpha=0.3)
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
        ax.set_xlabel("blame (|dE/dy_j| or energy above baseline)", fontsize=8)
    _figure_legend(fig, sk)
    return _save(fig, path)

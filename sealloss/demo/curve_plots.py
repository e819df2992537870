"""Curve figures: training curves per arm (see :mod:`sealloss.demo.plot_common`)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .plot_common import LEFT, RIGHT, new_figure, save_figure

__all__ = ["DEFAULT_PANELS", "plot_training_curves"]


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
    {"lw": 1.4, "ls": "--", "color": LEFT, "zorder": 3},
    {"lw": 1.4, "ls": ":", "color": RIGHT, "zorder": 4},
)


def plot_training_curves(
    path: str | os.PathLike,
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    panels: Sequence[tuple[str, ...]] | None = None,
    targets: Mapping[str, float] | None = None,
    evals: Mapping[str, Sequence[Mapping[str, float]]] | None = None,
) -> Path:
    """One panel per history key, one line per arm (records as from
    :func:`sealloss.demo.experiment.train_arm`: dicts with ``step`` and the keys).

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
        evals: arm name -> held-out records (dicts with ``step`` and ``test_mpjpe_mm`` and/or
            ``train_mpjpe_mm``: MPJPE in eval mode on the held-out set and on a subset of the
            training set), drawn with markers in the ``loss_sup_mm`` panel beside the training
            curve (which is measured on training batches in train mode, dropout on).
    """
    if panels is None:  # the default panels that some arm recorded (finite values)
        panels = [p for p in DEFAULT_PANELS
                  if any(_series(h, p[0])[0].size for h in histories.values())]
    arms = list(histories)
    diff = len(arms) >= 2 and all(
        _series(histories[a], "loss_sup_mm")[0].size for a in arms[:2])
    n = len(panels) + bool(diff)
    fig = new_figure(3.8 * n, 3.3)
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
        if evals and key == "loss_sup_mm":
            for a, name in enumerate(evals):
                colour = _ARM_STYLES[min(a, len(_ARM_STYLES) - 1)]["color"]
                for k, marker, what in (("test_mpjpe_mm", "o", "held-out"),
                                        ("train_mpjpe_mm", "s", "training set, eval mode")):
                    x, y = _series(evals[name], k)
                    if x.size:
                        ax.plot(x, y, marker=marker, ms=4, lw=1.0, color=colour,
                                ls="-" if k == "test_mpjpe_mm" else ":",
                                label=f"{name}: {what}", zorder=5)
                        drawn = True
        if targets and key in targets:
            ax.axhline(targets[key], color="#000000", lw=0.8, ls="-.",
                       label=f"target {targets[key]:g}")
        if evals and key == "loss_sup_mm":
            title = "MPJPE: training batches (dropout on) vs eval mode"
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
        ax.plot(common, y1[i1] - y0[i0], color=LEFT, lw=1.4, ls="--",
                marker="." if common.size < 30 else None)
        ax.set_title(f"supervised loss, {arms[1]} - {arms[0]}", fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel("difference (mm)", fontsize=8)
        ax.grid(alpha=0.3)
    return save_figure(fig, path)

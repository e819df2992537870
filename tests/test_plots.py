"""Figures: files are valid images, skeleton lines sit where the pose is, bad shapes refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from sealloss.demo.curve_plots import plot_training_curves  # noqa: E402
from sealloss.demo.plot_common import plot_view  # noqa: E402
from sealloss.demo.skeleton_plots import (  # noqa: E402
    draw_skeleton_3d,
    plot_blame,
    plot_pose_comparison,
)
from sealloss.pose.skeleton import get_skeleton  # noqa: E402

SK = get_skeleton("h36m17")


def _poses(n: int, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    y = g.normal(scale=0.25, size=(n, SK.num_joints, 3)).astype(np.float32)
    return y - y[:, :1]


def _read(path: Path) -> np.ndarray:
    img = imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert float(img[..., :3].std()) > 0.01, "image is blank"
    return img


def test_view_maps_camera_frame_to_plot_axes() -> None:
    p = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(plot_view(p), [[1.0, 3.0, -2.0]])


def test_skeleton_lines_follow_the_pose() -> None:
    pose = _poses(1)[0]
    fig = Figure()
    ax = fig.add_subplot(projection="3d")
    draw_skeleton_3d(ax, torch.from_numpy(pose), SK)
    assert len(ax.lines) == len(SK.bones)
    v = plot_view(pose.astype(np.float64))
    for line, (parent, child) in zip(ax.lines, SK.bones):
        xs, ys, zs = line.get_data_3d()
        np.testing.assert_allclose(xs, v[[parent, child], 0], atol=1e-6)
        np.testing.assert_allclose(ys, v[[parent, child], 1], atol=1e-6)
        np.testing.assert_allclose(zs, v[[parent, child], 2], atol=1e-6)
    colours = [line.get_color() for line in ax.lines]
    assert len(set(colours)) == 5  # left/right x leg/arm, and the centre line
    by_child = {child: c for (_, child), c in zip(SK.bones, colours)}
    left_arm, right_arm = by_child[SK.index("LElbow")], by_child[SK.index("RElbow")]
    left_leg, right_leg = by_child[SK.index("LKnee")], by_child[SK.index("RKnee")]
    assert len({left_arm, right_arm, left_leg, right_leg, by_child[SK.index("Spine")]}) == 5
    assert by_child[SK.index("LWrist")] == left_arm and by_child[SK.index("RFoot")] == right_leg


def test_pose_comparison_png(tmp_path: Path) -> None:
    gt = _poses(2)
    preds = {"plain": gt + 0.05, "SEAL": torch.from_numpy(gt + 0.02)}
    x2d = np.random.default_rng(1).uniform(-0.5, 0.5, size=(2, SK.num_joints, 2))
    one = _read(plot_pose_comparison(tmp_path / "a.png", gt[:1], {"p": gt[:1]}, SK))
    two = _read(plot_pose_comparison(tmp_path / "sub" / "b.png", gt, preds, "h36m17", x2d=x2d,
                                     titles=["0", "1"]))
    assert two.shape[0] == pytest.approx(2 * one.shape[0], rel=0.1)  # one row per sample
    # columns: 2D + GT + two predictions (4) vs GT + one prediction (2)
    assert two.shape[1] == pytest.approx(2 * one.shape[1], rel=0.05)
    with pytest.raises(ValueError, match="prediction 'p'"):
        plot_pose_comparison(tmp_path / "c.png", gt, {"p": gt[:1]})


def test_training_curves_png(tmp_path: Path) -> None:
    hist = {
        "plain": [{"step": s, "loss_sup_mm": 100.0 - s} for s in range(10)],
        "SEAL": [{"step": s, "loss_sup_mm": 99.0 - s, "seal_energy_gap": 0.1 * s,
                  "seal_force_ratio": float("nan") if s == 0 else 0.1} for s in range(10)],
    }
    img = _read(plot_training_curves(tmp_path / "curves.png", hist))
    assert img.shape[1] > 2 * img.shape[0]  # three panels side by side


def test_blame_png(tmp_path: Path) -> None:
    poses = _poses(2)
    blame = np.zeros((2, SK.num_joints))
    blame[0, 3], blame[1, 12] = 1.0, 0.5
    _read(plot_blame(tmp_path / "blame.png", poses, blame, SK, ["a", "b"]))
    with pytest.raises(ValueError, match="blame"):
        plot_blame(tmp_path / "x.png", poses, blame[:, :5], SK)


def test_bone_changes_png_picks_the_most_changed_pose(tmp_path: Path) -> None:
    from sealloss.demo.skeleton_plots import bone_lengths, plot_bone_changes

    gt = _poses(5)
    plain = gt + 0.01
    seal = plain.copy()
    seal[3, SK.index("LWrist")] += 0.2  # pose 3: SEAL moved a wrist, so two bones change
    lens = bone_lengths(seal, SK) - bone_lengths(plain, SK)
    assert int(np.abs(lens).sum(-1).argmax()) == 3
    img = _read(plot_bone_changes(tmp_path / "bones.png", gt, plain, seal, SK, samples=2))
    assert img.shape[1] > 3 * img.shape[0] / 2
    with pytest.raises(ValueError, match="alike"):
        plot_bone_changes(tmp_path / "x.png", gt, plain[:2], seal, SK)


def test_training_curves_keep_both_arms_visible(tmp_path: Path) -> None:
    """Identical plain and SEAL curves: both lines are drawn, styled apart, plain underneath;
    panels nobody recorded are dropped; the target line is drawn."""
    hist = {
        "plain": [{"step": s, "loss_sup_mm": 100.0 - s} for s in range(5)],
        "SEAL": [{"step": s, "loss_sup_mm": 100.0 - s, "seal_energy_gap": float("nan"),
                  "seal_force_ratio": 0.3} for s in range(5)],
    }
    img = _read(plot_training_curves(tmp_path / "c.png", hist,
                                     targets={"seal_force_ratio": 0.3}))
    # loss, force ratio (the energy gap is all NaN: dropped) and the SEAL - plain difference
    assert img.shape[1] > 2.5 * img.shape[0]


"""``sealloss score``: energies of (2D, 3D) pairs under a loss-net, the least plausible poses
and the joints to blame (:mod:`sealloss.posthoc.scoring`).

Input: an ``.npz`` in the CLI's file format (:mod:`sealloss.cli._files`), or VideoPose3D's
files (``--format vp3d``; the poses scored are ``--pred``'s, else the ground truth of
``--vp3d-3d``). ``--out x.npz`` writes the scores plus the input's ``x2d``, the scored poses as
``pred``, and every other array of the input (``gt``, metadata) passed through.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from ..io.atomic import write_npz, write_rendered, write_text
from ._common import (
    EXIT_OK,
    CLIError,
    check_output,
    check_scale,
    float_tensor,
    load_file,
    pick_array,
    progress_bar,
    screen_from_pixels,
)
from ._files import add_format_options, check_screen_frame, read_vp3d

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register the command on the CLI's sub-parsers."""
    s = sub.add_parser(
        "score", formatter_class=formatter_class,
        help="rank 3D poses by loss-net energy and blame joints (flag implausible frames)",
        description="Scores (2D input, 3D pose) pairs with a loss-net: energy per pose (higher "
        "= less plausible), the most implausible poses and the joint most to blame. Input: a "
        ".npz with x2d (N, J, 2, normalised screen frame, or pixels with --image-size) and "
        "pred (or y3d) (N, J, 3). When the file holds ground truth (--reference-key, default "
        "gt), it also reports how many poses lie above the ground truth's energy quantile and "
        "the rank correlation of energy with error.")
    s.add_argument("poses", help=".npz with x2d and y3d/pred, or .npy of 3D poses with --x2d; "
                   "with --format vp3d, VideoPose3D's data_2d_h36m_<source>.npz")
    s.add_argument("--weights", required=True,
                   help="loss-net weights file (.safetensors) or registered name")
    s.add_argument("--x2d", default=None, help="separate 2D input file (.npz or .npy)")
    s.add_argument("--x2d-key", default="x2d", help="array name of the 2D inputs")
    s.add_argument("--y3d-key", default=None,
                   help="array name of the 3D poses (default: pred, else y3d)")
    s.add_argument("--reference-key", default="gt",
                   help="array of plausible poses (ground truth) used as reference, if present")
    s.add_argument("--units", choices=("m", "cm", "mm"), default="m",
                   help="units of 3D poses; poses that are not person-sized in these units are "
                   "refused")
    s.add_argument("--no-units-check", action="store_true",
                   help="score even when the poses are not person-sized in --units")
    s.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"), default=None,
                   help="2D inputs are pixels of a W x H image (converted to the screen frame)")
    s.add_argument("--blame", choices=("auto", "energy", "gradient"), default="auto",
                   help="per-joint blame: |dE/dy_j| (auto) or per-joint energy above baseline")
    s.add_argument("--flag", choices=("batch", "reference"), default="batch",
                   help="which energies set the implausibility threshold: batch = the scored "
                   "poses' own (flags the least plausible 1 - QUANTILE of them); reference = "
                   "the ground truth's (--reference-key; a loss-net ranks nearly every model "
                   "prediction above the ground truth, so this flags most predictions)")
    s.add_argument("--quantile", type=float, default=0.95,
                   help="energy quantile above which poses are flagged (see --flag)")
    s.add_argument("--top", type=int, default=10, help="rows of the table of worst poses")
    s.add_argument("--batch-size", type=int, default=1024, help="poses per loss-net call")
    s.add_argument("--out", default=None, help="write all scores to .npz or .csv")
    s.add_argument("--plot", default=None, help="PNG of the worst poses coloured by blame")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_format_options(s, pred="3D poses to score (camera frame, root-relative, in --units), "
                       "row-aligned with the VideoPose3D rows (subject, trial, camera, frame): "
                       "an .npz (array --y3d-key, default pred) or .npy; default: the ground "
                       "truth of --vp3d-3d")
    s.set_defaults(func=run)
    return s


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays (NaN below two values or without spread)."""
    if a.size < 2:
        return math.nan
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(np.float64)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(np.float64)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / den) if den > 0 else math.nan


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status (errors are raised for the CLI to report)."""
    import torch

    from ..io.weights import load_lossnet
    from ..pose.canonical import UNIT_SCALE, root_relative
    from ..posthoc.scoring import energy_threshold, joint_baseline, pose_energies, score_poses

    outp = check_output(args, "--out", (".npz", ".csv"), "nothing was scored")
    plot = check_output(args, "--plot", None, "nothing was scored")
    net = load_lossnet(args.weights)
    ykeys = (args.y3d_key,) if args.y3d_key else ("pred", "y3d")
    arrays = read_vp3d(args, args.poses, pred_keys=(args.y3d_key or "pred",), need_pred=False,
                       need_gt=args.pred is None)
    x2d_key = args.x2d_key
    if arrays:
        if args.x2d is not None or args.image_size is not None:
            raise CLIError("--x2d and --image-size do not apply with --format vp3d: the 2D is "
                           "the positional file, converted with each camera's resolution")
        if "pred" not in arrays:  # score the ground truth itself
            arrays["pred"] = arrays.pop("gt")
        ykeys, x2d_key = ("pred",), "x2d"
    else:
        arrays = load_file(args.poses)
    ykey = next((k for k in ykeys if k in arrays), ykeys[0])
    y3d = float_tensor(pick_array(arrays, ykeys, args.poses, "3D poses"), "3D poses")
    if args.x2d is not None:
        x2d = pick_array(load_file(args.x2d), args.x2d_key, args.x2d, "2D inputs")
    elif "" in arrays:
        raise CLIError("a .npy poses file needs --x2d FILE with the 2D inputs")
    else:
        x2d = pick_array(arrays, x2d_key, args.poses, "2D inputs")
    x2d_given = x2d
    x2d = float_tensor(x2d, "2D inputs")
    if args.image_size is not None:
        x2d = screen_from_pixels(x2d, args.image_size)
    else:
        check_screen_frame(x2d, f"{args.x2d or args.poses!r}")
    ref = None
    if args.reference_key and "" not in arrays and args.reference_key in arrays:
        ref = float_tensor(arrays[args.reference_key], "reference poses")
    j = net.skeleton.num_joints
    if y3d.dim() >= 2 and y3d.shape[-2:] == (j, 3):
        for poses, what in ((ref, "reference poses"), (y3d, "3D poses")):
            if poses is not None:
                check_scale(poses, args.units, net.skeleton.root, what,
                             force=args.no_units_check)
    n = int(np.prod(y3d.shape[:-2])) if y3d.dim() >= 2 else 0
    baseline = None
    if ref is not None and args.blame == "energy":
        baseline = joint_baseline(net, x2d, ref, units=args.units)
    bar = progress_bar(n, "score", not args.no_progress)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    with bar:
        s = score_poses(net, x2d, y3d, blame=args.blame, baseline=baseline, units=args.units,
                        batch_size=args.batch_size, progress=progress)
    e = s.energy.numpy()
    print(f"{len(s)} poses scored with {args.weights} ({net.kind}, skeleton "
          f"{net.skeleton.name}); blame: {s.method}; higher energy = less plausible")
    if len(s):
        print(f"energy: mean {e.mean():.4f}, median {np.median(e):.4f}, min {e.min():.4f}, "
              f"max {e.max():.4f}")
    extra: dict[str, np.ndarray] = {}
    if args.flag == "reference" and ref is None:
        raise CLIError(f"--flag reference needs reference poses (array "
                       f"{args.reference_key!r}, see --reference-key) in {args.poses!r}")
    if len(s) and args.flag == "batch":
        thr = energy_threshold(s.energy, args.quantile)
        flags = s.flag(thr).numpy()
        print(f"flagged: {int(flags.sum())} of {len(s)} poses lie above the {args.quantile:.0%} "
              f"quantile of these poses' own energies ({thr:.4f}): the least plausible "
              f"{1 - args.quantile:.0%} of this set (--flag batch)")
        extra = {"flagged": flags, "threshold": np.asarray(thr)}
    if ref is not None:
        ref_e = pose_energies(net, x2d, ref, units=args.units, batch_size=args.batch_size)
        rthr = energy_threshold(ref_e, args.quantile)
        rflags = s.flag(rthr).numpy()
        scale = UNIT_SCALE[args.units] * 1000.0
        yv, rv = y3d.reshape(-1, j, 3), ref.reshape(-1, j, 3)
        r = net.skeleton.root
        err = (root_relative(yv, r) - root_relative(rv, r)).norm(dim=-1).mean(-1)
        err_mm = err.numpy() * scale
        rho = _spearman(e, err_mm)
        print(f"reference {args.reference_key!r}: its {args.quantile:.0%} energy quantile is "
              f"{rthr:.4f}; {int(rflags.sum())} of {len(s)} poses lie above it"
              + (" (--flag reference)" if args.flag == "reference" else
                 " (the loss-net ranks most predictions above any ground truth, so this count "
                 "is not used as the flag)"))
        print(f"rank correlation of energy with per-pose MPJPE against it: {rho:.3f}")
        extra.update({"mpjpe_mm": err_mm, "reference_energy": ref_e.numpy(),
                      "reference_threshold": np.asarray(rthr), "reference_flagged": rflags})
        if args.flag == "reference":
            extra.update({"flagged": rflags, "threshold": np.asarray(rthr)})
    print(s.table(args.top))
    if outp is not None:
        if outp.suffix.lower() == ".csv":
            worst = s.worst_joint().numpy()
            lines = ["index,energy,worst_joint,blame"] + [
                f"{i},{e[i]:.6g},{s.joint_names[worst[i]]},{float(s.blame[i, worst[i]]):.6g}"
                for i in range(len(s))
            ]
            write_text(outp, "\n".join(lines) + "\n")
        else:
            written = {**s.to_numpy(), **extra, "x2d": x2d_given, "pred": y3d.numpy()}
            passed = {k: v for k, v in arrays.items()
                      if k not in written and k not in (ykey, x2d_key, "")}
            write_npz(outp, **passed, **written)
        print(f"wrote {outp}")
    if plot is not None and len(s):
        top = s.ranking()[: min(4, args.top or 4)]
        yv = y3d.reshape(-1, j, 3)[top] * UNIT_SCALE[args.units]
        names = [f"#{int(i)}: E = {float(s.energy[i]):.3f}" for i in top]
        try:
            from ..demo.skeleton_plots import plot_blame

            write_rendered(plot, lambda tmp: plot_blame(
                tmp, yv, torch.clamp(s.blame[top], min=0), net.skeleton, names))
            print(f"wrote {plot}")
        except ImportError as err:  # matplotlib is optional: the scores above stand
            print(f"note: --plot skipped: {err}")
    return EXIT_OK

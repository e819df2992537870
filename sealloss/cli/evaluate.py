"""``sealloss evaluate``: the metrics table of predictions against ground truth
(:func:`sealloss.metrics.evaluate`).

Input: an ``.npz`` in the CLI's file format (:mod:`sealloss.cli._files`: ``pred``, ``gt``,
optional ``action`` labels), e.g. the output of ``sealloss refine``; a ``.npy`` of predictions
with ``--gt FILE``; or VideoPose3D's files (``--format vp3d``: the 2D file, ``--vp3d-3d`` for
the ground truth and ``--pred`` for the predictions).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from ..io.atomic import write_text
from ._common import (
    EXIT_OK,
    CLIError,
    check_output,
    check_scale,
    float_tensor,
    load_file,
    pick_array,
)
from ._files import add_format_options, read_vp3d

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register the command on the CLI's sub-parsers."""
    from ..pose.skeleton import list_skeletons

    e = sub.add_parser(
        "evaluate", formatter_class=formatter_class,
        help="metrics table (MPJPE, P-MPJPE, LSE, BSLE, ...) of predictions vs ground truth",
        description="Scores 3D predictions against ground truth: MPJPE, P-MPJPE, N-MPJPE, "
        "LSE, BSLE (mm), their ratio forms (%), PCK and AUC, per action when the file has "
        "action labels. Input: a .npz with arrays pred (N, J, 3) and gt (N, J, 3) (e.g. the "
        "output of 'sealloss refine'), a .npy of predictions with --gt FILE, or VideoPose3D's "
        "files with --format vp3d.")
    e.add_argument("predictions",
                   help=".npz with pred and gt, or .npy of predictions; with --format vp3d, "
                   "VideoPose3D's data_2d_h36m_<source>.npz (it fixes the rows)")
    e.add_argument("--gt", default=None, help="separate ground-truth file (.npz or .npy)")
    e.add_argument("--skeleton", default="h36m17", choices=list_skeletons(),
                   help="joint layout of the poses")
    e.add_argument("--units", choices=("m", "cm", "mm"), default="m",
                   help="units of the poses; poses that are not person-sized in these units are "
                   "refused")
    e.add_argument("--no-units-check", action="store_true",
                   help="evaluate even when the poses are not person-sized in --units")
    e.add_argument("--pred-key", default="pred", help="array name of the predictions")
    e.add_argument("--gt-key", default=None,
                   help="array name of the ground truth (default: 'gt', else 'y3d', the name "
                   "in sealloss's pairs dicts)")
    e.add_argument("--actions-key", default=None,
                   help="array name of per-pose action labels (default: 'actions', else "
                   "'action', if the file has one)")
    e.add_argument("--no-actions", action="store_true", help="no per-action rows")
    e.add_argument("--per-joint", action="store_true", help="also print per-joint MPJPE")
    e.add_argument("--json", default=None, help="also write all results to this JSON file")
    t = e.add_argument_group(
        "temporal metrics (--clip-key)",
        "per-clip bone-length spread (BoneStd, mm; the truth's: BoneStd_gt), velocity error "
        "MPJVE (mm/s) and acceleration error AccErr (mm/s^2) between neighbouring frames of a "
        "clip, in real time (sealloss.metrics.evaluate_temporal)")
    t.add_argument("--clip-key", nargs="+", metavar="KEY", default=None,
                   help="the array(s) of the file naming each pose's clip, e.g. seq_id camera")
    t.add_argument("--frame-key", metavar="KEY", default=None,
                   help="frame indices of the poses (default: 'frame')")
    t.add_argument("--fps", type=float, default=None,
                   help="frames per second of the frame indices (required with --clip-key; "
                   "Human3.6M's are 50 Hz video frames)")
    add_format_options(e, pred="predictions (camera frame, root-relative, in --units), "
                       "row-aligned with the VideoPose3D rows (subject, trial, camera, frame): "
                       "an .npz (array --pred-key) or .npy, e.g. the output of 'sealloss "
                       "refine --format vp3d'")
    e.set_defaults(func=run)
    return e


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status (errors are raised for the CLI to report)."""
    from ..metrics import evaluate
    from ..pose.skeleton import get_skeleton

    sk = get_skeleton(args.skeleton)
    out_json = check_output(args, "--json", None, "nothing was evaluated")
    arrays = read_vp3d(args, args.predictions, pred_keys=(args.pred_key,), need_pred=True,
                       need_gt=True)
    if arrays and args.gt is not None:
        raise CLIError("--gt does not apply with --format vp3d: the ground truth is --vp3d-3d")
    gt_keys = (args.gt_key,) if args.gt_key else ("gt", "y3d")
    pred_key, gt_key = ("pred", "gt") if arrays else (args.pred_key, gt_keys)
    arrays = arrays or load_file(args.predictions)
    pred = pick_array(arrays, pred_key, args.predictions, "predictions")
    if args.gt is not None:
        gt = pick_array(load_file(args.gt), gt_keys, args.gt, "ground truth")
    elif "" in arrays:
        raise CLIError("a .npy predictions file needs --gt FILE with the ground truth")
    else:
        gt = pick_array(arrays, gt_key, args.predictions, "ground truth")
    actions = None
    akeys = (args.actions_key,) if args.actions_key else ("actions", "action")
    if "" not in arrays:
        actions = next((arrays[k] for k in akeys if k in arrays), None)
    p, g = float_tensor(pred, "predictions"), float_tensor(gt, "ground truth")
    if g.dim() >= 2 and g.shape[-2:] == (sk.num_joints, 3):
        check_scale(g, args.units, sk.root, "ground truth", force=args.no_units_check)
        if p.shape == g.shape:
            try:
                check_scale(p, args.units, sk.root, "predictions", force=args.no_units_check)
            except CLIError as e:  # the ground truth is person-sized: the units differ
                raise CLIError(f"{e}. The ground truth is person-sized in --units "
                               f"{args.units}: predictions and ground truth must be in the "
                               "same units; convert the predictions") from None
    if p.numel() == 0:
        raise CLIError(f"{args.predictions!r} holds no poses (predictions of shape "
                       f"{tuple(p.shape)}): nothing to evaluate")
    res = evaluate(p, g, sk, actions=actions, units=args.units)
    if args.clip_key is not None or args.frame_key is not None or args.fps is not None:
        res = _with_temporal(args, res, arrays, p, g, sk, actions)
    print(f"{res.count} poses, skeleton {sk.name} ({sk.num_joints} joints); mm and %")
    print(res.table(per_action=not args.no_actions, per_joint=args.per_joint))
    if out_json is not None:
        write_text(out_json, json.dumps(asdict(res), indent=2))
        print(f"wrote {out_json}")
    return EXIT_OK


def _with_temporal(args: argparse.Namespace, res: Any, arrays: dict, p: Any, g: Any, sk: Any,
                   actions: Any) -> Any:
    """``res`` joined with the temporal metrics of the rows (``--clip-key``, ``--frame-key``,
    ``--fps``)."""
    import numpy as np

    from ..metrics import clips_from_arrays, evaluate_temporal, join_results

    if args.clip_key is None:
        raise CLIError("--frame-key and --fps only apply with --clip-key (temporal metrics); "
                       "add --clip-key KEY (e.g. seq_id camera)")
    if "" in arrays:
        raise CLIError("--clip-key needs an .npz whose arrays name each pose's clip and frame")
    if args.fps is None:
        raise CLIError("--clip-key needs --fps: the frames per second of the frame indices "
                       "(50 for Human3.6M's video frame indices), for velocities in mm/s")
    n = res.count
    fkey = args.frame_key or "frame"
    if fkey not in arrays:
        raise CLIError(f"--frame-key {fkey!r} is not in {args.predictions!r}; it has "
                       f"{sorted(arrays)}")
    frames = np.asarray(arrays[fkey]).reshape(-1)
    if frames.size != n:
        raise CLIError(f"--frame-key {fkey!r} has {frames.size} entries, one per pose ({n}) "
                       "is needed")
    clips = clips_from_arrays(arrays, args.clip_key, n, repr(args.predictions))
    acts = None if actions is None or np.size(actions) != n else np.asarray(actions).reshape(-1)
    j = sk.num_joints
    tem = evaluate_temporal(p.reshape(n, j, 3), g.reshape(n, j, 3), sk, clips, frames,
                            args.fps, actions=acts, units=args.units)
    return join_results(res, tem)

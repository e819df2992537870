"""``sealloss evaluate``: the metrics table of predictions against ground truth
(:func:`sealloss.metrics.evaluate`).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ._common import EXIT_OK, CLIError, _check_scale, _float_tensor, _load_file, _pick

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register the command on the CLI's sub-parsers."""
    from ..skeleton import list_skeletons

    e = sub.add_parser(
        "evaluate", formatter_class=formatter_class,
        help="metrics table (MPJPE, P-MPJPE, LSE, BSLE, ...) of predictions vs ground truth",
        description="Scores 3D predictions against ground truth: MPJPE, P-MPJPE, N-MPJPE, "
        "LSE, BSLE (mm), their ratio forms (%%), PCK and AUC, per action when the file has "
        "action labels. Input: a .npz with arrays pred (N, J, 3) and gt (N, J, 3), or a .npy "
        "of predictions with --gt FILE.")
    e.add_argument("predictions", help=".npz with pred and gt, or .npy of predictions")
    e.add_argument("--gt", default=None, help="separate ground-truth file (.npz or .npy)")
    e.add_argument("--skeleton", default="h36m17", choices=list_skeletons(),
                   help="joint layout of the poses")
    e.add_argument("--units", choices=("m", "cm", "mm"), default="m",
                   help="units of the poses; poses that are not person-sized in these units are "
                   "refused")
    e.add_argument("--no-units-check", action="store_true",
                   help="evaluate even when the poses are not person-sized in --units")
    e.add_argument("--pred-key", default="pred", help="array name of the predictions")
    e.add_argument("--gt-key", default="gt", help="array name of the ground truth")
    e.add_argument("--actions-key", default="actions",
                   help="array name of per-pose action labels (optional)")
    e.add_argument("--no-actions", action="store_true", help="no per-action rows")
    e.add_argument("--per-joint", action="store_true", help="also print per-joint MPJPE")
    e.add_argument("--json", default=None, help="also write all results to this JSON file")
    e.set_defaults(func=run)
    return e


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status (errors are raised for the CLI to report)."""
    from ..metrics import evaluate
    from ..skeleton import get_skeleton

    sk = get_skeleton(args.skeleton)
    arrays = _load_file(args.predictions)
    pred = _pick(arrays, args.pred_key, args.predictions, "predictions")
    if args.gt is not None:
        gt = _pick(_load_file(args.gt), args.gt_key, args.gt, "ground truth")
    elif "" in arrays:
        raise CLIError("a .npy predictions file needs --gt FILE with the ground truth")
    else:
        gt = _pick(arrays, args.gt_key, args.predictions, "ground truth")
    actions = None
    if args.actions_key and "" not in arrays and args.actions_key in arrays:
        actions = arrays[args.actions_key]
    p, g = _float_tensor(pred, "predictions"), _float_tensor(gt, "ground truth")
    if g.dim() >= 2 and g.shape[-2:] == (sk.num_joints, 3):
        _check_scale(g, args.units, sk.root, "ground truth", force=args.no_units_check)
    res = evaluate(p, g, sk, actions=actions, units=args.units)
    print(f"{res.count} poses, skeleton {sk.name} ({sk.num_joints} joints); mm and %")
    print(res.table(per_action=not args.no_actions, per_joint=args.per_joint))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(res), indent=2))
        print(f"wrote {args.json}")
    return EXIT_OK

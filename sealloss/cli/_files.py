"""The command line's one file format, and its reader for VideoPose3D's files.

**The CLI file format.** Every file that ``refine``, ``evaluate`` and ``score`` read or write is
an ``.npz`` with

- ``x2d`` (N, J, 2): 2D inputs, normalised screen frame (or pixels, with ``--image-size``);
- ``pred`` (N, J, 3): 3D predictions, root-relative, camera frame, in ``--units``;
- ``gt`` (N, J, 3), optional: ground truth, same frame and units;
- metadata, optional: any other arrays, e.g. per-row ``subject``, ``action``, ``camera``,
  ``seq_id``, ``frame`` (``evaluate`` reports per ``action``).

``refine`` writes ``pred`` = the refined poses, ``pred_input`` = the poses it was given,
``energy_before``/``energy_after``, and passes every other array of its input through
unchanged, so its output is a valid input of ``evaluate``, ``score`` and ``refine`` again.
``score --out x.npz`` passes them through too. (Leading dimensions other than N, e.g.
``(B, T, J, 3)`` clips, are kept.)

**VideoPose3D's files** (``--format vp3d``): the positional file is a
``data_2d_h36m_<source>.npz``; ``--vp3d-3d`` names ``data_3d_h36m.npz`` (the ground truth),
``--cameras`` ``h36m_cameras.json``, and ``--pred`` a file of predictions row-aligned with the
rows :func:`sealloss.data.vp3d.vp3d_pairs` reads (order: subject, trial, camera, frame), e.g.
the ``pred`` array of a file in the format above. The files are read into that format first.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._common import CLIError, load_file, pick_array

__all__ = ["FORMATS", "add_format_options", "read_vp3d", "check_screen_frame"]

FORMATS = ("npz", "vp3d")

#: metadata arrays of the VideoPose3D reader checked against a ``--pred`` file that has them
_ROW_KEYS = ("subject", "trial", "camera", "frame")


def add_format_options(p: argparse.ArgumentParser, *, pred: str) -> None:
    """``--format`` and the options of ``--format vp3d`` (``pred``: the help of ``--pred``)."""
    p.add_argument(
        "--format", choices=FORMATS, default="npz",
        help="npz: the positional file is an .npz in the CLI's format (x2d, pred, optional "
        "gt, metadata); vp3d: it is VideoPose3D's data_2d_h36m_<source>.npz (pixels, any 2D "
        "source in its 'h36m' layout), read with --vp3d-3d, --cameras and --pred")
    g = p.add_argument_group("VideoPose3D files (--format vp3d)")
    g.add_argument("--vp3d-3d", metavar="FILE", default=None,
                   help="VideoPose3D's data_3d_h36m.npz (world metres, 32 or 17 joints): the "
                   "ground truth, converted to the camera frame, root-relative")
    g.add_argument("--cameras", metavar="FILE", default=None,
                   help="h36m_cameras.json (T in mm; default: the one in $SEALLOSS_DATA or "
                   "$SEALLOSS_DATA/h36m)")
    g.add_argument("--pred", metavar="FILE", default=None, help=pred)
    g.add_argument("--subjects", nargs="+", metavar="S", default=None,
                   help="subjects to read, in this order (default: all of the 2D file)")
    g.add_argument("--every", type=int, default=1,
                   help="keep frames whose 50 Hz index is a multiple of this")


def _reject_vp3d_options(args: argparse.Namespace) -> None:
    given = [f"--{k.replace('_', '-')}" for k in ("vp3d_3d", "cameras", "pred", "subjects")
             if getattr(args, k, None) is not None]
    if getattr(args, "every", 1) != 1:
        given.append("--every")
    if given:
        raise CLIError(f"{', '.join(given)} only apply with --format vp3d; add --format vp3d "
                       "or drop them")


def read_vp3d(args: argparse.Namespace, path: str, *, pred_keys: Sequence[str],
              need_pred: bool, need_gt: bool) -> dict[str, np.ndarray]:
    """The CLI arrays of a VideoPose3D file set: ``x2d`` (screen frame), ``gt`` (with
    ``--vp3d-3d``, in ``args.units``), ``pred`` (with ``--pred``, as given) and the reader's
    metadata (``subject``, ``action``, ``trial``, ``camera``, ``seq_id``, ``frame``,
    ``res_w``, ``res_h``; ``root_cam`` in metres).

    Called with ``args.format != "vp3d"``, it only refuses the VideoPose3D options (they would
    be ignored) and returns ``{}``.
    """
    if args.format != "vp3d":
        _reject_vp3d_options(args)
        return {}
    from ..data.vp3d import vp3d_pairs
    from ..pose.canonical import UNIT_SCALE

    if need_gt and args.vp3d_3d is None:
        raise CLIError("--format vp3d needs --vp3d-3d FILE (VideoPose3D's data_3d_h36m.npz) "
                       "for the ground truth")
    if need_pred and args.pred is None:
        raise CLIError("--format vp3d needs --pred FILE with the predictions, row-aligned with "
                       "the VideoPose3D rows (subject, trial, camera, frame)")
    pairs = vp3d_pairs(path, args.vp3d_3d, args.cameras, subjects=args.subjects,
                       every=args.every)
    out: dict[str, np.ndarray] = {k: v for k, v in pairs.items() if k != "y3d"}
    if "y3d" in pairs:
        out["gt"] = (pairs["y3d"] / UNIT_SCALE[args.units]).astype(np.float32)
    if args.pred is not None:
        parrays = load_file(args.pred)
        pred = pick_array(parrays, tuple(pred_keys), args.pred, "predictions")
        n = pairs["x2d"].shape[0]
        if pred.shape[:1] != (n,):
            raise CLIError(
                f"--pred {args.pred!r} has {pred.shape[0] if pred.ndim else 0} rows "
                f"{tuple(pred.shape)}; the VideoPose3D files give {n} rows (subjects "
                f"{sorted(set(pairs['subject'].tolist()))}, --every {args.every}): the "
                "predictions must be row-aligned with them (order: subject, trial, camera, "
                "frame)")
        for k in _ROW_KEYS:
            if k in parrays and parrays[k].shape == (n,) and not np.array_equal(
                    parrays[k].astype(pairs[k].dtype), pairs[k]):
                bad = int(np.flatnonzero(parrays[k].astype(pairs[k].dtype) != pairs[k])[0])
                raise CLIError(
                    f"--pred {args.pred!r}: its {k!r} differs from the VideoPose3D rows' at row "
                    f"{bad} ({parrays[k][bad]!r} vs {pairs[k][bad]!r}): the predictions are "
                    "not in the reader's row order (subject, trial, camera, frame)")
        out["pred"] = pred
    return out


def check_screen_frame(x2d: Any, where: str) -> None:
    """Refuse 2D inputs outside the normalised screen frame
    (:func:`sealloss.pose.checks.check_screen_2d`), in the command line's terms: the message names
    the command's ``--image-size`` option, not a Python function. ``x2d`` is a torch tensor."""
    from ..errors import PoseShapeError
    from ..pose.checks import SCREEN_LIMIT, check_screen_2d

    try:
        check_screen_2d(x2d, f"the 2D inputs ({where})")
    except PoseShapeError:
        top = float(x2d.detach().abs().amax())
        kind = "pixels" if top > 50 else "an unnormalised frame (not pixels divided by the width)"
        raise CLIError(
            f"the 2D inputs ({where}) have values up to {top:.3g}: they look like {kind}, and "
            f"the normalised screen frame (x in [-1, 1], |values| up to {SCREEN_LIMIT:g}) is "
            "expected; for pixels pass --image-size W H (the image's width and height in "
            "pixels) to convert them") from None

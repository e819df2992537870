"""``sealloss refine``: walk predicted poses down a loss-net's energy (opt-in, test time).

Input: an ``.npz`` in the CLI's file format (:mod:`sealloss.cli._files`) with the 2D
inputs (``--x2d-key``, screen frame, or pixels with ``--image-size``) and the predictions
(``--pred-key``, in ``--units``), or VideoPose3D's files (``--format vp3d``). Output: an ``.npz``
in the same format: ``pred`` = the refined poses (same units and shape as the predictions),
``pred_input`` = the poses given, ``energy_before``, ``energy_after``, and every other array of
the input (``x2d``, ``gt``, metadata) passed through; ``refined`` repeats ``pred`` for scripts
written for the earlier output. The root joint is never moved. Defaults:
:data:`sealloss.defaults.REFINE` for the 2D kind ``--inputs`` (chosen on S8), the same as
:func:`sealloss.refine`'s.
"""

from __future__ import annotations

import argparse

from ..defaults import INPUT_KINDS, refine_defaults
from ._files import add_format_options

__all__ = ["add_parser", "run", "resolved_settings"]

_SETTINGS = ("weights", "steps", "lr", "pull")


def resolved_settings(args: argparse.Namespace) -> dict:
    """The weights, steps, lr and pull of a parsed command line: each option given, else the
    default of the input kind ``--inputs`` (:func:`sealloss.defaults.refine_defaults`)."""
    rec = refine_defaults(args.inputs)
    return {k: rec[k] if getattr(args, k) is None else getattr(args, k) for k in _SETTINGS}


def add_parser(sub, formatter_class) -> argparse.ArgumentParser:
    """Register the command on the CLI's sub-parsers."""
    r = sub.add_parser(
        "refine", formatter_class=formatter_class,
        help="refine predicted 3D poses by descent on a loss-net's energy (test time)",
        description="Refines predicted poses by Adam descent on E(x, y) (+ an optional pull "
        "back to the prediction), batched, root untouched; writes the refined poses and their "
        "energies and reports the cost per 1,000 poses. Opt-in: it adds test-time cost.")
    r.add_argument("predictions",
                   help=".npz with 2D inputs and 3D predictions (x2d, pred, optional gt and "
                   "metadata, all passed through); with --format vp3d, VideoPose3D's "
                   "data_2d_h36m_<source>.npz")
    r.add_argument("--out", required=True, help="output .npz")
    r.add_argument("--inputs", choices=INPUT_KINDS, default="gt",
                   help="what the 2D is: gt (projected ground truth) or detected (a 2D "
                        "detector's output); picks the recommended weights and settings")
    r.add_argument("--weights", default=None,
                   help="loss-net name or .safetensors (default: the input kind's)")
    r.add_argument("--steps", type=int, default=None,
                   help="Adam steps (default: the input kind's; 0 returns the input)")
    r.add_argument("--lr", type=float, default=None,
                   help="metres per step (Adam; default: the input kind's)")
    r.add_argument("--pull", type=float, default=None,
                   help="weight of the squared distance to the prediction (per m^2; default: "
                        "the input kind's)")
    r.add_argument("--x2d-key", default="x2d", help="array name of the 2D inputs")
    r.add_argument("--pred-key", default=None,
                   help="array name of the predictions (default: 'pred', else 'y3d'; with "
                   "--format vp3d, in the --pred file)")
    r.add_argument("--units", default="m", choices=("m", "cm", "mm"),
                   help="units of the predictions (converted to metres inside)")
    r.add_argument("--image-size", type=float, nargs=2, metavar=("W", "H"), default=None,
                   help="the 2D inputs are pixels of a W x H image (converted to the "
                   "normalised screen frame; not with --format vp3d, which converts them)")
    r.add_argument("--no-units-check", action="store_true",
                   help="refine even when the predictions are not person-sized in --units")
    r.add_argument("--batch-size", type=int, default=4096, help="poses per Adam batch")
    c = r.add_argument_group(
        "clip refinement (--clip-key)",
        "refine each clip (a run of frames of one video) jointly: one set of bone lengths per "
        "clip, 2D consistency, optional smoothness in real time (sealloss.posthoc.clip_refinement)")
    c.add_argument("--clip-key", nargs="+", metavar="KEY", default=None,
                   help="the array(s) of the file naming each pose's clip, e.g. seq_id camera")
    c.add_argument("--frame-key", metavar="KEY", default=None,
                   help="frame indices of the poses (default: 'frame' if the file has it); "
                   "the time between poses is read from them, never from the row order")
    c.add_argument("--fps", type=float, default=None,
                   help="frames per second of --frame-key (default 50: Human3.6M's video)")
    c.add_argument("--smooth", type=float, default=None,
                   help="weight of the velocity term (per m^2/s; 0: off; default: "
                        "sealloss.defaults.CLIP[--inputs]'s when the file has frames, else off)")
    c.add_argument("--w2d", type=float, default=None,
                   help="weight of the 2D consistency term (default: "
                        "sealloss.defaults.CLIP[--inputs]'s: 0 for gt, 3000 for detected)")
    c.add_argument("--prior-weight", type=float, default=None,
                   help="where each clip's bone lengths start, in [0, 1]: (1 - w) x the clip's "
                        "median + w x the training subjects' mean lengths (default: "
                        "sealloss.defaults.CLIP[--inputs]'s, 1)")
    r.add_argument("--no-pose-terms", action="store_true",
                   help="plain descent on the energy (and the pull) only: without the input "
                        "kind's per-pose terms (each pose's bone lengths from the training "
                        "prior, its 2D term; sealloss.defaults.REFINE 'pose_terms')")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_format_options(r, pred="predictions (camera frame, root-relative, in --units), "
                       "row-aligned with the VideoPose3D rows (subject, trial, camera, frame): "
                       "an .npz (array --pred-key, default pred) or .npy")
    r.set_defaults(func=run)
    return r


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status (errors are raised for the CLI to report)."""
    from ..io.atomic import write_npz
    from ..io.weights import load_lossnet
    from ..pose.canonical import UNIT_SCALE
    from ..posthoc.refinement import refine
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
    from ._files import check_screen_frame, read_vp3d

    out = check_output(args, "--out", (".npz",), "nothing was refined")
    settings = resolved_settings(args)
    net = load_lossnet(settings["weights"])
    keys = (args.pred_key,) if args.pred_key else ("pred", "y3d")
    arrays = read_vp3d(args, args.predictions, pred_keys=keys, need_pred=True, need_gt=False)
    x2d_key = "x2d"
    if arrays:
        keys = ("pred",)
        if args.image_size is not None:
            raise CLIError("--image-size does not apply with --format vp3d: the reader converts "
                           "VideoPose3D's pixels with each camera's resolution")
    else:
        arrays = load_file(args.predictions)
        x2d_key = args.x2d_key
    if "" in arrays:
        raise CLIError("refine needs an .npz holding both the 2D inputs and the predictions")
    key = next((k for k in keys if k in arrays), keys[0])
    pred = float_tensor(pick_array(arrays, keys, args.predictions, "predictions"), "predictions")
    x2d = float_tensor(pick_array(arrays, x2d_key, args.predictions, "2D inputs"), "2D inputs")
    if args.image_size is not None:
        x2d = screen_from_pixels(x2d, args.image_size)
    else:
        check_screen_frame(x2d, f"{x2d_key!r} in {args.predictions!r}")
    j = net.skeleton.num_joints
    if pred.dim() < 2 or pred.shape[-2:] != (j, 3) or x2d.shape[:-1] != pred.shape[:-1]:
        raise CLIError(
            f"predictions {tuple(pred.shape)} and 2D inputs {tuple(x2d.shape)} must be "
            f"(..., {j}, 3) and (..., {j}, 2) for the loss-net's skeleton {net.skeleton.name!r}")
    check_scale(pred, args.units, net.skeleton.root, "predictions", force=args.no_units_check)
    lead = pred.shape[:-2]
    scale = UNIT_SCALE[args.units]
    y = pred.reshape(-1, j, 3) * scale
    x = x2d.reshape(-1, j, 2)
    clip_kw = _clip_options(args, arrays, y.shape[0])
    bar = progress_bar(y.shape[0], "refine", not args.no_progress)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    with bar:
        res = refine(net, x, y, steps=settings["steps"], lr=settings["lr"],
                     pull=settings["pull"], batch_size=args.batch_size, progress=progress,
                     inputs=args.inputs, **clip_kw,
                     **({"clip": False} if args.no_pose_terms else {}))
    refined = (res.poses / scale).reshape(*lead, j, 3).numpy()
    e0 = res.energy_before.reshape(lead).numpy()
    e1 = res.energy_after.reshape(lead).numpy()
    written = {"pred": refined, "pred_input": arrays[key], "energy_before": e0,
               "energy_after": e1, "refined": refined}
    passed = {k: v for k, v in arrays.items() if k not in written and k != key}
    write_npz(out, **passed, **written)
    n = y.shape[0]
    print(f"{n} poses refined with {settings['weights']} ({settings['steps']} steps, lr "
          f"{settings['lr']:g} m, pull {settings['pull']:g}; --inputs {args.inputs}); mean energy "
          f"{float(e0.mean()) if n else float('nan'):.4f} -> "
          f"{float(e1.mean()) if n else float('nan'):.4f}")
    if clip_kw:
        print(f"clip refinement: {len(res.lengths)} clips (--clip-key "
              f"{' '.join(args.clip_key)}), one set of bone lengths each; {clip_kw['clip']}")
    elif refine_defaults(args.inputs).get("pose_terms") and not args.no_pose_terms:
        print(f"per-pose terms of --inputs {args.inputs}: each pose's bone lengths start at the "
              f"training subjects' mean lengths, 2D consistency "
              f"{dict(refine_defaults(args.inputs)['pose_terms'])}")
    print(f"cost: {res.seconds:.2f} s, {res.ms_per_1000:.0f} ms per 1,000 poses on this machine")
    print(f"wrote {out} (pred = refined, pred_input, energy_before, energy_after"
          + (f"; passed through: {', '.join(sorted(passed))}" if passed else "") + ")")
    return EXIT_OK


def _clip_options(args: argparse.Namespace, arrays: dict, n: int) -> dict:
    """``refine()``'s clip arguments (``clips``, ``frames``, ``clip``) from the command line and
    the file's arrays; ``{}`` without ``--clip-key``."""
    import numpy as np

    from ..defaults import clip_defaults
    from ..metrics import clips_from_arrays
    from ..posthoc.clip_refinement import ClipSettings
    from ._common import CLIError

    extra = [f for f, v in (("--frame-key", args.frame_key), ("--fps", args.fps),
                            ("--w2d", args.w2d), ("--prior-weight", args.prior_weight))
             if v is not None]
    if args.clip_key is None:
        if extra or args.smooth:
            given = extra or ["--smooth"]
            raise CLIError(f"{', '.join(given)} {'apply' if len(given) > 1 else 'applies'} "
                           "only with --clip-key (clip refinement); add --clip-key KEY (e.g. "
                           "seq_id camera)")
        return {}
    if args.no_pose_terms:
        raise CLIError("--no-pose-terms applies without --clip-key (per-pose refinement); clip "
                       "refinement has its own terms (--w2d, --smooth, --prior-weight)")
    clips = clips_from_arrays(arrays, args.clip_key, n, repr(args.predictions))
    fkey = args.frame_key or ("frame" if "frame" in arrays else None)
    if fkey is not None and fkey not in arrays:
        raise CLIError(f"--frame-key {fkey!r} is not in {args.predictions!r}; it has "
                       f"{sorted(arrays)}")
    frames = None if fkey is None else np.asarray(arrays[fkey]).reshape(-1)
    if frames is not None and frames.size != n:
        raise CLIError(f"--frame-key {fkey!r} has {frames.size} entries, one per pose ({n}) "
                       "is needed")
    if args.smooth and frames is None:
        raise CLIError("--smooth needs the poses' frame indices: the file has no 'frame' "
                       "array; name one with --frame-key KEY")
    smooth = args.smooth
    if smooth is None:
        smooth = clip_defaults(args.inputs)["smooth"] if frames is not None else 0.0
        if frames is None:
            print("clip refinement: no frame indices (--frame-key), so no smoothness term")
    kw = {"smooth": smooth, "fps": 50.0 if args.fps is None else args.fps}
    if args.w2d is not None:
        kw["w2d"] = args.w2d
    if args.prior_weight is not None:
        kw["prior_weight"] = args.prior_weight
    try:
        settings = ClipSettings.recommended(args.inputs, **kw)
    except ValueError as e:
        raise CLIError(str(e).replace("ClipSettings.", "--")) from None
    return {"clips": clips, "frames": frames, "clip": settings}

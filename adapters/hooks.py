"""The few calls an upstream training script needs (used by the example patches).

Each patch adds, at fixed places of the upstream script:

1. ``add_arguments(parser)`` before the upstream ``parse_args()``: the ``--seal*`` flags.
2. ``seal = from_args(args, optimizer, "<backbone>", **adapter_kwargs)`` after the optimizer is
   built. Without ``--seal`` this returns a :class:`PassThrough` that leaves the loss alone, so
   the patched script trains exactly like the original.
3. In the loop: ``loss_total = seal(loss_total, inputs_2d, predicted_3d, target_3d)`` (or, for
   MixSTE/KTPFormer, ``seal.energy_term(...).backward(retain_graph=True)``).
4. ``save_sidecar(seal, checkpoint_path)`` beside every checkpoint the script writes (periodic,
   latest and best): the loss-net goes into its own files, never into the backbone's
   ``state_dict``: ``<stem>.seal.safetensors`` (weights and config; usable as ``--seal-lossnet``
   later) and ``<stem>.seal-state.sealloss`` (the wrapper's full state: loss-net and its
   optimizer, counters, auto-lambda, RNG; a :mod:`sealloss.io.checkpoint` file, not a torch
   pickle, hence not ``.pt``).

Logging: :func:`from_args` logs one "sealloss is on" line (backbone, loss-net, mode, lambda,
force ratio, score fraction) and the wrapper logs its statistics every ``log_every`` (100)
steps; in a script that configures no logging, a stderr handler is added to the ``sealloss``
logger so these lines show.

Resume: the patch passes the checkpoint the upstream script resumes from as ``resume_from=``, so
the upstream's own resume flag brings the wrapper back from that checkpoint's
``.seal-state.sealloss`` too. A missing state file is an error (:class:`~sealloss.errors.
CheckpointError`), never a silent restart of the loss-net and lambda; ``--seal-resume fresh``
restarts them on purpose and ``--seal-resume PATH`` takes the state from another file.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable

import torch

from sealloss.defaults import INPUT_KINDS, TRAIN, train_defaults

from . import get

__all__ = ["add_arguments", "from_args", "seal_settings", "parse_lambda", "PassThrough",
           "sidecar_path", "state_path", "save_sidecar", "load_state", "FRESH"]

logger = logging.getLogger(__name__)

MODES = ("dynamic", "static", "warm")  # sealloss.training.settings.MODES, in the flags' order
FRESH = "fresh"  # --seal-resume value: restart the wrapper even though the backbone resumes


def parse_lambda(text: str | float) -> float | str:
    """``"auto"`` or a non-negative float."""
    if isinstance(text, (int, float)):
        value = float(text)
    elif text.strip().lower() == "auto":
        return "auto"
    else:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--seal-lambda must be 'auto' or a number, got {text!r}"
            ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seal-lambda must be >= 0, got {value}")
    return value


def _checked_float(text: str, expected: str, accept: Callable[[float], bool]) -> float:
    """``text`` as a float that ``accept`` takes; otherwise an ``ArgumentTypeError`` saying
    ``expected`` (e.g. ``"a positive number"``) and what was given."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not accept(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def _fraction(text: str) -> float:
    """A float in ``(0, 1]`` (``--seal-score-fraction``)."""
    return _checked_float(text, "a number in (0, 1]", lambda v: 0.0 < v <= 1.0)


def _positive(text: str) -> float:
    """A float > 0 (``--seal-force-ratio``)."""
    return _checked_float(text, "a positive number", lambda v: v > 0.0)


def _both(key: str) -> str:
    """The recommended value of ``key`` for each input kind, for a flag's help text."""
    return ", ".join(f"{kind}: {TRAIN[kind].get(key)!r}" for kind in INPUT_KINDS)


#: flag destination -> flat wrapper setting (:func:`sealloss.training.settings.build_wrapper`)
_FLAG_SETTINGS = {"seal_lossnet": "lossnet", "seal_lambda": "lam", "seal_mode": "mode",
                  "seal_force_ratio": "target_force_ratio",
                  "seal_score_fraction": "score_fraction"}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the sealloss flags to an upstream ``argparse`` parser (returns it).

    The defaults are the recommended, measured setting of ``--seal-inputs``
    (:data:`sealloss.defaults.TRAIN`): for ``gt`` (the default) the shipped ``h36m17`` loss-net,
    frozen (``static``), ``lam`` auto at force ratio 0.3, scoring a quarter of each batch; for
    ``detected`` the alternating scheme warm-started from ``h36m17-sh-refiner``. A flag left
    unset takes that kind's value.
    """
    g = parser.add_argument_group("sealloss (learned structural loss)")
    g.add_argument("--seal", action="store_true",
                   help="add the SEAL energy term to the training loss")
    g.add_argument("--seal-inputs", choices=INPUT_KINDS, default="gt",
                   help="the 2D the script trains on: gt (GT-projected, default) or detected "
                        "(a detector's output, e.g. CPN or Stacked Hourglass); it picks the "
                        "defaults of the other --seal flags")
    g.add_argument("--seal-lambda", type=parse_lambda, default=None,
                   help=f"energy weight: a number, or 'auto' (force-ratio control); default "
                        f"({_both('lam')})")
    g.add_argument("--seal-lossnet", default=None,
                   help=f"loss-net: a pretrained name, a .safetensors path, or 'none' (a fresh "
                        f"loss-net trained from scratch; --seal-mode dynamic only); default "
                        f"({_both('lossnet')})")
    g.add_argument("--seal-mode", choices=MODES, default=None,
                   help=f"static: the pretrained loss-net stays frozen; dynamic: train the "
                        f"loss-net on current predictions; warm: pretrained start, then dynamic; "
                        f"default ({_both('mode')})")
    g.add_argument("--seal-force-ratio", type=_positive, default=None,
                   help=f"with --seal-lambda auto: the ratio |lam dE/dy| / |dL/dy| to hold; "
                        f"default ({_both('target_force_ratio')})")
    g.add_argument("--seal-score-fraction", type=_fraction, default=None,
                   help=f"share of each batch the energy term scores, in (0, 1]; default "
                        f"({_both('score_fraction')})")
    g.add_argument("--seal-frames", type=int, default=8,
                   help="frames scored per clip for seq2seq models (0 = all)")
    g.add_argument("--seal-resume", default="",
                   help="wrapper state to resume from; by default the "
                        "<checkpoint>.seal-state.sealloss beside the checkpoint the script "
                        "itself resumes from; 'fresh' restarts the loss-net and lambda on "
                        "purpose")
    return parser


class PassThrough:
    """Stand-in when ``--seal`` is off: the loss is returned unchanged."""

    enabled = False

    def __call__(self, loss_sup: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        return loss_sup

    def energy_term(self, loss_sup: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        """A zero leaf: ``.backward()`` on it is a no-op for the backbone's parameters."""
        dev = loss_sup.device if isinstance(loss_sup, torch.Tensor) else None
        return torch.zeros((), device=dev, requires_grad=True)

    def __repr__(self) -> str:
        return "PassThrough()"


def from_args(
    args: argparse.Namespace,
    optimizer: torch.optim.Optimizer,
    backbone: str,
    *,
    resume_from: str | os.PathLike | None = None,
    **adapter_kwargs: object,
) -> object:
    """Build the training wrapper from the parsed ``--seal*`` flags (or a :class:`PassThrough`).

    Args:
        args: the namespace holding the flags added by :func:`add_arguments`.
        optimizer: the backbone's optimizer (the wrapper never steps it).
        backbone: adapter name (``sealloss.adapters.get(backbone, **adapter_kwargs)``).
        resume_from: the backbone checkpoint the upstream script resumes from (``None`` or
            ``""`` when it starts afresh). The wrapper state saved beside it by
            :func:`save_sidecar` is loaded, so the upstream's own resume flag restores the
            loss-net, its optimizer and lambda as well.

    Raises:
        CheckpointError: ``resume_from`` is given but its ``.seal-state.sealloss`` is missing
            (pass ``--seal-resume fresh`` to restart the wrapper on purpose), or the state file is
            damaged.

    The loss-net goes to ``cuda`` when CUDA is available (where every upstream script puts its
    outputs), else stays on the CPU.
    """
    if not getattr(args, "seal", False):
        return PassThrough()
    from sealloss.training.settings import build_wrapper

    adapter = get(backbone, **adapter_kwargs)
    frames = int(getattr(args, "seal_frames", 8))
    inputs, given = seal_settings(args)
    seal = build_wrapper(
        inputs=inputs,
        adapter=adapter,
        frames_per_clip=frames if frames > 0 else None,
        # upstream scripts (DataParallel included) put their outputs on cuda:0 when available
        device="cuda" if torch.cuda.is_available() else None,
        **given,
    )
    resume = _resume_source(str(getattr(args, "seal_resume", "") or ""), resume_from)
    _show_sealloss_logs()
    if resume:
        load_state(seal, resume)
        logger.info("sealloss: wrapper state resumed from %s", resume)
    shown = {**train_defaults(inputs), **given}
    logger.info("sealloss is on: %s inputs=%s lossnet=%s mode=%s lam=%s force_ratio=%s "
                "score_fraction=%s; its statistics are logged every %d steps (%r)",
                backbone, inputs, shown["lossnet"], shown["mode"], shown["lam"],
                shown.get("target_force_ratio") if shown["lam"] == "auto" else None,
                shown["score_fraction"], seal.log_every, seal)
    return seal


def seal_settings(args: argparse.Namespace) -> tuple[str, dict[str, object]]:
    """``(inputs, settings)`` of the parsed ``--seal*`` flags: the input kind and the flat
    wrapper settings the user set (flags left unset are absent: ``build_wrapper(inputs=...)``
    fills them with that kind's recommended values)."""
    inputs = str(getattr(args, "seal_inputs", "gt") or "gt")
    given: dict[str, object] = {}
    for dest, key in _FLAG_SETTINGS.items():
        value = getattr(args, dest, None)
        if value is not None:
            given[key] = value
    if str(given.get("lossnet", "")).lower() == "none":
        given["lossnet"] = None
    return inputs, given


def _show_sealloss_logs() -> None:
    """Make sealloss's INFO lines (the "sealloss is on" line and the wrapper's periodic
    statistics) visible in an upstream script that configures no logging: when neither the
    ``sealloss`` logger (beside the package's own ``NullHandler``) nor the root logger has a
    handler, one stderr handler is added to the ``sealloss`` logger (only), at INFO. A script
    that configures logging keeps its own."""
    root = logging.getLogger("sealloss")
    own = [h for h in root.handlers if not isinstance(h, logging.NullHandler)]
    if own or logging.getLogger().handlers:  # the script (or a caller) set logging up
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _resume_source(flag: str, resume_from: str | os.PathLike | None) -> str:
    """The wrapper state file to load (``""``: none): ``--seal-resume`` wins, then the state
    beside the backbone checkpoint the script resumes from."""
    if flag.strip().lower() == FRESH:
        if resume_from:
            logger.warning("sealloss: --seal-resume fresh: the backbone resumes from %s but the "
                           "loss-net and lambda restart", os.fspath(resume_from))
        return ""
    if flag:
        return flag
    if not resume_from:
        return ""
    path = state_path(os.fspath(resume_from))
    if not os.path.isfile(path):
        from sealloss.errors import CheckpointError

        raise CheckpointError(
            f"sealloss: the script resumes from {os.fspath(resume_from)!r} but the wrapper state "
            f"beside it, {path!r}, is missing, so the loss-net and lambda would silently restart. "
            f"Pass --seal-resume PATH to load the state from another file, or --seal-resume "
            f"{FRESH} to restart them on purpose."
        )
    return path


def _stem(checkpoint_path: str) -> str:
    root, _ = os.path.splitext(checkpoint_path)
    return root[: -len(".pth")] if root.endswith(".pth") else root


def sidecar_path(checkpoint_path: str) -> str:
    """``ckpt/epoch_10.bin`` (or ``.pth.tar``) -> ``ckpt/epoch_10.seal.safetensors``."""
    return _stem(checkpoint_path) + ".seal.safetensors"


def state_path(checkpoint_path: str) -> str:
    """``ckpt/epoch_10.bin`` -> ``ckpt/epoch_10.seal-state.sealloss``.

    Not ``.pt``: the file is a :mod:`sealloss.io.checkpoint` file (its own checksummed header),
    which ``torch.load`` cannot read; read it with :func:`load_state`."""
    return _stem(checkpoint_path) + ".seal-state.sealloss"


def save_sidecar(seal: object, checkpoint_path: str) -> str | None:
    """Save the loss-net (safetensors) and the wrapper state beside ``checkpoint_path``.

    Returns the safetensors path (``None`` for a :class:`PassThrough`).
    """
    if isinstance(seal, PassThrough):
        return None
    from sealloss.io.checkpoint import save_checkpoint
    from sealloss.io.weights import save_lossnet

    path = sidecar_path(checkpoint_path)
    save_lossnet(seal.lossnet, path)
    save_checkpoint(state_path(checkpoint_path), wrapper=seal.state_dict())  # atomic
    return path


def load_state(seal: object, path: str) -> None:
    """Restore a wrapper from a ``.seal-state.sealloss`` written by :func:`save_sidecar`."""
    from sealloss.io.checkpoint import load_checkpoint

    seal.load_state_dict(load_checkpoint(path)["wrapper"])

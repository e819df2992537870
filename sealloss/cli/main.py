"""The ``sealloss`` command line: ``demo``, ``pretrain``, ``evaluate``, ``score``, ``info`` and
``refine``, one module each in :mod:`sealloss.cli` (``add_parser(sub, formatter_class)``
registers a command, ``run(args)`` runs it).

This module builds the parser and reports errors: bad input (missing or corrupt file, wrong
shapes, unknown skeleton, missing data folder) ends with exit status 2 and one line
``sealloss <command>: error: <reason>`` on stderr. It imports no command's dependencies, so
``sealloss --help`` stays fast.

Run ``sealloss <command> --help`` for the options of each command.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Sequence

from ..errors import SealLossError
from ._common import EXIT_BAD_INPUT

__all__ = ["main", "build_parser", "COMMANDS"]

log = logging.getLogger(__name__)

#: the sub-commands, in ``--help`` order: each is the module ``sealloss.cli.<name>``
COMMANDS = ("demo", "pretrain", "evaluate", "score", "info", "refine")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default only where there is one to show: not for required options,
    flags (``store_true``) or a default of ``None`` (whose help says what happens then)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default is None or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The ``sealloss`` argument parser with every command of :data:`COMMANDS` registered."""
    from ..version import __version__

    p = argparse.ArgumentParser(
        prog="sealloss",
        description="A learned structural loss (SEAL-pose) for 3D human pose lifting.",
        epilog="Run 'sealloss <command> --help' for the options of a command.",
    )
    p.add_argument("--version", action="version", version=f"sealloss {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log library messages (INFO)")
    sub = p.add_subparsers(dest="command", metavar="command")
    sub.required = True
    fmt = HelpFormatter
    for name in COMMANDS:
        importlib.import_module(f".{name}", __package__).add_parser(sub, fmt)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sealloss`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (SealLossError, OSError, ValueError) as e:
        if args.verbose:
            log.exception("sealloss %s failed", args.command)
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"sealloss {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"sealloss {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

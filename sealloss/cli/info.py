"""``sealloss info``: what a weights file holds (verified), or the skeleton presets, registered
weights and the recommended setting.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..defaults import TRAIN, WEIGHTS_CARDS
from ..errors import SealLossError
from ._common import EXIT_OK

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, formatter_class: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Register the command on the CLI's sub-parsers."""
    i = sub.add_parser(
        "info", formatter_class=formatter_class, help="what a loss-net weights file contains",
        description="Prints a weights file's metadata (kind, skeleton, format version, "
        "architecture, parameter count, checksum) after verifying it, and for the shipped "
        "h36m17 weights how they were trained, on which data and under which terms; "
        "without a file, lists "
        "skeleton presets and registered weights.")
    i.add_argument("weights", nargs="?", default=None, help=".safetensors file or name")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=run)
    return i


def _card(weights: str, sha256: str) -> dict[str, str] | None:
    """The card of a shipped weights file, found by registered name or by checksum."""
    from ..io.weights import PRETRAINED, pretrained_path, read_metadata

    if weights in WEIGHTS_CARDS:
        return dict(WEIGHTS_CARDS[weights])
    for name, card in WEIGHTS_CARDS.items():
        if name not in PRETRAINED:
            continue
        try:
            if sha256 == read_metadata(pretrained_path(name))["sha256"]:
                return dict(card)
        except (SealLossError, OSError, KeyError):
            continue
    return None


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status (errors are raised for the CLI to report)."""
    from ..io.weights import list_pretrained, load_lossnet, read_metadata
    from ..pose.skeleton import get_skeleton, list_skeletons

    if args.weights is None:
        print("skeleton presets:")
        for name in list_skeletons():
            print(f"  {name:<14} {get_skeleton(name).num_joints:>4} joints")
        print("registered loss-net weights:")
        for name, ok in list_pretrained().items():
            print(f"  {name:<20} {'installed' if ok else 'not installed'}")
        print("  (trained on Human3.6M: research use only; 'sealloss info h36m17' tells more)")
        print("recommended training settings per 2D input kind (the defaults of "
              "build_wrapper(inputs=...), SealCallback(inputs=...) and the --seal-inputs flags; "
              "AlternatingWrapper() and the demo are 'gt'):")
        for kind, setting in TRAIN.items():
            print(f"  {kind}: " + ", ".join(f"{k}={v!r}" for k, v in setting.items()))
        return EXIT_OK
    meta = read_metadata(args.weights)
    net = load_lossnet(args.weights)
    cfg = {k: v for k, v in meta["config"].items() if k not in ("skeleton", "spec", "kind",
                                                                 "extra_skeletons")}
    sk = meta["skeleton"]
    info = {
        "file": str(args.weights),
        "kind": meta["kind"],
        "format": f"{meta['format']} v{meta['format_version']}",
        "sealloss_version": meta.get("sealloss_version", "?"),
        "skeleton": f"{sk.get('name', '?')} ({len(sk.get('joint_names', []))} joints)",
        "canonical": meta["canonical"],
        "dtype": meta.get("dtype", "?"),
        "parameters": net.num_parameters,
        "config": cfg,
        "sha256": meta["sha256"],
    }
    card = _card(args.weights, meta["sha256"])
    if card is not None:
        info.update(card)
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    for k, v in info.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        elif k == "parameters":
            v = f"{v:,}"
        print(f"{k:<17} {v}")
    return EXIT_OK

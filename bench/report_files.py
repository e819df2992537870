"""A bench's report files: the JSON record, its Markdown summary and the PNG figure (pyplot on
the file-only Agg backend, when matplotlib is installed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def agg_pyplot() -> ModuleType | None:
    """``matplotlib.pyplot`` with the Agg backend selected, or ``None`` (after printing that no
    PNG is written) when matplotlib is not installed: the bench's numbers stand without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no PNG written")
        return None
    return plt


def write_report(report: dict, out: Path, markdown: Callable[[dict], str],
                 plot: Callable[[dict, Path], None]) -> None:
    """Write ``report`` as ``out.json``, its ``markdown(report)`` as ``out.md`` (also printed)
    and its ``plot`` as ``out.png``, creating ``out``'s folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    md = markdown(report)
    out.with_suffix(".md").write_text(md)
    print(md)
    plot(report, out.with_suffix(".png"))

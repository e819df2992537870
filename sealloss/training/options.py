"""The checks of a numeric option and of a saved counter (each part of the wrapper checks its own
options and state with them)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

__all__ = ["check_number", "check_count"]


def check_number(name: str, value: Any, low: float, *, strict: bool = False,
                 integer: bool = False, high: float = math.inf, owner: str) -> None:
    """Refuse an option that is not a finite number in ``[low, high]`` (``(low, high]`` when
    ``strict``) with a ``ValueError`` naming it: ``"{owner}: {name} must be ..."``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = float(value).is_integer()
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if strict else v >= low) and v <= high
    if not ok:
        kind = "an integer" if integer else "a finite number"
        bound = f"> {low:g}" if strict else f">= {low:g}"
        upper = f" and <= {high:g}" if math.isfinite(high) else ""
        raise ValueError(f"{owner}: {name} must be {kind} {bound}{upper}, got {value!r}")


def check_count(state: Mapping[str, Any], key: str, where: str) -> int:
    """``state[key]`` as a counter: an integer ``>= 0`` (not a bool, a float or a string)."""
    v = state.get(key)
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
        raise ValueError(f"{where}: {key!r} must be an integer >= 0, got {v!r} "
                         f"({type(v).__name__}): a damaged or hand-edited state?")
    return int(v)

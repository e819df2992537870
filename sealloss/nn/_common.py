"""Pieces shared by the loss-nets that need no graph library: hyper-parameter bounds and checks,
smooth activations. (Kept apart so the MLP loss-net never imports torch-geometric.)"""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = [
    "ACTIVATIONS",
    "MAX_WIDTH",
    "MAX_LAYERS",
    "MAX_HEADS",
    "MAX_MLP_RATIO",
    "MAX_HOP",
    "MAX_DEGREE",
    "MAX_COORD_SCALE",
    "check_int_arg",
    "check_float_arg",
    "make_activation",
]

# Upper bounds on constructor hyper-parameters. Far above any useful loss-net (the defaults are
# width 64, 3 layers), they turn an absurd value, e.g. from an edited weights file, into a
# ValueError instead of a multi-terabyte allocation.
MAX_WIDTH = 8192
MAX_LAYERS = 128
MAX_HEADS = 256
MAX_MLP_RATIO = 16.0
MAX_HOP = 1024
MAX_DEGREE = 1024
MAX_COORD_SCALE = 1e6


def check_int_arg(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``, else a ValueError naming the argument.

    Integral floats (``64.0``, as JSON may give) are accepted; bools, strings and fractional
    values are not.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if isinstance(value, float) and not (value == value and value.is_integer()):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
    return int(value)


def check_float_arg(name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a finite float in ``(low, high]``, else a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not (low < v <= high):  # also refuses NaN
        raise ValueError(f"{name} must be in ({low}, {high}], got {value!r}")
    return v

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


def make_activation(name: str) -> nn.Module:
    """A smooth activation by name (``gelu``, ``silu``, ``tanh``, ``softplus``).

    Non-smooth ones (ReLU) are refused: ``dE/dy`` drives the pose-net, and a piecewise-constant
    gradient field makes that signal jumpy.
    """
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"activation {name!r} is not supported; use a smooth one of {sorted(ACTIVATIONS)}"
        ) from None

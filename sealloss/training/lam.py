"""The weight ``lam`` of the energy term: fixed, a schedule, or kept at a force ratio ("auto").

:class:`LambdaController` holds one such weight, with its target force ratio, EMA, bounds
and state. :class:`~sealloss.training.wrapper.AlternatingWrapper` has two: ``lam`` for labeled
batches and ``lam_unlabeled`` for unlabeled ones.

``"auto"`` keeps the *force ratio* ``||lam * dE/dy_hat|| / ||dL_sup/dy_hat||`` (dimensionless)
at a target: the caller measures the force per unit lambda ``r = ||dE/dy_hat|| /
||dL_sup/dy_hat||`` every few steps and passes it to :meth:`LambdaController.observe`, which
keeps an EMA of ``r`` and sets ``lam = clamp(target / EMA(r), *bounds)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from ..defaults import RECOMMENDED
from .options import check_number

__all__ = ["LambdaController", "LAM_KINDS"]

#: The kinds of lambda: a constant, a callable ``step -> float``, or the force-ratio controller.
LAM_KINDS = ("fixed", "schedule", "auto")

LamSpec = float | str | Callable[[int], float]

_OWNER = "LambdaController"


def schedule_value(name: str, value: Any, step: int) -> float:
    """What a schedule returned at ``step``, as a float: a real number or a 0-dim tensor/array.

    NaN, Inf and negative numbers pass (the wrapper skips and counts such a step); a value that
    is not a number at all (``None``, a string, a bool, a list) is a bug in the schedule.

    Raises:
        TypeError: naming the option ``name``, the step and the value returned.
    """
    v = value
    if not isinstance(v, numbers.Real) and getattr(v, "shape", None) == () and hasattr(v, "item"):
        v = v.item()  # a 0-dim torch tensor or numpy array
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return float(v)
    raise TypeError(
        f"{name}: the schedule returned {value!r} ({type(value).__name__}) at step {step}; a "
        f"schedule step -> value must return a number (a float >= 0)"
    )


def _real(v: Any) -> bool:
    """A real number that is not a bool (what a saved lambda value or EMA must be)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def lam_kind(spec: LamSpec) -> str:
    """``"auto"``, ``"schedule"`` (a callable) or ``"fixed"`` (a number) for a lambda option."""
    if isinstance(spec, str):
        return "auto" if spec == "auto" else "invalid"
    return "schedule" if callable(spec) else "fixed"


class LambdaController:
    """One energy weight: fixed, a schedule ``step -> float``, or ``"auto"`` (force ratio).

    Args:
        spec: a float ``>= 0``, a callable ``step -> float`` or ``"auto"``.
        name: the option's name, used in errors (``"lam"``, ``"lam_unlabeled"``).
        target_name: the name of ``target``'s option, used in errors.
        target: force ratio kept by ``"auto"`` (dimensionless, ``>= 0``), or a schedule
            ``step -> ratio`` (e.g. decaying to zero by the end of training); a schedule value
            that is not a finite number ``>= 0`` makes that step's lambda NaN, which the wrapper
            skips and counts like any non-finite lambda.
        init: starting value of ``"auto"`` (``> 0``).
        ema: EMA factor of the force measurement, in ``[0, 1)``.
        bounds: ``(low, high)`` clamp of the auto value, ``0 < low <= high``, finite.

    Raises:
        ValueError: an invalid option, naming it.
    """

    def __init__(self, spec: LamSpec, *, name: str = "lam",
                 target: float | Callable[[int], float] = RECOMMENDED["target_force_ratio"],
                 init: float = 1e-3, ema: float = 0.9,
                 bounds: tuple[float, float] = (1e-8, 1e3),
                 target_name: str = "target_force_ratio") -> None:
        kind = lam_kind(spec)
        if kind == "invalid":
            raise ValueError(f"{name} must be a float, a callable or 'auto', got {spec!r}")
        if kind == "fixed":
            check_number(name, spec, 0.0, owner=_OWNER)
        if not callable(target):
            check_number(target_name, target, 0.0, owner=_OWNER)
        check_number("init (lam_init)", init, 0.0, strict=True, owner=_OWNER)
        check_number("ema (lam_ema)", ema, 0.0, high=0.999999, owner=_OWNER)
        if (
            not isinstance(bounds, (tuple, list))
            or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and math.isfinite(b) for b in bounds)
            or not 0 < bounds[0] <= bounds[1]
        ):
            raise ValueError(
                f"{_OWNER}: bounds (lam_bounds) must be (low, high) with 0 < low <= high, "
                f"finite; got {bounds!r}"
            )
        self.name = name
        self.target_name = target_name
        self.kind = kind
        #: the target force ratio: a float, or a schedule ``step -> ratio``
        self.target: float | Callable[[int], float] = (
            target if callable(target) else float(target))
        self.init = float(init)
        self.ema = float(ema)
        self.bounds = bounds
        self._fn: Callable[[int], float] | None = spec if kind == "schedule" else None  # type: ignore[assignment]
        #: the current value (NaN for a schedule, which is evaluated per step)
        self.value: float = (
            float(spec) if kind == "fixed" else (self.init if kind == "auto" else math.nan)  # type: ignore[arg-type]
        )
        #: EMA of the force per unit lambda (auto; ``None`` before the first measurement)
        self.ema_ratio: float | None = None

    def at(self, step: int) -> float:
        """The lambda of step ``step`` (a schedule is called; may be non-finite or negative:
        the caller skips such a step).

        Raises:
            TypeError: the schedule returned something that is not a number (naming it).
        """
        if self._fn is not None:
            return schedule_value(self.name, self._fn(step), step)
        return self.value

    def target_at(self, step: int) -> float:
        """The target force ratio at ``step`` (a schedule is called; ``TypeError`` naming the
        option when it returns something that is not a number)."""
        if callable(self.target):
            return schedule_value(self.target_name, self.target(step), step)
        return self.target

    def check_step(self, step: int) -> None:
        """Call the schedules of ``step`` once before the caller changes any state, so a
        schedule that raises (or returns a non-number) stops the call with nothing changed:
        no loss-net update, no counter, no generator draw."""
        if self._fn is not None:
            self.at(step)
        if self.kind == "auto" and callable(self.target):
            self.target_at(step)

    def observe(self, per_unit: float | None, step: int = 0) -> None:
        """Feed one force-per-unit-lambda measurement (``None``: nothing measured) taken at
        ``step``. Only an ``"auto"`` controller changes: EMA update, then
        ``value = clamp(target_at(step) / EMA)`` (NaN for an invalid scheduled target)."""
        if self.kind != "auto" or per_unit is None:
            return
        ema = self.ema_ratio
        ema = per_unit if ema is None else self.ema * ema + (1 - self.ema) * per_unit
        self.ema_ratio = ema
        target = self.target_at(step)
        if not (math.isfinite(target) and target >= 0):
            self.value = math.nan
            return
        lo, hi = self.bounds
        self.value = min(hi, max(lo, target / ema))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """``{"kind", "value", "ema_ratio"}`` (plain Python numbers; a schedule's function is
        not saved: it is rebuilt by the code that builds the controller)."""
        return {"kind": self.kind, "value": self.value, "ema_ratio": self.ema_ratio}

    def parse_state(self, state: Mapping[str, Any]) -> tuple[float, float | None]:
        """Validate a :meth:`state_dict` for this controller without changing it; returns
        ``(value, ema_ratio)``.

        Raises:
            ValueError: a state of another kind (an ``"auto"`` state would replace a fixed
                lambda chosen by the user) or with missing entries, or values that are not
                numbers (a string such as ``'0.5'`` is refused, not converted), negative or
                infinite.
        """
        missing = [k for k in ("kind", "value", "ema_ratio") if k not in state]
        if missing:
            raise ValueError(f"{self.name} state is missing {missing}")
        if state["kind"] != self.kind:
            raise ValueError(
                f"state was saved with {self.name} mode {state['kind']!r}, this wrapper's "
                f"{self.name} is {self.kind!r}: build the wrapper with the same kind of "
                f"{self.name} (a float, a schedule or 'auto') to resume"
            )
        value, ema = state["value"], state["ema_ratio"]
        if not _real(value) or not (math.isnan(value) or 0 <= value < math.inf):
            raise ValueError(f"{self.name} state: value must be a number >= 0 (or NaN), got "
                             f"{value!r}")
        if ema is not None and (not _real(ema) or not 0 <= ema < math.inf):
            raise ValueError(f"{self.name} state: ema_ratio must be None or a finite number "
                             f">= 0, got {ema!r}")
        return float(value), None if ema is None else float(ema)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: all of it or nothing (:meth:`parse_state` refuses)."""
        self.value, self.ema_ratio = self.parse_state(state)

    def __repr__(self) -> str:
        if self.kind == "fixed":
            return f"{self.value:g}"
        if self.kind == "schedule":
            return f"schedule({getattr(self._fn, '__name__', 'callable')})"
        lo, hi = self.bounds
        target = (f"schedule({getattr(self.target, '__name__', 'callable')})"
                  if callable(self.target) else f"{self.target:g}")
        return (f"auto(target={target}, value={self.value:.3g}, ema={self.ema:g}, "
                f"bounds=({lo:g}, {hi:g}))")

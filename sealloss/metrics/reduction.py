"""Reducers: per-sample values in, their reduction out; the one reduction mechanism of sealloss.

Metrics and losses return **per-sample** values; a reducer decides how they become the reported
or trained value (the pytorch-metric-learning split: ``reducers/`` beside ``losses/``). Every
``reduction=`` argument takes a :class:`Reducer` or the name of one (the torch / kornia strings):

- ``"mean"`` -> :class:`MeanReducer`, ``"sum"`` -> :class:`SumReducer`, ``"none"`` ->
  :class:`NoReducer` (:func:`get_reducer` resolves a name; :func:`reduce` applies it).

A reducer is a callable ``reducer(values, dim=None)``: ``dim=None`` reduces every entry to a
0-dim tensor, ``dim=k`` only axis ``k`` (the metrics' per-bone and per-clip forms).

The mean of no entries is a policy of its use: a loss over no sample adds nothing (``0``, still
connected to the graph: :class:`MeanReducer`'s default), a metric of no sample is undefined
(``NaN``: the metrics resolve their names with ``empty=float("nan")``).

Example:
    >>> import torch
    >>> losses = torch.tensor([0.0, 2.0, 6.0])
    >>> reduce(losses, "mean"), reduce(losses, AvgNonZeroReducer())
    (tensor(2.6667), tensor(4.))
"""

from __future__ import annotations

import torch

__all__ = [
    "REDUCTIONS",
    "Reducer",
    "MeanReducer",
    "SumReducer",
    "NoReducer",
    "ThresholdReducer",
    "AvgNonZeroReducer",
    "Reduction",
    "get_reducer",
    "reduce",
]

#: the names a ``reduction=`` string may take
REDUCTIONS = ("none", "mean", "sum")


class Reducer:
    """Base class: ``reducer(values, dim=None)`` -> 0-dim tensor (``dim=None``) or ``values``
    reduced along ``dim`` (``NoReducer`` returns its input)."""

    def __call__(self, values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanReducer(Reducer):
    """Mean of the entries (along ``dim`` when given).

    Args:
        empty: the mean of no entries (``dim=None`` on an empty tensor): ``0`` (a loss over no
            sample; the result keeps the graph) or ``float("nan")`` (a metric: undefined).
        skip_nan: ignore NaN entries (``torch.nanmean``): values undefined for some samples,
            e.g. the spread of a clip of one pose.
    """

    def __init__(self, empty: float = 0.0, skip_nan: bool = False) -> None:
        self.empty = float(empty)
        self.skip_nan = bool(skip_nan)

    def __call__(self, values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
        if dim is not None:
            return values.nanmean(dim) if self.skip_nan else values.mean(dim)
        if values.numel() == 0 and self.empty == 0.0:
            return values.sum()
        return values.nanmean() if self.skip_nan else values.mean()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(empty={self.empty}, skip_nan={self.skip_nan})"


class SumReducer(Reducer):
    """Sum of the entries (along ``dim`` when given); ``skip_nan`` as in :class:`MeanReducer`."""

    def __init__(self, skip_nan: bool = False) -> None:
        self.skip_nan = bool(skip_nan)

    def __call__(self, values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
        if self.skip_nan:
            return values.nansum() if dim is None else values.nansum(dim)
        return values.sum() if dim is None else values.sum(dim)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(skip_nan={self.skip_nan})"


class NoReducer(Reducer):
    """Returns the per-sample values unchanged."""

    def __call__(self, values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
        return values


class ThresholdReducer(Reducer):
    """Mean over the entries with ``low < loss`` (and ``loss < high`` when ``high`` is given).

    Entries outside the window contribute neither to the sum nor to the count, so easy samples
    (a zero hinge) do not dilute the gradient of the hard ones. When no entry qualifies the
    result is ``0`` (still connected to the graph, so ``backward`` works).
    """

    def __init__(self, low: float = 0.0, high: float | None = None) -> None:
        if high is not None and high <= low:
            raise ValueError(f"ThresholdReducer: high ({high}) must exceed low ({low})")
        self.low = float(low)
        self.high = None if high is None else float(high)

    def __call__(self, values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
        keep = values > self.low
        if self.high is not None:
            keep = keep & (values < self.high)
        if dim is None:
            count = keep.sum().clamp_min(1).to(values.dtype)
            return (values * keep.to(values.dtype)).sum() / count
        count = keep.sum(dim).clamp_min(1).to(values.dtype)
        return (values * keep.to(values.dtype)).sum(dim) / count

    def __repr__(self) -> str:
        return f"{type(self).__name__}(low={self.low}, high={self.high})"


class AvgNonZeroReducer(ThresholdReducer):
    """Mean over the entries that are ``> 0`` (``ThresholdReducer(low=0)``)."""

    def __init__(self) -> None:
        super().__init__(low=0.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


#: a ``reduction=`` argument: one of :data:`REDUCTIONS` or a :class:`Reducer`
Reduction = str | Reducer

_NO_REDUCER = NoReducer()


def get_reducer(reduction: Reduction, empty: float = 0.0, skip_nan: bool = False) -> Reducer:
    """The :class:`Reducer` a ``reduction=`` argument names; a :class:`Reducer` is returned
    as it is (it carries its own options: ``empty`` and ``skip_nan`` configure the named
    ``"mean"`` / ``"sum"`` only, as in :class:`MeanReducer`).

    Raises:
        ValueError: an unknown name (the message lists :data:`REDUCTIONS`).
    """
    if isinstance(reduction, Reducer):
        return reduction
    if reduction == "mean":
        return MeanReducer(empty, skip_nan)
    if reduction == "sum":
        return SumReducer(skip_nan)
    if reduction == "none":
        return _NO_REDUCER
    raise ValueError(
        f"unknown reduction {reduction!r}: reduction must be one of {REDUCTIONS} or a Reducer"
    )


def reduce(values: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """Apply ``reduction`` (a name of :data:`REDUCTIONS` or a :class:`Reducer`) to ``values``:
    ``(...)`` -> 0-dim (``"none"``: ``values`` itself)."""
    return get_reducer(reduction)(values)

"""The wrapper's per-call diagnostics (:class:`SealStats`) and the helpers that read them: kept
as 0-dim tensors during training, converted to floats in one host synchronisation."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

__all__ = ["SealStats", "NAN", "usable_norm", "host_floats", "format_stats"]

NAN = float("nan")


@dataclass
class SealStats:
    """Diagnostics of one wrapper call (METHOD.md s.4). NaN where not measured this step.

    Measured values are kept as 0-dim tensors (no host synchronisation during training);
    :meth:`as_dict` converts them all at once.
    """

    step: int = 0
    lam: float | Tensor = NAN
    energy_pred: float | Tensor = NAN
    energy_gt: float | Tensor = NAN
    energy_gap: float | Tensor = NAN
    gap_snr: float | Tensor = NAN
    margin_violations: float | Tensor = NAN
    lossnet_loss: float | Tensor = NAN
    force_ratio: float | Tensor = NAN
    alignment: float | Tensor = NAN
    scored: int = 0
    lossnet_updated: bool = False
    skipped_energy_steps: int = 0
    skipped_lossnet_steps: int = 0

    def as_dict(self) -> dict[str, float]:
        """Every field as a plain float (one host synchronisation for all tensor fields)."""
        vals = {f.name: getattr(self, f.name) for f in fields(self)}
        tens = {k: v for k, v in vals.items() if isinstance(v, Tensor)}
        if tens:
            host = torch.stack([v.detach().double().cpu() for v in tens.values()]).tolist()
            vals.update(zip(tens, host))
        return {k: float(v) for k, v in vals.items()}


def usable_norm(n: Tensor) -> Tensor:
    """A gradient norm that can be used: finite and positive (bool 0-dim tensor)."""
    return torch.isfinite(n) & (n > 0)



def host_floats(*ts: Tensor | None) -> list[float | None]:
    """The given 0-dim tensors as floats in **one** host synchronisation (``None`` stays)."""
    present = [t for t in ts if t is not None]
    if not present:
        return [None] * len(ts)
    dev = present[0].device
    vals = iter(torch.stack([t.detach().double().to(dev) for t in present]).tolist())
    return [None if t is None else next(vals) for t in ts]



def format_stats(d: dict[str, float]) -> str:
    """``key=value`` pairs of the measured (non-NaN) statistics, for log lines."""
    return ", ".join(f"{k}={v:.4g}" for k, v in d.items() if not math.isnan(v))

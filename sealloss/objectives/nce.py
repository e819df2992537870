"""SEAL NCE ranking: softmax over ``-E / T`` for the candidates ``{y*, y_1..y_K}``, target 0.

With the sampler correction the logits are

``s_0 = -E(x, y*) / T`` and ``s_k = -E(x, y_k) / T - log_q_k`` for ``k = 1..K``

and the loss is ``-log softmax(s)_0 = logsumexp(s) - s_0``. ``log_q_k`` is the log density of
the sampler at negative ``k`` *relative to its density at the ground truth*, i.e.
``log q(y_k | y*) - log q(y* | y*)`` (the ground-truth logit carries no correction, so only
differences matter; the Gaussian sampler returns ``-||eps||^2 / (2 sigma^2)``). A negative that
the sampler proposes often (``log_q`` near 0) is not penalised more than one it proposes rarely:
the correction makes the loss estimate the energy ratio against the data, not against ``q``.

With ``K = 1`` and no correction the loss is the two-way logistic ranking
``softplus((E(y*) - E(y_1)) / T)``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import PoseShapeError
from ..metrics.reduction import Reducer, Reduction, reduce
from ..pose.checks import check_energies

__all__ = ["nce_loss", "NCEObjective"]


def nce_loss(
    e_pos: torch.Tensor,
    e_neg: torch.Tensor,
    temperature: float = 1.0,
    log_q: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Cross-entropy of the ground truth among ``{y*} + negatives`` under ``softmax(-E/T)``.

    .. math::
        \ell_b = -\log \frac{e^{-E^+_b/T}}
                            {e^{-E^+_b/T} + \sum_k e^{-E^-_{bk}/T - \log q_{bk}}}

    Args:
        e_pos: ``(B,)`` ground-truth energies.
        e_neg: ``(B, K)`` negative energies.
        temperature: ``T > 0``.
        log_q: optional ``(B, K)`` sampler log densities relative to the ground truth
            (module docstring); subtracted from the negatives' logits. Detached.
        reduction: ``"mean" | "sum" | "none"`` or a :class:`~sealloss.metrics.reduction.Reducer`.

    Returns:
        ``(B,)`` per-sample losses for ``"none"``, else a 0-dim tensor.

    Example:
        >>> nce_loss(torch.tensor([0.0]), torch.tensor([[0.0]]), reduction="none")
        tensor([0.6931])
    """
    check_energies(e_pos, e_neg, "nce_loss")
    if not temperature > 0:
        raise ValueError(f"nce_loss: temperature must be > 0, got {temperature}")
    s_neg = -e_neg / temperature
    if log_q is not None:
        if log_q.shape != e_neg.shape:
            raise PoseShapeError(
                f"nce_loss: log_q must have the shape of e_neg {tuple(e_neg.shape)}, got "
                f"{tuple(log_q.shape)}"
            )
        s_neg = s_neg - log_q.detach().to(s_neg.dtype)
    s_pos = -e_pos / temperature
    logits = torch.cat([s_pos.unsqueeze(1), s_neg], dim=1)
    per_sample = torch.logsumexp(logits, dim=1) - s_pos
    return reduce(per_sample, reduction)


class NCEObjective(nn.Module):
    """Module form of :func:`nce_loss`.

    Args:
        temperature: softmax temperature ``T``.
        reducer: a :class:`~sealloss.metrics.reduction.Reducer` (default: mean).

    Shapes:
        ``forward(e_pos (B,), e_neg (B, K), log_q (B, K) | None)`` -> scalar.
    """

    def __init__(self, temperature: float = 1.0, reducer: Reducer | None = None) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"NCEObjective: temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.reducer: Reduction = reducer if reducer is not None else "mean"

    def forward(
        self, e_pos: torch.Tensor, e_neg: torch.Tensor, log_q: torch.Tensor | None = None
    ) -> torch.Tensor:
        return nce_loss(e_pos, e_neg, self.temperature, log_q, self.reducer)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, reducer={self.reducer!r}"

"""DCT-II and its inverse along the last dimension (the unnormalised convention):

    dct(x)[k] = 2 * sum_n x[n] * cos(pi * k * (2n + 1) / (2N))

``idct`` is its exact inverse. Implemented as a matrix product (fine for the short windows of
pose lifting).
"""

from __future__ import annotations

import math

import torch

__all__ = ["dct", "idct"]


def _basis(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    return (2.0 * torch.cos(math.pi * k * (2 * i + 1) / (2 * n))).to(dtype=dtype, device=device)


def dct(x: torch.Tensor, norm: str | None = None) -> torch.Tensor:
    if norm is not None:
        raise NotImplementedError("torch_dct stand-in supports norm=None only")
    c = _basis(x.shape[-1], x.dtype, x.device)
    return x @ c.T


def idct(x: torch.Tensor, norm: str | None = None) -> torch.Tensor:
    if norm is not None:
        raise NotImplementedError("torch_dct stand-in supports norm=None only")
    n = x.shape[-1]
    c = _basis(n, torch.float64, x.device)
    w = torch.ones(n, dtype=torch.float64, device=x.device)
    w[0] = 0.5
    inverse = c * w[:, None] / (2.0 * n)  # x[n] = sum_k X[k] w[k] cos(...) / N
    return x @ inverse.to(x.dtype)

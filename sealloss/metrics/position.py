"""Position metrics (MPJPE, P-MPJPE, N-MPJPE, Procrustes, PCK, AUC); see
:mod:`sealloss.metrics.functional` for the definitions."""

from __future__ import annotations

import torch

from ..errors import PoseShapeError
from ._checks import _TINY, Reduction, _check_reduction, _check_two, reduce


def joint_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Euclidean error per joint: ``(..., J, D)`` x2 -> ``(..., J)``, units of the inputs.

    Raises:
        NonFiniteError: NaN/Inf in ``pred`` or ``gt`` (select the valid joints or samples
            first; a NaN would otherwise turn the whole mean into NaN, silently).
    """
    _check_two(pred, gt, finite=True)
    return (pred - gt).norm(dim=-1)


def mpjpe(pred: torch.Tensor, gt: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """Mean per-joint position error, no alignment.

    Args:
        pred, gt: ``(..., J, D)`` poses in the same units (usually root-relative).
        reduction: ``"none"`` -> ``(...)`` per sample; ``"mean"`` | ``"sum"`` -> scalar.

    Example:
        >>> gt = torch.zeros(2, 3, 3)
        >>> pred = gt.clone(); pred[0, :, 0] = 1.0
        >>> mpjpe(pred, gt, reduction="none")
        tensor([1., 0.])
    """
    _check_reduction(reduction)
    return reduce(joint_errors(pred, gt).mean(-1), reduction)


def procrustes_align(pred: torch.Tensor, gt: torch.Tensor, scale: bool = True) -> torch.Tensor:
    """Align each ``pred`` onto its ``gt`` by the least-squares similarity transform.

    Solves ``min_{s, R, t} sum_j |s R pred_j + t - gt_j|^2`` with ``R`` a proper rotation
    (``det R = +1``; reflections are refused by flipping the smallest singular direction,
    Umeyama 1991) and ``s = 1`` when ``scale=False``. Computed in float64 with
    ``torch.linalg.svd`` and returned in ``pred``'s dtype.

    Args:
        pred, gt: ``(..., J, D)``.

    Returns:
        ``(..., J, D)`` aligned copy of ``pred``. The gradient is undefined where ``pred``'s
        cross-covariance with ``gt`` has repeated singular values (SVD backward).

    Raises:
        NonFiniteError: NaN/Inf in ``pred`` or ``gt`` (the SVD would fail on them).
    """
    _check_two(pred, gt, finite=True)
    dtype = pred.dtype
    x = pred.to(torch.float64)
    y = gt.to(torch.float64)
    mu_x = x.mean(-2, keepdim=True)
    mu_y = y.mean(-2, keepdim=True)
    x0 = x - mu_x
    y0 = y - mu_y
    cov = y0.transpose(-1, -2) @ x0  # (..., D, D): sum_j y_j x_j^T
    u, s, vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    sign = torch.ones_like(s)
    sign[..., -1] = d
    rot = (u * sign.unsqueeze(-2)) @ vh  # U diag(1, .., d) V^T
    aligned = x0 @ rot.transpose(-1, -2)
    if scale:
        var_x = x0.pow(2).sum(dim=(-2, -1))
        k = (s * sign).sum(-1) / var_x.clamp_min(_TINY)
        aligned = aligned * k[..., None, None]
    return (aligned + mu_y).to(dtype)


def p_mpjpe(pred: torch.Tensor, gt: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """MPJPE after similarity Procrustes alignment (:func:`procrustes_align`, "protocol #2").

    Args:
        pred, gt: ``(..., J, D)``. Returns ``(...)`` for ``reduction="none"``.
    """
    _check_reduction(reduction)
    aligned = procrustes_align(pred, gt, scale=True)
    return reduce((aligned - gt).norm(dim=-1).mean(-1), reduction)


def n_mpjpe(
    pred: torch.Tensor,
    gt: torch.Tensor,
    reduction: Reduction = "mean",
    root: int | None = 0,
) -> torch.Tensor:
    """MPJPE after root alignment and the optimal scale of ``pred``.

    Both poses are made relative to joint ``root``; then ``s = <pred, gt> / <pred, pred>``
    (sums over joints and coordinates, per sample) and the error of ``s * pred`` is returned.
    No rotation is applied.

    Args:
        pred, gt: ``(..., J, D)``. Returns ``(...)`` for ``reduction="none"``.
        root: index of the root joint (``skeleton.root``); ``None`` skips the translation
            (inputs already root-relative, as in the VideoPose3D definition).
    """
    _check_reduction(reduction)
    _check_two(pred, gt, finite=True)
    if root is not None and not -pred.shape[-2] <= root < pred.shape[-2]:
        raise PoseShapeError(f"root {root} out of range for {pred.shape[-2]} joints")
    if root is None:
        p, g = pred, gt
    else:
        p = pred - pred[..., root : root + 1, :]
        g = gt - gt[..., root : root + 1, :]
    num = (p * g).sum(dim=(-2, -1))
    den = p.pow(2).sum(dim=(-2, -1)).clamp_min(_TINY)
    s = (num / den)[..., None, None]
    return reduce((s * p - g).norm(dim=-1).mean(-1), reduction)


# --------------------------------------------------------------------------- PCK / AUC
def pck(
    pred: torch.Tensor,
    gt: torch.Tensor,
    threshold: float = 0.150,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Percentage of correct keypoints as a fraction: share of joints with error ``< threshold``.

    ``threshold`` is in the inputs' units: the default 0.150 is 150 mm for metre poses (pass
    150.0 for millimetres). Returns ``(...)`` per sample for ``reduction="none"``.
    """
    _check_reduction(reduction)
    err = joint_errors(pred, gt)
    return reduce((err < threshold).to(err.dtype).mean(-1), reduction)


def auc(
    pred: torch.Tensor,
    gt: torch.Tensor,
    max_threshold: float = 0.150,
    steps: int = 31,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Area under the PCK curve: mean PCK over ``linspace(0, max_threshold, steps)`` (fraction).

    MPI-INF-3DHP style: 0..150 mm in 5 mm steps (31 thresholds); units as in :func:`pck`.
    """
    _check_reduction(reduction)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    err = joint_errors(pred, gt)
    t = torch.linspace(0.0, max_threshold, steps, dtype=torch.float64, device=err.device)
    hit = (err.to(torch.float64).unsqueeze(-1) < t).to(err.dtype)  # (..., J, steps)
    return reduce(hit.mean(dim=(-2, -1)), reduction)

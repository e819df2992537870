"""One training batch on its way into the wrapper: upstream -> canonical, flattening, frame
subsampling and the input checks.

Canonical tensors: 2D ``(N, J, 2)`` in the normalised screen frame, 3D ``(N, J, 3)`` in metres
(see :mod:`sealloss.pose.canonical`). :func:`check_batch` reads every check it needs back to the
host
in **one** synchronisation (finiteness of the inputs and the prediction, the 2D input's largest
value, the target's median joint distance from the root): data errors must stop the run at the
call that has them, and a non-finite prediction must skip its step, so these flags are needed on
the host every call.

Kinds of value (:func:`check_loss` and :func:`canonical`, before anything is computed): the
supervised loss is a 0-dim real floating tensor; poses are real floating tensors
(:func:`sealloss.pose.checks.check_tensor`: numpy arrays, integer, bool and complex tensors are
refused with the fix named, never cast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import PoseShapeError
from ..pose.canonical import root_relative
from ..pose.checks import (
    SCREEN_LIMIT,
    check_finite,
    check_screen_2d,
    check_tensor,
    guess_units,
)
from ..pose.skeleton import Skeleton

__all__ = ["ScoredBatch", "flatten_poses", "canonical", "check_batch", "check_loss", "to_lossnet"]


def check_loss(loss_sup: object) -> None:
    """Refuse a supervised loss that is not a 0-dim real floating tensor, naming the fix.

    Raises:
        PoseShapeError: a Python or numpy number (no gradient can reach the pose-net: pass the
            tensor), a per-sample loss (reduce it, e.g. ``.mean()``), an integer tensor.
    """
    if not isinstance(loss_sup, torch.Tensor):
        raise PoseShapeError(
            f"loss_sup must be the supervised loss as a 0-dim torch.Tensor, got "
            f"{type(loss_sup).__name__}: pass the loss tensor itself (not loss.item()); the "
            "call is seal(loss_sup, x2d, y_hat, y_gt)"
        )
    if loss_sup.dim() != 0:
        raise PoseShapeError(
            f"loss_sup must be a 0-dim tensor (the batch's supervised loss), got shape "
            f"{tuple(loss_sup.shape)}: reduce a per-sample loss first, e.g. loss.mean()"
        )
    if not loss_sup.is_floating_point():
        raise PoseShapeError(f"loss_sup must be a floating tensor, got dtype {loss_sup.dtype}")


def flatten_poses(x: Tensor, dim: int, what: str) -> tuple[Tensor, tuple[int, ...]]:
    """``(B, [T,] J, dim)`` -> ``(B * T, J, dim)`` and the leading shape ``(B, [T])``.

    Raises:
        PoseShapeError: another rank or coordinate count (naming a likely 2D/3D swap).
    """
    if x.dim() < 3 or x.shape[-1] != dim:
        hint = ""
        if x.dim() >= 3 and x.shape[-1] in (2, 3) and dim in (2, 3):
            hint = f"; a {x.shape[-1]}D pose was given where a {dim}D one is expected: swapped?"
        raise PoseShapeError(
            f"{what}: expected (B, J, {dim}) or (B, T, J, {dim}) canonical poses, got "
            f"{tuple(x.shape)} (pass an adapter= to convert upstream layouts{hint})"
        )
    return x.reshape(-1, x.shape[-2], dim), tuple(x.shape[:-2])


def canonical(
    adapter: Any,
    x2d: Tensor,
    y_hat: Tensor,
    y_gt: Tensor | None,
    *,
    frames_per_clip: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Upstream tensors -> flattened canonical ``x (N, J, 2)``, ``y_hat (N, J, 3)`` and the
    target ``(N, J, 3)`` (``None`` for unlabeled batches), metres.

    Args:
        adapter: ``None`` (already canonical), an object with ``convert(x2d, y_hat, y_gt)`` (one
            call, so adapters whose scale depends on the target stay consistent) or with
            ``inputs_2d`` / ``pred_3d`` / ``target_3d``.
        frames_per_clip: for ``(B, T, J, *)`` clips, keep this many random frames per clip
            (the same frames for every clip), drawn from ``generator``; ``None``: all.

    Raises:
        PoseShapeError: not real floating tensors (numpy arrays, integer, bool, complex), 2D
            and 3D swapped, shapes that disagree, wrong ranks.
    """
    a = adapter
    if a is not None and hasattr(a, "convert"):
        c = a.convert(x2d, y_hat, y_gt)
        x2d, y_hat, y_gt = c.x2d, c.pred, c.target
    elif a is not None:
        x2d, y_hat = a.inputs_2d(x2d), a.pred_3d(y_hat)
        y_gt = a.target_3d(y_gt) if y_gt is not None else None
    conv = " after the adapter's conversion" if a is not None else ""
    check_tensor(x2d, f"x2d (2D input){conv}")
    check_tensor(y_hat, f"y_hat (prediction){conv}")
    if y_gt is not None:
        check_tensor(y_gt, f"y_gt (3D target){conv}")
    if x2d.dim() and y_hat.dim() and x2d.shape[-1] == 3 and y_hat.shape[-1] == 2:
        raise PoseShapeError(
            f"2D input {tuple(x2d.shape)} has 3 coordinates and prediction "
            f"{tuple(y_hat.shape)} has 2: the arguments look swapped; the call is "
            "seal(loss_sup, x2d, y_hat, y_gt)"
        )
    if x2d.shape[:-1] != y_hat.shape[:-1] or (y_gt is not None and y_gt.shape != y_hat.shape):
        raise PoseShapeError(
            f"2D input {tuple(x2d.shape)}, prediction {tuple(y_hat.shape)} and target "
            f"{None if y_gt is None else tuple(y_gt.shape)} must share (B, [T,] J) after "
            "conversion"
        )
    fpc = frames_per_clip
    if y_hat.dim() == 4 and fpc and fpc < y_hat.shape[1]:
        t = y_hat.shape[1]
        idx = torch.randperm(t, generator=generator)[:fpc]
        idx = idx.to(y_hat.device)
        x2d, y_hat = x2d.index_select(1, idx), y_hat.index_select(1, idx)
        y_gt = y_gt.index_select(1, idx) if y_gt is not None else None
    x2d, _ = flatten_poses(x2d, 2, "2D input")
    y_hat, _ = flatten_poses(y_hat, 3, "prediction")
    if y_gt is not None:
        y_gt, _ = flatten_poses(y_gt, 3, "target")
    return x2d, y_hat, y_gt


def check_batch(skeleton: Skeleton, x: Tensor, y_gt: Tensor | None,
                y_hat: Tensor | None = None) -> bool:
    """Refuse data errors; tell whether the prediction is usable. One host synchronisation.

    Args:
        skeleton: the skeleton the poses must have.
        x: ``(N, J, 2)`` canonical 2D input.
        y_gt: ``(N, J, 3)`` canonical target, metres (``None``: unlabeled batch).
        y_hat: ``(N, J, 3)`` canonical prediction, or ``None`` (not checked).

    Returns:
        ``True`` when ``y_hat`` is given, non-empty and finite (a non-finite prediction is not
        a data error: the caller skips its step); ``False`` otherwise.

    Raises:
        PoseShapeError: wrong joint count, 2D beyond :data:`~sealloss.pose.checks.SCREEN_LIMIT`
            (pixels, heat-map coordinates), or a target whose median joint distance from the
            root says it is not in metres (millimetres, centimetres).
        NonFiniteError: NaN/Inf in ``x`` or ``y_gt``.
    """
    j = skeleton.num_joints
    if x.shape[-2] != j:
        raise PoseShapeError(
            f"poses have {x.shape[-2]} joints but the skeleton {skeleton.name!r} has "
            f"{j}: pass an adapter= (joint map) or a loss-net made for this skeleton"
        )
    dev = x.device
    with torch.no_grad():
        # NaN propagates through amax: one flag for finiteness and range
        flags = [x.detach().abs().amax() if x.numel() else x.new_zeros(())]
        if y_gt is not None:
            flags.append(torch.isfinite(y_gt).all().to(dev))
            if y_gt.shape[0]:
                r = skeleton.root
                flags.append(root_relative(y_gt, r).float().norm(dim=-1).median().to(dev))
        if y_hat is not None:
            flags.append(torch.isfinite(y_hat.detach()).all().to(dev))
        host = torch.stack([f.double() for f in flags]).tolist()  # the one synchronisation
    if not host[0] <= SCREEN_LIMIT:  # NaN, Inf, pixels or heat-map coordinates
        check_screen_2d(x, "x2d (2D input)")  # raises, with the details
    usable = y_hat is not None and y_hat.shape[0] > 0 and bool(host[-1])
    if y_gt is None:
        return usable
    if not host[1]:
        check_finite(y_gt, "y_gt (3D target)")
    if y_gt.shape[0]:
        med = host[2]
        name, div = guess_units(med)  # finite here: a non-finite target raised above
        if div != 1.0:
            raise PoseShapeError(
                f"y_gt (3D target): median joint distance from the root is {med:.1f}: the "
                f"targets look like {name}, but canonical poses are in metres (divide by "
                f"{div:g} or pass an adapter= that converts units)"
            )
    return usable


def to_lossnet(t: Tensor, net: torch.nn.Module) -> Tensor:
    """``t`` on the loss-net's device and in its dtype (its first parameter's)."""
    p = next(net.parameters())
    return t.to(device=p.device, dtype=p.dtype)


@dataclass(frozen=True)
class ScoredBatch:
    """One call's batch, converted, checked and flattened **once** (the parts read it).

    Attributes:
        x: ``(N, J, 2)`` canonical 2D input.
        y_hat: ``(N, J, 3)`` canonical prediction, metres (still in the caller's graph).
        y_gt: ``(N, J, 3)`` canonical target, metres (``None``: an unlabeled batch).
        usable: the prediction is non-empty and finite (else the energy term and the loss-net
            update of this call are skipped).
        upstream: the prediction as the caller passed it (the force ratio is measured on it).
    """

    x: Tensor
    y_hat: Tensor
    y_gt: Tensor | None
    usable: bool
    upstream: Tensor

    @property
    def n(self) -> int:
        """Poses in the batch (``N``)."""
        return int(self.y_hat.shape[0])

    @classmethod
    def prepare(
        cls,
        adapter: Any,
        skeleton: Skeleton,
        x2d: Tensor,
        y_hat: Tensor,
        y_gt: Tensor | None,
        *,
        frames_per_clip: int | None = None,
        generator: torch.Generator | None = None,
    ) -> ScoredBatch:
        """:func:`canonical` then :func:`check_batch` (one host synchronisation).

        Raises:
            PoseShapeError, NonFiniteError: see :func:`canonical` and :func:`check_batch`.
        """
        x, yh, yg = canonical(adapter, x2d, y_hat, y_gt, frames_per_clip=frames_per_clip,
                              generator=generator)
        usable = check_batch(skeleton, x, yg, yh)
        return cls(x, yh, yg, usable, y_hat)

"""The library's one pose convention, and conversions into and out of it.

Canonical 3D: ``(..., J, 3)`` float, **metres**, **root-relative** (the skeleton's root joint is
exactly zero), joints in the skeleton's order.

Canonical 2D: ``(..., J, 2)`` in the normalised screen frame: ``u = x / w * 2 - 1`` and
``v = y / w * 2 - h / w`` (pixels divided by the image width, so x lies in [-1, 1] and the
aspect ratio is kept). This is the VideoPose3D convention.

Every pose that reaches a loss-net passes through :func:`canonical_3d` / :func:`canonical_2d`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from ..errors import PoseShapeError
from .checks import check_pose, warn_if_millimetres
from .skeleton import Skeleton, get_skeleton

__all__ = [
    "UNIT_SCALE",
    "ROOT_MODES",
    "CanonicalSpec",
    "to_canonical_3d",
    "from_canonical_3d",
    "canonical_3d",
    "canonical_2d",
    "pixels_to_screen",
    "screen_to_pixels",
    "root_relative",
]

UNIT_SCALE: dict[str, float] = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}
#: root handling modes of :func:`to_canonical_3d`
ROOT_MODES: tuple[str, ...] = ("subtract", "detach", "zero")


def _scale(units: str) -> float:
    try:
        return UNIT_SCALE[units]
    except KeyError:
        raise PoseShapeError(f"unknown units {units!r}; use one of {sorted(UNIT_SCALE)}") from None


_Poses = TypeVar("_Poses", torch.Tensor, np.ndarray)


def root_relative(y: _Poses, root: int = 0) -> _Poses:
    """``(..., J, D)`` poses relative to their joint ``root``: ``y - y[..., root:root+1, :]``.

    The one root-relative step of sealloss (tensors, differentiable, or numpy arrays): shape
    and dtype preserved, the root joint becomes exactly zero. Subtract a *detached* root with
    :func:`to_canonical_3d` (``root="detach"``).
    """
    return y - y[..., root : root + 1, :]


def to_canonical_3d(
    y: torch.Tensor,
    skeleton: Skeleton | str = "h36m17",
    units: str = "m",
    root: str = "subtract",
    check: bool = True,
) -> torch.Tensor:
    """Any 3D pose -> canonical (root-relative metres).

    Args:
        y: ``(..., J, 3)`` pose in ``units``.
        skeleton: skeleton (or preset name) whose order ``y`` uses.
        units: ``"m"``, ``"mm"`` or ``"cm"``.
        root: ``"subtract"`` subtracts the root joint (gradients flow through it);
            ``"detach"`` subtracts a detached root and zeroes the root slot, so the gradient on
            the root output is exactly zero (the energy never pushes the root, METHOD.md s.7);
            ``"zero"`` assumes the pose is already root-relative except for the root slot
            (VideoPose3D targets carry the trajectory there) and sets it to zero.

    Returns:
        ``(..., J, 3)`` root-relative metres.

    Warns :class:`~sealloss.errors.UnitsWarning` when ``units="m"`` but the pose looks like
    centimetres or millimetres.
    """
    sk = get_skeleton(skeleton)
    if check:
        check_pose(y, sk.num_joints, 3, "3D pose")
    y = y * _scale(units) if units != "m" else y
    r = sk.root
    if root == "subtract":
        out = root_relative(y, r)
    elif root == "detach":
        mask = torch.ones(sk.num_joints, 1, dtype=y.dtype, device=y.device)
        mask[r] = 0
        out = (y - y[..., r : r + 1, :].detach()) * mask
    elif root == "zero":
        mask = torch.ones(sk.num_joints, 1, dtype=y.dtype, device=y.device)
        mask[r] = 0
        out = y * mask
    else:
        raise PoseShapeError(f"root must be 'subtract', 'detach' or 'zero', got {root!r}")
    if check and units == "m":
        warn_if_millimetres(
            out, hint="pass units='mm' or units='cm' to to_canonical_3d, or convert to metres"
        )
    return out


def from_canonical_3d(
    y: torch.Tensor, units: str = "m", root_position: torch.Tensor | None = None
) -> torch.Tensor:
    """Canonical pose -> ``units``, optionally translated so the root sits at ``root_position``
    (``(..., 1, 3)`` or ``(..., 3)`` in ``units``)."""
    out = y / _scale(units) if units != "m" else y
    if root_position is not None:
        rp = root_position if root_position.dim() == out.dim() else root_position.unsqueeze(-2)
        out = out + rp
    return out


def _wh(xy: torch.Tensor, width, height) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.as_tensor(width, dtype=xy.dtype, device=xy.device)
    h = torch.as_tensor(height, dtype=xy.dtype, device=xy.device)
    w, h = torch.broadcast_tensors(w, h)
    w, h = w.reshape(w.shape + (1, 1)), h.reshape(h.shape + (1, 1))
    return w, torch.cat([torch.ones_like(h), h / w], dim=-1)


def pixels_to_screen(xy: torch.Tensor, width, height) -> torch.Tensor:
    """Pixels ``(..., J, 2)`` -> normalised screen frame ``xy / w * 2 - [1, h / w]``.

    ``width``/``height`` are scalars or tensors of the batch shape ``(...)``.
    """
    w, offset = _wh(xy, width, height)
    return xy / w * 2 - offset


def screen_to_pixels(uv: torch.Tensor, width, height) -> torch.Tensor:
    """Inverse of :func:`pixels_to_screen`."""
    w, offset = _wh(uv, width, height)
    return (uv + offset) * w / 2


@dataclass(frozen=True)
class CanonicalSpec:
    """Canonicalisation constants stored with a loss-net's weights.

    ``units_3d`` and ``root`` describe what the loss-net expects *before* canonicalisation;
    ``screen_2d`` says the 2D input is already in the normalised screen frame.
    """

    units_3d: str = "m"
    root: str = "detach"
    screen_2d: bool = True

    def __post_init__(self) -> None:
        """Refuse unknown units or root modes here, not at the first forward pass.

        Raises:
            ValueError: naming the field (``units_3d``, ``root`` or ``screen_2d``).
        """
        if not isinstance(self.units_3d, str) or self.units_3d not in UNIT_SCALE:
            raise ValueError(
                f"units_3d must be one of {sorted(UNIT_SCALE)}, got {self.units_3d!r}"
            )
        if not isinstance(self.root, str) or self.root not in ROOT_MODES:
            raise ValueError(f"root must be one of {list(ROOT_MODES)}, got {self.root!r}")
        if not isinstance(self.screen_2d, bool):
            raise ValueError(f"screen_2d must be a bool, got {self.screen_2d!r}")

    def to_dict(self) -> dict:
        return {"units_3d": self.units_3d, "root": self.root, "screen_2d": self.screen_2d}

    @classmethod
    def from_dict(cls, d: dict) -> CanonicalSpec:
        """Inverse of :meth:`to_dict`; values are checked, not coerced (``"false"`` is not a
        bool), and a missing or unknown key raises ValueError naming it."""
        if not isinstance(d, dict):
            raise ValueError(f"canonical spec must be a dict, got {type(d).__name__}")
        fields = ("units_3d", "root", "screen_2d")
        missing = [k for k in fields if k not in d]
        unknown = sorted(set(d) - set(fields))
        if missing or unknown:
            raise ValueError(f"canonical spec: missing fields {missing}, unknown {unknown}")
        return cls(d["units_3d"], d["root"], d["screen_2d"])


def canonical_3d(
    y: torch.Tensor, skeleton: Skeleton | str, spec: CanonicalSpec = CanonicalSpec()
) -> torch.Tensor:
    """The loss-net's own 3D canonicalisation: checks, units -> metres, root handling.

    Warns :class:`~sealloss.errors.UnitsWarning` when ``spec.units_3d`` is metres but the pose
    looks like centimetres or millimetres; the hint says to convert the poses to metres or
    pass an ``adapter=`` (a loss-net call and the wrapper have no units argument).
    """
    sk = get_skeleton(skeleton)
    check_pose(y, sk.num_joints, 3, "3D pose")
    out = to_canonical_3d(y, sk, units=spec.units_3d, root=spec.root, check=False)
    if spec.units_3d == "m":
        warn_if_millimetres(out)
    return out


def canonical_2d(
    x: torch.Tensor, skeleton: Skeleton | str, spec: CanonicalSpec = CanonicalSpec()
) -> torch.Tensor:
    """The loss-net's own 2D canonicalisation: checks and root-centring in the screen frame.

    The 2D input is centred on its root joint so that the energy does not depend on where the
    person stands in the image (translation invariance); the root's screen position is dropped.
    """
    sk = get_skeleton(skeleton)
    check_pose(x, sk.num_joints, 2, "2D input")
    if not spec.screen_2d:
        raise PoseShapeError(
            "2D input must be in the normalised screen frame; convert pixels with "
            "sealloss.pose.canonical.pixels_to_screen(xy, width, height)"
        )
    if x.numel() and x.detach().abs().amax() > 50:
        raise PoseShapeError(
            f"2D input has values up to {x.detach().abs().amax().item():.0f}: it looks like "
            "pixels, but the normalised screen frame (x in [-1, 1]) is expected; convert with "
            "sealloss.pose.canonical.pixels_to_screen(xy, width, height)"
        )
    return root_relative(x, sk.root)

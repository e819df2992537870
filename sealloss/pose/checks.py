"""Input checks shared by every entry point: kinds of value, shapes, joint counts, finiteness,
ranges and units (the one home of sealloss's input checks: metrics, losses, objectives,
adapters, refinement and the training batch use these).

One policy for every value that enters sealloss (a wrapper call, a loss-net call, refinement,
scoring, a CLI file): poses are real floating ``torch.Tensor`` s (:func:`check_tensor`: numpy
arrays, Python numbers, integer, bool and complex tensors are refused with the fix named, never
cast), with finite values (:func:`check_finite`), 2D in the normalised screen frame
(:data:`SCREEN_LIMIT`: pixels and heat-map coordinates are refused) and 3D in metres
(:func:`warn_if_millimetres`). Loss-nets must have finite parameters
(:func:`check_module_finite`), so a broken net is blamed, not the user's poses.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from ..errors import NonFiniteError, PoseShapeError, UnitsWarning

__all__ = [
    "SCREEN_LIMIT",
    "check_tensor",
    "check_screen_2d",
    "check_module_finite",
    "check_descent_inputs",
    "check_pose",
    "check_pose_pair",
    "check_last_dims",
    "check_finite",
    "check_not_swapped",
    "joint_indices",
    "check_energies",
    "warn_if_millimetres",
    "check_pair",
    "guess_units",
    "DEFAULT_UNITS_HINT",
]

# A root-relative human pose in metres lies within about 1.2 m of its root. Anything whose
# median |joint - root| exceeds this is not metres: typically centimetres (median 20-90) or
# millimetres (200-900).
_MM_THRESHOLD_M = 5.0
# Medians above this are read as millimetres, below it (and above _MM_THRESHOLD_M) as
# centimetres: the two typical ranges are an order of magnitude apart.
_CM_MM_SPLIT = 150.0

#: Largest ``|coordinate|`` accepted in the normalised screen frame (x in [-1, 1] inside the image,
#: pixels divided by the image width): 10 is five image widths outside the picture, while pixels
#: (hundreds) and heat-map coordinates (a 64 x 64 map: up to 32 or 64) are far above it.
SCREEN_LIMIT = 10.0

#: What to do about non-metre poses where the caller has no units argument (the wrapper,
#: a LossNet call): sealloss's canonical 3D is metres.
DEFAULT_UNITS_HINT = (
    "convert the poses to metres (divide millimetres by 1000, centimetres by 100) or pass an "
    "adapter= that converts them"
)


def guess_units(median_distance: float) -> tuple[str, float]:
    """``(name, divisor to metres)`` of the units a pose with this median joint distance from
    its root (in the declared-metres numbers) most likely uses: ``("metres", 1)``,
    ``("centimetres", 100)`` or ``("millimetres", 1000)``."""
    if median_distance <= _MM_THRESHOLD_M:
        return "metres", 1.0
    if median_distance <= _CM_MM_SPLIT:
        return "centimetres", 100.0
    return "millimetres", 1000.0


def check_finite(x: torch.Tensor, what: str, joints: Sequence[int] | None = None) -> None:
    """Raise :class:`NonFiniteError` naming ``what`` when ``x`` holds NaN or Inf.

    ``joints``: only these joints of a ``(..., J, D)`` pose are checked (``None``: all of ``x``).
    """
    if joints is not None:
        x = x[..., list(joints), :]
    if x.numel() and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        kind = "NaN" if torch.isnan(x).any() else "Inf"
        raise NonFiniteError(f"{what} contains {kind} values ({bad} of {x.numel()} entries)")


def check_tensor(x: object, what: str) -> None:
    """Refuse ``x`` unless it is a real floating :class:`torch.Tensor` (float16/32/64, bfloat16).

    A numpy array, a Python number or list, an integer or bool tensor (indices, rounded values:
    a cast would hide the mistake) and a complex tensor (a cast would drop the imaginary part)
    raise :class:`PoseShapeError` naming ``what``, the kind of value and the fix.
    """
    if not isinstance(x, torch.Tensor):
        kind = type(x).__name__
        if type(x).__module__ == "numpy":
            fix = "convert it with torch.from_numpy(a).float()"
        else:
            fix = "pass a tensor, e.g. torch.as_tensor(value, dtype=torch.float32)"
        raise PoseShapeError(f"{what} must be a torch.Tensor, got {kind}: {fix}")
    if x.is_complex():
        raise PoseShapeError(
            f"{what} must be a floating tensor, got complex dtype {x.dtype}: poses are real "
            "coordinates, and casting would silently drop the imaginary part"
        )
    if not x.is_floating_point():
        raise PoseShapeError(
            f"{what} must be a floating tensor, got dtype {x.dtype}: integer or bool values are "
            "indices or rounded coordinates; convert real coordinates with .float()"
        )


def check_screen_2d(x: torch.Tensor, what: str = "2D input") -> None:
    """Refuse NaN/Inf (:class:`NonFiniteError`) and values beyond :data:`SCREEN_LIMIT`
    (:class:`PoseShapeError`: pixels or heat-map coordinates) in a 2D input that must be in the
    normalised screen frame. One host synchronisation (the largest ``|value|``)."""
    if x.numel() == 0:
        return
    top = float(x.detach().abs().amax())
    if not math.isfinite(top):
        check_finite(x, what)  # raises, with the details
    if top > SCREEN_LIMIT:
        kind = "pixels" if top > 50 else "heat-map coordinates or another unnormalised frame"
        raise PoseShapeError(
            f"{what} has values up to {top:.3g}: it looks like {kind}, but the normalised "
            f"screen frame is expected (pixels divided by the image width: x in [-1, 1]; "
            f"|values| above {SCREEN_LIMIT:g} are refused); convert pixels with "
            "sealloss.pose.canonical.pixels_to_screen(xy, width, height)"
        )


def check_module_finite(module: torch.nn.Module, what: str) -> None:
    """Raise :class:`NonFiniteError` naming ``what`` and the first parameter or buffer that
    holds NaN/Inf (a diverged or damaged loss-net: the fault is the net's, not the poses')."""
    for name, t in [*module.named_parameters(), *module.named_buffers()]:
        if t.is_floating_point() and t.numel() and not torch.isfinite(t.detach()).all():
            bad = int((~torch.isfinite(t.detach())).sum())
            raise NonFiniteError(
                f"{what} has non-finite weights: {name!r} holds {bad} NaN/Inf of {t.numel()} "
                "values (a diverged training or a damaged file); the inputs are not at fault"
            )


def check_descent_inputs(net: torch.nn.Module, y: torch.Tensor, owner: str) -> None:
    """Before a gradient descent on poses (test-time refinement): blame the net or the dtype,
    not the poses, for what would otherwise surface as "3D pose contains NaN values" steps later.

    Raises:
        NonFiniteError: the net has NaN/Inf weights (:func:`check_module_finite`).
        PoseShapeError: ``y`` is float16, whose range and precision cannot hold Adam's steps
            (its ``eps`` of 1e-8 rounds to 0, so a step divides by zero).
    """
    check_module_finite(net, f"{owner}: the loss-net")
    if isinstance(y, torch.Tensor) and y.dtype == torch.float16:
        raise PoseShapeError(
            f"{owner}: the poses are float16, too coarse for Adam's steps (its eps 1e-8 is 0 "
            "in float16 and the steps divide by zero, turning the poses into NaN); pass "
            "float32 poses (y_hat.float(), x2d.float()) or bfloat16"
        )


def check_pose(
    x: torch.Tensor,
    num_joints: int | None,
    dim: int | None,
    what: str = "pose",
    allow_empty: bool = True,
    finite: bool = True,
) -> None:
    """Check that ``x`` is a ``(..., num_joints, dim)`` floating tensor with finite values.

    Raises :class:`PoseShapeError` for a wrong rank, joint count or coordinate dimension (naming
    a 2D/3D swap when that is what happened) and :class:`NonFiniteError` for NaN/Inf (unless
    ``finite=False``: the caller checks the values itself). A numpy array, an integer, bool or
    complex tensor is refused by :func:`check_tensor`. ``num_joints=None`` / ``dim=None``
    accept any joint count / coordinate dimension (``(..., J, D)``).
    """
    check_tensor(x, what)
    if x.dim() < 2:
        want_j = "J" if num_joints is None else num_joints
        want_d = "D" if dim is None else dim
        raise PoseShapeError(
            f"{what} must have shape (..., {want_j}, {want_d}), got {tuple(x.shape)}"
        )
    if dim is not None and x.shape[-1] != dim:
        hint = ""
        if x.shape[-1] in (2, 3) and dim in (2, 3):
            hint = f" (a {x.shape[-1]}D pose was given where a {dim}D pose is expected: swapped?)"
        raise PoseShapeError(
            f"{what} must have {dim} coordinates per joint, got shape {tuple(x.shape)}{hint}"
        )
    if num_joints is not None and x.shape[-2] != num_joints:
        raise PoseShapeError(
            f"{what} must have {num_joints} joints, got {x.shape[-2]} (shape {tuple(x.shape)})"
        )
    if not allow_empty and x.numel() == 0:
        raise PoseShapeError(f"{what} is empty (shape {tuple(x.shape)})")
    if finite:
        check_finite(x, what)


def check_pose_pair(
    pred: torch.Tensor,
    gt: torch.Tensor,
    num_joints: int | None = None,
    dim: int | None = None,
    finite: bool = True,
    joints: Sequence[int] | None = None,
) -> None:
    """Check a (prediction, ground truth) pair: each as :func:`check_pose` (named ``"pred"`` and
    ``"gt"``), the same shape, then finite values (NaN/Inf raise :class:`NonFiniteError` instead
    of a NaN result or a crash inside an SVD; ``joints``: only on these joints;
    ``finite=False``: not checked)."""
    check_pose(pred, num_joints, dim, "pred", finite=False)
    check_pose(gt, num_joints, dim, "gt", finite=False)
    if pred.shape != gt.shape:
        raise PoseShapeError(
            f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must have the same shape"
        )
    if finite:
        check_finite(pred.detach(), "pred", joints)
        check_finite(gt.detach(), "gt", joints)


def check_last_dims(x: torch.Tensor, dims: tuple[int, ...], what: str) -> None:
    """Raise :class:`PoseShapeError` unless ``x`` is a tensor ending in ``dims`` (an upstream
    layout: ``(..., 17, 3)``, ``(..., 32)``; the dtype is not checked)."""
    if not isinstance(x, torch.Tensor):
        raise PoseShapeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    n = len(dims)
    if x.dim() < n or tuple(x.shape[-n:]) != tuple(dims):
        want = ", ".join(["..."] + [str(d) for d in dims])
        raise PoseShapeError(f"{what} must have shape ({want}), got {tuple(x.shape)}")


def joint_indices(
    joints: Sequence[int] | torch.Tensor | None, num_joints: int
) -> list[int] | None:
    """A joint subset as a list of ints, checked: in ``[0, num_joints)`` and unique
    (:class:`PoseShapeError` otherwise); ``None`` (all joints) stays ``None``."""
    if joints is None:
        return None
    out = [int(j) for j in (joints.tolist() if isinstance(joints, torch.Tensor) else joints)]
    bad = [j for j in out if not 0 <= j < num_joints]
    if bad:
        raise PoseShapeError(f"joint indices {bad} out of range for {num_joints} joints")
    if len(set(out)) != len(out):
        raise PoseShapeError(f"joint indices must be unique, got {out}")
    return out


def check_energies(e_pos: torch.Tensor, e_neg: torch.Tensor, what: str = "objective") -> None:
    """Check ``e_pos`` is ``(B,)`` and ``e_neg`` is ``(B, K)`` floating tensors with the same B.

    Raises :class:`~sealloss.errors.PoseShapeError` naming the offending argument.
    """
    for name, t in (("e_pos", e_pos), ("e_neg", e_neg)):
        if not isinstance(t, torch.Tensor):
            raise PoseShapeError(f"{what}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise PoseShapeError(f"{what}: {name} must be floating, got dtype {t.dtype}")
    if e_pos.dim() != 1:
        raise PoseShapeError(
            f"{what}: e_pos (ground-truth energies) must have shape (B,), got {tuple(e_pos.shape)}"
        )
    if e_neg.dim() != 2:
        raise PoseShapeError(
            f"{what}: e_neg (negative energies) must have shape (B, K), got {tuple(e_neg.shape)}"
        )
    if e_neg.shape[0] != e_pos.shape[0]:
        raise PoseShapeError(
            f"{what}: e_pos has B={e_pos.shape[0]} but e_neg has B={e_neg.shape[0]} "
            f"(shapes {tuple(e_pos.shape)} and {tuple(e_neg.shape)})"
        )


def check_not_swapped(
    x2d: object, y3d: object, what_2d: str = "2D input", what_3d: str = "3D pose", hint: str = ""
) -> None:
    """Refuse a 2D input with 3 coordinates beside a 3D pose with 2 (:class:`PoseShapeError`:
    the two arguments were swapped); ``hint`` ends the message (e.g. the call's signature).
    Anything else passes (the shapes are checked by :func:`check_pose`)."""
    if (
        isinstance(x2d, torch.Tensor)
        and isinstance(y3d, torch.Tensor)
        and x2d.dim() >= 1
        and y3d.dim() >= 1
        and x2d.shape[-1] == 3
        and y3d.shape[-1] == 2
    ):
        raise PoseShapeError(
            f"{what_2d} has 3 coordinates and {what_3d} has 2 (shapes {tuple(x2d.shape)} and "
            f"{tuple(y3d.shape)}): the 2D and 3D arguments look swapped{hint}"
        )


def check_pair(x2d: torch.Tensor, y3d: torch.Tensor, num_joints: int) -> None:
    """Check a (2D input, 3D pose) pair: real floating tensors of shapes ``(..., J, 2)`` and
    ``(..., J, 3)`` with the same batch shape, finite, the 2D in the screen frame
    (:func:`check_screen_2d`)."""
    check_not_swapped(x2d, y3d)
    check_pose(x2d, num_joints, 2, "2D input", finite=False)
    check_screen_2d(x2d, "2D input")  # finiteness and range in one host synchronisation
    check_pose(y3d, num_joints, 3, "3D pose")
    if x2d.shape[:-1] != y3d.shape[:-1]:
        raise PoseShapeError(
            f"2D input {tuple(x2d.shape)} and 3D pose {tuple(y3d.shape)} disagree in batch shape"
        )


def warn_if_millimetres(
    y_rel: torch.Tensor, what: str = "3D pose", hint: str = DEFAULT_UNITS_HINT
) -> bool:
    """Warn (:class:`UnitsWarning`) when a root-relative pose declared in metres is not metres.

    The message names the likely units (centimetres or millimetres, :func:`guess_units`) and
    ends with ``hint``: what the caller can do. The default suits callers without a units
    argument; functions that have one pass their own (e.g. ``"pass units='mm'"``).

    Returns True when it warned.
    """
    if y_rel.numel() == 0:
        return False
    with torch.no_grad():
        med = y_rel.detach().float().norm(dim=-1).median().item()
    if med > _MM_THRESHOLD_M:
        name, div = guess_units(med)
        warnings.warn(
            f"{what}: median joint distance from the root is {med:.1f}; metres are expected "
            f"(a pose in metres has a median below {_MM_THRESHOLD_M:g}) and the pose looks like "
            f"{name} (median {med / div:.2f} m after dividing by {div:g}): {hint}",
            UnitsWarning,
            stacklevel=3,
        )
        return True
    return False

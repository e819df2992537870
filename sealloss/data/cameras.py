"""Pinhole cameras with Human3.6M's radial + tangential distortion, as pure numpy functions.

Convention (Human3.6M / 3d-pose-baseline, verified on the shared calibration file):

    X_cam = R @ (X_world - T)              R world->camera (3, 3), T camera centre (3,), mm
    x = X_cam[:2] / X_cam[2];  r2 = |x|^2
    radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3;  tan = p1 * x_y + p2 * x_x
    x_d = x * (radial + tan) + [p2, p1] * r2
    pixel = f * x_d + c

Image axes: x to the right, y down, z forward (into the scene).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataFormatError, DataNotFoundError, PoseShapeError

__all__ = [
    "Camera",
    "world_to_camera",
    "camera_to_world",
    "project_camera_points",
    "project_points",
    "look_at_camera",
    "load_h36m_cameras",
]


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera.

    Args:
        R: ``(3, 3)`` world->camera rotation.
        T: ``(3,)`` camera centre in world units (mm for Human3.6M).
        f: ``(2,)`` focal lengths in pixels.
        c: ``(2,)`` principal point in pixels.
        k: ``(3,)`` radial distortion (zeros: none).
        p: ``(2,)`` tangential distortion (zeros: none).
        res_w, res_h: image size in pixels.
        name: camera id (e.g. ``"54138969"``).
    """

    R: np.ndarray
    T: np.ndarray
    f: np.ndarray
    c: np.ndarray
    k: np.ndarray = field(default_factory=lambda: np.zeros(3))
    p: np.ndarray = field(default_factory=lambda: np.zeros(2))
    res_w: int = 1000
    res_h: int = 1000
    name: str = ""

    def __post_init__(self) -> None:
        shapes = {"R": (3, 3), "T": (3,), "f": (2,), "c": (2,), "k": (3,), "p": (2,)}
        for key, shape in shapes.items():
            arr = np.asarray(getattr(self, key), dtype=np.float64)
            if arr.shape != shape:
                raise PoseShapeError(f"Camera.{key} must have shape {shape}, got {arr.shape}")
            object.__setattr__(self, key, arr)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k).tolist() for k in ("R", "T", "f", "c", "k", "p")}
        out.update(res_w=int(self.res_w), res_h=int(self.res_h), name=self.name)
        return out


def _check_points(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] != 3:
        raise PoseShapeError(f"{what} must have shape (..., 3), got {x.shape}")
    return x


def world_to_camera(x_world: np.ndarray, cam: Camera) -> np.ndarray:
    """``(..., 3)`` world points -> camera frame, ``R @ (X - T)`` (same units as ``T``)."""
    x = _check_points(x_world, "world points")
    return (x - cam.T) @ cam.R.T


def camera_to_world(x_cam: np.ndarray, cam: Camera) -> np.ndarray:
    """Inverse of :func:`world_to_camera`."""
    x = _check_points(x_cam, "camera points")
    return x @ cam.R + cam.T


def project_camera_points(x_cam: np.ndarray, cam: Camera) -> np.ndarray:
    """``(..., 3)`` camera-frame points (z > 0) -> ``(..., 2)`` distorted pixels."""
    x = _check_points(x_cam, "camera points")
    xy = x[..., :2] / x[..., 2:3]
    r2 = (xy * xy).sum(-1, keepdims=True)
    k1, k2, k3 = cam.k
    p1, p2 = cam.p
    radial = 1.0 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tan = p1 * xy[..., 1:2] + p2 * xy[..., 0:1]
    xd = xy * (radial + tan) + np.array([p2, p1]) * r2
    return xd * cam.f + cam.c


def project_points(x_world: np.ndarray, cam: Camera) -> np.ndarray:
    """``(..., 3)`` world points (units of ``cam.T``) -> ``(..., 2)`` pixels."""
    return project_camera_points(world_to_camera(x_world, cam), cam)


def look_at_camera(
    centre: np.ndarray,
    target: np.ndarray,
    focal: float,
    res_w: int = 1000,
    res_h: int = 1000,
    up: tuple[float, float, float] = (0.0, 0.0, 1.0),
    name: str = "",
) -> Camera:
    """Distortion-free camera at ``centre`` looking at ``target`` (world z up by default).

    Image x points right and y down; the principal point is the image centre.
    """
    centre = np.asarray(centre, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - centre
    z = z / np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    n = np.linalg.norm(x)
    if n < 1e-8:
        raise PoseShapeError("look_at_camera: viewing direction is parallel to 'up'")
    x = x / n
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return Camera(
        R=R, T=centre, f=np.array([focal, focal]), c=np.array([res_w / 2.0, res_h / 2.0]),
        res_w=int(res_w), res_h=int(res_h), name=name,
    )


def load_h36m_cameras(path: str | os.PathLike) -> tuple[dict[str, dict[str, Camera]], list[str]]:
    """Read ``h36m_cameras.json``: ``({subject: {camera_id: Camera}}, camera_order)``.

    ``R`` in that file is already world->camera (the transpose of ``cameras.h5``'s matrix).

    Raises:
        DataNotFoundError: no such file.
        DataFormatError: not JSON, or not this layout (a missing key, a camera entry with
            missing, non-numeric or non-finite fields, a non-positive resolution), naming the
            file and the entry.
    """
    where = f"camera file {str(path)!r}"
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        raise DataNotFoundError(f"{where} not found") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise DataFormatError(f"{where} is not valid JSON ({e}): damaged or another file?") \
            from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cameras"), dict) \
            or not isinstance(raw.get("camera_order"), list):
        raise DataFormatError(
            f"{where} does not have the h36m_cameras.json layout: expected an object with "
            f"'camera_order' (a list) and 'cameras' (subject -> camera id -> fields); it has "
            f"{sorted(raw) if isinstance(raw, dict) else type(raw).__name__}"
        )
    order = [str(c) for c in raw["camera_order"]]
    out: dict[str, dict[str, Camera]] = {}
    for subject, cams in raw["cameras"].items():
        if not isinstance(cams, dict):
            raise DataFormatError(f"{where}: cameras[{subject!r}] must be an object of cameras")
        out[subject] = {cid: _camera_entry(v, f"{where}: cameras[{subject!r}][{cid!r}]", cid)
                        for cid, v in cams.items()}
    return out, order


_CAMERA_FIELDS = ("R", "T", "f", "c", "k", "p", "res_w", "res_h")


def _camera_entry(v: object, where: str, cid: str) -> Camera:
    """One camera of a calibration file, every field checked (DataFormatError naming it)."""
    if not isinstance(v, dict):
        raise DataFormatError(f"{where} must be an object with fields {list(_CAMERA_FIELDS)}")
    missing = [k for k in _CAMERA_FIELDS if k not in v]
    if missing:
        raise DataFormatError(f"{where} lacks the fields {missing}")
    arrays = {}
    for k in ("R", "T", "f", "c", "k", "p"):
        try:
            a = np.asarray(v[k], dtype=np.float64)
        except (TypeError, ValueError):
            raise DataFormatError(f"{where}: field {k!r} is not numeric ({v[k]!r})") from None
        if not np.isfinite(a).all():
            raise DataFormatError(f"{where}: field {k!r} holds NaN/Inf")
        arrays[k] = a
    res = []
    for k in ("res_w", "res_h"):
        r = v[k]
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0 \
                or not float(r).is_integer():
            raise DataFormatError(f"{where}: field {k!r} must be a positive whole number of "
                                  f"pixels, got {r!r}")
        res.append(int(r))
    try:
        return Camera(**arrays, res_w=res[0], res_h=res[1], name=cid)
    except PoseShapeError as e:
        raise DataFormatError(f"{where}: {e}") from None

"""BVH motion capture: a small parser, forward kinematics, conversion to H36M-17 and virtual
cameras, in pure numpy.

Parser: ``HIERARCHY`` (``ROOT``/``JOINT``/``End Site`` with ``OFFSET`` and ``CHANNELS``) and
``MOTION`` (``Frames:``, ``Frame Time:``, one line per frame); any channel set and order per
joint (3-channel rotations, 6-channel joints as in Bandai Namco's data), any line ending.

Forward kinematics: a joint with position channels takes them as its local translation (they
replace its ``OFFSET``, which is what the files here need: Bandai Namco's Hips carry the
absolute pelvis position in their channels while their ``OFFSET`` is a rest pose); otherwise
the ``OFFSET`` is used. Rotation channels compose in the listed order,
``Zrotation Yrotation Xrotation`` -> ``R = Rz @ Ry @ Rx`` (degrees); the global rotation of a
joint is its parent's times its local one.

Conversion to H36M-17 (:func:`bvh_to_h36m17`) uses a :class:`BVHMapping`: each H36M joint is
the mean of one or more points, each a BVH joint position plus an optional offset in that
joint's local frame. The presets in :data:`BVH_MAPPINGS` pick points that are rigidly linked
in the BVH tree wherever the BVH allows it, so the H36M-17 bone lengths stay constant over a
clip (exactly for the two CMU layouts):

- ``cmu_mb`` (cgspeed "MotionBuilder-friendly" CMU conversion): Hip=Hips, R/LHip=*UpLeg,
  Knee=*Leg, Foot=*Foot (ankle), Spine=Spine, Thorax=Spine1 (where the clavicles start),
  Neck/Nose=Neck1, Head=Head (the head joint, not the head top: some files have a zero-length
  head end site), Shoulder=*Arm, Elbow=*ForeArm, Wrist=*Hand.
- ``cmu_3dsmax`` (cgspeed "3dsMax-friendly"): Hip=Hips, Hip/Knee/Foot=*Hip/*Knee/*Ankle,
  Spine=Chest, Thorax=Chest2, Neck/Nose=Neck, Head=Head, Shoulder/Elbow/Wrist=*Shoulder/
  *Elbow/*Wrist.
- ``bandai`` (Bandai Namco Research Motion Dataset; for out-of-distribution EVALUATION
  only): Hip=Hips, Hip/Knee/Foot=UpperLeg/LowerLeg/Foot, Spine=Spine, Thorax=midpoint of
  the two clavicle roots (Shoulder_L/R), Neck/Nose=Head joint, Head=11.5 cm along the head
  bone (the file's head end site has zero length; 11.5 cm is Human3.6M's median
  Neck/Nose->Head), Shoulder/Elbow/Wrist=UpperArm/LowerArm/Hand. Here Spine->Thorax,
  Thorax->Shoulder and Thorax->Neck/Nose pass through rotating BVH joints (chest, clavicles,
  neck) and vary by a few centimetres over a clip.

No preset covers the retargeted iClone CMU clips (Character Creator rig): their bone lengths
are an avatar's, and in one of them the root sits below the floor.

These marker skeletons are not Human3.6M's: CMU's and Bandai's torsos are shorter (their
"Hips" sit higher and their clavicles start lower), so the converted poses are H36M-17 in
joint order and meaning, not in exact proportions.

Units: ``scale_to_m`` (CMU cgspeed: 0.056444 m per unit, i.e. ASF ``length 0.45``; Bandai:
centimetres). Axes: BVH is Y-up; the output world is Z-up, ``(x, y, z)_bvh -> (x, -z, y)``
(a proper rotation, so left stays left).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataNotFoundError, PoseShapeError, SealLossError
from ..pose.skeleton import get_skeleton
from .cameras import Camera, look_at_camera, project_camera_points, world_to_camera
from .h36m import to_screen

__all__ = [
    "BVHParseError",
    "BVHClip",
    "parse_bvh",
    "load_bvh",
    "euler_to_matrix",
    "bvh_forward_kinematics",
    "BVHMapping",
    "BVH_MAPPINGS",
    "CMU_SCALE_TO_M",
    "detect_mapping",
    "bvh_to_h36m17",
    "y_up_to_z_up",
    "render_virtual_cameras",
]

CMU_SCALE_TO_M = 0.056444  # cgspeed BVH units -> metres (CMU ASF "length 0.45": 1/0.45 inch)


class BVHParseError(SealLossError, ValueError):
    """A BVH file is malformed (names the line / token where parsing failed)."""


@dataclass(frozen=True, eq=False)
class BVHClip:
    """A parsed BVH file.

    Attributes:
        joint_names: one per joint incl. end sites (named ``"<parent>_End"``), depth-first.
        parents: parent index per joint, ``-1`` for the root.
        offsets: ``(J, 3)`` rest offsets from the parent, file units.
        channels: per joint, the channel names in file order (empty for end sites).
        motion: ``(F, C)`` float64 channel values, C = total channel count.
        frame_time: seconds per frame.
    """

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    motion: np.ndarray
    frame_time: float

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def channel_start(self) -> tuple[int, ...]:
        starts, k = [], 0
        for ch in self.channels:
            starts.append(k)
            k += len(ch)
        return tuple(starts)

    def index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise PoseShapeError(f"BVH clip has no joint {name!r}") from None


_VALID_CHANNELS = {"Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation"}


def parse_bvh(text: str) -> BVHClip:
    """Parse BVH text (any whitespace, LF or CRLF line endings)."""
    head, sep, motion_txt = text.partition("MOTION")
    if not sep:
        raise BVHParseError("no MOTION section")
    tok = head.split()
    if not tok or tok[0] != "HIERARCHY":
        raise BVHParseError("file does not start with HIERARCHY")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []
    i = 1

    def need(k: int) -> None:
        if i + k > len(tok):
            raise BVHParseError("unexpected end of HIERARCHY")

    pending: int | None = None
    while i < len(tok):
        t = tok[i]
        if t in ("ROOT", "JOINT"):
            need(2)
            if t == "ROOT" and names:
                raise BVHParseError("more than one ROOT is not supported")
            names.append(tok[i + 1])
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            pending = len(names) - 1
            i += 2
        elif t == "End":
            need(2)
            if tok[i + 1] != "Site" or not stack:
                raise BVHParseError(f"bad End Site near token {i}")
            names.append(f"{names[stack[-1]]}_End")
            parents.append(stack[-1])
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            pending = len(names) - 1
            i += 2
        elif t == "{":
            if pending is None:
                raise BVHParseError(f"'{{' without a joint near token {i}")
            stack.append(pending)
            pending = None
            i += 1
        elif t == "}":
            if not stack:
                raise BVHParseError("unbalanced '}'")
            stack.pop()
            i += 1
        elif t == "OFFSET":
            need(4)
            if not stack:
                raise BVHParseError("OFFSET outside a joint")
            try:
                offsets[stack[-1]] = [float(v) for v in tok[i + 1:i + 4]]
            except ValueError:
                raise BVHParseError(f"bad OFFSET values {tok[i + 1:i + 4]}") from None
            i += 4
        elif t == "CHANNELS":
            need(2)
            try:
                n = int(tok[i + 1])
            except ValueError:
                raise BVHParseError(f"bad CHANNELS count {tok[i + 1]!r}") from None
            need(2 + n)
            ch = tuple(tok[i + 2:i + 2 + n])
            bad = [c for c in ch if c not in _VALID_CHANNELS]
            if bad or not stack:
                raise BVHParseError(f"bad CHANNELS {ch}")
            channels[stack[-1]] = ch
            i += 2 + n
        else:
            raise BVHParseError(f"unexpected token {t!r} in HIERARCHY")
    if stack or not names:
        raise BVHParseError("unbalanced braces or empty HIERARCHY")

    lines = [ln.strip() for ln in motion_txt.replace("\r", "\n").split("\n")]
    lines = [ln for ln in lines if ln]
    if len(lines) < 2 or not lines[0].startswith("Frames:") or not lines[1].startswith(
        "Frame Time:"
    ):
        raise BVHParseError("MOTION must start with 'Frames:' and 'Frame Time:'")
    try:
        n_frames = int(lines[0].split(":", 1)[1])
    except ValueError:
        raise BVHParseError(f"bad frame count in {lines[0]!r}") from None
    if n_frames < 0:
        raise BVHParseError(f"negative frame count in {lines[0]!r}")
    try:
        frame_time = float(lines[1].split(":", 1)[1])
    except ValueError:
        raise BVHParseError(f"bad frame time in {lines[1]!r}") from None
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise BVHParseError(
            f"'Frame Time' must be a positive number of seconds, got {lines[1]!r} "
            "(the frame rate 1 / frame_time would be undefined)"
        )
    offs = np.asarray(offsets, dtype=np.float64)
    if offs.size and not np.isfinite(offs).all():
        bad = names[int(np.flatnonzero(~np.isfinite(offs).all(-1))[0])]
        raise BVHParseError(f"non-finite OFFSET of joint {bad!r}")
    n_ch = sum(len(c) for c in channels)
    try:
        values = np.array(" ".join(lines[2:]).split(), dtype=np.float64)
    except ValueError as e:
        raise BVHParseError(f"MOTION has a value that is not a number ({e})") from None
    if not np.isfinite(values).all():
        first = int(np.flatnonzero(~np.isfinite(values))[0])
        raise BVHParseError(
            f"MOTION has {int((~np.isfinite(values)).sum())} non-finite values (NaN/Inf; "
            f"first in frame {first // max(n_ch, 1)}, channel {first % max(n_ch, 1)})"
        )
    if values.size != n_frames * n_ch:
        raise BVHParseError(
            f"MOTION has {values.size} values; expected {n_frames} frames x {n_ch} channels"
        )
    return BVHClip(
        joint_names=tuple(names),
        parents=tuple(parents),
        offsets=offs,
        channels=tuple(channels),
        motion=values.reshape(n_frames, n_ch),
        frame_time=frame_time,
    )


def load_bvh(path: str | os.PathLike) -> BVHClip:
    """Read and parse a BVH file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return parse_bvh(fh.read())
    except FileNotFoundError:
        raise DataNotFoundError(f"BVH file {str(path)!r} not found") from None


def _axis_rotation(axis: str, deg: np.ndarray) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    if axis == "X":
        m = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "Y":
        m = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        m = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.stack([np.stack(r, -1) for r in m], -2)


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """``(..., 3)`` angles in degrees, applied in ``order`` (e.g. ``"ZYX"``: ``Rz @ Ry @ Rx``,
    angle ``k`` about axis ``order[k]``) -> ``(..., 3, 3)``."""
    angles_deg = np.asarray(angles_deg, dtype=np.float64)
    if len(order) != angles_deg.shape[-1]:
        raise PoseShapeError(f"{len(order)} axes but angles of shape {angles_deg.shape}")
    out = np.broadcast_to(np.eye(3), angles_deg.shape[:-1] + (3, 3))
    for k, ax in enumerate(order):
        out = out @ _axis_rotation(ax, angles_deg[..., k])
    return out


def bvh_forward_kinematics(
    clip: BVHClip, frames: slice | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions ``(F, J, 3)`` (file units) and rotations ``(F, J, 3, 3)``."""
    motion = clip.motion if frames is None else clip.motion[frames]
    n = motion.shape[0]
    J = len(clip.joint_names)
    pos = np.zeros((n, J, 3))
    rot = np.zeros((n, J, 3, 3))
    starts = clip.channel_start
    for j in range(J):
        ch = clip.channels[j]
        vals = motion[:, starts[j]:starts[j] + len(ch)]
        local_t = np.broadcast_to(clip.offsets[j], (n, 3)).copy()
        pos_ch = [k for k, c in enumerate(ch) if c.endswith("position")]
        if pos_ch:
            for k in pos_ch:
                local_t[:, "XYZ".index(ch[k][0])] = vals[:, k]
        rot_ch = [k for k, c in enumerate(ch) if c.endswith("rotation")]
        if rot_ch:
            local_r = euler_to_matrix(vals[:, rot_ch], "".join(ch[k][0] for k in rot_ch))
        else:
            local_r = np.broadcast_to(np.eye(3), (n, 3, 3))
        p = clip.parents[j]
        if p < 0:
            pos[:, j] = local_t
            rot[:, j] = local_r
        else:
            pos[:, j] = pos[:, p] + np.einsum("fij,fj->fi", rot[:, p], local_t)
            rot[:, j] = rot[:, p] @ local_r
    return pos, rot


# --------------------------------------------------------------------------- mappings

_H36M = get_skeleton("h36m17")
_Point = tuple[str, tuple[float, float, float]]


@dataclass(frozen=True)
class BVHMapping:
    """How to read H36M-17 joints off a BVH skeleton.

    Attributes:
        name: preset name.
        points: H36M joint name -> tuple of (BVH joint, local offset in file units); the H36M
            joint is the mean of ``pos[bvh] + rot[bvh] @ offset`` over the tuple.
        scale_to_m: metres per file unit.
        up_axis: the file's up axis (``"y"``; the output is Z-up).
        evaluation_only: True for data that must never be used to train or tune.
    """

    name: str
    points: dict[str, tuple[_Point, ...]]
    scale_to_m: float
    up_axis: str = "y"
    evaluation_only: bool = False

    def __post_init__(self) -> None:
        missing = set(_H36M.joint_names) - set(self.points)
        if missing:
            raise PoseShapeError(f"mapping {self.name!r} lacks H36M joints {sorted(missing)}")


def _simple(table: dict[str, str | tuple[str, ...]]) -> dict[str, tuple[_Point, ...]]:
    out = {}
    for k, v in table.items():
        names = (v,) if isinstance(v, str) else v
        out[k] = tuple((n, (0.0, 0.0, 0.0)) for n in names)
    return out


BVH_MAPPINGS: dict[str, BVHMapping] = {
    "cmu_mb": BVHMapping(
        "cmu_mb",
        _simple({
            "Hip": "Hips", "RHip": "RightUpLeg", "RKnee": "RightLeg", "RFoot": "RightFoot",
            "LHip": "LeftUpLeg", "LKnee": "LeftLeg", "LFoot": "LeftFoot", "Spine": "Spine",
            "Thorax": "Spine1", "Neck/Nose": "Neck1", "Head": "Head",
            "LShoulder": "LeftArm", "LElbow": "LeftForeArm", "LWrist": "LeftHand",
            "RShoulder": "RightArm", "RElbow": "RightForeArm", "RWrist": "RightHand",
        }),
        CMU_SCALE_TO_M,
    ),
    "cmu_3dsmax": BVHMapping(
        "cmu_3dsmax",
        _simple({
            "Hip": "Hips", "RHip": "RightHip", "RKnee": "RightKnee", "RFoot": "RightAnkle",
            "LHip": "LeftHip", "LKnee": "LeftKnee", "LFoot": "LeftAnkle", "Spine": "Chest",
            "Thorax": "Chest2", "Neck/Nose": "Neck", "Head": "Head",
            "LShoulder": "LeftShoulder", "LElbow": "LeftElbow", "LWrist": "LeftWrist",
            "RShoulder": "RightShoulder", "RElbow": "RightElbow", "RWrist": "RightWrist",
        }),
        CMU_SCALE_TO_M,
    ),
    "bandai": BVHMapping(
        "bandai",
        {
            **_simple({
                "Hip": "Hips", "RHip": "UpperLeg_R", "RKnee": "LowerLeg_R", "RFoot": "Foot_R",
                "LHip": "UpperLeg_L", "LKnee": "LowerLeg_L", "LFoot": "Foot_L",
                "Spine": "Spine", "Thorax": ("Shoulder_L", "Shoulder_R"), "Neck/Nose": "Head",
                "LShoulder": "UpperArm_L", "LElbow": "LowerArm_L", "LWrist": "Hand_L",
                "RShoulder": "UpperArm_R", "RElbow": "LowerArm_R", "RWrist": "Hand_R",
            }),
            "Head": (("Head", (11.5, 0.0, 0.0)),),
        },
        0.01,
        evaluation_only=True,
    ),
}


def detect_mapping(clip: BVHClip) -> BVHMapping:
    """The preset whose joint names the clip has (``cmu_mb``, ``cmu_3dsmax`` or ``bandai``)."""
    names = set(clip.joint_names)
    for m in BVH_MAPPINGS.values():
        if all(n in names for pts in m.points.values() for n, _ in pts):
            return m
    raise PoseShapeError(
        f"no BVH mapping preset fits this skeleton (joints {sorted(names)[:8]}...); build a "
        "BVHMapping for it"
    )


def y_up_to_z_up(x: np.ndarray) -> np.ndarray:
    """``(..., 3)`` Y-up -> Z-up: ``(x, y, z) -> (x, -z, y)`` (a proper rotation)."""
    x = np.asarray(x)
    return np.stack([x[..., 0], -x[..., 2], x[..., 1]], axis=-1)


def bvh_to_h36m17(
    clip: BVHClip, mapping: BVHMapping | str | None = None, frames=None
) -> np.ndarray:
    """``(F, 17, 3)`` H36M-17 world positions in metres, Z up (floor as in the file).

    ``mapping``: a :class:`BVHMapping`, a preset name from :data:`BVH_MAPPINGS`, or ``None``
    to detect it from the joint names.
    """
    if mapping is None:
        mapping = detect_mapping(clip)
    elif isinstance(mapping, str):
        if mapping not in BVH_MAPPINGS:
            raise PoseShapeError(f"unknown BVH mapping {mapping!r}; presets: {list(BVH_MAPPINGS)}")
        mapping = BVH_MAPPINGS[mapping]
    if mapping.up_axis != "y":
        raise PoseShapeError(f"up axis {mapping.up_axis!r} not supported (only 'y')")
    pos, rot = bvh_forward_kinematics(clip, frames)
    out = np.zeros((pos.shape[0], _H36M.num_joints, 3))
    for j, name in enumerate(_H36M.joint_names):
        pts = mapping.points[name]
        acc = np.zeros((pos.shape[0], 3))
        for bvh_name, off in pts:
            b = clip.index(bvh_name)
            acc += pos[:, b] + np.einsum("fij,j->fi", rot[:, b], np.asarray(off, float))
        out[:, j] = acc / len(pts)
    return y_up_to_z_up(out * mapping.scale_to_m)


# --------------------------------------------------------------------------- virtual cameras


def _draw(rng: np.random.Generator, v: float | Sequence[float], size=None) -> np.ndarray:
    if isinstance(v, (int, float)):
        return np.full(size if size is not None else (), float(v))
    lo, hi = v
    return rng.uniform(lo, hi, size=size)


def render_virtual_cameras(
    y_world_m: np.ndarray,
    n_cams: int,
    rng: np.random.Generator,
    distance: float | tuple[float, float] = (4.0, 6.0),
    height: float | tuple[float, float] = (1.2, 1.8),
    target_height: float | tuple[float, float] = (0.8, 1.1),
    focal: float | tuple[float, float] = 1150.0,
    res: tuple[int, int] = (1000, 1000),
    azimuth_jitter_deg: float = 20.0,
    follow: bool | None = None,
    max_radius: float = 1.5,
    follow_window: int = 31,
) -> dict:
    """Film a Z-up world clip ``(F, J, 3)`` (metres) with ``n_cams`` fixed pinhole cameras.

    Cameras stand around the clip's mean root position at evenly spaced azimuths (random
    common rotation plus ``azimuth_jitter_deg`` each), ``distance`` metres away horizontally
    (plus the root trajectory's radius, so the subject never comes closer), at ``height``
    metres, looking at the clip centre at ``target_height``; focal ``focal`` px, principal point
    at the image centre, no distortion: like Human3.6M's cameras (about 1150 px, 1000x1000,
    4-6 m). Scalars fix a parameter, ``(lo, hi)`` pairs draw it uniformly from ``rng``.

    Clips that travel far (root trajectory radius above ``max_radius`` metres, or
    ``follow=True``) are filmed by cameras that translate with the subject: the horizontal
    root trajectory, smoothed by a ``follow_window``-frame moving average, is subtracted before
    filming (a dolly that keeps its orientation; root-relative 3D is unchanged).

    Returns a dict: ``cameras`` (list of :class:`~.cameras.Camera`, ``T`` in metres),
    ``y_cam`` ``(C, F, J, 3)`` camera-frame metres, ``y3d`` root-relative, ``root_cam``
    ``(C, F, 3)``, ``x2d_px`` ``(C, F, J, 2)`` pixels, ``x2d`` screen-normalised,
    ``y_world`` ``(F, J, 3)`` the world clip as filmed (after following), ``follow`` bool.
    """
    y = np.asarray(y_world_m, dtype=np.float64)
    if y.ndim != 3 or y.shape[-1] != 3:
        raise PoseShapeError(f"y_world_m must be (F, J, 3), got {y.shape}")
    if n_cams < 1:
        raise PoseShapeError(f"n_cams must be >= 1, got {n_cams}")
    radius = _radius(y)
    if follow is None:
        follow = radius > max_radius
    if follow:
        traj = _moving_average(y[:, 0, :2], follow_window)
        y = y.copy()
        y[..., :2] -= (traj - traj.mean(0))[:, None, :]
        radius = _radius(y)
    centre = y[:, 0, :2].mean(0)
    az0 = rng.uniform(0, 2 * np.pi)
    az = az0 + 2 * np.pi * np.arange(n_cams) / n_cams
    az = az + np.deg2rad(rng.uniform(-azimuth_jitter_deg, azimuth_jitter_deg, n_cams))
    dist = _draw(rng, distance, n_cams) + radius
    hgt = _draw(rng, height, n_cams)
    tgt = _draw(rng, target_height, n_cams)
    foc = _draw(rng, focal, n_cams)
    cams: list[Camera] = []
    for k in range(n_cams):
        pos = np.array([centre[0] + dist[k] * np.cos(az[k]),
                        centre[1] + dist[k] * np.sin(az[k]), hgt[k]])
        cams.append(look_at_camera(pos, np.array([centre[0], centre[1], tgt[k]]),
                                   float(foc[k]), res[0], res[1], name=f"virtual{k}"))
    y_cam = np.stack([world_to_camera(y, c) for c in cams])
    if (y_cam[..., 2] < 0.5).any():
        raise PoseShapeError("a joint came within 0.5 m of a virtual camera; increase distance")
    px = np.stack([project_camera_points(y_cam[k], c) for k, c in enumerate(cams)])
    root_cam = y_cam[:, :, 0]
    return {
        "cameras": cams,
        "y_cam": y_cam,
        "y3d": y_cam - root_cam[:, :, None],
        "root_cam": root_cam,
        "x2d_px": px,
        "x2d": to_screen(px.reshape(-1, y.shape[1], 2), res[0], res[1]).reshape(px.shape),
        "y_world": y,
        "follow": bool(follow),
    }


def _radius(y: np.ndarray) -> float:
    root = y[:, 0, :2]
    return float(np.linalg.norm(root - root.mean(0), axis=-1).max())


def _moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """``(F, D)`` centred moving average with edge padding (same length)."""
    window = max(1, min(int(window), x.shape[0]))
    before = window // 2
    padded = np.concatenate([np.repeat(x[:1], before, 0), x,
                             np.repeat(x[-1:], window - 1 - before, 0)])
    c = np.cumsum(np.concatenate([np.zeros((1, x.shape[1])), padded]), axis=0)
    return (c[window:] - c[:-window]) / window

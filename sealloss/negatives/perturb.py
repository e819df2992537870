# One concept past 400 lines: the synthetic perturbations, functional cores + thin Samplers.
"""Synthetic negatives: perturbations of the ground truth (functional cores + thin sampler classes).

All functions take canonical ground truth ``y (B, J, 3)`` (metres, root joint zero) and return
``(B, K, J, 3)`` in the same frame with the root kept at zero. Randomness comes only from the
passed ``torch.Generator``. Magnitudes are a float, a ``(lo, hi)`` range drawn log-uniformly per
negative, or a tensor broadcastable to ``(B, K)``.

- :func:`gaussian_joint_noise`: i.i.d. noise on every non-root coordinate.
- :func:`bone_direction_noise`: rotate bone directions, every bone length kept exactly
  (forward kinematics), so the perturbation is pure pose.
- :func:`bone_length_noise`: scale bone lengths (one side only to break symmetry).
- :func:`swap_limbs` / :func:`limb_swap`: exchange left/right limb labels (an involution).
- :func:`flip_limbs` / :func:`limb_flip`: mirror a whole limb about a plane through its first
  joint (depth flip: the lifting ambiguity; lateral flip: about the body plane).
"""

from __future__ import annotations

import math

import torch

from ..pose.kinematics import bone_vectors, forward_kinematics
from ..pose.skeleton import Skeleton, get_skeleton
from ._random import Magnitude, magnitude, rand, randn
from .base import NegativeSample, Sampler

__all__ = [
    "gaussian_joint_noise",
    "gaussian_log_q",
    "bone_direction_noise",
    "bone_length_noise",
    "skeleton_limbs",
    "swap_limbs",
    "limb_swap",
    "flip_limbs",
    "limb_flip",
    "GaussianNoise",
    "BoneDirectionNoise",
    "BoneLengthNoise",
    "LimbSwap",
    "LimbFlip",
]


_SIDES = ("both", "left", "right", "one")
_FLIP_AXES = ("depth", "lateral")


# --------------------------------------------------------------------------- functional cores
def gaussian_joint_noise(
    y: torch.Tensor,
    sigma_m: Magnitude,
    k: int,
    gen: torch.Generator | None = None,
    root: int = 0,
) -> torch.Tensor:
    """``y + sigma * N(0, I)`` on every coordinate except the root's (kept exactly).

    Args:
        y: ``(B, J, 3)`` metres. sigma_m: per-coordinate standard deviation in metres (the
            expected per-joint error is about ``1.6 * sigma``). k: negatives per sample.
        root: index of the root joint (``skeleton.root``).

    Returns:
        ``(B, K, J, 3)``.
    """
    b, j, _ = y.shape
    sigma = magnitude(sigma_m, b, k, gen, y)
    noise = randn((b, k, j, 3), gen, y) * sigma[..., None, None]
    noise[:, :, root] = 0
    return y.unsqueeze(1) + noise


def gaussian_log_q(y_neg: torch.Tensor, y: torch.Tensor, sigma_m: float) -> torch.Tensor:
    """Log density of :func:`gaussian_joint_noise` at ``y_neg`` relative to its density at the
    ground truth: ``-||y_neg - y||^2 / (2 sigma^2)``, ``(B, K)`` (the form ``nce_loss`` wants)."""
    return -(y_neg - y.unsqueeze(1)).pow(2).sum((-1, -2)) / (2.0 * sigma_m * sigma_m)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def bone_direction_noise(
    y: torch.Tensor,
    skeleton: Skeleton | str,
    angle_rad: Magnitude,
    k: int,
    gen: torch.Generator | None = None,
    p_bone: float = 1.0,
) -> torch.Tensor:
    """Rotate each bone's (global) direction by a random angle; keep every bone length exactly.

    Each bone direction ``u`` moves along the sphere by the exponential map of a random tangent
    vector ``v ~ N(0, angle^2 / 2 * I)`` in the plane orthogonal to ``u``:
    ``u' = cos|v| u + sin|v| v / |v|``, so ``angle_rad`` is the RMS rotation angle of a bone.
    The pose is rebuilt by :func:`~sealloss.pose.kinematics.forward_kinematics` with the original
    lengths (children follow their parents; their own directions are perturbed separately).

    Args:
        y: ``(B, J, 3)`` canonical metres.
        angle_rad: RMS angle per bone (radians).
        p_bone: probability that a bone is perturbed at all (the others keep their direction).

    Returns:
        ``(B, K, J, 3)`` with ``bone_lengths(out) == bone_lengths(y)``.
    """
    sk = get_skeleton(skeleton)
    b = y.shape[0]
    vec = bone_vectors(y, sk).unsqueeze(1)  # (B, 1, nb, 3)
    lengths = vec.norm(dim=-1)
    u = _unit(vec)
    nb = vec.shape[-2]
    ang = magnitude(angle_rad, b, k, gen, y)[..., None, None] / math.sqrt(2.0)
    v = randn((b, k, nb, 3), gen, y) * ang
    if p_bone < 1.0:
        v = v * (rand((b, k, nb), gen, y) < p_bone).unsqueeze(-1).to(y.dtype)
    v = v - (v * u).sum(-1, keepdim=True) * u  # tangent component
    theta = v.norm(dim=-1, keepdim=True)
    direction = torch.cos(theta) * u + torch.sin(theta) * v / theta.clamp_min(1e-12)
    return forward_kinematics(direction, lengths.expand(b, k, nb), sk)


def _side_bones(sk: Skeleton, side: str) -> list[int]:
    pairs = sk.symmetric_bone_pairs
    return [p[0] for p in pairs] if side == "left" else [p[1] for p in pairs]


def bone_length_noise(
    y: torch.Tensor,
    skeleton: Skeleton | str,
    scale: Magnitude,
    k: int,
    gen: torch.Generator | None = None,
    side: str = "both",
) -> torch.Tensor:
    """Scale bone lengths by ``exp(scale * N(0, 1))`` per bone; keep every bone direction.

    Args:
        y: ``(B, J, 3)`` canonical metres.
        scale: log-standard deviation of the length factor (``0.1`` ~ 10 % changes).
        side: ``"both"``: every bone; ``"left"`` / ``"right"``: only the left (right) bones of
            the symmetric bone pairs; ``"one"``: per negative, the left or the right side at
            random. One-sided changes break the limb symmetry and leave the other side's bones
            and all central bones exactly as they were.

    Returns:
        ``(B, K, J, 3)``, rebuilt by forward kinematics.
    """
    if side not in _SIDES:
        raise ValueError(f"unknown side {side!r}; use one of {_SIDES}")
    sk = get_skeleton(skeleton)
    b = y.shape[0]
    vec = bone_vectors(y, sk).unsqueeze(1)
    nb = vec.shape[-2]
    s = magnitude(scale, b, k, gen, y)[..., None]
    factor = torch.exp(randn((b, k, nb), gen, y) * s)
    if side != "both":
        left = torch.zeros(nb, dtype=torch.bool, device=y.device)
        right = torch.zeros_like(left)
        left[_side_bones(sk, "left")] = True
        right[_side_bones(sk, "right")] = True
        if side == "one":
            pick_left = (rand((b, k), gen, y) < 0.5)[..., None]
            mask = torch.where(pick_left, left, right)
        else:
            mask = (left if side == "left" else right).expand(b, k, nb)
        factor = torch.where(mask, factor, torch.ones_like(factor))
    lengths = vec.norm(dim=-1) * factor
    return forward_kinematics(vec.expand(b, k, nb, 3), lengths, sk)


def skeleton_limbs(skeleton: Skeleton | str) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """Left/right limb chains: ``((left joints), (mirrored right joints))`` per limb.

    A limb is a connected group of left-side joints (parent links), root excluded, paired
    joint by joint with its right-side mirror. Human3.6M-17: left leg (LHip, LKnee, LFoot) with
    the right leg, left arm with the right arm.
    """
    sk = get_skeleton(skeleton)
    mirror = dict(zip(sk.left, sk.right))
    left = {j for j in sk.left if j != sk.root and mirror[j] != sk.root}
    limb_of: dict[int, int] = {}
    limbs: list[list[int]] = []
    for j in sk.topological_order:
        if j not in left:
            continue
        p = sk.parents[j]
        if p in limb_of:
            limb_of[j] = limb_of[p]
            limbs[limb_of[p]].append(j)
        else:
            limb_of[j] = len(limbs)
            limbs.append([j])
    return tuple((tuple(limb), tuple(mirror[j] for j in limb)) for limb in limbs)


def _at_least_one(r: torch.Tensor, p: float) -> torch.Tensor:
    """Bernoulli(p) mask from uniforms ``r (..., L)``, forcing the smallest draw on where empty."""
    mask = r < p
    forced = torch.nn.functional.one_hot(r.argmin(-1), r.shape[-1]).bool()
    return mask | (forced & ~mask.any(-1, keepdim=True))


def swap_limbs(y: torch.Tensor, skeleton: Skeleton | str, mask: torch.Tensor) -> torch.Tensor:
    """Exchange the left and right joints of the selected limbs (deterministic, an involution).

    Args:
        y: ``(..., J, 3)`` poses.
        mask: ``(..., L)`` bool, ``L = len(skeleton_limbs(skeleton))``; limb ``l`` is swapped
            where ``mask[..., l]``.

    Returns:
        ``(..., J, 3)``: ``swap_limbs(swap_limbs(y, s, m), s, m) == y``.
    """
    sk = get_skeleton(skeleton)
    limbs = skeleton_limbs(sk)
    if mask.shape[-1] != len(limbs) or mask.shape[:-1] != y.shape[:-2]:
        raise ValueError(
            f"swap_limbs: mask must have shape {tuple(y.shape[:-2]) + (len(limbs),)}, "
            f"got {tuple(mask.shape)}"
        )
    j = sk.num_joints
    idx = torch.arange(j, device=y.device).expand(*y.shape[:-2], j).clone()
    for l_idx, (lj, rj) in enumerate(limbs):
        lt = torch.tensor(lj, device=y.device)
        rt = torch.tensor(rj, device=y.device)
        m = mask[..., l_idx, None]
        idx[..., lj] = torch.where(m, rt, lt)
        idx[..., rj] = torch.where(m, lt, rt)
    return y.gather(-2, idx.unsqueeze(-1).expand(*idx.shape, y.shape[-1]))


def limb_swap(
    y: torch.Tensor,
    skeleton: Skeleton | str,
    k: int,
    gen: torch.Generator | None = None,
    p: float = 0.5,
) -> torch.Tensor:
    """Swap random left/right limbs: each limb with probability ``p``, at least one per
    negative. ``(B, J, 3) -> (B, K, J, 3)``; the root is never moved."""
    sk = get_skeleton(skeleton)
    b = y.shape[0]
    n_limbs = len(skeleton_limbs(sk))
    if n_limbs == 0:
        raise ValueError(f"skeleton {sk.name!r} has no left/right limbs to swap")
    mask = _at_least_one(rand((b, k, n_limbs), gen, y), p)
    return swap_limbs(y.unsqueeze(1).expand(b, k, *y.shape[1:]), sk, mask)


def _flip_parts(sk: Skeleton) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """(pivot joint, moved joints) per limb side: the limb's first joint and its whole subtree
    below it (limbs whose first joint has no children are left out)."""
    parts = []
    for lj, rj in skeleton_limbs(sk):
        for start in (lj[0], rj[0]):
            sub: list[int] = []
            stack = list(sk.children[start])
            while stack:
                c = stack.pop()
                sub.append(c)
                stack.extend(sk.children[c])
            if sub:
                parts.append((start, tuple(sorted(sub))))
    return tuple(parts)


def flip_limbs(
    y: torch.Tensor, skeleton: Skeleton | str, mask: torch.Tensor, axis: str = "depth"
) -> torch.Tensor:
    """Mirror whole limbs about a plane through each limb's first joint (an involution).

    The joints below a limb's first joint (LHip for the left leg, LShoulder for the left arm)
    are reflected: ``p' = p - 2 ((p - pivot) . n) n``. Reflections are isometries, so every bone
    length is kept exactly.

    Args:
        y: ``(..., J, 3)``.
        mask: ``(..., P)`` bool over the limb sides (left and right limbs separately,
            ``P = 2 * number of limbs`` for skeletons whose limbs have more than one joint).
        axis: ``"depth"``: ``n = (0, 0, 1)``, the camera depth axis: the limb's depth relative to
            its first joint is reversed, which keeps its orthographic 2D projection (the
            lifting ambiguity; assumes camera-frame 3D). ``"lateral"``: ``n`` is the body's
            left-right axis (mean of left-minus-right first joints of the limbs, per pose):
            the limb is mirrored about the body plane through its first joint.
    """
    if axis not in _FLIP_AXES:
        raise ValueError(f"unknown flip axis {axis!r}; use one of {_FLIP_AXES}")
    sk = get_skeleton(skeleton)
    parts = _flip_parts(sk)
    if mask.shape[-1] != len(parts) or mask.shape[:-1] != y.shape[:-2]:
        raise ValueError(
            f"flip_limbs: mask must have shape {tuple(y.shape[:-2]) + (len(parts),)}, "
            f"got {tuple(mask.shape)}"
        )
    if axis == "depth":
        n = y.new_tensor([0.0, 0.0, 1.0]).expand(*y.shape[:-2], 1, 3)
    else:
        limbs = skeleton_limbs(sk)
        lstart = [lj[0] for lj, _ in limbs]
        rstart = [rj[0] for _, rj in limbs]
        n = _unit((y[..., lstart, :] - y[..., rstart, :]).sum(-2, keepdim=True))
    out = y.clone()
    for c, (pivot, moved) in enumerate(parts):
        rel = y[..., moved, :] - y[..., pivot : pivot + 1, :]
        refl = y[..., moved, :] - 2.0 * (rel * n).sum(-1, keepdim=True) * n
        out[..., moved, :] = torch.where(mask[..., c, None, None], refl, y[..., moved, :])
    return out


def limb_flip(
    y: torch.Tensor,
    skeleton: Skeleton | str,
    k: int,
    gen: torch.Generator | None = None,
    axis: str = "depth",
    p: float = 0.5,
) -> torch.Tensor:
    """Flip random limb sides (:func:`flip_limbs`), each with probability ``p``, at least one
    per negative. ``(B, J, 3) -> (B, K, J, 3)``."""
    sk = get_skeleton(skeleton)
    b = y.shape[0]
    n_parts = len(_flip_parts(sk))
    if n_parts == 0:
        raise ValueError(f"skeleton {sk.name!r} has no multi-joint limbs to flip")
    mask = _at_least_one(rand((b, k, n_parts), gen, y), p)
    return flip_limbs(y.unsqueeze(1).expand(b, k, *y.shape[1:]), sk, mask, axis)


# --------------------------------------------------------------------------- sampler classes
class GaussianNoise(Sampler):
    """Joint noise sampler (:func:`gaussian_joint_noise`). ``log_q`` is returned for a fixed
    ``sigma_m`` (see :func:`gaussian_log_q`); ``None`` for a range."""

    def __init__(
        self, skeleton: Skeleton | str, sigma_m: Magnitude = 0.02, kind: str = "gaussian"
    ) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.sigma_m = sigma_m
        self.kind = kind

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        poses = gaussian_joint_noise(y_gt, self.sigma_m, k, generator, self.skeleton.root)
        log_q = None
        if isinstance(self.sigma_m, int | float) and self.sigma_m > 0:
            log_q = gaussian_log_q(poses, y_gt, float(self.sigma_m))
        return NegativeSample(poses, self.kind, log_q)

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma_m={self.sigma_m}, kind={self.kind!r})"


class BoneDirectionNoise(Sampler):
    """Bone-direction rotations with exact bone lengths (:func:`bone_direction_noise`)."""

    def __init__(
        self,
        skeleton: Skeleton | str,
        angle_rad: Magnitude = 0.15,
        p_bone: float = 1.0,
        kind: str = "bone_direction",
    ) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.angle_rad = angle_rad
        self.p_bone = p_bone
        self.kind = kind

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        poses = bone_direction_noise(
            y_gt, self.skeleton, self.angle_rad, k, generator, self.p_bone
        )
        return NegativeSample(poses, self.kind)

    def __repr__(self) -> str:
        return f"BoneDirectionNoise(angle_rad={self.angle_rad}, p_bone={self.p_bone})"


class BoneLengthNoise(Sampler):
    """Bone-length scaling (:func:`bone_length_noise`); ``side="one"`` breaks symmetry."""

    def __init__(
        self,
        skeleton: Skeleton | str,
        scale: Magnitude = 0.1,
        side: str = "both",
        kind: str | None = None,
    ) -> None:
        if side not in _SIDES:
            raise ValueError(f"unknown side {side!r}; use one of {_SIDES}")
        self.skeleton = get_skeleton(skeleton)
        self.scale = scale
        self.side = side
        self.kind = kind or ("bone_length" if side == "both" else f"bone_length_{side}")

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        poses = bone_length_noise(y_gt, self.skeleton, self.scale, k, generator, self.side)
        return NegativeSample(poses, self.kind)

    def __repr__(self) -> str:
        return f"BoneLengthNoise(scale={self.scale}, side={self.side!r})"


class LimbSwap(Sampler):
    """Left/right limb swaps (:func:`limb_swap`)."""

    def __init__(self, skeleton: Skeleton | str, p: float = 0.5, kind: str = "limb_swap") -> None:
        self.skeleton = get_skeleton(skeleton)
        self.p = p
        self.kind = kind

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        return NegativeSample(limb_swap(y_gt, self.skeleton, k, generator, self.p), self.kind)


class LimbFlip(Sampler):
    """Whole-limb mirror flips (:func:`limb_flip`)."""

    def __init__(
        self,
        skeleton: Skeleton | str,
        axis: str = "depth",
        p: float = 0.5,
        kind: str | None = None,
    ) -> None:
        if axis not in _FLIP_AXES:
            raise ValueError(f"unknown flip axis {axis!r}; use one of {_FLIP_AXES}")
        self.skeleton = get_skeleton(skeleton)
        self.axis = axis
        self.p = p
        self.kind = kind or f"limb_flip_{axis}"

    def sample(self, y_gt, k, generator, **context) -> NegativeSample:
        poses = limb_flip(y_gt, self.skeleton, k, generator, self.axis, self.p)
        return NegativeSample(poses, self.kind)

"""Plausibility scoring: rank any model's 3D poses by a loss-net's energy and blame joints.

The loss-net ``E(x2d, y3d)`` is low for plausible (2D, 3D) pairs, so on a file of predictions
its energy ranks frames from most to least suspicious, without ground truth. Two ways to say
*which joint* is wrong:

- ``"gradient"`` (the default): ``||dE/dy_j||`` (energy per metre): how strongly the energy
  asks joint ``j`` to move, i.e. the push SEAL would give the pose-net there. Works with every
  loss-net; the root joint's value is zero (its gradient is detached).
- ``"energy"``: the loss-net's per-joint decomposition ``e_j`` (``sum_j e_j = E``) minus a
  per-joint baseline (by default the median of ``e_j`` over the scored poses, or the mean over
  poses known to be plausible, see :func:`joint_baseline`). Positive = this joint adds more
  energy than usual. Needs a loss-net with ``has_per_joint`` (the graph transformer).

How well either finds the faulty joint depends on the loss-net; measured on the 344 held-out
poses of the shipped CMU clips, with one random non-root joint of the ground truth moved 10 cm
(chance: 1 in 16), the most blamed joint was the moved one for

======================================================  ============  ==========
loss-net                                                ``gradient``  ``energy``
======================================================  ============  ==========
trained alongside a SimpleBaseline (``sealloss demo``)  37 %          18 %
pretrained, 600 steps (``sealloss pretrain``)           30 %          14 %
======================================================  ============  ==========

while the energy itself rose for 91 % and 96 % of those poses. On real predictions of a plain
SimpleBaseline neither method found the joint with the largest error more often than chance:
per-joint blame is a hint, and ranking whole frames is the more reliable use (rank correlation
of energy with per-frame MPJPE 0.51 with the first loss-net, 0.19 with the second).

Example:
    >>> from sealloss.nn import GraphormerLossNet
    >>> net = GraphormerLossNet("h36m17", width=16, heads=2, layers=1)
    >>> s = score_poses(net, torch.zeros(4, 17, 2), torch.rand(4, 17, 3) * 0.3)
    >>> s.energy.shape, s.blame.shape
    (torch.Size([4]), torch.Size([4, 17]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..errors import PoseShapeError
from ..nn.base import LossNet
from ..pose.canonical import UNIT_SCALE
from ..pose.checks import check_finite, check_pair

__all__ = [
    "BLAME_METHODS",
    "PlausibilityScores",
    "score_poses",
    "pose_energies",
    "joint_energies",
    "gradient_blame",
    "energy_blame",
    "joint_baseline",
    "energy_threshold",
]

BLAME_METHODS = ("auto", "energy", "gradient")


@dataclass
class PlausibilityScores:
    """Energies and per-joint blame of ``N`` poses (all tensors on CPU, float32).

    Attributes:
        energy: ``(N,)`` loss-net energy per pose (higher = less plausible).
        blame: ``(N, J)`` per-joint blame (see the module doc for the two methods).
        joint_names: the skeleton's joint names, ``J`` of them.
        method: ``"energy"`` or ``"gradient"``.
    """

    energy: Tensor
    blame: Tensor
    joint_names: tuple[str, ...]
    method: str

    def __len__(self) -> int:
        return int(self.energy.shape[0])

    def ranking(self, descending: bool = True) -> Tensor:
        """Pose indices ``(N,)`` sorted by energy, most implausible first (stable on ties)."""
        return torch.sort(self.energy, descending=descending, stable=True).indices

    def worst_joint(self) -> Tensor:
        """``(N,)`` index of the most blamed joint of each pose."""
        return self.blame.argmax(dim=-1)

    def flag(self, threshold: float) -> Tensor:
        """``(N,)`` bool: poses whose energy exceeds ``threshold`` (:func:`energy_threshold`).

        Raises:
            ValueError: ``threshold`` is NaN (which would flag nothing, silently).
        """
        if isinstance(threshold, int | float) and threshold != threshold:
            raise ValueError("threshold is NaN: no pose would be flagged")
        return self.energy > threshold

    def top(self, k: int = 10) -> list[dict[str, float | int | str]]:
        """The ``k`` highest-energy poses: index, energy, worst joint and its blame."""
        worst = self.worst_joint()
        out: list[dict[str, float | int | str]] = []
        for i in self.ranking()[: max(0, int(k))].tolist():
            j = int(worst[i])
            out.append({
                "index": int(i),
                "energy": float(self.energy[i]),
                "worst_joint": self.joint_names[j],
                "blame": float(self.blame[i, j]),
            })
        return out

    def table(self, k: int = 10) -> str:
        """Plain-text table of :meth:`top`."""
        rows = self.top(k)
        jw = max([len("worst joint")] + [len(str(r["worst_joint"])) for r in rows])
        head = f"{'rank':>4} {'index':>7} {'energy':>10} {'worst joint':<{jw}} {'blame':>9}"
        lines = [head, "-" * len(head)]
        for n, r in enumerate(rows, 1):
            lines.append(f"{n:>4} {r['index']:>7} {r['energy']:>10.4f} "
                         f"{r['worst_joint']:<{jw}} {r['blame']:>9.4f}")
        return "\n".join(lines)

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Arrays for ``np.savez``: ``energy``, ``blame``, ``ranking``, ``worst_joint``,
        ``joint_names``."""
        return {
            "energy": self.energy.numpy(),
            "blame": self.blame.numpy(),
            "ranking": self.ranking().numpy(),
            "worst_joint": self.worst_joint().numpy(),
            "joint_names": np.asarray(self.joint_names),
        }


def _prepare(net: LossNet, x2d: Tensor, y3d: Tensor, units: str) -> tuple[Tensor, Tensor]:
    """Flatten to ``(N, J, *)`` and convert ``y3d`` from ``units`` to the loss-net's units."""
    if units not in UNIT_SCALE:
        raise PoseShapeError(f"unknown units {units!r}; use one of {sorted(UNIT_SCALE)}")
    x2d, y3d = torch.as_tensor(x2d), torch.as_tensor(y3d)
    j = net.skeleton.num_joints
    check_pair(x2d, y3d, j)
    scale = UNIT_SCALE[units] / UNIT_SCALE[net.spec.units_3d]
    return x2d.reshape(-1, j, 2), y3d.reshape(-1, j, 3) * scale


def joint_energies(net: LossNet, x2d: Tensor, y3d: Tensor) -> tuple[Tensor, Tensor]:
    """Energy ``(N,)`` and per-joint energies ``(N, J)`` (no gradient).

    Raises:
        ValueError: the loss-net has no per-joint decomposition (use :func:`gradient_blame`).
    """
    if not net.has_per_joint:
        raise ValueError(
            f"a {type(net).__name__} has no per-joint energies; use blame='gradient'"
        )
    with torch.no_grad():
        out = net(x2d, y3d, per_joint=True)
    return out.energy, out.per_joint  # type: ignore[return-value]


def gradient_blame(net: LossNet, x2d: Tensor, y3d: Tensor) -> tuple[Tensor, Tensor]:
    """Energy ``(N,)`` and ``||dE/dy_j||`` ``(N, J)`` (energy per loss-net 3D unit).

    Each pose's energy depends only on that pose (no batch coupling in a loss-net), so one
    backward of ``sum E`` gives every pose's own gradient.
    """
    leaf = y3d.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        e = net.energy(x2d.detach(), leaf)
        (g,) = torch.autograd.grad(e.sum(), leaf)
    return e.detach(), g.norm(dim=-1)


def energy_blame(per_joint: Tensor, baseline: Tensor | None = None) -> Tensor:
    """Per-joint energies ``(N, J)`` minus a baseline ``(J,)`` (default: their median over N)."""
    if per_joint.dim() != 2:
        raise PoseShapeError(f"per_joint must be (N, J), got {tuple(per_joint.shape)}")
    if baseline is None:
        baseline = per_joint.median(dim=0).values if per_joint.shape[0] else per_joint.sum(0)
    baseline = torch.as_tensor(baseline, dtype=per_joint.dtype, device=per_joint.device)
    if baseline.shape != per_joint.shape[-1:]:
        raise PoseShapeError(
            f"baseline must have shape ({per_joint.shape[-1]},), got {tuple(baseline.shape)}"
        )
    return per_joint - baseline


def _check_batch_size(batch_size: object) -> int:
    """``batch_size`` as a positive int; ValueError naming it otherwise (0 or a negative value
    used to score the wrong number of poses or none, silently)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


def joint_baseline(
    net: LossNet, x2d: Tensor, y3d: Tensor, units: str = "m", batch_size: int = 1024
) -> Tensor:
    """Mean per-joint energy ``(J,)`` over poses known to be plausible (e.g. ground truth):
    the ``baseline`` of :func:`score_poses` with ``blame="energy"``.

    Raises:
        ValueError: ``batch_size`` is not a positive integer.
    """
    batch_size = _check_batch_size(batch_size)
    x, y = _prepare(net, x2d, y3d, units)
    if x.shape[0] == 0:
        raise PoseShapeError("joint_baseline needs at least one pose")
    total = torch.zeros(net.skeleton.num_joints, dtype=torch.float64)
    for s in range(0, x.shape[0], batch_size):
        _, pj = joint_energies(net, x[s : s + batch_size], y[s : s + batch_size])
        total += pj.double().sum(0).cpu()
    return (total / x.shape[0]).float()


def _resolve_method(net: LossNet, blame: str) -> str:
    if blame not in BLAME_METHODS:
        raise ValueError(f"blame must be one of {BLAME_METHODS}, got {blame!r}")
    if blame == "auto":
        return "gradient"
    if blame == "energy" and not net.has_per_joint:
        raise ValueError(
            f"blame='energy' needs per-joint energies, which a {type(net).__name__} does not "
            "provide; use blame='gradient'"
        )
    return blame


def score_poses(
    net: LossNet,
    x2d: Tensor,
    y3d: Tensor,
    *,
    blame: str = "auto",
    baseline: Tensor | None = None,
    units: str = "m",
    batch_size: int = 1024,
    progress: Callable[[int, int], None] | None = None,
) -> PlausibilityScores:
    """Score poses with a loss-net: energies and per-joint blame.

    Args:
        net: a loss-net (e.g. :func:`sealloss.io.weights.load_lossnet`); used in eval mode,
        unchanged.
        x2d: ``(..., J, 2)`` 2D inputs in the normalised screen frame.
        y3d: ``(..., J, 3)`` 3D poses in ``units`` (any root position: canonicalised inside).
        blame: ``"gradient"``, ``"energy"`` or ``"auto"`` (= ``"gradient"``).
        baseline: ``(J,)`` per-joint baseline for ``"energy"`` blame (:func:`joint_baseline`);
            default the median per-joint energy of the scored poses.
        units: units of ``y3d``: ``"m"``, ``"cm"`` or ``"mm"``.
        batch_size: poses per loss-net call (a positive integer).
        progress: called as ``progress(done, total)`` after each batch.

    Returns:
        :class:`PlausibilityScores` over the ``N = prod(...)`` flattened poses.

    Raises:
        ValueError: ``batch_size`` is not a positive integer, or an unknown ``blame``.
    """
    batch_size = _check_batch_size(batch_size)
    method = _resolve_method(net, blame)
    x, y = _prepare(net, x2d, y3d, units)
    n = x.shape[0]
    was_training = net.training
    net.eval()
    energies, blames = [], []
    try:
        for s in range(0, n, batch_size):
            xb, yb = x[s : s + batch_size], y[s : s + batch_size]
            if method == "energy":
                e, b = joint_energies(net, xb, yb)
            else:
                e, b = gradient_blame(net, xb, yb)
            energies.append(e.float().cpu())
            blames.append(b.float().cpu())
            if progress is not None:
                progress(min(s + batch_size, n), n)
    finally:
        net.train(was_training)
    j = net.skeleton.num_joints
    energy = torch.cat(energies) if energies else torch.zeros(0)
    raw = torch.cat(blames) if blames else torch.zeros(0, j)
    if method == "energy":
        raw = energy_blame(raw, baseline)
    return PlausibilityScores(energy, raw, tuple(net.skeleton.joint_names), method)


def pose_energies(
    net: LossNet, x2d: Tensor, y3d: Tensor, units: str = "m", batch_size: int = 1024
) -> Tensor:
    """Energies ``(N,)`` (float32, CPU, no gradient) of the ``N = prod(...)`` flattened poses.

    Raises:
        ValueError: ``batch_size`` is not a positive integer.
    """
    batch_size = _check_batch_size(batch_size)
    x, y = _prepare(net, x2d, y3d, units)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            parts = [net.energy(x[s : s + batch_size], y[s : s + batch_size]).float().cpu()
                     for s in range(0, x.shape[0], batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(parts) if parts else torch.zeros(0)


def energy_threshold(reference_energy: Tensor | np.ndarray, quantile: float = 0.95) -> float:
    """The ``quantile`` of energies of plausible poses (e.g. ground truth): poses above it are
    flagged by :meth:`PlausibilityScores.flag`."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    ref = torch.as_tensor(reference_energy).double().flatten()
    if ref.numel() == 0:
        raise PoseShapeError("energy_threshold needs at least one reference energy")
    check_finite(ref, "reference_energy")
    return float(torch.quantile(ref, quantile))

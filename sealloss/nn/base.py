"""The loss-net interface: ``E(x2d, y3d)`` -> one energy per pose (low = plausible)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..pose.canonical import CanonicalSpec, canonical_2d, canonical_3d
from ..pose.checks import check_pair
from ..pose.skeleton import Skeleton, get_skeleton

__all__ = ["EnergyOutput", "LossNet"]


@dataclass
class EnergyOutput:
    """What a loss-net returns.

    Attributes:
        energy: ``(...)`` one scalar per pose, the batch shape of the input (``(B,)``,
            ``(B, T)``, ...). Lower means more plausible.
        per_joint: ``(..., J)`` per-joint decomposition of ``energy`` (see the loss-net's own
            docstring for how it relates to ``energy``), or ``None`` when not asked for or not
            supported.
    """

    energy: Tensor
    per_joint: Tensor | None = None


class LossNet(nn.Module, ABC):
    """Base class of the loss-nets: checks, canonicalises, flattens, then scores.

    A loss-net knows what it is: :attr:`skeleton`, :attr:`spec` (the canonicalisation it applies
    to its inputs, :class:`~sealloss.pose.canonical.CanonicalSpec`, root ``"detach"`` by default)
    and
    :attr:`config` (a JSON-serialisable dict with ``"kind"``, from which
    :func:`sealloss.io.weights.build_lossnet` rebuilds it).

    dtype and device: inputs of any floating dtype (fp16, bf16, fp64) on any device are cast to
    the module's dtype and moved to its device; the energy is computed there and returned on the
    **3D input's device**, in ``float32`` (``float64`` when the module itself is ``float64``).
    Gradients flow back to the inputs through the casts.

    Subclasses implement :meth:`_energy` on canonical ``(N, J, 2)`` / ``(N, J, 3)`` tensors and
    :attr:`config`.
    """

    kind: ClassVar[str] = ""
    has_per_joint: ClassVar[bool] = False

    def __init__(self, skeleton: Skeleton | str = "h36m17", spec: CanonicalSpec | None = None):
        super().__init__()
        self.skeleton = get_skeleton(skeleton)
        self.spec = spec if spec is not None else CanonicalSpec()

    # ------------------------------------------------------------------ abstract
    @abstractmethod
    def _energy(self, x2d: Tensor, y3d: Tensor, per_joint: bool) -> tuple[Tensor, Tensor | None]:
        """Canonical ``x2d (N, J, 2)``, ``y3d (N, J, 3)`` (module dtype/device, N > 0) ->
        energy ``(N,)`` and per-joint ``(N, J)`` or None."""

    @property
    @abstractmethod
    def hparams(self) -> dict[str, Any]:
        """Constructor hyper-parameters (JSON-serialisable), without skeleton and spec."""

    # ------------------------------------------------------------------ config
    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this net: kind, skeleton, spec and hyper-parameters."""
        return {
            "kind": self.kind,
            "skeleton": self.skeleton.to_dict(),
            "spec": self.spec.to_dict(),
            **self.hparams,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LossNet:
        """Inverse of :attr:`config`."""
        cfg = dict(config)
        cfg.pop("kind", None)
        sk = cfg.pop("skeleton", "h36m17")
        sk = Skeleton.from_dict(sk) if isinstance(sk, dict) else get_skeleton(sk)
        spec = cfg.pop("spec", None)
        spec = CanonicalSpec.from_dict(spec) if isinstance(spec, dict) else spec
        return cls(skeleton=sk, spec=spec, **cfg)

    # ------------------------------------------------------------------ properties
    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ forward
    def forward(self, x2d: Tensor, y3d: Tensor, per_joint: bool = False) -> EnergyOutput:
        """Score poses.

        Args:
            x2d: ``(..., J, 2)`` 2D input in the normalised screen frame
                (:func:`sealloss.pose.canonical.pixels_to_screen`).
            y3d: ``(..., J, 3)`` 3D pose in ``spec.units_3d`` (metres by default), any root
                position (canonicalised inside: root-relative; with ``spec.root="detach"`` the
                gradient on the root slot is exactly zero).
            per_joint: also return the per-joint decomposition (when supported).

        Returns:
            :class:`EnergyOutput` with ``energy (...)`` and ``per_joint (..., J)`` or None.

        Raises:
            PoseShapeError: wrong joint count, 2D/3D swapped, batch shapes differ, pixels given.
            NonFiniteError: NaN/Inf in an input.
        """
        sk = self.skeleton
        j = sk.num_joints
        check_pair(x2d, y3d, j)
        batch_shape = y3d.shape[:-2]
        out_device = y3d.device
        dtype, device = self.dtype, self.device
        out_dtype = torch.promote_types(dtype, torch.float32)
        x = x2d.reshape(-1, j, 2).to(device=device, dtype=dtype)
        y = y3d.reshape(-1, j, 3).to(device=device, dtype=dtype)
        if y.shape[0] == 0:
            zero = y.sum().to(out_dtype) * 0  # keeps the autograd connection for empty batches
            energy = torch.zeros(batch_shape, dtype=out_dtype, device=out_device) + zero.to(
                out_device
            )
            pj = (
                torch.zeros(*batch_shape, j, dtype=out_dtype, device=out_device)
                if per_joint and self.has_per_joint
                else None
            )
            return EnergyOutput(energy, pj)
        x = canonical_2d(x, sk, self.spec)
        y = canonical_3d(y, sk, self.spec)
        energy, pj = self._energy(x, y, per_joint)
        energy = energy.to(device=out_device, dtype=out_dtype).reshape(batch_shape)
        if per_joint and pj is not None:
            pj = pj.to(device=out_device, dtype=out_dtype).reshape(*batch_shape, j)
        else:
            pj = None
        return EnergyOutput(energy, pj)

    def energy(self, x2d: Tensor, y3d: Tensor) -> Tensor:
        """Shortcut for ``self(x2d, y3d).energy``: ``(...)``."""
        return self.forward(x2d, y3d).energy

    def ranking_energies(self, x2d: Tensor, y_pos: Tensor, y_neg: Tensor) -> tuple[Tensor, Tensor]:
        """Energies of a ground truth and its K negatives in one fused forward.

        Args:
            x2d: ``(B, J, 2)`` 2D input, shared by every candidate of a sample.
            y_pos: ``(B, J, 3)`` ground truth.
            y_neg: ``(B, K, J, 3)`` negatives.

        Returns:
            ``e_pos (B,)`` and ``e_neg (B, K)``.
        """
        b, k = y_neg.shape[:2]
        poses = torch.cat([y_pos.unsqueeze(1), y_neg], 1)
        e = self.energy(x2d.unsqueeze(1).expand(b, k + 1, *x2d.shape[1:]), poses)
        return e[:, 0], e[:, 1:]

    def extra_repr(self) -> str:
        return f"skeleton={self.skeleton.name!r}, units={self.spec.units_3d!r}"

"""Streaming pose evaluation: float64 sums and counts per metric, per joint and per action.

:class:`PoseEvaluator` adds per-sample metric values into sums (torchmetrics style), so feeding
the data in batches, or in several processes joined by :meth:`PoseEvaluator.merge`, gives the
one-shot result up to float64 summation order (about 1e-12 mm). Every value is reported in
**millimetres** (lengths) or **percent** (ratios, PCK, AUC):

=============  ==========================================================================
key            meaning (per sample, then averaged over samples)
=============  ==========================================================================
MPJPE          mean joint error (after root alignment, see ``root_align``)
P-MPJPE        mean joint error after similarity Procrustes alignment
N-MPJPE        mean joint error after the least-squares scale of the prediction
LSE / LSE_gt   mean over symmetric bone pairs of ``| |b_l| - |b_r| |``: prediction / ground
               truth (the ground truth's own asymmetry is the floor)
BSLE           mean over bones of ``| |b_pred| - |b_gt| |``
LSE% / _gt     mean ``| |b_l| - |b_r| | / (|b_l| + |b_r|)`` in %; ``LSE%>0.01``: % of pairs
               above 0.01
BSLE%          mean ``| |b_pred| - |b_gt| | / |b_gt|`` in %; ``BSLE%>0.1``: % of bones above 0.1
PCK150 / AUC   % of joints with error < 150 mm; mean PCK over 0..150 mm (31 thresholds)
=============  ==========================================================================

The LSE/BSLE definitions in mm are ours (the paper's formulas were not available); the ratio
forms follow the authors' early public code. With ``joints=`` (e.g. the 15 HumanEva joints on
an H36M-17 prediction) position metrics use only those joints, and LSE/BSLE use only bones
whose both end joints are in the subset; other joints may hold NaN.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import PoseShapeError, UnitsWarning
from ..pose.canonical import root_relative
from ..pose.checks import check_finite, joint_indices, warn_if_millimetres
from ..pose.skeleton import Skeleton, get_skeleton
from . import functional as F
from .eval_result import EvalResult

__all__ = ["PoseEvaluator", "evaluate"]

logger = logging.getLogger(__name__)

_TO_MM = {"m": 1000.0, "cm": 10.0, "mm": 1.0}


class PoseEvaluator:
    """Streaming evaluator of 3D poses: ``update`` batches, then ``compute`` / ``result``.

    Args:
        skeleton: skeleton of the poses (joint order, bones, left/right pairs).
        units: units of the inputs: ``"m"`` (canonical, default), ``"cm"`` or ``"mm"``.
            Reports are always in mm.
        joints: optional subset of joint indices to evaluate (see module doc).
        root_align: subtract each pose's root joint (``skeleton.root``) before scoring
            ("protocol #1"); a no-op for canonical poses.
        pck_threshold_mm: PCK threshold and the top of the AUC range, in mm.
        auc_steps: number of AUC thresholds from 0 to ``pck_threshold_mm``.
        sym_threshold: threshold of the symmetry ratio share (``LSE%>0.01``).
        len_threshold: threshold of the length ratio share (``BSLE%>0.1``).

    Non-finite inputs raise :class:`~sealloss.errors.NonFiniteError` (evaluated joints only).
    Zero-length ground-truth bones (shorter than 1e-6 of the sample's longest bone, e.g.
    duplicated joints) have no BSLE ratio: they are left out of their sample's ``BSLE%`` and
    ``BSLE%>0.1`` (mean over the remaining bones; 0 for a sample with none left), counted in
    :attr:`masked_bones` and logged as a warning, instead of one 1e15 % value swamping the
    summary. ``BSLE`` (mm) is defined for them and keeps them.

    Example:
        >>> ev = PoseEvaluator("h36m17")
        >>> y = torch.zeros(4, 17, 3); y[:, 1:, 2] = torch.arange(1, 17) * 0.01
        >>> ev.update(y, y, actions=["Walk", "Walk", "Sit", "Sit"])
        >>> ev.compute()["MPJPE"]
        0.0
    """

    def __init__(
        self,
        skeleton: Skeleton | str,
        units: str = "m",
        joints: Sequence[int] | torch.Tensor | None = None,
        root_align: bool = True,
        pck_threshold_mm: float = 150.0,
        auc_steps: int = 31,
        sym_threshold: float = 0.01,
        len_threshold: float = 0.1,
    ) -> None:
        self.skeleton = get_skeleton(skeleton)
        if units not in _TO_MM:
            raise PoseShapeError(f"unknown units {units!r}; use one of {sorted(_TO_MM)}")
        self.units = units
        sel = joint_indices(joints, self.skeleton.num_joints)
        all_joints = range(self.skeleton.num_joints)
        self.joints: tuple[int, ...] = tuple(all_joints if sel is None else sel)
        if not self.joints:
            raise PoseShapeError("joints must not be empty")
        self.root_align = root_align
        self.pck_threshold_mm = float(pck_threshold_mm)
        self.auc_steps = int(auc_steps)
        self.sym_threshold = float(sym_threshold)
        self.len_threshold = float(len_threshold)
        self._bones, self._pairs = F.bone_subset(self.skeleton, self.joints)
        self.keys: tuple[str, ...] = (
            "MPJPE", "P-MPJPE", "N-MPJPE", "LSE", "LSE_gt", "BSLE",
            "LSE%", f"LSE%>{self.sym_threshold:g}", "LSE%_gt",
            "BSLE%", f"BSLE%>{self.len_threshold:g}",
            f"PCK{self.pck_threshold_mm:g}", "AUC",
        )  # fmt: skip
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every sample."""
        m, j = len(self.keys), len(self.joints)
        self._sum = torch.zeros(m, dtype=torch.float64)
        self._joint_sum = torch.zeros(j, dtype=torch.float64)
        self._count = 0
        #: zero-length ground-truth bones left out of the BSLE ratio so far
        self.masked_bones = 0
        self._action_sum: dict[str, torch.Tensor] = {}
        self._action_count: dict[str, int] = {}

    @property
    def count(self) -> int:
        """Number of samples seen."""
        return self._count

    def _config(self) -> tuple:
        return (
            self.skeleton.to_dict(), self.units, self.joints, self.root_align,
            self.pck_threshold_mm, self.auc_steps, self.sym_threshold, self.len_threshold,
        )  # fmt: skip

    def merge(self, other: PoseEvaluator) -> PoseEvaluator:
        """Add ``other``'s sums and counts into this evaluator (e.g. from another process).

        Raises ValueError when the two evaluators are configured differently.
        """
        if not isinstance(other, PoseEvaluator) or other._config() != self._config():
            raise ValueError("can only merge a PoseEvaluator with the same configuration")
        self._sum += other._sum
        self._joint_sum += other._joint_sum
        self._count += other._count
        self.masked_bones += other.masked_bones
        for a, s in other._action_sum.items():
            if a in self._action_sum:
                self._action_sum[a] = self._action_sum[a] + s
                self._action_count[a] += other._action_count[a]
            else:
                self._action_sum[a] = s.clone()
                self._action_count[a] = other._action_count[a]
        return self

    # ------------------------------------------------------------------ update
    def _prepare(self, x: torch.Tensor | np.ndarray, what: str) -> torch.Tensor:
        t = torch.as_tensor(x)
        sk = self.skeleton
        if t.dim() < 2 or t.shape[-1] != 3 or t.shape[-2] != sk.num_joints:
            raise PoseShapeError(
                f"{what} must have shape (..., {sk.num_joints}, 3) for skeleton {sk.name!r}, "
                f"got {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise PoseShapeError(f"{what} must be a floating tensor, got dtype {t.dtype}")
        t = t.detach().to("cpu", torch.float64).reshape(-1, sk.num_joints, 3)
        check_finite(t[:, list(self.joints)], what)
        if self.root_align:
            r = sk.root
            if r not in self.joints:
                check_finite(t[:, r], f"{what} root joint")
            t = root_relative(t, r)
        return t * _TO_MM[self.units]

    def _expand_actions(self, actions: object, lead: tuple[int, ...], n: int) -> list[str] | None:
        if actions is None:
            return None
        if isinstance(actions, str):
            return [actions] * n
        acts = [str(a) for a in np.asarray(actions, dtype=object).reshape(-1).tolist()]
        if len(acts) == n:
            return acts
        if lead and len(acts) == lead[0]:
            rep = n // lead[0]
            return [a for a in acts for _ in range(rep)]
        raise PoseShapeError(
            f"actions has {len(acts)} entries; expected {n} (one per sample) or "
            f"{lead[0] if lead else 1} (one per leading index) for poses of batch shape {lead}"
        )

    def _per_sample(
        self, pred: torch.Tensor, gt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, J, 3)`` mm poses -> per-sample metrics ``(N, M)`` and joint errors ``(N, J')``."""
        sk, sel = self.skeleton, list(self.joints)
        ps, gs = pred[:, sel], gt[:, sel]
        jerr = F.joint_errors(ps, gs)
        if self.root_align:
            root = None
        else:
            root = sel.index(sk.root) if sk.root in sel else None
        cols = [
            jerr.mean(-1),
            F.p_mpjpe(ps, gs, "none"),
            F.n_mpjpe(ps, gs, "none", root=root),
        ]
        n = pred.shape[0]
        nan = torch.full((n,), float("nan"), dtype=torch.float64)
        if self._pairs:
            cols += [
                F.lse(pred, sk, "none", joints=sel),
                F.lse(gt, sk, "none", joints=sel),
            ]
        else:
            cols += [nan, nan]
        cols.append(F.bsle(pred, gt, sk, "none", joints=sel) if self._bones else nan)
        if self._pairs:
            sym = F.lse_ratio(pred, sk, "none", per_pair=True, joints=sel)
            sym_gt = F.lse_ratio(gt, sk, "none", joints=sel)
            cols += [sym.mean(-1) * 100, (sym > self.sym_threshold).double().mean(-1) * 100,
                     sym_gt * 100]  # fmt: skip
        else:
            cols += [nan, nan, nan]
        if self._bones:
            # zero-length GT bones (ratio undefined) are left out of their sample's means; a
            # sample left with no bone counts 0 (see the class docstring)
            ln = F.bsle_ratio(pred, gt, sk, "none", per_bone=True, joints=sel,
                              degenerate="mask")
            ok = ~ln.isnan()
            masked = int((~ok).sum())
            if masked:
                self.masked_bones += masked
                logger.warning(
                    "BSLE ratio: %d zero-length ground-truth bone(s) in this batch left out "
                    "(ratio undefined); %d so far", masked, self.masked_bones,
                )
            n_ok = ok.sum(-1).clamp_min(1).double()
            cols += [ln.nan_to_num(0.0).sum(-1) / n_ok * 100,
                     ((ln > self.len_threshold) & ok).double().sum(-1) / n_ok * 100]
        else:
            cols += [nan, nan]
        cols += [
            F.pck(ps, gs, self.pck_threshold_mm, "none") * 100,
            F.auc(ps, gs, self.pck_threshold_mm, self.auc_steps, "none") * 100,
        ]
        return torch.stack(cols, dim=-1), jerr

    @torch.no_grad()
    def update(
        self,
        pred: torch.Tensor | np.ndarray,
        gt: torch.Tensor | np.ndarray,
        actions: str | Sequence[str] | np.ndarray | None = None,
    ) -> None:
        """Add a batch.

        Args:
            pred, gt: ``(..., J, 3)`` poses in ``units`` (torch or numpy; any device).
            actions: one label for the whole batch, one per sample (``prod(...)``), or one per
                leading index (``shape[0]``, repeated over the other leading dims).
        """
        pt, gtt = torch.as_tensor(pred), torch.as_tensor(gt)
        if pt.shape != gtt.shape:
            raise PoseShapeError(
                f"pred {tuple(pt.shape)} and gt {tuple(gtt.shape)} must have the same shape"
            )
        lead = tuple(pt.shape[:-2])
        p = self._prepare(pt, "pred")
        g = self._prepare(gtt, "gt")
        n = p.shape[0]
        acts = self._expand_actions(actions, lead, n)
        if n == 0:
            return
        if self.units == "m" and self.root_align and self._count == 0:
            warn_if_millimetres(
                g / 1000.0, "gt", hint="pass units='mm' or units='cm' to the evaluator"
            )
        if self.root_align and self._count == 0:
            _warn_if_units_differ(p, g, self.units)
        vals, jerr = self._per_sample(p, g)
        self._sum += vals.sum(0)
        self._joint_sum += jerr.sum(0)
        self._count += n
        if acts is not None:
            idx_of: dict[str, list[int]] = {}
            for i, a in enumerate(acts):
                idx_of.setdefault(a, []).append(i)
            for a, idx in idx_of.items():
                s = vals[torch.tensor(idx)].sum(0)
                self._action_sum[a] = self._action_sum[a] + s if a in self._action_sum else s
                self._action_count[a] = self._action_count.get(a, 0) + len(idx)

    # ------------------------------------------------------------------ results
    def _as_dict(self, sums: torch.Tensor, count: int) -> dict[str, float]:
        return {k: float(v) for k, v in zip(self.keys, (sums / count).tolist())}

    def compute(self) -> dict[str, float]:
        """Summary over every sample seen: metric name -> value (mm or %)."""
        if self._count == 0:
            raise ValueError(
                "PoseEvaluator.compute(): no poses to summarise: called before any update with "
                "poses (update() was not called, or only with empty batches)"
            )
        return self._as_dict(self._sum, self._count)

    def result(self) -> EvalResult:
        """Summary, per-action and per-joint breakdowns as an :class:`EvalResult`."""
        summary = self.compute()
        names = self.skeleton.joint_names
        per_joint = {
            names[j]: float(v)
            for j, v in zip(self.joints, (self._joint_sum / self._count).tolist())
        }
        acts = sorted(self._action_sum)
        return EvalResult(
            summary=summary,
            per_action={a: self._as_dict(self._action_sum[a], self._action_count[a]) for a in acts},
            per_joint=per_joint,
            count=self._count,
            per_action_count={a: self._action_count[a] for a in acts},
        )


#: a prediction whose size differs from the ground truth's by more than this factor is read as
#: given in other units (a factor of 10, 100 or 1000), not as a bad prediction
_UNITS_RATIO = 5.0


def _warn_if_units_differ(pred_mm: torch.Tensor, gt_mm: torch.Tensor, units: str) -> bool:
    """Warn (:class:`~sealloss.errors.UnitsWarning`) when root-relative predictions and ground
    truth (both in mm after the evaluator's conversion) differ in size by more than
    :data:`_UNITS_RATIO`: typically predictions in metres against ground truth in millimetres,
    which would report the ground truth's own size as the error. Returns True when it warned."""
    p = pred_mm.norm(dim=-1).median().item()
    g = gt_mm.norm(dim=-1).median().item()
    if not (p > 0 and g > 0) or 1 / _UNITS_RATIO <= p / g <= _UNITS_RATIO:
        return False
    factor = p / g
    near = min((10.0, 100.0, 1000.0, 0.1, 0.01, 0.001), key=lambda f: abs(math.log(factor / f)))
    warnings.warn(
        f"pred and gt differ in size by a factor of {factor:.3g} (median joint distance from "
        f"the root: pred {p:.3g} mm, gt {g:.3g} mm, read as units={units!r}): they look like "
        f"different units (about x{near:g}), e.g. predictions in metres against ground truth in "
        "millimetres; convert them to the same units, or the errors are the poses' own size",
        UnitsWarning,
        stacklevel=3,
    )
    return True


def evaluate(
    pred: torch.Tensor | np.ndarray,
    gt: torch.Tensor | np.ndarray,
    skeleton: Skeleton | str,
    actions: str | Sequence[str] | np.ndarray | None = None,
    units: str = "m",
    joints: Sequence[int] | torch.Tensor | None = None,
    batch_size: int = 4096,
    **kwargs: object,
) -> EvalResult:
    """One-call evaluation of ``(..., J, 3)`` predictions against ground truth.

    Arguments as in :class:`PoseEvaluator` (extra keyword arguments go to it); the data are
    fed in chunks of ``batch_size`` samples to bound memory.

    Example:
        >>> y = torch.zeros(2, 17, 3); y[:, 1:, 2] = 0.1
        >>> evaluate(y, y, "h36m17").summary["MPJPE"]
        0.0
    """
    ev = PoseEvaluator(skeleton, units=units, joints=joints, **kwargs)  # type: ignore[arg-type]
    p, g = torch.as_tensor(pred), torch.as_tensor(gt)
    if p.shape != g.shape:
        raise PoseShapeError(
            f"pred {tuple(p.shape)} and gt {tuple(g.shape)} must have the same shape"
        )
    if p.dim() < 2:
        raise PoseShapeError(f"poses must have shape (..., J, 3), got {tuple(p.shape)}")
    lead = tuple(p.shape[:-2])
    n = int(np.prod(lead)) if lead else 1
    if n == 0:
        raise PoseShapeError(
            f"evaluate: no poses to evaluate: pred and gt have shape {tuple(p.shape)} (the input "
            "is empty)"
        )
    acts = ev._expand_actions(actions, lead, n)
    p = p.reshape(n, *p.shape[-2:])
    g = g.reshape(n, *g.shape[-2:])
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        ev.update(p[start:stop], g[start:stop], None if acts is None else acts[start:stop])
    return ev.result()

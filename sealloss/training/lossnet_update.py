"""The wrapper's loss-net update: ``k`` steps of :func:`sealloss.objectives.lossnet_loss` on the
ground truth against negatives (the pose-net's detached predictions plus synthetic perturbations),
with the distributed gradient average, the non-finite guards (a step with a non-finite loss or
gradient is skipped, counted and warned about) and the statistics of the step.

Called by :meth:`AlternatingWrapper.energy_term
<sealloss.training.wrapper.AlternatingWrapper.energy_term>`
in dynamic and warm modes; it reads and updates the wrapper's counters, generator and loss-net
optimizer.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..objectives import lossnet_loss
from ..objectives import task_cost as _task_cost
from . import distributed as dist
from .diagnostics import energy_gap, margin_violations
from .seal_stats import SealStats

if TYPE_CHECKING:
    from .wrapper import AlternatingWrapper

__all__ = ["lossnet_update"]


def lossnet_update(
    w: AlternatingWrapper, x: Tensor, y_gt: Tensor, y_hat: Tensor, stats: SealStats
) -> None:
    """k ranking steps on (x, y*, negatives); x, y_gt, y_hat detached canonical (N, J, *)."""
    n = y_gt.shape[0]
    if w.lossnet_batch is not None and n > w.lossnet_batch:
        sel = torch.randperm(n, generator=w.generator)[: w.lossnet_batch]
        sel = sel.to(y_gt.device)
        x, y_gt, y_hat = x[sel], y_gt[sel], y_hat[sel]
    # canonical root-relative targets for the samplers (root exactly zero)
    root = w.skeleton.root
    y_gt = y_gt - y_gt[:, root : root + 1]
    y_hat = y_hat - y_hat[:, root : root + 1]
    negs = [y_hat.unsqueeze(1)]
    net = w.lossnet
    if w.negatives is not None and w.num_negatives > 0:
        x_net = w._to_net(x)

        def energy_fn(y: Tensor) -> Tensor:  # for hard negatives: (n, K, J, 3) -> (n, K)
            xx = x_net.unsqueeze(1).expand(-1, y.shape[1], -1, -1)
            was = net.training
            net.eval()
            try:
                return net.energy(xx, w._to_net(y)).to(y.dtype)
            finally:
                net.train(was)

        negs.append(
            w.negatives(y_gt, w.num_negatives, w.generator, energy_fn=energy_fn).poses
        )
    y_neg = torch.cat(negs, dim=1)  # (n, K, J, 3)
    x, y_gt, y_neg = w._to_net(x), w._to_net(y_gt), w._to_net(y_neg)
    opt = w.lossnet_optimizer
    assert opt is not None  # not static
    was_training = net.training
    net.train()
    for _ in range(w.k):
        with torch.autocast(device_type=x.device.type, enabled=False):
            out = lossnet_loss(net, x, y_gt, y_neg, w.objective, w.generator)
        loss = out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        dist.all_reduce_gradients(net.parameters())  # every rank holds the same gradients
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        flags = torch.stack([torch.isfinite(loss.detach()).all()]
                            + [torch.isfinite(g).all() for g in grads])
        loss_ok, *grads_ok = flags.tolist()  # one host sync per loss-net step
        if not dist.all_ok(bool(loss_ok) and all(grads_ok), loss.device):
            w.skipped_lossnet_steps += 1
            opt.zero_grad(set_to_none=True)
            what = ("gradients" if loss_ok else "loss (on this or another rank)")
            warnings.warn(
                f"sealloss: non-finite loss-net {what} at step {w.steps}; loss-net step "
                f"skipped ({w.skipped_lossnet_steps} so far)",
                RuntimeWarning,
                stacklevel=4,
            )
            break
        if w.grad_clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), w.grad_clip)
        opt.step()
        w.lossnet_updates += 1
        stats.lossnet_updated = True
        stats.lossnet_loss = loss.detach()
        # the prediction negative is index 0; statistics before this update
        gap = energy_gap(out.e_neg[:, 0], out.e_pos)
        stats.energy_gt = out.e_pos.detach().mean()
        stats.energy_gap, stats.gap_snr = gap.mean, gap.ratio
        cost = out.cost if out.cost is not None else _task_cost(
            y_neg.detach(), y_gt.detach(), "mpjpe"
        )
        stats.margin_violations = margin_violations(
            out.e_neg[:, 0], out.e_pos, cost[:, 0], w.objective.margin
        )
    net.train(was_training)

"""CPU smoke run: MotionBERT's ``DSTformer`` + the sealloss wrapper (2.5D units, scale='gt').

    python examples/motionbert/smoke.py --upstream /path/to/MotionBERT [--data embedded|FOLDER]

Imports the model class and the loss functions from the checkout, builds 27-frame clips from the
motion clips shipped in sealloss (``--data``, default ``embedded``: no download) with
MotionBERT-style 2.5D labels (screen-normalised projection, depth scaled by f / Z_root and 2 /
res_w) and (x, y, confidence = 1) inputs, makes the target root-relative as the upstream loop does
(``rootrel``), and runs the checks of ``examples/smoke_common.py``. It also reports how far the
adapter's 'gt' and 'constant' scale policies put the canonical target from the true metric pose.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import smoke_common as sc  # noqa: E402
from sealloss.adapters import get  # noqa: E402

# third-party packages the upstream modules imported below need (no stand-in for them)
REQUIRES: tuple[str, ...] = ()


def main() -> None:
    args = sc.parse_args(__doc__.splitlines()[0], batch=2, frames=27)
    sc.require(*REQUIRES, backbone="motionbert")
    sc.add_upstream(args.upstream)
    from lib.model.DSTformer import DSTformer
    from lib.model.loss import loss_mpjpe, loss_velocity, n_mpjpe

    model = DSTformer(dim_in=3, dim_out=3, dim_feat=64, dim_rep=128, depth=2, num_heads=4,
                      mlp_ratio=2, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                      maxlen=args.frames, num_joints=17)
    adapter = get("motionbert")  # scale="auto": 'gt' through convert(), else 'constant'
    sl = sc.load_slice(args.data, args.frames)
    gen = np.random.default_rng(args.seed)
    # x (B, T, 17, 3) with conf = 1; y (B, T, 17, 3) 2.5D, rootrel as upstream before the hook
    batches = sc.window_batches(sl, adapter, args.batch, gen, "2.5d")

    def loss_fn(pred, y):  # the shipped pose3d configs: lambda_scale 0.5, lambda_3d_velocity 20
        return loss_mpjpe(pred, y) + 0.5 * n_mpjpe(pred, y) + 20.0 * loss_velocity(pred, y)

    rows = sc.pick(sl, 16, np.random.default_rng(args.seed + 1))
    y25 = torch.from_numpy(sc.two_point_five_d(sl, rows))
    true = torch.from_numpy(sl.y3d[rows]).norm(dim=-1).sum(-1).flatten()
    for policy, metric in (("gt", adapter.target_3d(y25, ref=y25)),
                           ("constant", adapter.target_3d(y25))):
        ratio = metric.norm(dim=-1).sum(-1).flatten() / true
        print(f"scale '{policy}': canonical target size / true metric size: median "
              f"{ratio.median():.3f}, range {ratio.min():.3f}-{ratio.max():.3f}")

    rep = sc.run(backbone="motionbert", args=args, model=model, adapter=adapter, batches=batches,
                 loss_fn=loss_fn, pattern="add", frames_per_clip=8)
    sc.finish(rep)


if __name__ == "__main__":
    main()

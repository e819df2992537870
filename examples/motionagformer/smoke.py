"""CPU smoke run: ``MotionAGFormer`` + the sealloss wrapper (2.5D units, scale='gt').

    python examples/motionagformer/smoke.py --upstream /path/to/MotionAGFormer \
        [--data embedded|FOLDER]

Imports the model class and the loss functions from the checkout (stand-in ``timm`` when the real
one does not import; ``train.py`` imports wandb and is not used), builds 27-frame clips from the
motion clips shipped in sealloss (``--data``, default ``embedded``: no download) with
MotionBERT-style 2.5D labels, an XS-like model, and runs the checks of
``examples/smoke_common.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import smoke_common as sc  # noqa: E402
from sealloss.adapters import get  # noqa: E402

# third-party packages the upstream modules imported below need (no stand-in for them)
REQUIRES: tuple[str, ...] = ()


def main() -> None:
    args = sc.parse_args(__doc__.splitlines()[0], batch=2, frames=27)
    sc.require(*REQUIRES, backbone="motionagformer")
    sc.add_upstream(args.upstream)
    stubs = sc.ensure_importable("timm")
    from loss.pose3d import loss_mpjpe, loss_velocity, n_mpjpe
    from model.MotionAGFormer import MotionAGFormer

    model = MotionAGFormer(n_layers=2, dim_in=3, dim_feat=32, dim_rep=64, dim_out=3,
                           mlp_ratio=4, num_heads=8, use_layer_scale=True,
                           layer_scale_init_value=1e-5, use_adaptive_fusion=True,
                           use_temporal_similarity=True, neighbour_num=2, num_joints=17,
                           n_frames=args.frames)
    adapter = get("motionagformer")  # scale="auto": 'gt' through convert(), else 'constant'
    sl = sc.load_slice(args.data, args.frames)
    gen = np.random.default_rng(args.seed)
    # x (B, T, 17, 3) with conf = 1; y 2.5D, root_rel as upstream before the hook
    batches = sc.window_batches(sl, adapter, args.batch, gen, "2.5d")

    def loss_fn(pred, y):  # configs: lambda_scale 0.5, lambda_3d_velocity 20, others 0
        return loss_mpjpe(pred, y) + 0.5 * n_mpjpe(pred, y) + 20.0 * loss_velocity(pred, y)

    rep = sc.run(backbone="motionagformer", args=args, model=model, adapter=adapter,
                 batches=batches, loss_fn=loss_fn, pattern="add", frames_per_clip=8, stubs=stubs,
                 lr=5e-4)
    sc.finish(rep)


if __name__ == "__main__":
    main()

"""CPU smoke run: ``KTPFormer`` + the sealloss wrapper (separate energy backward).

    python examples/ktpformer/smoke.py --upstream /path/to/KTPFormer [--data embedded|FOLDER]

Imports the model class, the upstream adjacency builders and loss functions from the checkout
(stand-in ``timm`` when the real one does not import), builds the spatial adjacency from the
H36M-17 parents and the temporal chain adjacency as upstream does, makes 27-frame clips from the
motion clips shipped in sealloss (``--data``, default ``embedded``: no download) (the model's
in-place add on a ReLU output is worked around with ``clone_module_outputs``, as in the patch) and
back-propagates like MixSTE (``loss.backward(loss.clone().detach())`` after
``seal.energy_term(...).backward(...)``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import smoke_common as sc  # noqa: E402
from sealloss.adapters import get  # noqa: E402
from sealloss.adapters.ktpformer import clone_module_outputs  # noqa: E402

from sealloss.pose.skeleton import get_skeleton  # noqa: E402

# third-party packages the upstream modules imported below need (no stand-in for them)
REQUIRES: tuple[str, ...] = ("einops", "matplotlib", "scipy")

W_MPJPE = [1, 1, 2.5, 2.5, 1, 2.5, 2.5, 1, 1, 1, 1.5, 1.5, 4, 4, 1.5, 4, 4]


def main() -> None:
    args = sc.parse_args(__doc__.splitlines()[0], batch=2, frames=27)
    sc.require(*REQUIRES, backbone="ktpformer")
    sc.add_upstream(args.upstream)
    stubs = sc.ensure_importable("einops", "timm")
    from common.graph_utils import adj_mx_from_skeleton_3dhp, adj_mx_from_skeleton_temporal
    from common.loss import mean_velocity_error_train, weighted_mpjpe
    from common.model_ktpformer import KTPFormer

    adj = adj_mx_from_skeleton_3dhp(17, list(get_skeleton("h36m17").parents))
    adj_temporal = adj_mx_from_skeleton_temporal(args.frames, np.arange(args.frames) - 1)
    model = KTPFormer(adj, adj_temporal, num_frame=args.frames, num_joints=17, in_chans=2,
                      embed_dim_ratio=32, depth=2, num_heads=8, mlp_ratio=2.0, qkv_bias=True,
                      qk_scale=None, drop_path_rate=0.1)
    # the pinned model adds in place to a ReLU output (KTPFormer#15/#23); the patch adds this too
    clone_module_outputs(model)
    adapter = get("ktpformer")
    sl = sc.load_slice(args.data, args.frames)
    gen = np.random.default_rng(args.seed)
    batches = sc.window_batches(sl, adapter, args.batch, gen)  # (B, T, 17, 2/3)
    w = torch.tensor(W_MPJPE, dtype=torch.float32)

    def loss_fn(pred, y):
        dif = pred[:, 1:] - pred[:, :-1]
        tc = (dif.square() * w[:, None]).mean()
        return weighted_mpjpe(pred, y, w) + 0.5 * tc + 2.0 * mean_velocity_error_train(
            pred, y, axis=1)

    rep = sc.run(backbone="ktpformer", args=args, model=model, adapter=adapter, batches=batches,
                 loss_fn=loss_fn, pattern="backward", frames_per_clip=8, stubs=stubs)
    sc.finish(rep)


if __name__ == "__main__":
    main()

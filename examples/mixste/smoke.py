"""CPU smoke run: MixSTE's ``MixSTE2`` + the sealloss wrapper (separate energy backward).

    python examples/mixste/smoke.py --upstream /path/to/MixSTE [--data embedded|FOLDER]

Imports the model class and the loss functions from the checkout (stand-ins for ``timm`` and the
unused ``local_attention`` when the real ones do not import), builds 27-frame clips from the motion
clips shipped in sealloss (``--data``, default ``embedded``: no download), re-composes the upstream
loss (weighted MPJPE + 0.5 temporal consistency + 2 velocity) and back-propagates it the upstream
way, ``loss.backward(loss.clone().detach())``, after
``seal.energy_term(...).backward(retain_graph=True)`` (the patch's hook).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import smoke_common as sc  # noqa: E402
from sealloss.adapters import get  # noqa: E402

# third-party packages the upstream modules imported below need (no stand-in for them)
REQUIRES: tuple[str, ...] = ("einops", "matplotlib")

# per-joint weights of the upstream weighted MPJPE (H36M-17), stated in BACKBONES.md s.7
W_MPJPE = [1, 1, 2.5, 2.5, 1, 2.5, 2.5, 1, 1, 1, 1.5, 1.5, 4, 4, 1.5, 4, 4]


def main() -> None:
    args = sc.parse_args(__doc__.splitlines()[0], batch=2, frames=27)
    sc.require(*REQUIRES, backbone="mixste")
    sc.add_upstream(args.upstream)
    stubs = sc.ensure_importable("einops", "timm", "local_attention")
    from common.loss import mean_velocity_error_train, weighted_mpjpe
    from common.model_cross import MixSTE2

    model = MixSTE2(num_frame=args.frames, num_joints=17, in_chans=2, embed_dim_ratio=32,
                    depth=2, num_heads=8, mlp_ratio=2.0, qkv_bias=True, qk_scale=None,
                    drop_path_rate=0.1)
    adapter = get("mixste")
    sl = sc.load_slice(args.data, args.frames)
    gen = np.random.default_rng(args.seed)
    batches = sc.window_batches(sl, adapter, args.batch, gen)  # (B, T, 17, 2/3)
    w = torch.tensor(W_MPJPE, dtype=torch.float32)

    def loss_fn(pred, y):
        dif = pred[:, 1:] - pred[:, :-1]
        tc = (dif.square() * w[:, None]).mean()
        return weighted_mpjpe(pred, y, w) + 0.5 * tc + 2.0 * mean_velocity_error_train(
            pred, y, axis=1)

    rep = sc.run(backbone="mixste", args=args, model=model, adapter=adapter, batches=batches,
                 loss_fn=loss_fn, pattern="backward", frames_per_clip=8, stubs=stubs)
    sc.finish(rep)


if __name__ == "__main__":
    main()

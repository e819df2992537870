"""CPU smoke run: PoseFormer's ``PoseTransformer`` + the sealloss wrapper.

    python examples/poseformer/smoke.py --upstream /path/to/PoseFormer [--data embedded|FOLDER]

Imports the model class and ``mpjpe`` from the checkout (with the stand-in ``timm`` when the real
one does not import), builds 9-frame windows from the motion clips shipped in sealloss (``--data``,
default ``embedded``: no download) and runs the checks of ``examples/smoke_common.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import smoke_common as sc  # noqa: E402
from sealloss.adapters import get  # noqa: E402

# third-party packages the upstream modules imported below need (no stand-in for them)
REQUIRES: tuple[str, ...] = ("einops",)


def main() -> None:
    args = sc.parse_args(__doc__.splitlines()[0], batch=8, frames=9)
    sc.require(*REQUIRES, backbone="poseformer")
    sc.add_upstream(args.upstream)
    stubs = sc.ensure_importable("einops", "timm")
    from common.loss import mpjpe
    from common.model_poseformer import PoseTransformer

    model = PoseTransformer(num_frame=args.frames, num_joints=17, in_chans=2, embed_dim_ratio=16,
                            depth=2, num_heads=8, mlp_ratio=2.0, qkv_bias=True, qk_scale=None,
                            drop_path_rate=0.1)
    pad = (args.frames - 1) // 2
    adapter = get("poseformer", pad=pad, causal_shift=0)
    sl = sc.load_slice(args.data, args.frames)
    gen = np.random.default_rng(args.seed)
    # x (B, F, 17, 2), y (B, 1, 17, 3)
    batches = sc.window_batches(sl, adapter, args.batch, gen, "centre", pad)

    rep = sc.run(backbone="poseformer", args=args, model=model, adapter=adapter, batches=batches,
                 loss_fn=mpjpe, pattern="add", stubs=stubs)
    sc.finish(rep)


if __name__ == "__main__":
    main()

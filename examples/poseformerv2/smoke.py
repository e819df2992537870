"""CPU smoke run: PoseFormerV2's ``PoseTransformerV2`` + the sealloss wrapper.

    python examples/poseformerv2/smoke.py --upstream /path/to/PoseFormerV2 [--data embedded|FOLDER]

Imports the model class and ``mpjpe`` from the checkout (with the stand-in ``timm``/``torch_dct``
when the real ones do not import), builds 9-frame windows (3 kept frames, 3 DCT coefficients) from
the motion clips shipped in sealloss (``--data``, default ``embedded``: no download) and runs the
checks of ``examples/smoke_common.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import smoke_common as sc  # noqa: E402
from sealloss.adapters import get  # noqa: E402

# third-party packages the upstream modules imported below need (no stand-in for them)
REQUIRES: tuple[str, ...] = ("einops", "matplotlib")


def main() -> None:
    args = sc.parse_args(__doc__.splitlines()[0], batch=8, frames=9)
    sc.require(*REQUIRES, backbone="poseformerv2")
    sc.add_upstream(args.upstream)
    stubs = sc.ensure_importable("einops", "timm", "torch_dct")
    from common.loss import mpjpe
    from common.model_poseformer import PoseTransformerV2

    cfg = SimpleNamespace(embed_dim_ratio=16, depth=2, number_of_kept_frames=3,
                          number_of_kept_coeffs=3)
    model = PoseTransformerV2(num_frame=args.frames, num_joints=17, in_chans=2, num_heads=8,
                              mlp_ratio=2.0, qkv_bias=True, qk_scale=None, drop_path_rate=0.1,
                              args=cfg)
    pad = (args.frames - 1) // 2
    adapter = get("poseformerv2", pad=pad, causal_shift=0)
    sl = sc.load_slice(args.data, args.frames)
    gen = np.random.default_rng(args.seed)
    # x (B, F, 17, 2), y (B, 1, 17, 3)
    batches = sc.window_batches(sl, adapter, args.batch, gen, "centre", pad)

    rep = sc.run(backbone="poseformerv2", args=args, model=model, adapter=adapter,
                 batches=batches, loss_fn=mpjpe, pattern="add", stubs=stubs)
    sc.finish(rep)


if __name__ == "__main__":
    main()

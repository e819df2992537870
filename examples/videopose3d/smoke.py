"""CPU smoke run: VideoPose3D's ``TemporalModelOptimized1f`` + the sealloss wrapper.

    python examples/videopose3d/smoke.py --upstream /path/to/VideoPose3D [--data embedded|FOLDER]

Imports the model class and ``mpjpe`` from the checkout (run.py is module-level code and needs
CUDA-free data files, so it is not imported), builds 27-frame windows from a slice of the motion
clips shipped in sealloss (``--data``, default ``embedded``: no download), and runs the checks of
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
    args = sc.parse_args(__doc__.splitlines()[0], batch=8, frames=27)
    sc.require(*REQUIRES, backbone="videopose3d")
    sc.add_upstream(args.upstream)
    from common.loss import mpjpe
    from common.model import TemporalModelOptimized1f

    widths = {27: [3, 3, 3], 81: [3, 3, 3, 3], 9: [3, 3]}[args.frames]
    model = TemporalModelOptimized1f(17, 2, 17, filter_widths=widths, dropout=0.25, channels=128)
    pad = (args.frames - 1) // 2
    adapter = get("videopose3d", pad=pad, causal_shift=0)
    sl = sc.load_slice(args.data, args.frames)
    gen = np.random.default_rng(args.seed)

    windows = sc.window_batches(sl, adapter, args.batch, gen, "centre", pad)

    def batches():
        x, y = windows()  # (B, F, 17, 2), (B, 1, 17, 3)
        y[:, :, 0] = 0  # as upstream, where the patch calls the wrapper
        return x, y

    rep = sc.run(backbone="videopose3d", args=args, model=model, adapter=adapter,
                 batches=batches, loss_fn=mpjpe, pattern="add", lr=1e-3)
    sc.finish(rep)


if __name__ == "__main__":
    main()

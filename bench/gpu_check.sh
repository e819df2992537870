#!/usr/bin/env bash
# GPU check (issue 14): on a machine with a CUDA GPU, run the CUDA tests and measure the
# plain / SEAL training-step ratio under AMP for SimpleBaseline and a MixSTE-sized transformer
# stand-in (~33M parameters, 243 frames x 17 joints input). Writes bench/results/gpu_check.json
# (with the GPU's name). Budget: under 8 minutes in all (each part has its own timeout).
#
#   bash bench/gpu_check.sh            # from the repository root
#
# Without a usable CUDA GPU it exits 2 at once with a message (never hangs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=bench/results/gpu_check.json

# 1. is there a GPU? (bounded: a broken driver must not hang the check)
if ! command -v nvidia-smi >/dev/null 2>&1 && [ -z "${CUDA_VISIBLE_DEVICES:-}" ]; then
  echo "gpu_check: no CUDA GPU here (no nvidia-smi, CUDA_VISIBLE_DEVICES unset); nothing run" >&2
  exit 2
fi
if ! timeout 60 "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: torch sees no CUDA GPU (torch.cuda.is_available() is False, or the check" \
       "timed out); nothing run" >&2
  exit 2
fi

# 2. the CUDA tests (tests named or marked for cuda); pytest exit 5 = none collected
set +e
timeout 150 "$PY" -m pytest -q tests -k cuda -p no:cacheprovider
TESTS_RC=$?
set -e
if [ "$TESTS_RC" -ne 0 ] && [ "$TESTS_RC" -ne 5 ]; then
  echo "gpu_check: CUDA tests failed (exit $TESTS_RC)" >&2
fi

# 3. plain vs SEAL step under AMP (bounded)
set +e
TESTS_RC=$TESTS_RC OUT=$OUT timeout 270 "$PY" - <<'PYEOF'
"""Plain vs SEAL training step on the GPU under AMP, interleaved, median of N."""
import json
import os
import statistics
import time

import torch

from sealloss import AlternatingWrapper, __version__
from sealloss.baselines import SimpleBaseline

dev = torch.device("cuda")
amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
REPEATS = int(os.environ.get("GPU_CHECK_REPEATS", "15"))


class MixSTELike(torch.nn.Module):
    """A MixSTE-sized stand-in: per-joint embedding, 8 x (spatial over 17 joints, temporal over
    243 frames) transformer layers of width 512, linear head. (B, T, J, 2) -> (B, T, J, 3)."""

    def __init__(self, frames=243, joints=17, width=512, depth=8, heads=8, mlp=1024):
        super().__init__()
        self.embed = torch.nn.Linear(2, width)
        self.pos_s = torch.nn.Parameter(torch.zeros(1, joints, width))
        self.pos_t = torch.nn.Parameter(torch.zeros(1, frames, width))

        def layer():
            return torch.nn.TransformerEncoderLayer(width, heads, mlp, dropout=0.0,
                                                    batch_first=True, norm_first=True)

        self.spatial = torch.nn.ModuleList(layer() for _ in range(depth))
        self.temporal = torch.nn.ModuleList(layer() for _ in range(depth))
        self.head = torch.nn.Linear(width, 3)

    def forward(self, x):
        b, t, j, _ = x.shape
        h = self.embed(x)
        for i, (s_layer, t_layer) in enumerate(zip(self.spatial, self.temporal)):
            h = h.reshape(b * t, j, -1)
            h = s_layer(h + self.pos_s if i == 0 else h)
            h = h.reshape(b, t, j, -1).transpose(1, 2).reshape(b * j, t, -1)
            h = t_layer(h + self.pos_t if i == 0 else h)
            h = h.reshape(b, j, t, -1).transpose(1, 2)
        return self.head(h)


def bench(make_model, x, y, repeats):
    models, opts = [], []
    for _ in range(2):
        torch.manual_seed(0)
        m = make_model().to(dev)
        models.append(m)
        opts.append(torch.optim.AdamW(m.parameters(), lr=1e-4))
    seal = AlternatingWrapper(opts[1], "h36m17", mode="static", score_fraction=0.25,
                              log_every=10**9, device=dev)
    scalers = [torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
               for _ in range(2)]

    def step(i, use_seal):
        with torch.autocast("cuda", dtype=amp_dtype):
            pred = models[i](x)
            loss = (pred.float() - y).norm(dim=-1).mean()
            if use_seal:
                loss = seal(loss, x, pred, y)
        opts[i].zero_grad(set_to_none=True)
        scalers[i].scale(loss).backward()
        scalers[i].step(opts[i])
        scalers[i].update()

    def timed(i, use_seal):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        step(i, use_seal)
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1e3

    for _ in range(3):  # warm-up (cudnn/cublas autotune, allocator)
        timed(0, False), timed(1, True)
    plain, sealed = [], []
    for r in range(repeats):
        order = (False, True) if r % 2 == 0 else (True, False)
        for use_seal in order:
            (sealed if use_seal else plain).append(timed(int(use_seal), use_seal))
    ratios = sorted(s / p for s, p in zip(sealed, plain))
    q = statistics.quantiles(ratios, n=4)
    return {
        "posenet_params": sum(p.numel() for p in models[0].parameters()),
        "input_shape": list(x.shape),
        "plain_median_ms": round(statistics.median(plain), 3),
        "seal_median_ms": round(statistics.median(sealed), 3),
        "ratio_of_medians": round(statistics.median(sealed) / statistics.median(plain), 3),
        "ratio_per_repeat": {"min": round(ratios[0], 3), "q1": round(q[0], 3),
                             "median": round(statistics.median(ratios), 3),
                             "q3": round(q[2], 3), "max": round(ratios[-1], 3)},
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }


def data(shape):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, 2, generator=g) * 0.3
    y = torch.randn(*shape, 3, generator=g) * 0.2
    y = y - y[..., :1, :]
    return x.to(dev), y.to(dev)


rows = {}
x, y = data((1024, 17))
rows["simplebaseline_b1024"] = bench(SimpleBaseline, x, y, REPEATS)
print("simplebaseline", rows["simplebaseline_b1024"], flush=True)
x, y = data((int(os.environ.get("GPU_CHECK_CLIPS", "8")), 243, 17))
rows["mixste_like_243x17"] = bench(MixSTELike, x, y, REPEATS)
print("mixste_like", rows["mixste_like_243x17"], flush=True)
out = {
    "what": "training step (AMP), plain vs + AlternatingWrapper(static, 'h36m17', "
            "score_fraction=0.25, lam='auto'), interleaved, median of repeats; ms",
    "gpu": torch.cuda.get_device_name(0),
    "amp_dtype": str(amp_dtype),
    "torch": torch.__version__,
    "cuda": torch.version.cuda,
    "sealloss_version": __version__,
    "repeats": REPEATS,
    "cuda_tests_exit_code": int(os.environ["TESTS_RC"]),
    "rows": rows,
}
os.makedirs(os.path.dirname(os.environ["OUT"]), exist_ok=True)
with open(os.environ["OUT"], "w") as f:
    f.write(json.dumps(out, indent=2) + "\n")
print("wrote", os.environ["OUT"])
PYEOF
BENCH_RC=$?
set -e
if [ "$BENCH_RC" -ne 0 ]; then
  echo "gpu_check: the step benchmark failed or timed out (exit $BENCH_RC)" >&2
  exit "$BENCH_RC"
fi
if [ "$TESTS_RC" -ne 0 ] && [ "$TESTS_RC" -ne 5 ]; then
  exit "$TESTS_RC"
fi
echo "gpu_check: done ($OUT)"

"""CPU smoke run: weigq's SimpleBaseline ``LinearModel`` + the sealloss wrapper.

    python examples/simplebaseline/smoke.py --upstream /path/to/3d_pose_baseline_pytorch \
        [--data embedded|FOLDER] [--patched]

Imports ``LinearModel`` from the checkout's ``src/model.py`` by file path (``import src`` needs the
``src/progress`` submodule), fits z-score statistics on a slice of the motion clips shipped in
sealloss (``--data``, default ``embedded``: no download) with ``SimpleBaselineAdapter.fit``, builds
``(B, 32)`` / ``(B, 48)`` z-scored batches through the adapter and runs the checks of
``examples/smoke_common.py`` with the upstream MSE loss.

``--patched``: the checkout has the example patch applied; also run its ``main_seal.py`` end to
end for a few steps on a temporary data folder in weigq's format built from the same slice.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import smoke_common as sc  # noqa: E402
from sealloss.adapters import get  # noqa: E402
from sealloss.adapters.simplebaseline import SimpleBaselineAdapter  # noqa: E402

# third-party packages the upstream modules imported below need (no stand-in for them)
REQUIRES: tuple[str, ...] = ()

# H36M-17 joints inside the 32-joint raw layout (data/SOURCES.md); weigq's dim_use selects these
RAW32 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]


def load_model_module(upstream: Path):
    spec = importlib.util.spec_from_file_location("weigq_model", upstream / "src" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def weigq_data_dir(folder: Path, sl: sc.Slice, adapter: SimpleBaselineAdapter) -> Path:
    """Write ``stat_3d``, ``train/test_{2d,3d}.pth.tar`` and ``stat_2d.npz`` in weigq's format."""
    def dims(joints, d):
        return np.array([RAW32[j] * d + k for j in joints for k in range(d)])

    use3, use2 = dims(adapter.joints_3d, 3), dims(adapter.joints_2d, 2)
    mean3, std3 = np.zeros(96), np.ones(96)
    mean3[use3], std3[use3] = adapter.mean_3d.numpy(), adapter.std_3d.numpy()
    mean2, std2 = np.zeros(64), np.ones(64)
    mean2[use2], std2[use2] = adapter.mean_2d.numpy(), adapter.std_2d.numpy()
    torch.save({"mean": mean3, "std": std3, "dim_use": use3}, folder / "stat_3d.pth.tar")
    np.savez(folder / "stat_2d.npz", mean=mean2, std=std2, dim_use=use2)
    rows = sl.index[:, 0]
    x = adapter.to_upstream_2d(torch.from_numpy(sl.x2d[rows])).numpy()
    y = adapter.to_upstream_3d(torch.from_numpy(sl.y3d[rows])).numpy()
    half = len(rows) // 2
    for split, part in (("train", slice(0, half)), ("test", slice(half, None))):
        key = (1, "Walking", f"Walking.{split}.h5")
        torch.save({key: y[part]}, folder / f"{split}_3d.pth.tar")
        torch.save({key: x[part]}, folder / f"{split}_2d.pth.tar")
    return folder


def main() -> None:
    args = sc.parse_args(
        __doc__.splitlines()[0], batch=64, frames=1,
        extra=lambda ap: ap.add_argument("--patched", action="store_true",
                                         help="also run the patched main_seal.py"))
    sc.require(*REQUIRES, backbone="simplebaseline")
    upstream = args.upstream.resolve()
    model_mod = load_model_module(upstream)
    model = model_mod.LinearModel(linear_size=256, num_stage=2, p_dropout=0.5)
    model.apply(model_mod.weight_init)

    sl = sc.load_slice(args.data, 1)
    rows_all = sl.index[:, 0]
    stats = SimpleBaselineAdapter.fit(torch.from_numpy(sl.x2d[rows_all]),
                                      torch.from_numpy(sl.y3d[rows_all]))
    kw = dict(mean_3d=stats.mean_3d, std_3d=stats.std_3d, mean_2d=stats.mean_2d,
              std_2d=stats.std_2d)
    adapter = get("simplebaseline", **kw)
    gen = np.random.default_rng(args.seed)

    def batches():
        rows = sc.pick(sl, args.batch, gen)[:, 0]
        x = adapter.to_upstream_2d(torch.from_numpy(sl.x2d[rows]))  # (B, 32)
        y = adapter.to_upstream_3d(torch.from_numpy(sl.y3d[rows]))  # (B, 48)
        return x, y

    rep = sc.run(backbone="simplebaseline", args=args, model=model, adapter=adapter,
                 batches=batches, loss_fn=torch.nn.functional.mse_loss, pattern="add", lr=1e-3)
    print(rep.line())
    ok = rep.ok()
    if args.patched:
        ok = run_patched(upstream, sl, adapter, args) and ok
    sys.exit(0 if ok else 1)


def run_patched(upstream: Path, sl: sc.Slice, adapter, args) -> bool:
    script = upstream / "main_seal.py"
    if not script.is_file():
        print(f"FAIL --patched: {script} not found (apply examples/simplebaseline/*.patch)")
        return False
    with tempfile.TemporaryDirectory() as tmp:
        data = weigq_data_dir(Path(tmp), sl, adapter)
        cmd = [sys.executable, str(script), "--data_dir", str(data), "--ckpt",
               str(Path(tmp) / "ckpt"), "--stat_2d", str(data / "stat_2d.npz"), "--epochs", "1",
               "--max_steps", str(max(args.steps, 2)), "--job", "0", "--linear_size", "128",
               "--seal", "--seal-lambda", str(args.lam)]
        cmd += ["--seal-lossnet", args.lossnet or "none"]
        if not args.lossnet or str(args.lossnet).lower() == "none":
            cmd += ["--seal-mode", "dynamic"]  # a fresh loss-net must train (static is default)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        out = subprocess.run(cmd, cwd=upstream, capture_output=True, text=True, env=env)
        ckpt = Path(tmp) / "ckpt"
        sidecar = all((ckpt / f"ckpt_{k}.{ext}").is_file() for k in ("last", "best")
                      for ext in ("seal.safetensors", "seal-state.sealloss"))
        lines = (out.stdout + out.stderr).strip().splitlines()
        tail = [ln for ln in lines if ln.startswith("epoch")][-1:] or lines[-3:]
        ok = out.returncode == 0 and sidecar
        print(f"{'PASS' if ok else 'FAIL'} main_seal.py "
              f"(patched script, {max(args.steps, 2)} steps, --seal): exit {out.returncode}, "
              f"sidecars beside last and best: {sidecar}; " + " | ".join(tail))
        if not ok:
            return False
        # the upstream-style --load resumes the wrapper too; without its state it refuses
        again = cmd + ["--load", str(ckpt / "ckpt_last.pth.tar"), "--epochs", "2"]
        resumed = subprocess.run(again, cwd=upstream, capture_output=True, text=True, env=env)
        (ckpt / "ckpt_last.seal-state.sealloss").unlink()
        refused = subprocess.run(again, cwd=upstream, capture_output=True, text=True, env=env)
        ok = (resumed.returncode == 0 and "resumed from" in resumed.stdout
              and refused.returncode != 0 and "is missing" in refused.stderr)
        print(f"{'PASS' if ok else 'FAIL'} main_seal.py --load: resumes with its wrapper state "
              f"(exit {resumed.returncode}), refuses without it (exit {refused.returncode})")
        if not ok:
            print((resumed.stdout + resumed.stderr + refused.stderr)[-2000:])
        return ok


if __name__ == "__main__":
    main()

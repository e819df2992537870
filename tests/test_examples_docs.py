"""What a researcher following ``examples/`` to the letter needs, checked without upstream code.

- Stand-ins are put on ``PYTHONPATH`` by an absolute path (the training commands run inside the
  upstream checkout, where ``examples/_stubs`` does not exist), in the Steps of every backbone
  whose model imports ``timm``; each Steps block installs the packages its training script
  needs (tensorboard, tensorboardX, wandb/setuptools, einops, ...).
- The wrapper-state sidecar is not named like a torch file: ``torch.load`` cannot read it.
- A patched run shows that sealloss is on: one line, then the wrapper's statistics periodically,
  even in a script that configures no logging.
- SimpleBaseline's ``main_seal.py`` is seeded, defaults to min(2, CPU count) loader workers and
  never trains past ``--max_steps`` when resumed.

All of these failed before this change (relative ``PYTHONPATH=examples/_stubs``; no package
named in the Steps; ``.seal-state.pt``; nothing logged without a logging setup; ``--job 8``, no
seed, the ``--max_steps`` check after the step).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BACKBONES = sorted(p.parent.name for p in EXAMPLES.glob("*/*.patch"))
# what each upstream model imports that may need a stand-in, and what each training script needs
STUBS = {"poseformer": "timm", "poseformerv2": "timm, torch_dct", "mixste": "timm, local_attention",
         "ktpformer": "timm", "motionagformer": "timm"}
TRAINING_PACKAGES = {
    "poseformer": {"einops"}, "poseformerv2": {"einops", "matplotlib"},
    "mixste": {"einops", "matplotlib", "tensorboard"},
    "ktpformer": {"einops", "matplotlib", "scipy", "tensorboard"},
    "motionbert": {"tensorboardX"}, "motionagformer": {"wandb", "setuptools"},
}


def _steps(name: str) -> str:
    text = (EXAMPLES / name / "README.md").read_text()
    steps = text.split("## Steps", 1)[1].split("\n## ", 1)[0]
    return steps.split("```bash", 1)[1].split("```", 1)[0]


def test_no_relative_stub_path_anywhere() -> None:
    for md in EXAMPLES.rglob("*.md"):
        assert not re.search(r"PYTHONPATH=(\./)?examples/", md.read_text()), md


@pytest.mark.parametrize("name", BACKBONES)
def test_steps_put_the_stubs_on_the_path_from_inside_the_checkout(name: str) -> None:
    block = _steps(name)
    lines = block.splitlines()
    stub = [i for i, ln in enumerate(lines) if "_stubs" in ln]
    if name not in STUBS:
        assert not stub
        return
    assert len(stub) == 1, block
    line = lines[stub[0]]
    assert f'python -c "import {STUBS[name]}"' in line and "||" in line
    assert "export PYTHONPATH=/path/to/sealloss/examples/_stubs" in line
    train = max(i for i, ln in enumerate(lines) if ln.startswith("python ") and "--seal" in ln)
    assert stub[0] < train  # before the training command


@pytest.mark.parametrize("name", sorted(TRAINING_PACKAGES))
def test_steps_install_what_the_training_script_imports(name: str) -> None:
    block = _steps(name)
    installs = [set(ln.split("#")[0].split()[2:]) for ln in block.splitlines()
                if ln.startswith("pip install ") and "/path/to/sealloss" not in ln]
    assert installs and TRAINING_PACKAGES[name] <= set().union(*installs), block
    assert block.index("pip install") < block.index("check_patch.py")


def test_the_wrapper_state_is_not_named_like_a_torch_file(tmp_path: Path) -> None:
    import argparse

    from sealloss.adapters.hooks import (
        add_arguments,
        from_args,
        load_state,
        save_sidecar,
        state_path,
    )

    path = state_path(str(tmp_path / "epoch_3.bin"))
    assert path.endswith(".seal-state.sealloss") and not path.endswith((".pt", ".pth"))
    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ["--seal", "--seal-lossnet", "none", "--seal-mode", "dynamic"])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    seal = from_args(args, opt, "mixste")
    save_sidecar(seal, str(tmp_path / "epoch_3.bin"))
    import pickle

    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=False)  # the premise: not a torch file
    load_state(from_args(args, opt, "mixste"), path)  # its own reader does it
    for md in EXAMPLES.rglob("*.md"):
        assert ".seal-state.pt" not in md.read_text(), md


def test_a_patched_run_says_that_sealloss_is_on() -> None:
    """In a fresh interpreter with no logging set up (as an upstream script is): the "sealloss
    is on" line and the wrapper's periodic statistics reach stderr."""
    code = """
import argparse, torch
from sealloss.adapters import get
from sealloss.adapters.hooks import add_arguments, from_args
args = add_arguments(argparse.ArgumentParser()).parse_args(
    ["--seal", "--seal-lossnet", "none", "--seal-mode", "dynamic", "--seal-lambda", "0.1"])
opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
seal = from_args(args, opt, "videopose3d", pad=0, causal_shift=0)
seal.log_every = 2
a = get("videopose3d", pad=0, causal_shift=0)
g = torch.Generator().manual_seed(0)
for step in range(4):
    y = torch.randn(8, 1, 17, 3, generator=g) * 0.2
    y = y - y[:, :, :1]
    x = y[..., :2] / 3
    y_hat = (y + 0.02 * torch.randn(y.shape, generator=g)).requires_grad_()
    seal((y_hat - y).norm(dim=-1).mean(), x, y_hat, y).backward()
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"^sealloss is on: videopose3d inputs=gt lossnet=None mode=dynamic lam=0\.1 ",
                     r.stderr, re.M), r.stderr[-2000:]
    assert len(re.findall(r"^sealloss step \d+: ", r.stderr, re.M)) >= 2, r.stderr[-2000:]


def _main_seal() -> str:
    text = (EXAMPLES / "simplebaseline" / "simplebaseline.patch").read_text()
    body = text.split("+++ b/main_seal.py\n", 1)[1].split("\n", 1)[1]
    return "\n".join(ln[1:] for ln in body.splitlines() if ln.startswith("+")) + "\n"


def _load_main_seal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Import the patch's ``main_seal.py``; the environment it sets for its own process
    (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``) is undone after the test, so that it does not leak
    into later tests of this process (it once turned torch's weights-only refusal off for them)."""
    path = tmp_path / "main_seal.py"
    path.write_text(_main_seal())
    spec = importlib.util.spec_from_file_location("main_seal_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.setattr(os, "environ", os.environ.copy())  # the module's writes stay here
    spec.loader.exec_module(mod)
    return mod


def test_main_seal_is_seeded_and_sized_for_small_machines(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _load_main_seal(tmp_path, monkeypatch)
    monkeypatch.setattr(sys, "argv", ["main_seal.py", "--stat_2d", "s.npz"])
    args = mod.parse_args()
    assert args.seed == 0 and args.job == min(2, os.cpu_count() or 1)
    tree = ast.parse(_main_seal())
    calls = {ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "torch.manual_seed(args.seed)" in calls
    loaders = [c for c in ast.walk(tree) if isinstance(c, ast.Call)
               and ast.unparse(c.func) == "DataLoader" and c.args
               and ast.unparse(c.args[0]) == "train_set"]
    assert loaders and "generator" in {k.arg for k in loaders[0].keywords}


def test_main_seal_checks_max_steps_before_each_step() -> None:
    """The inner loop breaks on ``step >= max_steps`` before ``step += 1``, and the epoch loop
    stops before training (or overwriting a checkpoint) once the limit is reached."""
    tree = ast.parse(_main_seal())
    main = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "main")
    epoch = next(n for n in ast.walk(main) if isinstance(n, ast.For)
                 and ast.unparse(n.target) == "epoch")
    first = epoch.body[0]
    assert isinstance(first, ast.If) and "args.max_steps" in ast.unparse(first.test)
    assert isinstance(first.body[-1], ast.Break)
    inner = next(n for n in epoch.body if isinstance(n, ast.For))
    guard, incr = inner.body[0], inner.body[1]
    assert isinstance(guard, ast.If) and "step >= args.max_steps" in ast.unparse(guard.test)
    assert ast.unparse(incr) == "step += 1"

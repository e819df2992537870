"""Import hygiene: a lazy package root, no import cycles, a working and light ``--help``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "sealloss"


def _loaded_after(stmt: str) -> dict[str, bool]:
    """Which heavy modules a fresh interpreter holds after running ``stmt``."""
    code = (f"import sys\n{stmt}\nimport json\n"
            "print(json.dumps({m: m in sys.modules for m in "
            "('torch', 'torch_geometric', 'sealloss.training.wrapper', 'sealloss.io.weights')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("stmt", ["import sealloss.metrics", "import sealloss.errors",
                                  "import sealloss", "import sealloss.cli.main"])
def test_no_torch_geometric_on_light_imports(stmt: str) -> None:
    loaded = _loaded_after(stmt)
    assert not loaded["torch_geometric"], f"{stmt} loaded torch_geometric"
    assert not loaded["sealloss.training.wrapper"] and not loaded["sealloss.io.weights"]


def test_errors_import_no_torch() -> None:
    assert not _loaded_after("import sealloss.errors")["torch"]


def test_lazy_root_serves_the_public_names() -> None:
    code = ("import sealloss\n"
            "from sealloss import AlternatingWrapper, evaluate, GraphormerLossNet\n"
            "assert sealloss.AlternatingWrapper is AlternatingWrapper\n"
            "assert set(sealloss.__all__) <= set(dir(sealloss))\n"
            "missing = [n for n in sealloss.__all__ if getattr(sealloss, n, None) is None]\n"
            "assert not missing, missing\n"
            "import importlib.util\n"
            "assert all(importlib.util.find_spec('sealloss.' + m) is None\n"
            "           for m in ('experiment', 'plots', 'baselines')), 'a shim came back'\n"
            "from sealloss.demo.baselines import SimpleBaseline\n"
            "from sealloss.demo.experiment import (ArmConfig, TrainConfig, EvalSet, train_arm, "
            "predict, evaluate_model, epoch_order)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_help_works() -> None:
    out = subprocess.run([sys.executable, "-m", "sealloss.cli.main", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name in ("demo", "pretrain", "evaluate", "score", "info", "refine"):
        assert name in out.stdout
    exe = shutil.which("sealloss")
    if exe:
        assert subprocess.run([exe, "--help"], capture_output=True, timeout=120).returncode == 0


@pytest.mark.parametrize("stmt", [
    "import sealloss.training.wrapper",
    "import sealloss.nn.base",
    "from sealloss.nn import MLPLossNet; MLPLossNet('h36m17', width=8, blocks=1)",
    "import sealloss.io.weights, sealloss.posthoc.refinement, sealloss.training.pretrain",
])
def test_torch_geometric_only_for_graph_lossnets(stmt: str) -> None:
    assert not _loaded_after(stmt)["torch_geometric"], f"{stmt} loaded torch_geometric"
    assert _loaded_after("from sealloss.nn import GraphormerLossNet")["torch_geometric"]

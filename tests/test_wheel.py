"""The wheel holds every module and data file of the source tree (the CLI once shipped without
``sealloss.cli`` and ``sealloss.demo`` because the package list was written by hand).

Builds the wheel with the installed setuptools (no network, no build isolation) into a temporary
folder; ``.ci/run`` additionally installs a wheel into a fresh venv and runs the CLI from there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_SUFFIXES = (".safetensors", ".npz", ".md", ".typed")


def _source_files() -> set[str]:
    """Wheel paths the source tree should produce: modules and package data."""
    want = set()
    for base, prefix in ((ROOT / "sealloss", "sealloss"), (ROOT / "adapters", "sealloss/adapters")):
        for f in base.rglob("*"):
            if "__pycache__" in f.parts or not f.is_file():
                continue
            rel = f"{prefix}/{f.relative_to(base).as_posix()}"
            if f.suffix == ".py" or f.suffix in DATA_SUFFIXES:  # py.typed: suffix ".typed"
                want.add(rel)
    return want


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[set[str], str]:
    """The built wheel's file names and the text of its ``entry_points.txt``."""
    # a copy of the tree, so that no stale build/ folder of the checkout can fill the gaps
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("sealloss", "adapters"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(src), "-w", str(out)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (whl,) = out.glob("sealloss-*.whl")
    with zipfile.ZipFile(whl) as z:
        names = set(z.namelist())
        (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        return names, z.read(ep).decode()


@pytest.fixture(scope="module")
def wheel_names(wheel) -> set[str]:
    return wheel[0]


def test_every_source_module_and_data_file_is_in_the_wheel(wheel_names):
    missing = sorted(_source_files() - wheel_names)
    assert not missing, f"missing from the wheel: {missing}"


def test_the_cli_entry_point_resolves_to_a_shipped_module(wheel):
    names, entry_points = wheel
    scripts = [ln.split("=", 1) for ln in entry_points.splitlines() if "=" in ln]
    target = dict((k.strip(), v.strip()) for k, v in scripts).get("sealloss")
    assert target is not None, f"no 'sealloss' console script in entry_points.txt:\n{entry_points}"
    module = target.split(":", 1)[0].replace(".", "/")
    assert f"{module}.py" in names or f"{module}/__init__.py" in names, target


def test_nothing_outside_the_package_is_shipped(wheel_names):
    stray = sorted(n for n in wheel_names
                   if not (n.startswith("sealloss/") or n.startswith("sealloss-")))
    assert not stray, f"files outside sealloss/ in the wheel: {stray}"

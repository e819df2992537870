"""The README runs as written: its Python blocks are executed, its diff block is applied to a
tiny loop and run, its command lines parse with today's parser (the long ones are mirrored by
faster tests in test_cli*.py), and it points only at files that exist."""

from __future__ import annotations

import configparser
import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(README) if kind == lang]


PY_BLOCKS = _blocks("python")


@pytest.mark.parametrize("index", range(len(PY_BLOCKS)))
def test_python_block_runs(index: int) -> None:
    code = PY_BLOCKS[index]
    for module in ("lightning",):
        if re.search(rf"^\s*(import|from) {module}\b", code, re.M) and \
                importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module} (pip install 'sealloss[lightning]')")
    exec(compile(code, f"README.md python block {index}", "exec"), {})


def test_the_five_line_change_runs() -> None:
    """The diff block, applied: '+' and context lines become a loop over a tiny model."""
    (diff,) = _blocks("diff")
    lines = [ln[1:] for ln in diff.splitlines() if ln[:1] in "+ "]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(34, 51),
                                torch.nn.Unflatten(1, (17, 3)))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    from sealloss.data import load_embedded

    d = load_embedded("test")
    x, y = torch.from_numpy(d["x2d"][:64]), torch.from_numpy(d["y3d"][:64])
    loader = [(x[:32], y[:32]), (x[32:], y[32:])]

    def criterion(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).norm(dim=-1).mean()

    scope = {"model": model, "optimizer": optimizer, "loader": loader, "criterion": criterion}
    before = [p.detach().clone() for p in model.parameters()]
    exec(compile("\n".join(lines), "README.md diff block", "exec"), scope)
    seal = scope["seal"]
    assert seal.steps == 2 and seal.mode == "static" and seal.lam > 0
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def _command_lines() -> list[str]:
    out = []
    for body in _blocks("bash"):
        for line in body.splitlines():
            cmd = line.split("#", 1)[0].strip()
            for part in cmd.split("&&"):
                part = part.strip()
                m = re.match(r"^(?:\S*/)?sealloss (.*)$", part)
                if m:
                    out.append(m.group(1))
    return out


@pytest.mark.parametrize("args", _command_lines())
def test_command_lines_parse(args: str) -> None:
    """Each 'sealloss ...' line of the README parses with the current parser and does not give
    an option the command would refuse (--data-root needs --data h36m)."""
    from sealloss.cli import build_parser

    argv = shlex.split(args)
    ns = build_parser().parse_args(argv)
    if getattr(ns, "data_root", None) is not None:
        assert ns.data == "h36m", args


def test_quick_commands_of_the_readme_run(capsys: pytest.CaptureFixture) -> None:
    from sealloss.cli import main

    for args in ("info", "info h36m17"):
        assert args in _command_lines()
        assert main(shlex.split(args)) == 0
    assert "research" in capsys.readouterr().out


def test_install_instructions_match_the_packaging() -> None:
    req = (ROOT / "requirements.txt").read_text()
    assert "torch==2.13.0" in req and "-e .[test]" in req
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    extras = cfg["options.extras_require"]
    for extra in ("plots", "test", "lightning", "release", "dev"):
        assert extra in extras and f"[{extra}]" in README, extra
    assert "build" in extras["release"] and "twine" in extras["release"]
    assert "build" not in extras["test"] and "twine" not in extras["test"]
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "dist/" in ignored and "build/" in ignored
    assert "pip install sealloss\n" not in README and "pip install sealloss " not in README
    for cmd in ("python -m build", "twine check dist/*", "sealloss demo --quick"):
        assert cmd in README, cmd


def test_readme_points_only_at_files_in_the_repository() -> None:
    assert "METHOD.md" not in README and "BACKBONES.md" not in README
    assert not re.search(r"\bissues? #?\d+", README, re.I), "issue numbers in the README"
    links = re.findall(r"\]\(([^)#]+)\)", README)
    ticks = re.findall(r"`((?:docs|bench|examples|sealloss|tests|adapters)/[\w./-]+)`", README)
    for path in [*links, *ticks]:
        if path.startswith(("http://", "https://")):
            continue
        for candidate in (path, path.split("{")[0].rstrip(".")):
            if (ROOT / candidate).exists() or list(ROOT.glob(candidate + "*")):
                break
        else:
            pytest.fail(f"README points at {path!r}, which is not in the repository")

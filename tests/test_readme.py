"""The README and every page under docs/ run as written.

Every fenced ``python`` and ``bash`` block of ``README.md`` and ``docs/**/*.md`` is a test. A block
runs unless the line right above its fence carries a marker (an HTML comment, invisible on
GitHub):

- ``<!-- test: run -->`` (or no marker): executed. Python blocks are ``exec``-ed in a fresh
  namespace in a temporary folder; bash blocks are run line by line there: ``sealloss ...`` lines
  through the command line's ``main`` (in-process), ``python ...`` lines as subprocesses (the
  folder links ``bench/`` and ``examples/`` from the repository). Any other line fails the test:
  mark the block instead. Identical ``sealloss demo --quick`` runs are made once per session and
  their output folder is copied.
- ``<!-- test: needs-h36m -->``: executed like ``run`` when the Human3.6M files are present
  (``$SEALLOSS_DATA`` or ``../shared/data``, also exported as ``$SEALLOSS_DATA``), else skipped
  with that reason.
- ``<!-- test: long (reason) -->`` (also ``needs-h36m long (reason)``): too long for the suite
  (benchmarks, full trainings). Not executed, but checked: every ``sealloss ...`` command parses
  with today's parser (and gives ``--data-root`` only with ``--data h36m``); every ``python
  path.py --option ...`` names a file of this repository whose source defines each option.
- ``<!-- test: fragment (reason) -->``: a Python excerpt that needs the reader's own objects;
  it must compile.
- ``<!-- test: skip (reason) -->``: not run here, with the reason (the install and test-suite
  commands, which CI runs; a separate test checks they are CI's).

``docs/RELIABILITY.md`` belongs to another page owner: its unmarked Python blocks are excerpts
(they use the reader's model, loader and ``torchrun``) and are compiled, like ``fragment``.

The README's ``diff`` block (the five-line change) is applied to a tiny loop and run. Links and
backticked repository paths must exist. Before this rewrite only the README's Python blocks ran
(its bash lines were only parsed) and nothing under docs/ was read: every docs test, the bash
execution and the marker checks are new; ``test_the_five_line_change_runs`` and the command-line
parse checks passed before.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
OTHER_OWNER = {"docs/RELIABILITY.md"}  # unmarked blocks there are excerpts: compiled only
FENCE = re.compile(r"(?:^<!-- test: (?P<marker>[^\n]*?) -->\n)?^```(?P<lang>[\w-]*)\n"
                   r"(?P<body>.*?)^```[ \t]*$", re.M | re.S)
KINDS = ("run", "skip", "long", "needs-h36m", "fragment")


@dataclass(frozen=True)
class Block:
    page: str  # path relative to the repository
    line: int
    lang: str
    kinds: tuple[str, ...]
    reason: str
    body: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def _blocks() -> list[Block]:
    out = []
    for path in PAGES:
        text = path.read_text()
        rel = path.relative_to(ROOT).as_posix()
        for m in FENCE.finditer(text):
            lang = m.group("lang")
            if lang not in ("python", "bash"):
                continue
            marker = (m.group("marker") or "run").strip()
            words, _, reason = marker.partition("(")
            kinds = tuple(words.split())
            if rel in OTHER_OWNER and m.group("marker") is None and lang == "python":
                kinds, reason = ("fragment",), "an excerpt of another page owner"
            line = text[: m.start("body")].count("\n")
            out.append(Block(rel, line, lang, kinds, reason.rstrip(")").strip(), m.group("body")))
    return out


BLOCKS = _blocks()


def _h36m_root() -> Path | None:
    for cand in (os.environ.get("SEALLOSS_DATA"), str(ROOT.parent / "shared" / "data")):
        if cand and (Path(cand) / "h36m" / "h36m_3d17_world_10hz.npz").is_file():
            return Path(cand)
    return None


def test_markers_are_known_and_give_reasons() -> None:
    assert BLOCKS and any(b.page.startswith("docs/") for b in BLOCKS)
    for b in BLOCKS:
        assert b.kinds and set(b.kinds) <= set(KINDS), f"{b}: unknown marker {b.kinds}"
        if set(b.kinds) & {"skip", "long", "fragment"}:
            assert b.reason, f"{b}: a {b.kinds} marker needs a reason in parentheses"
        assert not ("fragment" in b.kinds and b.lang != "python"), f"{b}: fragments are Python"


# --------------------------------------------------------------------------- running blocks
_DEMO_CACHE: dict[tuple[str, ...], Path] = {}


def _sealloss(argv: list[str], cwd: Path, cache: Path) -> None:
    """One ``sealloss`` command in-process (in ``cwd``); ``demo --quick`` runs are cached."""
    from sealloss.cli.main import main

    if argv[:1] == ["demo"] and "--quick" in argv and "--out" in argv:
        i = argv.index("--out")
        out, key = cwd / argv[i + 1], tuple(argv[:i] + argv[i + 2:])
        if key not in _DEMO_CACHE:
            target = cache / f"demo{len(_DEMO_CACHE)}"
            assert main([*key, "--out", str(target)]) == 0, argv
            _DEMO_CACHE[key] = target
        shutil.copytree(_DEMO_CACHE[key], out)
        return
    assert main(argv) == 0, f"sealloss {shlex.join(argv)} failed"


def _commands(body: str) -> list[str]:
    """The block's commands: comments dropped, ``&&`` chains split."""
    out = []
    for line in body.replace("\\\n", " ").splitlines():
        cmd = line.split(" #", 1)[0].strip()
        if cmd.startswith("#"):
            continue
        out += [part.strip() for part in cmd.split("&&") if part.strip()]
    return out


def _run_bash(block: Block, cwd: Path, cache: Path) -> None:
    for name in ("bench", "examples"):
        if not (cwd / name).exists():
            (cwd / name).symlink_to(ROOT / name)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for cmd in _commands(block.body):
        argv = shlex.split(cmd)
        if argv[0] == "sealloss":
            _sealloss(argv[1:], cwd, cache)
        elif argv[0] == "python":
            r = subprocess.run([sys.executable, *argv[1:]], cwd=cwd, env=env,
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, f"{block}: {cmd}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
        else:
            pytest.fail(f"{block}: cannot run {cmd!r} here; mark the block (see this file's "
                        "docstring)")


def _check_long(block: Block) -> None:
    """Commands of a block too long to run: they must parse / name real scripts and options."""
    from sealloss.cli.main import build_parser

    checked = 0
    for cmd in _commands(block.body):
        for part in re.split(r";\s*|\bdo\b|\bdone\b", cmd):
            words = shlex.split(part.replace("time ", ""))
            if words[:1] == ["sealloss"]:
                ns = build_parser().parse_args(words[1:])
                if getattr(ns, "data_root", None) is not None:
                    assert ns.data == "h36m", part
                checked += 1
            elif words[:1] == ["python"] and len(words) > 1 and words[1].endswith(".py"):
                script = ROOT / words[1]
                assert script.is_file(), f"{block}: {words[1]} is not in the repository"
                source = script.read_text()
                for opt in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
                    assert f'"{opt}"' in source, f"{block}: {words[1]} has no option {opt}"
                checked += 1
            elif words[:2] == ["python", "-m"] or words[:2] == ["python", "-X"]:
                checked += 1
    assert checked, f"{block}: a long block with no command to check"


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_block(block: Block, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
               monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = set(block.kinds)
    if "skip" in kinds:
        pytest.skip(f"{block}: {block.reason}")
    if "fragment" in kinds:
        compile(block.body, str(block), "exec")
        return
    if "long" in kinds:
        if block.lang == "python":
            compile(block.body, str(block), "exec")
        else:
            _check_long(block)
        return
    if "needs-h36m" in kinds:
        root = _h36m_root()
        if root is None:
            pytest.skip("needs the Human3.6M files ($SEALLOSS_DATA or ../shared/data)")
        monkeypatch.setenv("SEALLOSS_DATA", str(root))
    monkeypatch.chdir(tmp_path)
    if block.lang == "python":
        if re.search(r"^\s*(import|from) lightning\b", block.body, re.M) and \
                importlib.util.find_spec("lightning") is None:
            pytest.skip("needs lightning (pip install 'sealloss[lightning]')")
        exec(compile(block.body, str(block), "exec"), {"__name__": "__docs__"})
    else:
        _run_bash(block, tmp_path, tmp_path_factory.mktemp("demo-cache"))


# --------------------------------------------------------------------------- the README itself
def test_readme_is_short_and_says_what_is_proven() -> None:
    lines = README.splitlines()
    assert len(lines) <= 250, f"README has {len(lines)} lines"
    status = README.split("> **Status.**", 1)[1].split("\n\n", 1)[0]
    assert "-0.13 ± 0.36 mm" in status and "9.0 %" in status and "detections" in status
    for heading in ("## Install and test", "## The five-line change", "## Refine predictions",
                    "## What works, measured", "## Weights", "## Documentation",
                    "## Citation", "## Licence"):
        assert heading in README, heading
    table = README.split("## What works, measured", 1)[1].split("\n## ", 1)[0]
    assert "detected 2D" in table and "docs/results/detected.md" in table
    assert re.search(r"ICML 20\d\d", README.split("## Citation", 1)[1])
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^  year: 20\d\d$", cff, re.M)


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    linked = {(ROOT / p).resolve() for p in re.findall(r"\]\((docs/[^)#]+)", README)}
    results = (ROOT / "docs" / "results" / "README.md").read_text()
    linked |= {(ROOT / "docs" / "results" / p).resolve()
               for p in re.findall(r"\]\(([\w-]+\.md)", results)}
    for page in PAGES[1:]:
        assert page.resolve() in linked, f"{page.relative_to(ROOT)} is linked from nowhere"


def test_the_five_line_change_runs() -> None:
    """The diff block, applied: '+' and context lines become a loop over a tiny model."""
    (diff,) = [m.group("body") for m in FENCE.finditer(README) if m.group("lang") == "diff"]
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


def test_install_instructions_are_what_ci_runs() -> None:
    req = (ROOT / "requirements.txt").read_text()
    assert "torch==2.13.0" in req and "-e .[test]" in req
    ci = (ROOT / ".ci" / "run").read_text()
    install = README.split("## Install and test", 1)[1].split("\n## ", 1)[0]
    first = next(b for b in BLOCKS if b.page == "README.md" and b.lang == "bash")
    assert "skip" in first.kinds
    assert [c.split("#")[0].strip() for c in _commands(first.body)] == [
        "python -m pip install -r requirements.txt", "python -m pytest -q tests"]
    for cmd in _commands(first.body):
        assert cmd in ci, cmd
    # CPU torch advice comes before the block that installs torch
    assert install.index("download.pytorch.org/whl/cpu") < install.index("```bash")
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    version = cfg["metadata"]["version"]
    wheel = f"dist/sealloss-{version}-py3-none-any.whl"
    for cmd in ("python -m pip install build && python -m build --wheel",
                f"pip install torch==2.13.0 {wheel}", "sealloss demo --quick"):
        assert cmd in install, cmd
    assert "python -m build" in ci and "torch==2.13.0" in ci
    extras = cfg["options.extras_require"]
    for extra in ("plots", "test", "lightning", "release", "dev"):
        assert extra in extras and f"[{extra}]" in install, extra
    assert "pip install sealloss\n" not in README and "pip install sealloss " not in README


def test_quick_commands_of_the_docs_run(capsys: pytest.CaptureFixture) -> None:
    from sealloss.cli.main import main

    assert main(["info", "h36m17"]) == 0
    assert "research" in capsys.readouterr().out


def _links(page: Path) -> list[tuple[str, Path]]:
    text = page.read_text()
    out = [(p, (page.parent / p)) for p in re.findall(r"\]\(([^)#\s]+)", text)
           if not p.startswith(("http://", "https://", "mailto:"))]
    ticks = re.findall(r"`((?:docs|bench|examples|sealloss|tests|adapters)/[\w./<>-]+)`", text)
    out += [(p, ROOT / p) for p in ticks if "<" not in p]
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_pages_point_only_at_files_in_the_repository(page: Path) -> None:
    text = page.read_text()
    assert "METHOD.md" not in text and "BACKBONES.md" not in text
    assert "SOURCES.md" not in text or "shared/data" in text or "data folder" in text
    if page.name == "README.md" and page.parent == ROOT:
        assert not re.search(r"\bissues? #?\d+", text, re.I), "issue numbers in the README"
    for raw, path in _links(page):
        for candidate in (path, Path(str(path).split("{")[0].rstrip("."))):
            if candidate.exists() or list(candidate.parent.glob(candidate.name + "*")):
                break
        else:
            pytest.fail(f"{page.relative_to(ROOT)} points at {raw!r}, which does not exist")

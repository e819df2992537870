"""Issue 18, second pass: what a user following ``examples/`` trips over.

Every test reads this repository only (the patches as text, the READMEs, the smoke harness): no
network and no upstream checkout. The upstream facts the tests rely on (where each training
script writes a checkpoint, which path it resumes from) are recorded below from the pinned
commits; with ``SEALLOSS_UPSTREAM_DIR`` pointing at a folder of checkouts (``.../mixste``...),
``test_upstream_facts_match_the_checkouts`` re-derives them from the upstream code.

- Sidecar and resume: every checkpoint the patched script writes gets its ``.seal-state.sealloss``
  beside it, and the upstream's own resume brings the wrapper back from it (no extra flag; a
  missing state file is an error, never a silent restart).
- ``check_patch.py`` refuses a wrong commit or changed files (plain ``git apply --unidiff-zero``
  exits 0 there) and applies with ``--apply``; every README runs it before applying.
- The smoke runners run on data shipped in sealloss; their extra packages and the torch >= 2.6
  ``weights_only`` pitfalls are stated where the user needs them; recorded outputs are dated.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sealloss.adapters import get
from sealloss.adapters.hooks import add_arguments, from_args, save_sidecar, state_path

from sealloss.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BACKBONES = sorted(p.parent.name for p in EXAMPLES.glob("*/*.patch"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


cp = _load("check_patch", EXAMPLES / "check_patch.py")
sc = _load("smoke_common", EXAMPLES / "smoke_common.py")

# Every checkpoint each upstream training script writes, at the pinned commit: (file, last line of
# the save statement, checkpoint-path expression, indentation of the statement).
SAVE_SITES: dict[str, list[tuple[str, int, str, int]]] = {
    "videopose3d": [("run.py", 608, "chk_path", 12)],
    "poseformer": [("run_poseformer.py", 458, "chk_path", 12),
                   ("run_poseformer.py", 473, "best_chk_path", 12)],
    "poseformerv2": [("run_poseformer.py", 395, "chk_path", 12),
                     ("run_poseformer.py", 408, "best_chk_path", 12)],
    "mixste": [("run.py", 606, "chk_path", 12), ("run.py", 622, "best_chk_path", 12)],
    "ktpformer": [("run_ktpformer.py", 591, "chk_path", 12),
                  ("run_ktpformer.py", 605, "best_chk_path", 12)],
    "motionbert": [("train.py", 369, "chk_path_latest", 12), ("train.py", 371, "chk_path", 16),
                   ("train.py", 374, "chk_path_best", 16)],
    "motionagformer": [("train.py", 328, "checkpoint_path_best", 12),
                       ("train.py", 329, "checkpoint_path_latest", 8)],
}
# The checkpoint the upstream script resumes from, as an expression valid where the patch builds
# the wrapper, and the last upstream line that settles it (the wrapper must be built after it):
# (file, line, what that line contains).
RESUME: dict[str, tuple[str, tuple[str, int, str] | None]] = {
    "videopose3d": ("chk_filename if args.resume else None", ("run.py", 205, "chk_filename =")),
    "poseformer": ("chk_filename if args.resume else None",
                   ("run_poseformer.py", 221, "chk_filename =")),
    "poseformerv2": ("chk_filename if args.resume else None",
                     ("run_poseformer.py", 215, "chk_filename =")),
    "mixste": ("chk_filename if args.resume else None", ("run.py", 258, "chk_filename =")),
    "ktpformer": ("chk_filename if args.resume else None",
                  ("run_ktpformer.py", 277, "chk_filename =")),
    # MotionBERT resumes by itself from <checkpoint>/latest_epoch.bin when it exists
    "motionbert": ("opts.resume", ("train.py", 276, "opts.resume = chk_filename")),
    # MotionAGFormer drops --resume when the file is missing
    "motionagformer": ("checkpoint_path if opts.resume and opts.checkpoint else None",
                       ("train.py", 289, "opts.resume = False")),
    "simplebaseline": ("args.load or None", None),  # main_seal.py is ours (a new file)
}
# Packages the upstream modules each smoke runner imports need, with no stand-in under _stubs/
# (measured: PoseFormerV2's, MixSTE's and KTPFormer's common/loss.py import matplotlib.pyplot,
# KTPFormer's common/graph_utils.py imports scipy.sparse, four model modules import einops).
EXTRA_PACKAGES = {
    "poseformer": {"einops"}, "poseformerv2": {"einops", "matplotlib"},
    "mixste": {"einops", "matplotlib"}, "ktpformer": {"einops", "matplotlib", "scipy"},
}
# Upstream checkpoints that torch >= 2.6 (weights_only=True by default) refuses to load: the
# VideoPose3D family pickles a NumPy RandomState, MotionBERT/MotionAGFormer a NumPy float64.
WEIGHTS_ONLY = {n: "resume" for n in ("videopose3d", "poseformer", "poseformerv2", "motionbert",
                                       "motionagformer")}
WEIGHTS_ONLY.update(mixste="evaluation", ktpformer="evaluation")  # end of training reloads best


def _patch(name: str) -> str:
    return (EXAMPLES / name / f"{name}.patch").read_text()


def _hunks(text: str) -> list[tuple[str, int, list[str]]]:
    """``(file, upstream line the lines go after, added lines)`` for each hunk."""
    out: list[tuple[str, int, list[str]]] = []
    current = ""
    for line in text.splitlines():
        if line.startswith("+++ b/"):
            current = line[6:]
        elif line.startswith("@@"):
            m = cp.HUNK.match(line)
            out.append((current, int(m.group(1)), []))
        elif line.startswith("+") and out:
            out[-1][2].append(line[1:])
    return out


def _readme(name: str) -> str:
    return (EXAMPLES / name / "README.md").read_text()


# --------------------------------------------------------------------------- sidecar at every save
@pytest.mark.parametrize("name", sorted(SAVE_SITES))
def test_every_upstream_checkpoint_gets_a_sidecar(name: str) -> None:
    """Each checkpoint the upstream writes (periodic, latest and best) is followed, in the same
    block, by ``_seal_save(<seal>, <that path>)``. Before the fix no ``best_epoch`` (nor
    MotionBERT's ``epoch_N``) had one."""
    hunks = _hunks(_patch(name))
    for file, line, path_expr, indent in SAVE_SITES[name]:
        after = [h for h in hunks if h[0] == file and h[1] == line]
        assert after, f"{name}: no lines added after {file}:{line} (saves {path_expr})"
        saves = [ln for ln in after[0][2] if "_seal_save(" in ln]
        assert saves, f"{name}: {file}:{line} saves {path_expr} without a sidecar"
        assert re.fullmatch(rf" {{{indent}}}_seal_save\((args\.)?seal, {path_expr}\)", saves[0])
    n_sites = len(SAVE_SITES[name])
    assert sum(ln.count("_seal_save(") for *_, lines in hunks for ln in lines) == n_sites


def test_simplebaseline_saves_a_sidecar_beside_each_checkpoint() -> None:
    added = [ln for *_, lines in _hunks(_patch("simplebaseline")) for ln in lines]
    saves = [i for i, ln in enumerate(added) if "torch.save(state," in ln]
    assert len(saves) == 2
    for i in saves:
        target = added[i].split("torch.save(state, ", 1)[1][:-1]  # drop the call's ')'
        indent = added[i][: len(added[i]) - len(added[i].lstrip())]
        assert added[i + 1] == f"{indent}save_sidecar(seal, {target})"


# --------------------------------------------------------------------------- resume without a flag
@pytest.mark.parametrize("name", sorted(RESUME))
def test_upstream_resume_also_resumes_the_wrapper(name: str) -> None:
    """The wrapper is built with ``resume_from=`` the upstream's own resume checkpoint, after the
    upstream has settled it. Before the fix only ``--seal-resume`` restored the wrapper."""
    expr, settled = RESUME[name]
    calls = [(f, line, ln) for f, line, lines in _hunks(_patch(name)) for ln in lines
             if "from_args(" in ln and "import" not in ln]
    assert len(calls) == 1, calls
    file, line, call = calls[0]
    assert f"resume_from={expr}" in call, call
    if settled is not None:
        assert file == settled[0] and line > settled[1]


def _args(*flags: str) -> argparse.Namespace:
    base = ["--seal", "--seal-lossnet", "none", "--seal-mode", "dynamic", "--seal-lambda", "auto"]
    return add_arguments(argparse.ArgumentParser()).parse_args(base + list(flags))


def _trained_wrapper(steps: int = 3):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    seal = from_args(_args(), opt, "mixste")
    sl = sc.load_slice(sc.EMBEDDED, 9)
    adapter = get("mixste")
    gen = torch.Generator().manual_seed(0)
    for k in range(steps):
        rows = sl.index[4 * k : 4 * k + 4]
        x = adapter.to_upstream_2d(torch.from_numpy(sl.x2d[rows]))
        y = adapter.to_upstream_3d(torch.from_numpy(sl.y3d[rows]))
        y_hat = (y + 0.03 * torch.randn(y.shape, generator=gen)).requires_grad_()
        seal((y_hat - y).norm(dim=-1).mean(), x, y_hat, y).backward()
    return seal


def _same_state(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b or (a != a and b != b)  # NaN == NaN here


def test_resume_restores_the_wrapper_from_the_upstream_checkpoint(tmp_path: Path) -> None:
    seal = _trained_wrapper()
    ckpt = tmp_path / "best_epoch.bin"
    save_sidecar(seal, str(ckpt))
    assert Path(state_path(str(ckpt))).is_file()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    back = from_args(_args(), opt, "mixste", resume_from=str(ckpt))
    assert back.steps == seal.steps == 3
    assert _same_state(back.state_dict(), seal.state_dict())
    fresh = from_args(_args(), opt, "mixste")
    assert not _same_state(fresh.state_dict(), seal.state_dict())  # the check can fail


def test_resume_with_a_missing_wrapper_state_is_an_error_not_a_silent_restart(
    tmp_path: Path,
) -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ckpt = tmp_path / "epoch_20.bin"
    with pytest.raises(CheckpointError, match=r"epoch_20\.seal-state\.sealloss.*is missing.*fresh"):
        from_args(_args(), opt, "mixste", resume_from=str(ckpt))
    restarted = from_args(_args("--seal-resume", "fresh"), opt, "mixste", resume_from=str(ckpt))
    assert restarted.steps == 0
    # an explicit --seal-resume wins over the state beside the checkpoint
    seal = _trained_wrapper(steps=2)
    save_sidecar(seal, str(tmp_path / "other.bin"))
    back = from_args(_args("--seal-resume", state_path(str(tmp_path / "other.bin"))), opt,
                     "mixste", resume_from=str(ckpt))
    assert back.steps == 2
    # without --seal the upstream resumes alone
    plain = add_arguments(argparse.ArgumentParser()).parse_args([])
    assert not getattr(from_args(plain, opt, "mixste", resume_from=str(ckpt)), "enabled", True)


# --------------------------------------------------------------------------- check_patch.py
def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture
def tiny_upstream(tmp_path: Path) -> tuple[Path, Path, str]:
    """A git repo with two commits (a line inserted at the top in the second), and a zero-context
    add-only patch pinned to the first. Returns (repo at the second commit, patch, first)."""
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "up"
    repo.mkdir()
    _git(repo, "init", "-q")
    body = [f"def f{i}():\n    return {i}\n" for i in range(6)]
    (repo / "train.py").write_text("".join(body))
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "one")
    first = _git(repo, "rev-parse", "HEAD")
    lines = "".join(body).splitlines()
    lines.insert(6, "    seal = 1  # added by the patch")  # inside f3, after 'return 2'... body
    (repo / "train.py").write_text("\n".join(lines) + "\n")
    diff = _git(repo, "diff", "-U0")
    diff = re.sub(r"(?m)^(@@ [^@]+ @@).*$", r"\1", diff)
    patch = tmp_path / "tiny.patch"
    patch.write_text(f"# upstream: o/tiny@{first}\n{diff}\n")
    _git(repo, "checkout", "-q", "train.py")
    (repo / "train.py").write_text("import os\n" + "".join(body))  # upstream moved on
    _git(repo, "commit", "-q", "-am", "two")
    return repo, patch, first


def test_raw_git_apply_on_the_wrong_commit_exits_0(tiny_upstream) -> None:
    """The hazard the README steps guard against (documents why check_patch.py comes first)."""
    repo, patch, _ = tiny_upstream
    r = subprocess.run(["git", "apply", "--unidiff-zero", "--check", str(patch)], cwd=repo,
                       capture_output=True, text=True)
    assert r.returncode == 0


def test_check_patch_refuses_the_wrong_commit(tiny_upstream, capsys) -> None:
    repo, patch, first = tiny_upstream
    assert cp.main([str(patch), "--upstream", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "wrong commit" in out and first in out and f"checkout {first}" in out
    assert cp.main([str(patch), "--upstream", str(repo), "--apply"]) == 1
    assert "seal = 1" not in (repo / "train.py").read_text()  # --apply refused too


def test_check_patch_refuses_changed_files_without_git(tiny_upstream, tmp_path, capsys) -> None:
    """A download without ``.git`` (or local edits) is checked by blob hash."""
    repo, patch, first = tiny_upstream
    copy = tmp_path / "download"
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git"))
    assert cp.main([str(patch), "--upstream", str(copy)]) == 1
    assert "train.py differs from o/tiny@" in capsys.readouterr().out


def test_check_patch_apply_on_the_pinned_commit(tiny_upstream, capsys) -> None:
    repo, patch, first = tiny_upstream
    _git(repo, "checkout", "-q", first)
    assert cp.main([str(patch), "--upstream", str(repo), "--apply"]) == 0
    assert "applied to" in capsys.readouterr().out
    assert "    seal = 1  # added by the patch" in (repo / "train.py").read_text().splitlines()
    assert cp.main([str(patch), "--upstream", str(repo), "--apply"]) == 1  # not twice
    assert "already has the patch applied" in capsys.readouterr().out


@pytest.mark.parametrize("name", BACKBONES)
def test_every_patch_records_the_blobs_check_patch_compares(name: str) -> None:
    blobs = cp.file_blobs(_patch(name))
    assert sorted(b[0] for b in blobs) == sorted(cp.patched_files(_patch(name)))


@pytest.mark.parametrize("name", BACKBONES)
def test_readme_steps_check_the_patch_before_applying(name: str) -> None:
    steps = _readme(name).split("## Steps", 1)[1].split("\n## ", 1)[0]
    block = steps.split("```bash", 1)[1].split("```", 1)[0]
    check = [i for i, ln in enumerate(block.splitlines()) if "check_patch.py" in ln]
    assert check and "--apply" in block.splitlines()[check[0]], block
    raw = [i for i, ln in enumerate(block.splitlines()) if re.search(r"\bgit apply\b", ln)]
    assert all(i > check[0] for i in raw)
    assert "exits 0" in steps  # says why plain git apply is not enough


def test_examples_readme_runs_check_patch_before_git_apply() -> None:
    text = (EXAMPLES / "README.md").read_text()
    assert text.index("check_patch.py") < text.index("git apply --unidiff-zero")
    assert "--apply" in text and "exits 0" in text


# --------------------------------------------------------------------------- smoke runners
def _requires(name: str) -> set[str]:
    tree = ast.parse((EXAMPLES / name / "smoke.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "REQUIRES":
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{name}/smoke.py declares no REQUIRES")


@pytest.mark.parametrize("name", BACKBONES)
def test_smoke_runner_declares_and_readme_names_its_extra_packages(name: str) -> None:
    expected = EXTRA_PACKAGES.get(name, set())
    assert _requires(name) == expected
    text = (EXAMPLES / name / "smoke.py").read_text()
    assert f'sc.require(*REQUIRES, backbone="{name}")' in text
    smoke = _readme(name).split("## Smoke run", 1)[1]
    for pkg in expected:
        assert re.search(rf"pip install [\w ]*\b{pkg}\b", smoke), f"{name}: {pkg} not named"
    overview = (EXAMPLES / "README.md").read_text()
    assert "matplotlib" in overview and "scipy" in overview


def test_require_names_the_missing_package() -> None:
    with pytest.raises(SystemExit, match=r"pip install no_such_pkg_xyz"):
        sc.require("numpy", "no_such_pkg_xyz", backbone="demo")
    sc.require("numpy", backbone="demo")  # present: no exit


def test_smoke_runners_default_to_data_shipped_in_sealloss(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["smoke.py", "--upstream", str(tmp_path)])
    args = sc.parse_args("t")
    assert args.data == sc.EMBEDDED


def test_embedded_slice_has_the_harness_layout() -> None:
    sl = sc.load_slice(sc.EMBEDDED, 9)
    assert sl.x2d.shape[1:] == (17, 2) and sl.y3d.shape[1:] == (17, 3)
    assert sl.index.shape[1] == 9 and sl.index.shape[0] >= 64
    assert sl.index.max() < sl.x2d.shape[0]
    assert np.isfinite(sl.x2d).all() and np.isfinite(sl.y3d).all()
    assert np.abs(sl.x2d).max() < 1.5  # screen frame
    assert 0.1 < np.median(np.linalg.norm(sl.y3d, axis=-1)) < 1.0  # metres, root-relative
    assert np.all(sl.y3d[:, 0] == 0) and np.all(sl.root_cam[:, 2] > 1.0)
    assert np.all((sl.focal > 500) & (sl.focal < 3000)) and np.all(sl.res_w > 0)
    z = sc.two_point_five_d(sl, sl.index[:2])
    assert z.shape == (2, 9, 17, 3) and np.isfinite(z).all()


class _Lifter(torch.nn.Module):
    """A stand-in with VideoPose3D's shapes: [B, F, 17, 2] -> [B, 1, 17, 3]."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(frames * 34, 51)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1)).view(-1, 1, 17, 3)


def test_smoke_harness_runs_on_the_shipped_data_without_upstream_code(tmp_path) -> None:
    """The checks a runner makes, on the embedded data through the VideoPose3D adapter."""
    frames, batch = 9, 8
    args = argparse.Namespace(upstream=tmp_path, seed=0, lam=0.1, lossnet=None, steps=2)
    torch.manual_seed(0)
    model = _Lifter(frames)
    adapter = get("videopose3d", pad=frames // 2, causal_shift=0)
    sl = sc.load_slice(sc.EMBEDDED, frames)
    gen = np.random.default_rng(0)

    def batches():
        rows = sc.pick(sl, batch, gen)
        x = adapter.to_upstream_2d(torch.from_numpy(sl.x2d[rows]))
        y = torch.from_numpy(sl.y3d[rows][:, frames // 2 : frames // 2 + 1])
        return x, y

    def mpjpe(pred, y):
        return (pred - y).norm(dim=-1).mean()

    rep = sc.run(backbone="stand-in", args=args, model=model, adapter=adapter, batches=batches,
                 loss_fn=mpjpe)
    assert rep.ok(), rep.line()
    assert rep.x_shape == (batch, frames, 17, 2) and rep.y_shape == (batch, 1, 17, 3)
    assert len(rep.losses) == 2 and all(np.isfinite(rep.losses))


# --------------------------------------------------------------------------- torch >= 2.6 notes
@pytest.mark.parametrize("name", sorted(WEIGHTS_ONLY))
def test_readme_warns_about_weights_only_loading(name: str) -> None:
    text = _readme(name)
    notes = [p for p in text.split("\n\n") if "torch >= 2.6" in p]
    assert notes, f"{name}: no torch >= 2.6 note"
    note = " ".join(notes)
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1" in note and "weights_only" in note
    assert WEIGHTS_ONLY[name] in note
    assert text.index("torch >= 2.6") < text.index("## What the patch adds")  # in the steps


def test_torch_refuses_what_those_checkpoints_hold() -> None:
    """The premise of the notes, on the installed torch (skipped before 2.6)."""
    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    if (major, minor) < (2, 6):
        pytest.skip("weights_only is the default from torch 2.6")
    import io

    for state in ({"random_state": np.random.RandomState(1)}, {"min_loss": np.float64(41.5)}):
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        with pytest.raises(Exception, match="[Ww]eights only load failed"):
            torch.load(buf)


# --------------------------------------------------------------------------- recorded outputs
PASS_LINE = re.compile(r"^PASS (\w+)@([0-9a-f]{8}): params ([\d.]+)M, x (\[[^\]]*\]) -> y "
                       r"(\[[^\]]*\]); .*changes grads by ([\d.e+-]+) .*, ([\d.]+) s/step", re.M)


@pytest.mark.parametrize("name", BACKBONES)
def test_recorded_smoke_output_is_dated_and_agrees_everywhere(name: str) -> None:
    readme = _readme(name)
    smoke = readme.split("## Smoke run", 1)[1]
    lines = [m for m in PASS_LINE.finditer(smoke) if m.group(1) == name]
    assert len(lines) == 1, f"{name}: expected one recorded PASS line"
    rec = lines[0]
    m = re.search(r"[Rr]ecorded (\d{4}-\d{2}-\d{2}) at sealloss `([0-9a-f]{7,12})`", smoke)
    assert m, f"{name}: the recorded output does not say when and at which commit"
    overview = (EXAMPLES / "README.md").read_text()
    assert rec.group(0).split(" s/step")[0] in overview  # same run in examples/README.md
    for text in (overview, (ROOT / "docs" / "backbones.md").read_text()):
        row = [ln for ln in text.splitlines() if ln.startswith(f"| `{name}` |")]
        assert row and f"grads change {rec.group(6)}" in row[0]
        assert f"{rec.group(7)} s/step" in row[0]


# --------------------------------------------------------------------------- with checkouts
def _upstream_dir(name: str) -> Path:
    root = os.environ.get("SEALLOSS_UPSTREAM_DIR")
    path = Path(root) / name if root else None
    if path is None or not path.is_dir():
        pytest.skip("set SEALLOSS_UPSTREAM_DIR to a folder of upstream checkouts")
    return path


def _save_calls(source: str) -> list[tuple[int, str, int]]:
    """(last line, path expression, indentation) of each checkpoint save statement (the
    ``torch.save`` inside an upstream ``save_checkpoint`` helper counts at the helper's calls)."""
    tree = ast.parse(source)
    helpers = [(f.lineno, f.end_lineno) for f in ast.walk(tree)
               if isinstance(f, ast.FunctionDef) and f.name == "save_checkpoint"]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Call):
            continue
        if any(a <= node.lineno <= b for a, b in helpers):
            continue
        call = node.value
        func = ast.unparse(call.func)
        if func == "torch.save" and len(call.args) >= 2:
            out.append((node.end_lineno, ast.unparse(call.args[1]), node.col_offset))
        elif func == "save_checkpoint" and call.args:
            out.append((node.end_lineno, ast.unparse(call.args[0]), node.col_offset))
    return sorted(out)


@pytest.mark.parametrize("name", sorted(SAVE_SITES))
def test_upstream_facts_match_the_checkouts(name: str) -> None:
    up = _upstream_dir(name)
    files = {f for f, *_ in SAVE_SITES[name]}
    for file in files:
        found = _save_calls((up / file).read_text())
        listed = sorted((ln, p, ind) for f, ln, p, ind in SAVE_SITES[name] if f == file)
        assert found == listed, f"{name}/{file}: saves {found}"
    settled = RESUME[name][1]
    line = (up / settled[0]).read_text().splitlines()[settled[1] - 1]
    assert settled[2] in line

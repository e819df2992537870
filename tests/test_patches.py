"""Example patches: add-only, zero context, pinned to the adapter's upstream commit.

With ``SEALLOSS_UPSTREAM_DIR`` pointing at a folder of checkouts named like the examples
(``$SEALLOSS_UPSTREAM_DIR/mixste`` ...), each patch is also applied to a copy of its checkout.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest
from sealloss.adapters import available, get

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PATCHES = sorted(EXAMPLES.glob("*/*.patch"))


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_patch", EXAMPLES / "check_patch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cp = _load_checker()


def test_one_patch_per_registered_adapter():
    assert sorted(p.parent.name for p in PATCHES) == available()
    assert all(p.stem == p.parent.name for p in PATCHES)


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.parent.name)
def test_patch_is_add_only_zero_context_and_pinned(patch):
    text = patch.read_text()
    assert cp.lint_patch(text) == []
    body = text[text.index("diff --git ") :].splitlines()
    assert not any(ln.startswith(" ") for ln in body)
    assert not any(ln.startswith("-") and not ln.startswith("---") for ln in body)
    hunks = [ln for ln in body if ln.startswith("@@")]
    assert hunks and all(re.fullmatch(r"@@ -\d+,0 \+\d+(,\d+)? @@", h) for h in hunks)
    repo, commit = cp.patch_upstream(text)
    adapter = get(patch.parent.name, **_adapter_kwargs(patch.parent.name))
    assert (repo, commit) == (adapter.upstream, adapter.commit)
    assert cp.added_lines(text) > 0


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.parent.name)
def test_example_folder_has_readme_and_smoke_runner(patch):
    folder = patch.parent
    readme = (folder / "README.md").read_text()
    _, commit = cp.patch_upstream(patch.read_text())
    assert commit in readme and "git apply --unidiff-zero" in readme
    assert "--seal" in readme
    assert (folder / "smoke.py").is_file()


def test_examples_readme_table_counts_match_the_patches():
    text = (EXAMPLES / "README.md").read_text()
    for patch in PATCHES:
        name = patch.parent.name
        rows = [ln for ln in text.splitlines() if ln.startswith("|") and f"`{name}`" in ln]
        assert rows, f"no table row for {name}"
        _, commit = cp.patch_upstream(patch.read_text())
        assert commit[:12] in rows[0]
        assert f"+{cp.added_lines(patch.read_text())}" in rows[0]


def test_linter_rejects_what_it_should():
    ok = (
        "# upstream: o/r@" + "a" * 40 + "\n"
        "diff --git a/f.py b/f.py\n--- a/f.py\n+++ b/f.py\n@@ -3,0 +4,2 @@\n+x = 1\n+y = 2\n"
    )
    assert cp.lint_patch(ok) == []
    assert any("context" in p for p in cp.lint_patch(ok.replace("+y = 2", " y = 2")))
    removing = ok.replace("@@ -3,0 +4,2 @@\n+x = 1\n+y = 2", "@@ -3 +3 @@\n-x = 0\n+x = 1")
    assert any("hunk header" in p for p in cp.lint_patch(removing))
    assert any("removes" in p for p in cp.lint_patch(removing))
    assert any("upstream" in p for p in cp.lint_patch(ok.replace("a" * 40, "abc")))
    assert any("'+' lines missing" in p for p in cp.lint_patch(ok.replace("+y = 2\n", "")))
    short = ok.replace("+y = 2\n", "") + "diff --git a/g.py b/g.py\n"
    assert any("more '+' lines" in p for p in cp.lint_patch(short))


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.parent.name)
def test_patch_applies_to_the_pinned_checkout(patch):
    root = os.environ.get("SEALLOSS_UPSTREAM_DIR")
    checkout = Path(root) / patch.parent.name if root else None
    if checkout is None or not checkout.is_dir():
        pytest.skip("set SEALLOSS_UPSTREAM_DIR to a folder of upstream checkouts")
    assert cp.check_against(patch, checkout) == []


def _adapter_kwargs(name: str) -> dict:
    if name != "simplebaseline":
        return {}
    return dict(mean_3d=[0.0] * 48, std_3d=[1.0] * 48, mean_2d=[0.0] * 32, std_2d=[1.0] * 32)

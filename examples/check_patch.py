"""Check an example patch: format (add-only, zero context, pinned commit) and, given an upstream
checkout, that it applies cleanly and the patched Python files compile.

    python examples/check_patch.py examples/mixste/mixste.patch --upstream /path/to/MixSTE

The checkout is never modified: the patch is applied to a temporary copy of its files.
"""

from __future__ import annotations

import argparse
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HUNK = re.compile(r"^@@ -(\d+),0 \+(\d+)(?:,(\d+))? @@$")
UPSTREAM = re.compile(r"^# upstream: ([\w.-]+/[\w.-]+)@([0-9a-f]{40})\s*$", re.M)
HEADER_PREFIXES = ("diff --git ", "index ", "--- ", "+++ ", "new file mode ")


def patch_upstream(text: str) -> tuple[str, str]:
    """``(owner/name, commit)`` from the patch's ``# upstream:`` header line."""
    m = UPSTREAM.search(text.split("diff --git ", 1)[0])
    if m is None:
        raise ValueError("no '# upstream: owner/name@<40-hex commit>' line before the first diff")
    return m.group(1), m.group(2)


def lint_patch(text: str) -> list[str]:
    """Problems that make ``text`` not an add-only, zero-context patch (empty list = fine)."""
    problems: list[str] = []
    try:
        patch_upstream(text)
    except ValueError as err:
        problems.append(str(err))
    if "diff --git " not in text:
        return problems + ["no 'diff --git' section"]
    body = text[text.index("diff --git ") :].splitlines()
    pending = 0  # '+' lines still owed to the current hunk
    for n, line in enumerate(body, 1):
        if pending:
            if line.startswith("+"):
                pending -= 1
                continue
            problems.append(f"line {n}: hunk expects {pending} more '+' lines")
            pending = 0  # and classify the line below
        if line.startswith("@@"):
            m = HUNK.match(line)
            if m is None:
                problems.append(f"line {n}: hunk header is not '@@ -a,0 +b,n @@': {line!r}")
                continue
            pending = int(m.group(3)) if m.group(3) is not None else 1
            if pending == 0:
                problems.append(f"line {n}: empty hunk")
            continue
        if line.startswith(HEADER_PREFIXES):
            bad_src = not (line.startswith("--- a/") or line == "--- /dev/null")
            if line.startswith("--- ") and bad_src:
                problems.append(f"line {n}: unexpected source header {line!r}")
            continue
        if line.startswith("-"):
            problems.append(f"line {n}: removes a line: {line!r}")
        elif line.startswith(" "):
            problems.append(f"line {n}: context line: {line!r}")
        elif line.startswith("+"):
            problems.append(f"line {n}: '+' line outside a hunk")
        elif line.startswith(("deleted file", "rename ", "similarity ", "old mode", "new mode")):
            problems.append(f"line {n}: not an add-only change: {line!r}")
        elif line.strip():
            problems.append(f"line {n}: unexpected line {line!r}")
    if pending:
        problems.append(f"patch ends with {pending} '+' lines missing")
    return problems


def patched_files(text: str) -> list[str]:
    return [ln[6:] for ln in text.splitlines() if ln.startswith("+++ b/")]


def added_lines(text: str) -> int:
    return sum(1 for ln in text.splitlines() if ln.startswith("+") and not ln.startswith("+++"))


def check_against(patch: Path, upstream: Path) -> list[str]:
    """Apply ``patch`` to a copy of ``upstream`` (a checkout of the pinned commit) and compile."""
    text = patch.read_text()
    _, commit = patch_upstream(text)
    problems: list[str] = []
    head = subprocess.run(["git", "-C", str(upstream), "rev-parse", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode == 0 and head.stdout.strip() != commit:
        problems.append(f"checkout is at {head.stdout.strip()}, the patch pins {commit}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "src"
        shutil.copytree(upstream, work, ignore=shutil.ignore_patterns(".git"), symlinks=True)
        for args in (["--check"], []):
            r = subprocess.run(["git", "apply", "--unidiff-zero", *args, str(patch.resolve())],
                               cwd=work, capture_output=True, text=True)
            if r.returncode:
                return problems + [f"git apply {' '.join(args)} failed: {r.stderr.strip()}"]
        for rel in patched_files(text):
            if rel.endswith(".py"):
                try:
                    py_compile.compile(str(work / rel), doraise=True)
                except py_compile.PyCompileError as err:
                    problems.append(f"{rel} does not compile after the patch: {err.msg}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("patch", type=Path)
    ap.add_argument("--upstream", type=Path, help="checkout of the pinned upstream commit")
    args = ap.parse_args(argv)
    text = args.patch.read_text()
    problems = lint_patch(text)
    if args.upstream is not None and not problems:
        problems += check_against(args.patch, args.upstream)
    repo, commit = patch_upstream(text) if not problems else ("?", "?")
    for p in problems:
        print(f"FAIL {args.patch}: {p}")
    if problems:
        return 1
    applied = "applies cleanly and compiles" if args.upstream else "format ok"
    print(f"OK {args.patch}: {repo}@{commit[:12]}, +{added_lines(text)} lines, {applied}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check an example patch: format (add-only, zero context, pinned commit) and, given an upstream
checkout, that it is the pinned commit, that the patch applies cleanly and that the patched
Python files compile; with ``--apply``, then apply it to the checkout.

    python examples/check_patch.py examples/mixste/mixste.patch --upstream /path/to/MixSTE
    python examples/check_patch.py examples/mixste/mixste.patch --upstream . --apply

Why not plain ``git apply --unidiff-zero``: a zero-context patch carries no upstream line, so git
cannot tell that it is being applied to another commit. On a wrong commit it still exits 0 and
inserts the lines wherever the line numbers point, inside unrelated statements. This script
refuses first: a git checkout must be at the pinned commit, and every file the patch touches
must be byte-identical to the pinned commit's (its git blob hash must equal the pre-image hash
on the patch's ``index`` line), which also covers downloads without ``.git``.

Without ``--apply`` the checkout is never modified: the patch is applied to a temporary copy.
"""

from __future__ import annotations

import argparse
import hashlib
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HUNK = re.compile(r"^@@ -(\d+),0 \+(\d+)(?:,(\d+))? @@$")
INDEX = re.compile(r"^index ([0-9a-f]{7,40})\.\.([0-9a-f]{7,40})(?: \d+)?$")
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


def file_blobs(text: str) -> list[tuple[str, str, str]]:
    """``(path, pre-image blob, post-image blob)`` from each section's ``index`` line (abbreviated
    git blob hashes; an all-zero pre-image is a new file)."""
    out: list[tuple[str, str, str]] = []
    path = None
    for line in text.splitlines():
        if line.startswith("diff --git "):
            path = line.split(" b/", 1)[1] if " b/" in line else None
        m = INDEX.match(line)
        if m and path is not None:
            out.append((path, m.group(1), m.group(2)))
            path = None
    return out


def blob_hash(data: bytes) -> str:
    """Git's blob hash of ``data`` (``git hash-object``, no filters)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _git_head(upstream: Path) -> str | None:
    """The checkout's HEAD when ``upstream`` is the top of a git work tree, else ``None``."""
    if not (upstream / ".git").exists():
        return None
    r = subprocess.run(["git", "-C", str(upstream), "rev-parse", "HEAD"], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def check_checkout(text: str, upstream: Path) -> list[str]:
    """Problems that make ``upstream`` not a clean copy of the commit the patch pins."""
    repo, commit = patch_upstream(text)
    if not upstream.is_dir():
        return [f"{upstream} is not a directory"]
    head = _git_head(upstream)
    if head is not None and head != commit:
        return [f"wrong commit: the checkout is at {head}, the patch pins {repo}@{commit}; run "
                f"'git -C {upstream} checkout {commit}' first (a zero-context patch applied to "
                "another commit lands inside unrelated lines and git apply still exits 0)"]
    blobs = file_blobs(text)
    if not blobs:
        return ["the patch has no 'index <pre>..<post>' lines to check the files against"]
    problems: list[str] = []
    for rel, pre, post in blobs:
        target = upstream / rel
        new_file = set(pre) == {"0"}
        if not target.is_file():
            if not new_file:
                problems.append(f"{rel} is missing: not a checkout of {repo}@{commit[:12]}")
            continue
        actual = blob_hash(target.read_bytes())
        if actual.startswith(post):
            problems.append(f"{rel} already has the patch applied")
        elif new_file:
            problems.append(f"{rel} exists already; the patch creates it")
        elif not actual.startswith(pre):
            problems.append(
                f"{rel} differs from {repo}@{commit[:12]} (git blob {actual[:len(pre)]}, the "
                f"pinned commit's is {pre}): wrong commit or local changes; the patch would land "
                "in the wrong lines")
    return problems


def check_against(patch: Path, upstream: Path) -> list[str]:
    """Check that ``upstream`` is the pinned commit, apply ``patch`` to a copy and compile."""
    text = patch.read_text()
    problems = check_checkout(text, upstream)
    if problems:
        return problems
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
    ap.add_argument("--apply", action="store_true",
                    help="after every check passed, apply the patch to the --upstream checkout")
    args = ap.parse_args(argv)
    if args.apply and args.upstream is None:
        ap.error("--apply needs --upstream")
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
    if args.apply:
        r = subprocess.run(["git", "apply", "--unidiff-zero", str(args.patch.resolve())],
                           cwd=args.upstream, capture_output=True, text=True)
        if r.returncode:
            print(f"FAIL {args.patch}: git apply failed in {args.upstream}: {r.stderr.strip()}")
            return 1
        applied += f"; applied to {args.upstream}"
    print(f"OK {args.patch}: {repo}@{commit[:12]}, +{added_lines(text)} lines, {applied}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

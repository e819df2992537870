"""Several writers on one file, SIGKILL at random points (issue 23): no lost or broken file.

Writers are real processes: checkpoints (:func:`sealloss.io.checkpoint.save_checkpoint`) and the
CLI's output writer (:func:`sealloss.io.atomic.write_npz`, what ``refine`` and ``score``
write with), plus three ``sealloss evaluate --json`` runs writing one file at once. Before the
fix, ``test_concurrent_checkpoint_saves_lose_nothing`` lost about 2-3 % of the saves
(``FileNotFoundError`` at the rename: another writer's clean-up removed a temporary file between
``mkstemp`` and its lock), and the CLI tests failed (``write_npz`` did not exist; ``evaluate``
wrote its JSON in place). ``test_killed_checkpoint_writers_leave_a_valid_file`` already passed
before (kills alone never broke a checkpoint); it stays as the SIGKILL guard.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from sealloss.io.checkpoint import load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1",
       "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and locks")

_CKPT_WRITER = """
import sys, torch
from sealloss.io.checkpoint import save_checkpoint
path, wid, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fails = []
for i in range(n):
    try:
        save_checkpoint(path, w=torch.full((size,), float(i)), writer=wid, i=i)
    except Exception as e:  # a lost save
        fails.append(repr(e))
print(len(fails), fails[:3])
"""

_NPZ_WRITER = """
import sys, numpy as np
from sealloss.io.atomic import write_npz
path, wid, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fails = 0
for i in range(n):
    try:
        write_npz(path, pred=np.full(size, i, dtype=np.float32), writer=np.asarray(wid),
                  i=np.asarray(i))
    except Exception:
        fails += 1
print(fails)
"""

_READER = """
import sys, time
from sealloss.io.checkpoint import load_checkpoint
path, seconds = sys.argv[1], float(sys.argv[2])
end, bad, ok = time.time() + seconds, 0, 0
while time.time() < end:
    try:
        ck = load_checkpoint(path)
        assert float(ck["w"][0]) == ck["i"]
        ok += 1
    except Exception:
        bad += 1
print(bad, ok)
"""


def _spawn(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, procs: list[subprocess.Popen], seconds: float = 120.0) -> None:
    """Until the writers have written ``path`` once (their imports take a while)."""
    end = time.time() + seconds
    while not path.exists():
        dead = [p for p in procs if p.poll() is not None]
        assert not dead, f"a writer exited: {dead[0].communicate()}"
        assert time.time() < end, f"no writer wrote {path} in {seconds:g} s"
        time.sleep(0.05)


@contextlib.contextmanager
def _three_writers(code: str, target: Path, size: int) -> Iterator[list[subprocess.Popen]]:
    """Writers 0, 1, 2 running ``code`` (10**6 saves of ``size`` values each) on ``target``,
    once one has written it; on leaving, any still running are killed and all are reaped."""
    writers = [_spawn(code, target, k, 10**6, size) for k in range(3)]
    try:
        _wait_for(target, writers)
        yield writers
    finally:
        for p in writers:
            if p.poll() is None:
                p.kill()
            p.communicate()


def _kill_after_random_waits(procs: list[subprocess.Popen], rng: random.Random,
                             low: float) -> None:
    """SIGKILL each process in turn after a wait of ``rng.uniform(low, 1.0)`` seconds."""
    for p in procs:
        time.sleep(rng.uniform(low, 1.0))
        p.send_signal(signal.SIGKILL)
        p.wait(30)


def _temps(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def test_concurrent_checkpoint_saves_lose_nothing(tmp_path):
    target = tmp_path / "shared.ckpt"
    save_checkpoint(target, w=torch.zeros(1), i=0)  # the reader needs a first file
    writers = [_spawn(_CKPT_WRITER, target, k, 150, 16) for k in range(3)]
    reader = _spawn(_READER, target, 8.0)
    outs = [p.communicate(timeout=300) for p in writers]
    for p, (out, err) in zip(writers, outs):
        assert p.returncode == 0, err
        assert out.split()[0] == "0", f"lost saves: {out}"
    rout, rerr = reader.communicate(timeout=300)
    bad, ok = map(int, rout.split())
    assert reader.returncode == 0 and bad == 0 and ok > 0, rerr
    assert _temps(target) == []
    ck = load_checkpoint(target)
    assert ck["i"] == 149 and float(ck["w"][0]) == 149.0  # some writer's last save


def test_killed_checkpoint_writers_leave_a_valid_file(tmp_path):
    rng = random.Random(23)
    target = tmp_path / "run.ckpt"
    with _three_writers(_CKPT_WRITER, target, 200_000) as writers:
        _kill_after_random_waits(writers, rng, 0.1)  # each at a random point of its saves
    ck = load_checkpoint(target)  # verified checksum: a complete save of one writer
    assert float(ck["w"][0]) == ck["i"] and ck["writer"] in (0, 1, 2)
    save_checkpoint(target, w=torch.zeros(1), i=-1, writer=9)
    assert _temps(target) == []  # the killed writers' orphans are gone


def test_killed_cli_output_writers_leave_a_valid_file(tmp_path):
    rng = random.Random(7)
    target = tmp_path / "refined.npz"
    with _three_writers(_NPZ_WRITER, target, 300_000) as writers:
        _kill_after_random_waits(writers[:2], rng, 0.2)
        time.sleep(rng.uniform(0.2, 1.0))
        with np.load(target) as z:  # a live writer is still replacing it: always complete
            assert (z["pred"] == z["i"]).all() and z["pred"].size == 300_000
        writers[2].send_signal(signal.SIGKILL)
        writers[2].wait(30)
    with np.load(target) as z:
        assert (z["pred"] == z["i"]).all() and int(z["writer"]) in (0, 1, 2)


def test_concurrent_cli_runs_write_one_complete_file(tmp_path):
    g = np.random.default_rng(0)
    y = g.normal(scale=0.2, size=(64, 17, 3)).astype(np.float32)
    y -= y[:, :1]
    src = tmp_path / "preds.npz"
    np.savez(src, pred=y + 0.01, gt=y)
    out = tmp_path / "res.json"
    runs = [subprocess.Popen([sys.executable, "-m", "sealloss.cli.main", "evaluate", str(src),
                              "--json", str(out), "--no-units-check"], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    for p in runs:
        o, e = p.communicate(timeout=300)
        assert p.returncode == 0, e
        assert f"wrote {out}" in o
    assert json.loads(out.read_text())["count"] == 64
    assert _temps(out) == []

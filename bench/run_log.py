"""Resumable bench runs: jobs trained in spawned worker processes, each result appended to a
JSONL log the moment it arrives, so a stopped bench loses only the runs in flight
(``bench/h36m_gain.py`` and ``bench/h36m_fronts.py``)."""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


def read_runs(log_path: Path, resume: bool) -> list[dict]:
    """The runs already in ``log_path`` (one JSON object per line); none unless ``resume``."""
    if not (resume and log_path.is_file()):
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def run_jobs(worker: Callable[[tuple], dict], jobs: Sequence[tuple], procs: int,
             initializer: Callable[..., None], initargs: tuple, log_path: Path) -> Iterator[dict]:
    """Run ``worker(job)`` for every job in ``procs`` spawned processes (each set up once by
    ``initializer(*initargs)``), appending each result to ``log_path`` before yielding it."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(max(1, procs), initializer=initializer, initargs=initargs) as pool, \
            log_path.open("a") as log:
        for result in pool.imap_unordered(worker, jobs):
            log.write(json.dumps(result, default=str) + "\n")
            log.flush()
            yield result

"""Atomic file writes shared by checkpoints and loss-net weights, and clean-up of orphans.

:func:`atomic_write` writes bytes to a temporary file beside the target
(``.<name>.<random>.tmp``), flushes and fsyncs it, renames it over the target
(:func:`os.replace`) and fsyncs the directory. A crash at any moment leaves the old or the new
file under the target name, never a partial one.

A process killed with SIGKILL mid-write cannot run its own clean-up and leaves its temporary
file behind (full-size when the kill came after the write). :func:`remove_stale_temps` removes
such orphans of one target: files named like this module's temporaries for that target, last
modified before a given time (the start of the running save, or of the load) and, on POSIX, not
locked: a writer holds an exclusive :func:`fcntl.flock` on its temporary file until the rename,
and the kernel drops that lock when the process dies, even by SIGKILL. So the temporary file of
a concurrent writer that is still alive (another rank saving to the same path) is never removed.

Between :func:`tempfile.mkstemp` creating the temporary file and the writer taking its lock
there is a moment when another process's clean-up can see the file unlocked (file-system
timestamps are coarser than :func:`time.time`, so the age test does not always protect it) and
remove it; the writer's rename would then fail. So a writer checks, once it holds the lock, that
its file is still the one under its name, and starts over with a fresh temporary file when it
is not (:func:`atomic_open`): several processes saving to one path never lose a save.

:func:`atomic_open` is the streaming form (a binary file object; on leaving the ``with`` block
the file is fsynced and renamed over the target, on an error it is removed and the target
keeps its old content); :func:`atomic_write` writes byte strings through it, and
:func:`write_npz`, :func:`write_text` and :func:`write_rendered` write arrays, text and files
made by a renderer (a figure) through them, under exactly the name given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

try:  # POSIX advisory locks tell a live writer's temporary file from a dead one's
    import fcntl
except ImportError:  # pragma: no cover - Windows: age alone decides
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "atomic_open", "atomic_write", "fsync_dir", "remove_stale_temps", "temp_prefix",
    "write_npz", "write_text", "write_rendered",
]

logger = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def temp_prefix(path: Path) -> str:
    """Name prefix of the temporary files written for ``path``."""
    return f".{path.name}."


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX); silently skipped where not possible."""
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def remove_stale_temps(path: str | os.PathLike, older_than: float | None = None) -> list[Path]:
    """Remove orphaned temporary files of target ``path`` last modified before ``older_than``.

    Only names ``.<target name>.<8 or more chars without dots>.tmp`` in the target's directory
    are considered (what :func:`atomic_write` creates for this target, not for another file).
    ``older_than`` is a :func:`time.time` value (default: now). Files that vanish or cannot be
    removed meanwhile are skipped. Returns the removed paths; each removal is logged at INFO.
    """
    path = Path(path)
    cutoff = time.time() if older_than is None else float(older_than)
    pattern = re.compile(re.escape(temp_prefix(path)) + r"[^./]{8,}" + re.escape(TEMP_SUFFIX))
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_file(follow_symlinks=False) or st.st_mtime >= cutoff:
                continue
            if not _unlink_if_unlocked(entry.path):
                continue
        except OSError:
            continue
        size = st.st_size
        logger.info("removed stale temporary file %s (%d bytes) of %s", entry.path, size, path)
        removed.append(Path(entry.path))
    return removed


def _unlink_if_unlocked(name: str) -> bool:
    """Remove ``name`` unless a live process holds a lock on it; True when removed."""
    if fcntl is None:  # pragma: no cover
        os.unlink(name)
        return True
    fd = os.open(name, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by a live writer
            return False
        os.unlink(name)
        return True
    finally:
        os.close(fd)


#: how often a writer starts over when a concurrent clean-up removed its fresh temporary file
_MAX_TRIES = 20


def _locked_temp(path: Path) -> tuple[BinaryIO, str]:
    """A new temporary file beside ``path``, open for writing and exclusively locked, that is
    still linked under its name once the lock is held (see the module docstring)."""
    for _ in range(_MAX_TRIES):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=TEMP_SUFFIX)
        f = os.fdopen(fd, "wb")
        if fcntl is None:  # pragma: no cover - Windows: no locks, age alone protects it
            return f, tmp
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # held until the rename: marks it in use
            mine = os.fstat(f.fileno())
            try:
                there = os.stat(tmp)
            except FileNotFoundError:
                there = None
        except BaseException:
            f.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if mine.st_nlink > 0 and there is not None and there.st_ino == mine.st_ino:
            return f, tmp
        f.close()  # a concurrent clean-up removed it before the lock: start over
        logger.debug("temporary file %s of %s was removed by a concurrent clean-up; retrying",
                     tmp, path)
    raise OSError(f"could not keep a temporary file beside {str(path)!r} for writing: "
                  f"removed by concurrent clean-ups {_MAX_TRIES} times")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a binary file whose content replaces ``path`` atomically when the block ends.

    Parent directories are created and stale temporaries of the same target older than this
    call are removed (:func:`remove_stale_temps`). The data go to a locked temporary file beside
    ``path``; when the ``with`` block ends normally it is flushed, fsynced and renamed over
    ``path`` and the directory is fsynced. When the block raises (or the process is killed),
    ``path`` keeps its previous content and the temporary file is removed (by the next write or
    load of that path after a kill).
    """
    started = time.time()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path, older_than=started)
    f, tmp = _locked_temp(path)
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:  # POSIX renames an open file; keep the lock through it
                os.replace(tmp, path)
        if fcntl is None:  # pragma: no cover - Windows cannot rename an open file
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, *chunks: bytes) -> Path:
    """Write ``chunks`` to ``path`` atomically (temporary file, fsync, rename, fsync dir).

    Parent directories are created. Before writing, stale temporaries of the same target older
    than this call are removed (:func:`remove_stale_temps`). On any error the temporary file is
    removed and the error re-raised; ``path`` keeps its previous content. Returns ``path``.
    """
    path = Path(path)
    with atomic_open(path) as f:
        for chunk in chunks:
            f.write(chunk)
    return path


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """``np.savez`` of ``arrays`` to exactly ``path`` (no suffix appended), atomically; returns
    ``path``."""
    path = Path(path)
    with atomic_open(path) as f:
        np.savez(f, **arrays)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``text`` (UTF-8) to exactly ``path``, atomically; returns ``path``."""
    return atomic_write(path, text.encode("utf-8"))


def write_rendered(path: str | os.PathLike, render: Callable[[Path], object]) -> Path:
    """A file made by ``render(tmp_path)`` (e.g. a plot; ``tmp_path`` has ``path``'s name, in a
    private temporary folder), moved to exactly ``path`` atomically; returns ``path``."""
    path = Path(path)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as d:
        tmp = Path(d) / path.name
        render(tmp)
        return atomic_write(path, tmp.read_bytes())

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
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from pathlib import Path

try:  # POSIX advisory locks tell a live writer's temporary file from a dead one's
    import fcntl
except ImportError:  # pragma: no cover - Windows: age alone decides
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_write", "fsync_dir", "remove_stale_temps", "temp_prefix"]

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


def atomic_write(path: str | os.PathLike, *chunks: bytes) -> Path:
    """Write ``chunks`` to ``path`` atomically (temporary file, fsync, rename, fsync dir).

    Parent directories are created. Before writing, stale temporaries of the same target older
    than this call are removed (:func:`remove_stale_temps`). On any error the temporary file is
    removed and the error re-raised; ``path`` keeps its previous content. Returns ``path``.
    """
    started = time.time()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path, older_than=started)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:  # held until the rename: marks the file as in use
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            for chunk in chunks:
                f.write(chunk)
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
    return path

"""Training checkpoints: atomic writes, verified reads, RNG-state capture for exact resume.

A checkpoint file holds named states (``model=model.state_dict()``,
``seal=wrapper.state_dict()``, ``rng=rng_state()``, ``epoch=3``, ...) made of plain data only:
tensors, numbers, strings, ``None``, and dicts, lists and tuples of them. Modules and optimizers
are refused (pass their ``state_dict()``), so loading unpickles no code
(``torch.load(weights_only=True)``).

File layout: one line ``SEALLOSS-CKPT <version> <sha256 of payload>``, then the payload written
by :func:`torch.save`. The checksum turns a truncated or bit-flipped file into a clear
:class:`~sealloss.errors.WeightsFileError` instead of a half-loaded run.

Resume recipe (bit-exact on CPU, see ``tests/test_resume.py``)::

    save_checkpoint(path, model=model.state_dict(), opt=opt.state_dict(),
                    seal=seal.state_dict(), rng=rng_state(), epoch=epoch, batch=b + 1)
    ...
    ck = load_checkpoint(path)
    model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"])
    seal.load_state_dict(ck["seal"]); set_rng_state(ck["rng"])
    # rebuild the epoch's data order from (seed, epoch) and skip ck["batch"] batches
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import WeightsFileError

__all__ = [
    "CHECKPOINT_MAGIC",
    "CHECKPOINT_VERSION",
    "save_checkpoint",
    "load_checkpoint",
    "rng_state",
    "set_rng_state",
]

CHECKPOINT_MAGIC = b"SEALLOSS-CKPT"
CHECKPOINT_VERSION = 1
_PLAIN = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device,
          torch.Size)


def _check_plain(obj: Any, where: str) -> None:
    """Refuse anything that would pickle code (modules, optimizers, arbitrary objects)."""
    if isinstance(obj, (torch.Tensor, *_PLAIN)):
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, str | int | float | bool | tuple | type(None)):
                raise TypeError(f"checkpoint: key {k!r} in {where} is not a plain value")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    hint = " (pass its .state_dict())" if hasattr(obj, "state_dict") else ""
    raise TypeError(
        f"checkpoint: {where} is a {type(obj).__name__}, not plain data (tensors, numbers, "
        f"strings, dicts, lists){hint}"
    )


def _fsync_dir(directory: Path) -> None:
    try:  # make the rename durable (POSIX); not possible on every platform
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def save_checkpoint(path: str | os.PathLike, **states: Any) -> Path:
    """Write named plain-data states to ``path`` atomically; returns the path.

    The payload is written to a temporary file in the same directory, flushed and fsynced, then
    renamed over ``path`` (:func:`os.replace`): a crash at any moment leaves either the previous
    checkpoint or the new one under ``path``, never a partial file, and no temporary file.

    Args:
        path: destination file (parent directories are created).
        **states: plain data only (see the module docstring); e.g.
            ``model=model.state_dict(), seal=wrapper.state_dict(), rng=rng_state()``.

    Raises:
        TypeError: a state holds a module, optimizer or other non-plain object.
    """
    if not states:
        raise ValueError("save_checkpoint: nothing to save (pass states as keyword arguments)")
    _check_plain(states, "states")
    buf = io.BytesIO()
    torch.save(dict(states), buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    head = b"%s %d %s\n" % (CHECKPOINT_MAGIC, CHECKPOINT_VERSION, digest.encode())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Read a file written by :func:`save_checkpoint`: the dict of named states.

    The checksum is verified before anything is unpickled, and unpickling is restricted to
    plain data (``weights_only=True``).

    Raises:
        WeightsFileError: missing, truncated or corrupt file, or not a sealloss checkpoint.
    """
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    if not path.is_file():
        raise WeightsFileError(f"no checkpoint file at {str(path)!r}")
    blob = path.read_bytes()
    nl = blob.find(b"\n", 0, 200)
    parts = blob[:nl].split(b" ") if nl > 0 else []
    if len(parts) != 3 or parts[0] != CHECKPOINT_MAGIC:
        raise WeightsFileError(
            f"{where} is not a sealloss checkpoint (no {CHECKPOINT_MAGIC.decode()} header; "
            f"{len(blob)} bytes): empty, truncated at the start, or another format"
        )
    try:
        version = int(parts[1])
    except ValueError:
        version = -1
    if version != CHECKPOINT_VERSION:
        raise WeightsFileError(
            f"{where} has checkpoint version {parts[1]!r}; this sealloss reads version "
            f"{CHECKPOINT_VERSION}"
        )
    payload = blob[nl + 1 :]
    if hashlib.sha256(payload).hexdigest().encode() != parts[2]:
        raise WeightsFileError(
            f"{where} is truncated or corrupt: checksum (sha256) of its {len(payload)} payload "
            "bytes does not match the header"
        )
    try:
        states = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:  # zip / unpickling errors of a file that passed the checksum
        raise WeightsFileError(f"{where} cannot be read: {e}") from None
    if not isinstance(states, dict):
        raise WeightsFileError(f"{where} holds a {type(states).__name__}, not a dict of states")
    return states


def rng_state() -> dict[str, Any]:
    """The global RNG states a user's training loop may draw from, as plain data.

    torch CPU (dropout, ``torch.rand``), every initialised CUDA device, Python's
    :mod:`random` and NumPy's legacy global generator. sealloss itself draws only from the
    generators it is given (e.g. :attr:`AlternatingWrapper.generator`, saved in its
    ``state_dict``); this captures what the *user's* code draws.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA only when saved and available)."""
    torch.set_rng_state(state["torch"].cpu())
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    keys = n["keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])

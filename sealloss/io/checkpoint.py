"""Training checkpoints: atomic writes, verified reads, RNG-state capture for exact resume.

A checkpoint file holds named states (``model=model.state_dict()``,
``seal=wrapper.state_dict()``, ``rng=rng_state()``, ``epoch=3``, ...) made of plain data only:
tensors, numbers, strings, ``None``, and dicts, lists and tuples of them. Modules and optimizers
are refused (pass their ``state_dict()``), so loading unpickles no code
(``torch.load(weights_only=True)``). Saving checks the exact types that loading accepts:
numpy scalars are stored as the equal Python number (``best=np.float64(41.5)`` loads back as
``41.5``); other subclasses of the plain types (enums, namedtuples, ``defaultdict``, numpy
arrays) are refused at save time with a ``TypeError`` naming where they are, instead of
producing a file that cannot be loaded.

File layout: one line ``SEALLOSS-CKPT <version> <sha256 of payload>``, then the payload written
by :func:`torch.save`. The checksum turns a truncated or bit-flipped file into a clear
:class:`~sealloss.errors.CheckpointError` (a :class:`~sealloss.errors.WeightsFileError`)
instead of a half-loaded run.

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
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError
from .atomic import atomic_write, remove_stale_temps

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
# Exact types that torch.load(weights_only=True) rebuilds. Subclasses (numpy scalars, str or
# int enums, namedtuples, defaultdict, ...) pickle by class reference and are refused there,
# so they are converted or refused here, at save time, where the run can still fix them.
_SCALARS = (bool, int, float, complex, str, bytes, bytearray, type(None), torch.dtype,
            torch.device, torch.Size)
_KEYS = (str, int, float, bool, type(None))
_TENSORS = (torch.Tensor, torch.nn.Parameter)


def _plain_numpy_scalar(obj: Any) -> Any:
    """A numpy scalar as the Python value it stands for (exact: float64 -> float, ...)."""
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.complexfloating):
        return complex(obj)
    if isinstance(obj, np.str_):
        return str(obj)
    if isinstance(obj, np.bytes_):
        return bytes(obj)
    return _NOT_PLAIN


_NOT_PLAIN = object()


def _not_plain(obj: Any, where: str) -> TypeError:
    t = type(obj)
    if isinstance(obj, np.ndarray):
        hint = " (convert it with torch.from_numpy)"
    elif hasattr(obj, "state_dict"):
        hint = " (pass its .state_dict())"
    elif isinstance(obj, (*_SCALARS, tuple, list, dict, set, torch.Tensor)):
        hint = (f" (a subclass of {next(b.__name__ for b in t.__mro__[1:] if b in _BASES)}: "
                "torch.load(weights_only=True) would refuse it; convert it to the plain type)")
    else:
        hint = ""
    return TypeError(
        f"checkpoint: {where} is a {t.__qualname__}, not plain data (tensors, "
        f"numbers, strings, dicts, lists){hint}"
    )


_BASES = (*_SCALARS, tuple, list, dict, set, torch.Tensor)


def _to_plain(obj: Any, where: str) -> Any:
    """``obj`` as data that ``torch.load(weights_only=True)`` reads back.

    numpy scalars become the equal Python number (``np.float64(41.5)`` -> ``41.5``); containers
    are rebuilt with converted items (``OrderedDict`` stays one: state dicts are). Everything
    else that loading would refuse raises ``TypeError`` naming where it is.
    """
    t = type(obj)
    if t in _TENSORS or t in _SCALARS:
        return obj
    conv = _plain_numpy_scalar(obj)
    if conv is not _NOT_PLAIN:
        return conv
    if t is dict or t is OrderedDict:
        out = t()
        for k, v in obj.items():
            out[_to_key(k, where)] = _to_plain(v, f"{where}[{k!r}]")
        return out
    if t is list:
        return [_to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if t is tuple:
        return tuple(_to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj))
    if t is set:
        return {_to_key(v, f"{where} element") for v in obj}
    raise _not_plain(obj, where)


def _to_key(k: Any, where: str) -> Any:
    """A dict key or set element: a plain scalar or a tuple of them."""
    if type(k) in _KEYS:
        return k
    conv = _plain_numpy_scalar(k)
    if conv is not _NOT_PLAIN:
        return conv
    if type(k) is tuple:
        return tuple(_to_key(v, where) for v in k)
    raise TypeError(f"checkpoint: key {k!r} in {where} is not a plain value "
                    f"({type(k).__qualname__})")


def save_checkpoint(path: str | os.PathLike, **states: Any) -> Path:
    """Write named plain-data states to ``path`` atomically; returns the path.

    The payload is written to a temporary file in the same directory, flushed and fsynced, then
    renamed over ``path`` (:func:`os.replace`, :func:`sealloss.io.atomic.atomic_write`): a crash at
    any moment leaves either the previous checkpoint or the new one under ``path``, never a
    partial file. A process killed outright (SIGKILL) leaves its temporary file
    ``.<name>.<random>.tmp``; the next save or load of the same path removes it.

    Args:
        path: destination file (parent directories are created).
        **states: plain data only (see the module docstring); e.g.
            ``model=model.state_dict(), seal=wrapper.state_dict(), rng=rng_state()``.

    Raises:
        TypeError: a state holds a module, optimizer or other object that loading with
            ``weights_only=True`` would refuse.
    """
    if not states:
        raise ValueError("save_checkpoint: nothing to save (pass states as keyword arguments)")
    plain = _to_plain(dict(states), "states")
    buf = io.BytesIO()
    torch.save(plain, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    head = b"%s %d %s\n" % (CHECKPOINT_MAGIC, CHECKPOINT_VERSION, digest.encode())
    return atomic_write(path, head, payload)


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Read a file written by :func:`save_checkpoint`: the dict of named states.

    The checksum is verified before anything is unpickled, and unpickling is restricted to
    plain data (``weights_only=True``). Stale temporary files that a killed save left beside
    ``path`` are removed first.

    Raises:
        CheckpointError: missing, truncated or corrupt file, or not a sealloss checkpoint.
    """
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    remove_stale_temps(path, older_than=time.time())
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {str(path)!r}")
    blob = path.read_bytes()
    nl = blob.find(b"\n", 0, 200)
    parts = blob[:nl].split(b" ") if nl > 0 else []
    if len(parts) != 3 or parts[0] != CHECKPOINT_MAGIC:
        raise CheckpointError(
            f"{where} is not a sealloss checkpoint (no {CHECKPOINT_MAGIC.decode()} header; "
            f"{len(blob)} bytes): empty, truncated at the start, or another format"
        )
    try:
        version = int(parts[1])
    except ValueError:
        version = -1
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{where} has checkpoint version {parts[1]!r}; this sealloss reads version "
            f"{CHECKPOINT_VERSION}"
        )
    payload = blob[nl + 1 :]
    if hashlib.sha256(payload).hexdigest().encode() != parts[2]:
        raise CheckpointError(
            f"{where} is truncated or corrupt: checksum (sha256) of its {len(payload)} payload "
            "bytes does not match the header"
        )
    try:
        states = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:  # zip / unpickling errors of a file that passed the checksum
        raise CheckpointError(f"{where} cannot be read: {e}") from None
    if not isinstance(states, dict):
        raise CheckpointError(f"{where} holds a {type(states).__name__}, not a dict of states")
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

"""Reading ``.npz`` files without running pickled code.

Several upstream preparations store nested Python dicts of arrays as 0-d object arrays, which
``np.load(..., allow_pickle=True)`` unpickles, and unpickling can run any code a file carries.
The files in question (checked against the copies in ``$SEALLOSS_DATA``):

- HumanEva-I, VideoPose3D preparation: ``data_3d_humaneva15.npz`` (``positions_3d``) and
  ``data_2d_humaneva15_gt.npz`` (``positions_2d``, ``metadata``);
- MPI-INF-3DHP, VideoPose3D / P-STMO preparation: ``data_train_3dhp.npz`` and
  ``data_test_3dhp.npz`` (``data``);
- H3WB: ``h3wb_train.npz`` (``train_data``, ``metadata``).

Their pickles only rebuild dicts, lists, tuples, strings, numbers and numpy arrays.
:func:`load_npz_entry` reads such an entry with an unpickler that resolves *only* the numpy
globals needed to rebuild arrays, dtypes and scalars; anything else (``os.system``,
``builtins.eval``, any class) is refused with a :class:`~sealloss.errors.DataFormatError`
before it runs. Plain (non-object) entries are read with ``allow_pickle=False``.

A damaged archive (``BadZipFile``), a missing entry (``KeyError``) or an unreadable header
become :class:`~sealloss.errors.DataFormatError` naming the file and the entry.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from ..errors import DataFormatError

__all__ = ["load_npz_entry", "npz_entries"]


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals an object-array pickle may name: array, dtype and scalar rebuilders."""
    try:
        from numpy._core import multiarray as ma
    except ImportError:  # pragma: no cover - numpy < 2
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = ma._reconstruct
        allowed[(mod, "scalar")] = ma.scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    # numpy >= 1.25 pickles dtypes as numpy.dtypes.Float64DType etc.
    for name in dir(np.dtypes):
        cls = getattr(np.dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            allowed[("numpy.dtypes", name)] = cls
    return allowed


_ALLOWED = _numpy_globals()


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array, dtype and scalar rebuilders."""

    def __init__(self, file: io.BufferedIOBase, where: str) -> None:
        super().__init__(file)
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise DataFormatError(
                f"{self._where}: the pickled data names {module}.{name}, which a data file has "
                "no reason to contain; refused without running it (only numpy arrays, dicts, "
                "lists, strings and numbers are read)"
            )
        return obj


def _open(path: str | os.PathLike) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError) as e:
        raise DataFormatError(f"{str(path)!r} is not a readable .npz archive ({e})") from None


def npz_entries(path: str | os.PathLike) -> list[str]:
    """Entry names of an ``.npz`` file (without ``.npy``)."""
    with _open(path) as z:
        return [n.removesuffix(".npy") for n in z.namelist()]


def load_npz_entry(path: str | os.PathLike, key: str) -> Any:
    """Entry ``key`` of an ``.npz`` file: an array, or for a 0-d object array the Python
    object it holds (``.item()``), unpickled without running code.

    Raises:
        FileNotFoundError: no file at ``path``.
        DataFormatError: not a zip archive, no entry ``key`` (the message lists the entries),
            a corrupt entry, or a pickle that names anything but numpy's array rebuilders.
    """
    where = f"{str(path)!r} entry {key!r}"
    with _open(path) as z:
        names = z.namelist()
        member = key + ".npy" if key + ".npy" in names else key
        if member not in names:
            have = sorted(n.removesuffix(".npy") for n in names)
            raise DataFormatError(f"{str(path)!r} has no entry {key!r} (entries: {have})")
        try:
            with z.open(member) as fh:
                raw = fh.read()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise DataFormatError(f"{where} is corrupt ({e})") from None
    buf = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(buf)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(buf)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(buf)
    except (ValueError, OSError, SyntaxError) as e:
        raise DataFormatError(f"{where} has no valid .npy header ({e})") from None
    if not dtype.hasobject:
        try:
            return np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, OSError) as e:
            raise DataFormatError(f"{where} is corrupt ({e})") from None
    try:
        arr = _ArrayUnpickler(buf, where).load()
    except DataFormatError:
        raise
    except Exception as e:  # truncated or garbled pickle stream
        raise DataFormatError(f"{where} holds an unreadable pickle ({type(e).__name__}: {e})") \
            from None
    if not isinstance(arr, np.ndarray):
        raise DataFormatError(f"{where} does not hold an array ({type(arr).__name__})")
    return arr.item() if arr.shape == () else arr

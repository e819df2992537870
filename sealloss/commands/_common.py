"""What the ``sealloss`` commands share: exit codes, :class:`CLIError`, file input, progress
bars, the torch-threads option, the units check and the demo/pretrain data selection.

Imports nothing heavy at module level (torch, tqdm and the data loaders are imported on use), so
``sealloss --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataNotFoundError, SealLossError

__all__ = [
    "EXIT_OK", "EXIT_FAILURE", "EXIT_BAD_INPUT", "CLIError", "THREADS_HELP", "DATA_ROOT_ALONE",
    "load_pairs", "evenly_spaced",
    "_load_file", "_pick", "_float_tensor", "_torch_threads", "_bar", "_check_scale",
]

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

THREADS_HELP = (
    "torch CPU threads. 1 is safest: the loss-net runs many small ops, and when threads compete "
    "for busy cores each op waits for the others (measured: a SEAL step took 4.4 s with 2 "
    "threads on 2 cores with one core busy, 0.27 s with 1 thread); try more on an idle machine"
)


class CLIError(SealLossError):
    """Bad command-line input (missing key in a file, unreadable file, bad option value)."""


# --------------------------------------------------------------------------- file input
def check_writable(flag: str, target: str | Path, consequence: str) -> None:
    """Refuse an output path that cannot be written, before any long work: creates the parent
    folder, tries a temporary file beside the target (nothing is left behind) and checks an
    existing target is writable. ``consequence`` ends the message (e.g. "nothing was
    trained")."""
    import os
    import tempfile

    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target.parent):
            pass
        if target.exists() and not os.access(target, os.W_OK):
            raise PermissionError(f"{str(target)!r} is read-only")
    except OSError as e:
        raise CLIError(f"{flag} {str(target)!r} cannot be written ({e}); {consequence}") from None


def _load_file(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of a ``.npz`` (by key) or ``.npy`` (key ``""``) file."""
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"no such file: {str(p)!r}")
    try:
        if p.suffix == ".npy":
            return {"": np.load(p, allow_pickle=False)}
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise CLIError(f"cannot read {str(p)!r} as a numpy file: {e}") from None
    raise CLIError(f"{str(p)!r}: expected a .npz or .npy file, got suffix {p.suffix!r}")


def _pick(arrays: dict[str, np.ndarray], key: str | None, path: str, what: str) -> np.ndarray:
    """The array ``key`` of a loaded file (the only array of a ``.npy``)."""
    if "" in arrays:
        return arrays[""]
    if key is None or key not in arrays:
        raise CLIError(
            f"{path!r} has no array {key!r} ({what}); it holds {sorted(arrays) or 'nothing'}"
        )
    return arrays[key]


def _float_tensor(a: np.ndarray, what: str) -> Any:
    """A float32 torch tensor of a numeric array (``CLIError`` naming ``what`` otherwise)."""
    import torch

    if not np.issubdtype(a.dtype, np.number):
        raise CLIError(f"{what} must be numeric, got dtype {a.dtype}")
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Any:
    """Run with ``n`` torch CPU threads (``None``: unchanged), then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise CLIError(f"--threads must be at least 1, got {n}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- progress
def _bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm progress bar (a silent one when not ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


# --------------------------------------------------------------------------- units check
#: plausible median distance of a person's joints from the root joint, metres (an adult's is
#: about 0.3-0.5 m; the bounds leave a factor of about 6 either way, while a wrong unit is a
#: factor of 10, 100 or 1000)
_PLAUSIBLE_EXTENT_M = (0.05, 2.5)
_UNIT_WORDS = {"m": "metres", "cm": "centimetres", "mm": "millimetres"}


def _check_scale(poses: Any, units: str, root: int, what: str, force: bool = False) -> None:
    """Refuse poses whose size, read in ``units``, is not a person's (``--units`` is wrong).

    The size is the median distance of the joints from the root joint, after converting to
    metres; outside :data:`_PLAUSIBLE_EXTENT_M` the error names ``--units`` and the units
    that would make the poses person-sized. All-zero poses and ``force`` skip the check.
    """
    from ..canonical import UNIT_SCALE

    if force or poses.numel() == 0:
        return
    rel = poses - poses[..., root : root + 1, :]
    med = float(rel.norm(dim=-1).median()) * UNIT_SCALE[units]
    lo, hi = _PLAUSIBLE_EXTENT_M
    if med == 0.0 or not math.isfinite(med) or lo <= med <= hi:
        return
    fits = [u for u, s in UNIT_SCALE.items() if lo <= med / UNIT_SCALE[units] * s <= hi]
    hint = (f"they look like {_UNIT_WORDS[fits[0]]}: pass --units {fits[0]}" if fits
            else "check the poses' scale")
    raise CLIError(
        f"{what}: read as {_UNIT_WORDS[units]} (--units {units}), the joints' median distance "
        f"from the root is {med * 1000:.3g} mm, not a person's size ({lo * 1000:.0f}-"
        f"{hi * 1000:.0f} mm); {hint} (or --no-units-check to go on anyway)")



# --------------------------------------------------------------------------- data
def load_pairs(
    which: str, data_root: str | None, every_train: int, every_test: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Train and test pairs dicts: the shipped CMU clips, or Human3.6M (S1-S8 / S9, S11).

    ``--data-root`` without ``--data h36m`` is an error (it would be ignored), and the data
    loaders' messages are reworded in the command line's terms (``--data-root``, not ``root=``).
    """
    from .. import data

    if which == "embedded":
        if data_root is not None:
            raise CLIError(DATA_ROOT_ALONE)
        return data.load_embedded("train"), data.load_embedded("test")
    if which == "h36m":
        try:
            if data_root is None:
                data.resolve_data_root(None)  # raises DataNotFoundError naming $SEALLOSS_DATA
            ds = data.load_h36m(data_root)
        except DataNotFoundError as e:
            raise DataNotFoundError(_cli_wording(str(e))) from None
        return (
            data.h36m_pairs(data.TRAIN_SUBJECTS, every=every_train, dataset=ds),
            data.h36m_pairs(data.TEST_SUBJECTS, every=every_test, dataset=ds),
        )
    raise CLIError(f"unknown data {which!r}; use 'embedded' or 'h36m'")


DATA_ROOT_ALONE = ("--data-root is only read with --data h36m (the default data, the shipped "
                    "CMU clips, needs no folder); add --data h36m or drop --data-root")


def _cli_wording(msg: str) -> str:
    """A data loader's message in the command line's terms: ``--data-root``, not ``root=``."""
    return (msg.replace("(passed as root=)", "(given as --data-root)")
            .replace("pass root=<folder>", "pass --data-root <folder>")
            .replace("pass root=", "pass --data-root"))


def evenly_spaced(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)``, ends excluded.

    >>> evenly_spaced(10, 3)
    [2, 4, 7]
    """
    k = max(0, min(k, n))
    return [int(round(v)) for v in np.linspace(0, n - 1, k + 2)[1:-1]] if k else []

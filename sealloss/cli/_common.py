"""What the ``sealloss`` commands share: exit codes, :class:`CLIError`, file input, the output
policy, progress bars, the torch-threads option and the units check.

Output policy (every file a command writes, :func:`check_output` then
:func:`sealloss.io.atomic.write_npz` / ``write_text`` / ``write_rendered``): the output option
is checked before any work (not a folder, the suffix the command writes, never the same file as
an input or another output of the command, symlinks and hard links resolved, not read-only, its
folder writable); the file is written atomically (:mod:`sealloss.io.atomic`: a kill or a full
disk leaves the old file or the new one, never a broken one) under exactly the name given
(nothing is appended), and that name is what the command prints.

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

from ..errors import SealLossError

__all__ = [
    "EXIT_OK", "EXIT_FAILURE", "EXIT_BAD_INPUT", "CLIError", "THREADS_HELP",
    "OUTPUT_OPTIONS", "check_output", "check_writable", "screen_from_pixels",
    "load_file", "pick_array", "float_tensor", "torch_threads", "progress_bar", "check_scale",
]

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

THREADS_HELP = (
    "torch CPU threads. 1 is safest: the loss-net runs many small ops, and when threads compete "
    "for busy cores each op waits for the others (measured: a SEAL step took 4.4 s with 2 "
    "threads on 2 cores with one core busy, 0.27 s with 1 thread); try more on an idle machine"
)


class CLIError(SealLossError):
    """Bad command-line input (missing key in a file, unreadable file, bad option value)."""


# --------------------------------------------------------------------------- output policy
#: attribute names of the output options of the commands (``--out``, ``--plot``, ``--json``,
#: ``--report``): a file named by any other option or argument is an input
OUTPUT_OPTIONS = ("out", "plot", "json", "report")


def _named_paths(value: Any) -> list[str]:
    """The strings of an option's value (one, or a list for ``nargs``)."""
    if isinstance(value, (str, Path)):
        return [str(value)]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, (str, Path))]
    return []


def _same_file(a: str, b: Path) -> bool:
    """``a`` and ``b`` name one file: the same path after resolving symlinks, or hard links."""
    import os

    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(args: Any, flag: str, suffixes: tuple[str, ...] | None,
                 consequence: str) -> Path | None:
    """The output file of option ``flag`` of a parsed command line, checked before any work
    (``None`` when the option is not given).

    Refused with a :class:`CLIError` that names the option, the file and the cause: a folder; a
    suffix not in ``suffixes`` (the file is written under exactly the name given, so
    ``--out s.txt`` is refused rather than silently written as ``s.txt.npz``); the same file as
    any input or other output of the command line (symlinks resolved, hard links found): writing
    it would destroy that file; an existing read-only file; a folder that cannot be written.
    ``consequence`` ends the message (e.g. "nothing was refined").
    """
    import os

    dest = flag.lstrip("-").replace("-", "_")
    value = getattr(args, dest, None)
    if value is None:
        return None
    path = Path(value)
    where = f"{flag} {str(value)!r}"
    if str(value).endswith(("/", os.sep)) or path.is_dir():
        raise CLIError(f"{where} is a folder; give a file name; {consequence}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise CLIError(
            f"{where} must end in {' or '.join(suffixes)} (the file is written under exactly "
            f"the name given); {consequence}")
    for name, v in vars(args).items():
        if name == dest or name in ("func", "command"):
            continue
        for other in _named_paths(v):
            if other and _same_file(other, path):
                role = (f"the output {'--' + name.replace('_', '-')}" if name in OUTPUT_OPTIONS
                        else f"the input {other!r}")
                raise CLIError(
                    f"{where} is the same file as {role} (after resolving links): writing it "
                    f"would destroy that file; choose another output name; {consequence}")
    check_writable(flag, path, consequence)
    return path


def check_writable(flag: str, target: str | Path, consequence: str) -> None:
    """Refuse an output path that cannot be written, before any long work: creates the parent
    folder, tries a temporary file beside the target (nothing is left behind) and checks an
    existing target is writable. ``consequence`` ends the message (e.g. "nothing was
    trained")."""
    import os
    import tempfile

    target = Path(target)
    if target.is_dir():
        raise CLIError(f"{flag} {str(target)!r} is a folder; give a file name; {consequence}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target.parent):
            pass
        # mode bits as well as access(): a file the user made read-only stays protected even
        # for root, who may write anything, and even though an atomic rename could replace it
        if target.exists() and (not os.access(target, os.W_OK)
                                or not target.stat().st_mode & 0o222):
            raise PermissionError(f"{str(target)!r} is read-only")
    except OSError as e:
        raise CLIError(f"{flag} {str(target)!r} cannot be written ({e}); {consequence}") from None


def load_file(path: str | Path) -> dict[str, np.ndarray]:
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


def pick_array(arrays: dict[str, np.ndarray], key: str | tuple[str, ...] | None, path: str,
          what: str) -> np.ndarray:
    """The array ``key`` of a loaded file (the only array of a ``.npy``); for a tuple of keys,
    the first one the file holds. The error lists every key tried."""
    if "" in arrays:
        return arrays[""]
    keys = (key,) if isinstance(key, str) or key is None else tuple(key)
    for k in keys:
        if k is not None and k in arrays:
            return arrays[k]
    tried = ", ".join(repr(k) for k in keys)
    raise CLIError(
        f"{path!r} has {'no array' if len(keys) == 1 else 'none of the arrays'} {tried} "
        f"({what}); it holds {sorted(arrays) or 'nothing'}")


def float_tensor(a: np.ndarray, what: str) -> Any:
    """A float32 torch tensor of a real numeric array (``CLIError`` naming ``what`` otherwise:
    strings, bools, objects, and complex numbers, whose imaginary part a cast would drop).
    Integer arrays are converted exactly (files may store pixel or millimetre coordinates as
    integers)."""
    import torch

    if np.issubdtype(a.dtype, np.complexfloating):
        raise CLIError(f"{what} must be real numbers, got complex dtype {a.dtype} (a conversion "
                       "would silently drop the imaginary part)")
    if not np.issubdtype(a.dtype, np.number):
        raise CLIError(f"{what} must be numeric, got dtype {a.dtype}")
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def screen_from_pixels(x2d: Any, image_size: Any, flag: str = "--image-size") -> Any:
    """2D pixels of a ``W x H`` image (``flag``'s two values) in the normalised screen frame.

    Refuses sizes that are not finite and positive (a negative size would mirror the 2D, zero
    would give NaN), and 2D that is still outside the screen frame after the conversion
    (``flag`` is not the image's size in pixels), naming ``flag``.
    """
    from ..errors import PoseShapeError
    from ..pose.canonical import pixels_to_screen
    from ..pose.checks import check_screen_2d

    w, h = (float(v) for v in image_size)
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise CLIError(f"{flag} must be the image's width and height in pixels (two numbers > 0), "
                       f"got {w:g} {h:g}")
    out = pixels_to_screen(x2d, w, h)
    try:
        check_screen_2d(out, "2D inputs")
    except PoseShapeError as e:
        raise CLIError(f"{e}; after {flag} {w:g} {h:g} the 2D is still not in the screen "
                       f"frame: is {flag} the size in pixels of the image the 2D comes "
                       "from?") from None
    return out


@contextlib.contextmanager
def torch_threads(n: int | None) -> Any:
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
def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm progress bar (a silent one when not ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


# --------------------------------------------------------------------------- units check
#: plausible median distance of a person's joints from the root joint, metres (an adult's is
#: about 0.3-0.5 m; the bounds leave a factor of about 6 either way, while a wrong unit is a
#: factor of 10, 100 or 1000)
_PLAUSIBLE_EXTENT_M = (0.05, 2.5)
_UNIT_WORDS = {"m": "metres", "cm": "centimetres", "mm": "millimetres"}


def check_scale(poses: Any, units: str, root: int, what: str, force: bool = False) -> None:
    """Refuse poses whose size, read in ``units``, is not a person's (``--units`` is wrong).

    The size is the median distance of the joints from the root joint, after converting to
    metres; outside :data:`_PLAUSIBLE_EXTENT_M` the error names ``--units`` and the units
    that would make the poses person-sized. All-zero poses and ``force`` skip the check.
    """
    from ..pose.canonical import UNIT_SCALE, root_relative

    if force or poses.numel() == 0:
        return
    rel = root_relative(poses, root)
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

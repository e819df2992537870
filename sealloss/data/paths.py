"""Where the data lives: an explicit folder, else ``$SEALLOSS_DATA``; nothing is downloaded.

The research datasets (Human3.6M, HumanEva-I, MPI-INF-3DHP, H3WB) cannot be redistributed, so
sealloss never ships or fetches them: the caller points at a local copy.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataNotFoundError

__all__ = ["ENV_VAR", "resolve_data_root", "find_data_file"]

ENV_VAR = "SEALLOSS_DATA"


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$SEALLOSS_DATA``.

    Raises:
        DataNotFoundError: naming where it looked and what to set.
    """
    if root is not None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(f"data folder {str(path)!r} (passed as root=) does not exist")
        return path
    env = os.environ.get(ENV_VAR)
    if not env:
        raise DataNotFoundError(
            f"no data folder given: pass root=<folder> or set the environment variable {ENV_VAR} "
            "to the folder holding the dataset files (e.g. shared/data with h36m/, humaneva/)"
        )
    path = Path(env).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(f"${ENV_VAR} points to {str(path)!r}, which is not a folder")
    return path


def find_data_file(
    name: str, subdir: str | None = None, root: str | os.PathLike | None = None
) -> Path:
    """Locate ``name`` in the data folder: ``<root>/<name>`` or ``<root>/<subdir>/<name>``.

    ``root`` may be the top data folder (holding ``h36m/`` ...) or the dataset's own folder.
    """
    base = resolve_data_root(root)
    candidates = [base / name]
    if subdir:
        candidates.append(base / subdir / name)
    for c in candidates:
        if c.is_file():
            return c
    looked = ", ".join(repr(str(c)) for c in candidates)
    raise DataNotFoundError(
        f"data file {name!r} not found (looked at {looked}); pass root= or set ${ENV_VAR}"
    )

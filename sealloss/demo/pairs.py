"""Which pairs the demo and ``sealloss pretrain`` train and test on: the shipped CMU clips or
Human3.6M, and evenly spaced subsets of them.

Messages speak the command line's terms (``--data``, ``--data-root``): these options are what
:class:`~sealloss.demo.runner.DemoConfig` and the ``pretrain`` command take. Imports the data
loaders only on use.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataNotFoundError

__all__ = ["DATA_ROOT_ALONE", "load_pairs", "evenly_spaced"]

DATA_ROOT_ALONE = ("--data-root is only read with --data h36m (the default data, the shipped "
                   "CMU clips, needs no folder); add --data h36m or drop --data-root")


def load_pairs(
    which: str, data_root: str | None, every_train: int, every_test: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Train and test pairs dicts: the shipped CMU clips, or Human3.6M (S1-S8 / S9, S11).

    ``--data-root`` without ``--data h36m`` is an error (it would be ignored), and the data
    loaders' messages are reworded in the command line's terms (``--data-root``, not ``root=``).

    Raises:
        ValueError: unknown ``which``, or a ``data_root`` for the shipped clips.
        DataNotFoundError: Human3.6M is not where it was looked for.
    """
    from .. import data

    if which == "embedded":
        if data_root is not None:
            raise ValueError(DATA_ROOT_ALONE)
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
    raise ValueError(f"unknown data {which!r}; use 'embedded' or 'h36m'")


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

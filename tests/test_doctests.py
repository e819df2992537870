"""The docstring examples of the library modules run under ``python -m pytest -q tests``.

Every ``sealloss`` module whose source holds an example (``>>>``) is imported and its doctests
run (:func:`doctest.DocTestSuite`); any failure fails the test. A module that cannot be imported
because an optional dependency is missing (matplotlib, lightning) is skipped, not failed.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import io
import pkgutil
import unittest
from pathlib import Path

import pytest

import sealloss

#: optional dependencies whose absence skips a module's doctests
_OPTIONAL = ("matplotlib", "lightning", "pytorch_lightning", "h5py")


def _modules_with_examples() -> list[str]:
    """Names of the sealloss modules whose source file contains ``>>>`` (read as text: cheap,
    nothing imported while collecting)."""
    names = []
    for info in pkgutil.walk_packages(sealloss.__path__, "sealloss."):
        spec = importlib.util.find_spec(info.name)
        origin = spec.origin if spec else None
        if origin and origin.endswith(".py") and ">>>" in Path(origin).read_text():
            names.append(info.name)
    return sorted(names)


_NAMES = _modules_with_examples()


def _run(name: str) -> unittest.TestResult:
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        if any(dep in str(e) for dep in _OPTIONAL):
            pytest.skip(f"{name}: optional dependency missing ({e})")
        raise
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    suite = doctest.DocTestSuite(module, optionflags=flags)
    return unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)


@pytest.mark.parametrize("name", _NAMES)
def test_doctests(name: str) -> None:
    result = _run(name)
    problems = [f"{t}:\n{tb}" for t, tb in result.failures + result.errors]
    assert not problems, "\n".join(problems)
    assert result.testsRun > 0


def test_collection_finds_the_examples() -> None:
    """The scan is not vacuous: modules known to hold examples are in it."""
    assert {"sealloss.metrics.structural", "sealloss.posthoc.scoring",
            "sealloss.metrics.functional"} <= set(_NAMES)

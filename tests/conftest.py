"""Shared fixtures: the shared data folder (skip with a reason when absent), threads, seeds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("SEALLOSS_TEST_THREADS", "2")))


def shared_data_root() -> Path | None:
    """``$SEALLOSS_DATA`` or ``../shared/data`` beside the repository, if it exists."""
    env = os.environ.get("SEALLOSS_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("shared data not found: set SEALLOSS_DATA or put shared/data beside the repo")
    return root


def dataset_folder(data_root: Path, name: str, marker: str, dataset: str) -> Path:
    """``data_root / name``, or a skip saying ``dataset``'s files are not there when it lacks
    the file ``marker``."""
    p = data_root / name
    if not (p / marker).is_file():
        pytest.skip(f"{dataset} files not found under {p} (research-only data, never shipped)")
    return p


@pytest.fixture(scope="session")
def h36m_root(data_root: Path) -> Path:
    return dataset_folder(data_root, "h36m", "h36m_3d17_world_10hz.npz", "Human3.6M")


@pytest.fixture(scope="session")
def humaneva_root(data_root: Path) -> Path:
    return dataset_folder(data_root, "humaneva", "data_3d_humaneva15.npz", "HumanEva-I")

"""The folder config tests write their files into."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.paths import CONFIGS


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder for config files, with a launch template beside them."""
    shutil.copy(CONFIGS / "job.yaml", tmp_path / "job.yaml")
    return tmp_path

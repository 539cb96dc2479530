"""Config files written for a test, loaded, and their problems read back as (path, line,
message).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config
from mqtt_kube.core.errors import ConfigError

JELLYFIN = """
bindings:
  - namespace: media
    resource: Deployment
    name: jellyfin
"""


def jellyfin(extra: str = "") -> str:
    """A Deployment binding with `extra` (dedented) as more of its keys, from line 5."""
    return JELLYFIN + textwrap.indent(textwrap.dedent(extra).strip("\n"), "    ") + "\n"


def write(folder: Path, text: str, *, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(folder: Path, text: str) -> Config:
    return load_config(write(folder, text))


def problems(folder: Path, text: str) -> list[tuple[str, int | None, str]]:
    """(path, line, message) of every problem in the file; fails if it loads."""
    path = write(folder, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert all(problem.source == str(path) for problem in caught.value.problems)
    return [(p.path, p.line, p.message) for p in caught.value.problems]


def only_problem(folder: Path, text: str) -> tuple[str, int | None, str]:
    found = problems(folder, text)
    assert len(found) == 1, found
    return found[0]

"""The build arguments an image cannot do without: VERSION for both images, BUILD_ARCH for
the add-on's. Without one, the build stops at once with a message naming it, instead of
labelling an image with an empty version or architecture.

No Docker engine runs here, so each guard (a `RUN` of the Dockerfile) is run with `sh`, as
Docker runs it: the build arguments of its stage in the environment.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"
GUARD = re.compile(r'RUN (: "\$\{(\w+):\?[^}]+\}")$')


def guards() -> dict[tuple[str, str], str]:
    """(stage, argument) -> the guard's shell command, for every required build argument."""
    found: dict[tuple[str, str], str] = {}
    stage = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("FROM "):
            stage = line.partition(" AS ")[2]
        if match := GUARD.match(line):
            found[(stage, match.group(2))] = match.group(1)
    return found


def run_guard(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    sh = shutil.which("sh")
    assert sh is not None
    return subprocess.run(
        [sh, "-c", command], env=env, capture_output=True, text=True, timeout=10, check=False
    )


def test_the_runtime_requires_the_version_and_the_addon_its_architecture() -> None:
    assert set(guards()) == {("runtime", "VERSION"), ("addon", "BUILD_ARCH")}
    # The guards come before the labels that use the arguments.
    text = DOCKERFILE.read_text()
    for (_, argument), command in guards().items():
        assert text.index(command) < text.index(f'="${{{argument}}}"'), argument


@pytest.mark.parametrize(("stage", "argument"), [("runtime", "VERSION"), ("addon", "BUILD_ARCH")])
def test_a_build_without_the_argument_stops_naming_it(stage: str, argument: str) -> None:
    command = guards()[(stage, argument)]
    for env in ({}, {argument: ""}):
        done = run_guard(command, env)
        assert done.returncode != 0, env
        assert f"set --build-arg {argument} to the" in done.stderr


@pytest.mark.parametrize(
    ("stage", "argument", "value"),
    [("runtime", "VERSION", "0.1.0"), ("addon", "BUILD_ARCH", "aarch64")],
)
def test_a_build_with_the_argument_goes_on(stage: str, argument: str, value: str) -> None:
    done = run_guard(guards()[(stage, argument)], {argument: value})
    assert (done.returncode, done.stderr) == (0, "")

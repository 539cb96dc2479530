"""`.ci/check_wheel.py`, which `make package-check` and the release run on the wheel: it
passes a wheel with the package and its typing marker, and names what is wrong with one
that carries the test stand-ins (`mqtt_kube/testing`) or lacks a file users need."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "check_wheel.py"
GOOD = ("mqtt_kube/__init__.py", "mqtt_kube/__main__.py", "mqtt_kube/py.typed")


def wheel(tmp_path: Path, names: tuple[str, ...]) -> Path:
    path = tmp_path / "mqtt_kube-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "")
    return path


def check(*arguments: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_wheel_of_the_package_alone_passes(tmp_path: Path) -> None:
    done = check(wheel(tmp_path, (*GOOD, "mqtt_kube/cli/main.py")))
    assert (done.returncode, done.stderr) == (0, "")


def test_a_wheel_with_the_test_stand_ins_is_refused_naming_them(tmp_path: Path) -> None:
    path = wheel(
        tmp_path, (*GOOD, "mqtt_kube/testing/__init__.py", "mqtt_kube/testing/fakekube.py")
    )
    done = check(path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{path}: carries mqtt_kube/testing/__init__.py",
        f"{path}: carries mqtt_kube/testing/fakekube.py",
    ]


def test_a_wheel_without_the_typing_marker_is_refused(tmp_path: Path) -> None:
    path = wheel(tmp_path, GOOD[:2])
    done = check(path)
    assert (done.returncode, done.stderr) == (1, f"{path}: lacks mqtt_kube/py.typed\n")


def test_a_file_that_is_no_wheel_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.whl"
    path.write_text("not a zip")
    done = check(path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"{path}: not a readable wheel: ")


def test_no_wheel_given_is_a_usage_error() -> None:
    done = check()
    assert done.returncode == 2
    assert "usage:" in done.stderr

"""Checks a built wheel before anyone installs it: `python .ci/check_wheel.py WHEEL...`.

The fake Kubernetes API and the broker helpers (`mqtt_kube/testing`) serve the tests, the
demo and the benchmarks from the source tree; a wheel that carries them, or lacks the
package's typing marker, is a packaging mistake. Run by `make package-check` and by the
release workflow on the wheel it publishes. Standard library only.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

REQUIRED = ("mqtt_kube/__init__.py", "mqtt_kube/__main__.py", "mqtt_kube/py.typed")
EXCLUDED = "mqtt_kube/testing/"


def problems(wheel: Path) -> list[str]:
    """What is wrong with the wheel's file list; empty when nothing is."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{wheel}: not a readable wheel: {exc}"]
    found = [f"{wheel}: carries {name}" for name in names if name.startswith(EXCLUDED)]
    found += [f"{wheel}: lacks {name}" for name in REQUIRED if name not in names]
    return found


def main(arguments: list[str]) -> int:
    if not arguments:
        print("usage: python .ci/check_wheel.py WHEEL...", file=sys.stderr)
        return 2
    found = [problem for argument in arguments for problem in problems(Path(argument))]
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

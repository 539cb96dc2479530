"""Which packages a Home Assistant install needs: run by that install's own Python.

Provisioning feeds this file to the Home Assistant virtual environment's interpreter (it
imports nothing of mqtt-kube). It prints, one a line, the requirements of every
integration Home Assistant sets up without being asked (its core and default
integrations), of those named on the command line, and of everything they depend on or
import after (`dependencies`, `after_dependencies`), read from their manifests. Installing
these up front is what lets Home Assistant run with `--skip-pip`: it never installs a
package at run time.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def requirements(extra: list[str]) -> list[str]:
    """The requirements of the integrations set up by default, plus `extra`, and theirs."""
    bootstrap = importlib.import_module("homeassistant.bootstrap")
    components = Path(importlib.import_module("homeassistant.components").__path__[0])
    wanted = set(bootstrap.CORE_INTEGRATIONS) | set(bootstrap.DEFAULT_INTEGRATIONS) | set(extra)
    seen: set[str] = set()
    found: set[str] = set()
    todo = sorted(wanted)
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest = json.loads((components / domain / "manifest.json").read_text())
        found.update(manifest.get("requirements", []))
        todo += manifest.get("dependencies", []) + manifest.get("after_dependencies", [])
    return sorted(found)


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))

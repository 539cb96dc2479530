"""Running the commands that provision Home Assistant, with failures that say what failed."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence


class ProvisionError(RuntimeError):
    """A tier cannot be installed or started; the message says which step and why."""


def run_logged(
    command: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> str:
    """Run `command` and return its output; a ProvisionError naming `what` on failure."""
    try:
        result = subprocess.run(  # noqa: S603 - our own commands, no shell
            list(command),
            input=stdin,
            capture_output=True,
            text=True,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except OSError as exc:
        raise ProvisionError(f"{what} failed: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise ProvisionError(f"{what} failed (exit status {result.returncode}):\n{tail}")
    return result.stdout

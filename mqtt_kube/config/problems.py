"""Collects the problems found in one configuration file, each with its path and line.

The loader and the checks report into one `Problems`; nothing raises for a mistake in the
file, so the user sees every mistake at once. A value that a YAML tag failed to produce is
"settled": the schema's complaints about it would only repeat the tag's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import voluptuous as vol

from mqtt_kube.config.validators import UnknownKey, Validator
from mqtt_kube.config.yaml_file import PathPart, format_path, line_of
from mqtt_kube.core.errors import ConfigProblem


class Problems:
    """The problems and warnings of one file, and the checks that find them."""

    def __init__(self, data: object, *, source: str, problems: list[ConfigProblem]) -> None:
        self.data = data
        self.source = source
        self.problems = list(problems)
        # paths whose value a tag failed to produce: the schema says nothing more about them
        self.settled = {problem.path for problem in problems if problem.path}
        self.warnings: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.problems)

    def sorted(self) -> list[ConfigProblem]:
        unique = list(dict.fromkeys(self.problems))
        return sorted(unique, key=lambda problem: problem.line or 0)

    def problem(self, where: Sequence[PathPart], message: str, *, always: bool = False) -> None:
        """Record a problem, unless it only repeats a failed tag's (`always` overrides)."""
        text = format_path(where)
        settled = (
            text == path or text.startswith((f"{path}.", f"{path}[")) for path in self.settled
        )
        if not always and any(settled):
            return
        line = line_of(self.data, where)
        self.problems.append(ConfigProblem(text, message, line=line, source=self.source))

    def warn(self, where: Sequence[PathPart], message: str) -> None:
        line = line_of(self.data, where)
        self.warnings.append(str(ConfigProblem(format_path(where), message, line, self.source)))

    def check(self, validator: Validator, value: Any, where: Sequence[PathPart]) -> Any:
        """The validated value, or None after recording every problem found in it."""
        try:
            return validator(value)
        except vol.MultipleInvalid as exc:
            for error in exc.errors:
                self._record(error, where)
        except vol.Invalid as exc:
            self._record(exc, where)
        return None

    def _record(self, error: vol.Invalid, where: Sequence[PathPart]) -> None:
        if isinstance(error, vol.MultipleInvalid):
            for inner in error.errors:
                self._record(inner, where)
            return
        message = error.msg
        if isinstance(error, vol.RequiredFieldInvalid):
            message = "required, but missing"
        # voluptuous names a missing key by its marker (vol.Required("name"))
        parts = [part.schema if isinstance(part, vol.Marker) else part for part in error.path]
        self.problem([*where, *parts], message, always=isinstance(error, UnknownKey))

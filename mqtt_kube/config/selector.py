"""Label selectors as `kubectl -l` writes them, parsed once and matched against labels.

A discovery entry's `selector` is matched here, on the objects the shared watch brings,
rather than sent to the API server: a watch filtered by a selector could not be shared
with the bindings that watch the same kind in the same namespace. The grammar is the API
server's: requirements separated by commas, each `key`, `!key`, `key=value`,
`key==value`, `key!=value`, `key in (a,b)` or `key notin (a,b)`; keys may carry a DNS
prefix (`app.kubernetes.io/name`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

Operator = Literal["exists", "absent", "=", "!=", "in", "notin"]

_NAME: Final = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY: Final = re.compile(
    rf"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}"
)
_VALUE: Final = re.compile(rf"({_NAME})?")
_SET: Final = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_EQUALITY: Final = re.compile(r"^([^=!\s]+)\s*(==|=|!=)\s*(.*)$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator == "exists":
            return value is not None
        if self.operator == "absent":
            return value is None
        if self.operator in ("=", "in"):
            return value in self.values
        return value not in self.values  # != and notin: an object without the key matches


@dataclass(frozen=True)
class LabelSelector:
    """Every requirement must hold; the empty selector matches everything."""

    text: str
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        given = labels or {}
        return all(requirement.matches(given) for requirement in self.requirements)


EVERYTHING: Final = LabelSelector("")


def parse_selector(text: str) -> LabelSelector:
    """The selector in `text`; ValueError naming the requirement that is wrong."""
    requirements = [_requirement(part.strip()) for part in _split(text) if part.strip()]
    return LabelSelector(text=text.strip(), requirements=tuple(requirements))


def _split(text: str) -> list[str]:
    """Split at the commas that are not inside the parentheses of a set."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"a ')' without its '(' in {text!r}")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise ValueError(f"a '(' without its ')' in {text!r}")
    return [*parts, current]


def _requirement(part: str) -> Requirement:
    found = _SET.match(part)
    if found:
        key, operator, listed = found.groups()
        if not listed.strip():
            raise ValueError(f"{part!r}: a set needs at least one value")
        values = frozenset(_value(value, part) for value in listed.split(","))
        return Requirement(_key(key, part), "in" if operator == "in" else "notin", values)
    found = _EQUALITY.match(part)
    if found:
        key, operator, value = found.groups()
        return Requirement(
            _key(key, part), "!=" if operator == "!=" else "=", frozenset({_value(value, part)})
        )
    if part.startswith("!"):
        return Requirement(_key(part[1:].strip(), part), "absent")
    return Requirement(_key(part, part), "exists")


def _key(key: str, part: str) -> str:
    if not _KEY.fullmatch(key) or len(key.rpartition("/")[2]) > 63:
        raise ValueError(f"{part!r}: {key!r} is not a label key")
    return key


def _value(value: str, part: str) -> str:
    value = value.strip()
    if not _VALUE.fullmatch(value) or len(value) > 63:
        raise ValueError(f"{part!r}: {value!r} is not a label value")
    return value

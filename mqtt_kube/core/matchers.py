"""How one map entry tests a value: literal keys, `re:` patterns and `lambda` predicates.

A value may arrive as MQTT payload text or as a field of a Kubernetes object, so a literal
key compares across the two (text "1" matches the key 1, "TRUE" the key true). Each matcher
returns the regex's named groups (or {}) on a match, None otherwise; a `lambda` predicate may
also raise, which the value map counts as no match.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from mqtt_kube.core.payload import encode_payload

Matcher = Callable[[object], dict[str, object] | None]
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def literal_matcher(key: object) -> Matcher:
    if key is None:
        return lambda value: {} if value is None or value == "" else None
    if isinstance(key, bool):
        text = "true" if key else "false"

        def match_bool(value: object) -> dict[str, object] | None:
            if isinstance(value, bool):
                return {} if value is key else None
            if isinstance(value, str) and value.strip().lower() == text:
                return {}
            return None

        return match_bool
    if isinstance(key, int | float):
        number = key

        def match_number(value: object) -> dict[str, object] | None:
            if isinstance(value, bool):
                return None  # True == 1 in Python; not here
            if isinstance(value, int | float):
                return {} if value == number else None
            if isinstance(value, str):
                parsed = _parse_number(value)
                return {} if parsed is not None and parsed == number else None
            return None

        return match_number
    assert isinstance(key, str)
    word = key
    return lambda value: {} if as_text(value) == word else None


def regex_matcher(pattern: re.Pattern[str]) -> Matcher:
    def match_regex(value: object) -> dict[str, object] | None:
        found = pattern.match(as_text(value))
        return dict(found.groupdict()) if found else None

    return match_regex


def predicate_matcher(predicate: Callable[[object], object]) -> Matcher:
    """A `lambda` key; what it raises is left to `ValueMap.match` to report."""
    return lambda value: {} if predicate(value) else None


def _parse_number(text: str) -> int | float | None:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    number = float(text)
    return number if math.isfinite(number) else None


def as_text(value: object) -> str:
    return value if isinstance(value, str) else encode_payload(value)


def preview(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__

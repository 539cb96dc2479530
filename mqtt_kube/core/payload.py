"""MQTT payload text ⇄ Python values, one rule each way, used by every association.

MQTT carries bytes; Kubernetes fields are JSON values. Keeping both directions here means a
watch, a patch and Home Assistant discovery all agree on what `true`, `3` or an empty payload
mean. Decoding bytes to text is the caller's business: this module only sees `str`.
"""

from __future__ import annotations

import json
import math
from typing import Final

__all__ = ["decode_scalar", "encode_payload"]

_NUMBERS: Final = (int, float)
_CONTAINERS: Final = (dict, list, tuple)


def encode_payload(value: object) -> str:
    """The payload text for `value`: None → "", bools as `true`/`false`, JSON for containers."""
    kind = type(value)  # a watch encodes every change: the common types first, by identity
    if kind is str:
        return value  # type: ignore[return-value]  # a str, as `kind` says
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _NUMBERS):
        return str(value)
    if isinstance(value, _CONTAINERS):
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
    return str(value)


def decode_scalar(text: str) -> object:
    """`text` as a JSON scalar when it is one (`3`, `2.5`, `true`, `null`, `"x"`), else itself.

    JSON objects and arrays stay text, and so do `NaN`/`Infinity` and numbers too large for a
    float, which are not JSON values.
    """
    try:
        value: object = json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return text
    if isinstance(value, dict | list):
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")

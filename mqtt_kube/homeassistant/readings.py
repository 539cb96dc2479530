"""What a binding's value maps say, read the way Home Assistant entities need it.

A switch needs the two payloads its patch map takes and the two states its watch map
gives, each ordered (on, off); a binary sensor needs two fixed states; a button needs the
one payload that selects a map entry. Pure functions over `ValueMap`s.
"""

from __future__ import annotations

import json
import math
import string
from typing import Final

from mqtt_kube.core.locus import Locus
from mqtt_kube.core.payload import encode_payload
from mqtt_kube.core.valuemap import ValueMap

# Fields that hold a count: a patch of one without a map becomes a `number`.
COUNT_FIELDS: Final = frozenset(
    {
        "replicas",
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "minReadySeconds",
        "revisionHistoryLimit",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    }
)
ON_WORDS: Final = frozenset(
    """on true 1 yes y active running run up start started enable enabled open online ready
    available connected healthy home""".split()  # noqa: SIM905
)
OFF_WORDS: Final = frozenset(
    """off false 0 no n inactive stopped stop down disable disabled closed offline unavailable
    disconnected unhealthy away idle""".split()  # noqa: SIM905
)


class _Dynamic:
    """Marks a map output that is a format string over the payload: no fixed state."""


_DYNAMIC: Final = _Dynamic()


def command_payload(values: ValueMap, key: object) -> str | None:
    """The payload that makes `values` select the map entry `key`; None if none can.

    A plain key is sent as text; with `jsonpath` the payload is the JSON document whose
    path holds the key (`$.action` → `{"action":"RUN"}`). A `transform` cannot be inverted.
    """
    if key is None or values.transform_source is not None:
        return None
    if values.jsonpath is None:
        return encode_payload(key)
    try:
        path = Locus.parse(values.jsonpath).field_path
    except ValueError:
        return None
    if not path or not all(isinstance(part, str) for part in path):
        return None
    document: object = key
    for part in reversed(path):
        document = {part: document}
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def why_no_payload(values: ValueMap, form: str, key: object) -> str:
    """Why `command_payload` found no payload for a map entry, for a note."""
    if form != "literal":
        return f"a {form} entry has no single payload to send"
    if key is None:
        return "an empty payload cannot be a button"
    if values.transform_source is not None:
        return "the payload goes through a transform, which cannot be inverted"
    return f"the jsonpath {values.jsonpath!r} does not name one field"


def static_output(output: object) -> str | _Dynamic | None:
    """The payload a map output always publishes; None for an empty one."""
    if output is None:
        return None
    if isinstance(output, str):
        if any(name is not None for _, name, _, _ in string.Formatter().parse(output)):
            return _DYNAMIC
        text = output.format()
        return text or None
    return encode_payload(output) or None


def two_states(values: ValueMap) -> tuple[str, str] | None:
    """The two fixed non-empty payloads a watch map publishes, in file order; else None."""
    if not values.has_map:
        return None
    seen: list[str] = []
    for entry in values.entries:
        output = static_output(entry.output)
        if isinstance(output, _Dynamic):
            return None
        if output is not None and output not in seen:
            seen.append(output)
    if len(seen) != 2:
        return None
    return seen[0], seen[1]


def two_literal_keys(values: ValueMap) -> tuple[object, object] | None:
    """The two literal inputs of a patch map; None unless it has exactly those."""
    keys: list[object] = []
    for entry in values.entries:
        if entry.form != "literal" or entry.key is None:
            return None
        if encode_payload(entry.key) not in {encode_payload(k) for k in keys}:
            keys.append(entry.key)
    if len(keys) != 2:
        return None
    return keys[0], keys[1]


def order_command(values: ValueMap, keys: tuple[object, object]) -> tuple[object, object]:
    """(on, off) among a patch map's two inputs: by word, then by what they set, then order."""
    first, second = keys
    for key, other in ((first, second), (second, first)):
        side = _word_side(encode_payload(key))
        if side is not None:
            return (key, other) if side else (other, key)
    outputs = {encode_payload(e.key): e.output for e in values.entries}
    first_set, second_set = outputs[encode_payload(first)], outputs[encode_payload(second)]
    if _falsy(first_set) and not _falsy(second_set):
        return second, first
    return first, second


def order_states(values: ValueMap, states: tuple[str, str]) -> tuple[str, str]:
    """(on, off) among a watch map's two outputs: by word, then by what maps there, then order."""
    first, second = states
    for state, other in ((first, second), (second, first)):
        side = _word_side(state)
        if side is not None:
            return (state, other) if side else (other, state)
    for entry in values.entries:
        if static_output(entry.output) == first and _falsy(entry.key):
            return second, first
    return first, second


def text_output(values: ValueMap) -> str | None:
    """A fixed output of a watch map that is not a number; None when there is none."""
    if not values.has_map:
        return None
    for entry in values.entries:
        output = static_output(entry.output)
        if isinstance(output, str) and not _is_number(output):
            return output
    return None


def is_count(locus: Locus) -> bool:
    """Whether the locus names a count field (`spec.replicas`, …)."""
    path = locus.field_path
    return path is not None and bool(path) and path[-1] in COUNT_FIELDS


def _word_side(text: str) -> bool | None:
    """True for an "on" word, False for an "off" word, None when it says neither."""
    word = text.strip().lower()
    if word in ON_WORDS:
        return True
    if word in OFF_WORDS:
        return False
    return None


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _falsy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"", "0", "false"}
    return value is None or value is False or value == 0

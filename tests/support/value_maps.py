"""What a compiled value map gives for a value, with NO_MATCH standing for no entry matching."""

from __future__ import annotations

from mqtt_kube.core.valuemap import ValueMap

NO_MATCH = object()


def outcome(values: ValueMap, value: object) -> object:
    match = values.match(value)
    return NO_MATCH if match is None else match.output

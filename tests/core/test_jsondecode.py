"""The API server's JSON, decoded by orjson where it can and by `json` where orjson refuses:
the values are those `json.loads` gives, and what is not JSON is a ValueError."""

from __future__ import annotations

import json
import math

import pytest

from mqtt_kube.core.jsondecode import loads


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "MODIFIED", "object": {"metadata": {"name": "a"}, "spec": {"replicas": 3}}}',
        '{"edges": [9223372036854775807, -9223372036854775808, 18446744073709551615]}',
        '{"float": 1.2345678901234568e+29, "exponent": 2.5e-7, "zero": -0.0}',
        '{"text": "caf\\u00e9 \\ud83d\\ude00", "list": [1.5, true, null]}',
        "[]",
        '"plain"',
    ],
)
def test_values_are_those_of_json_loads(text: str) -> None:
    assert loads(text.encode()) == json.loads(text)
    assert loads(text) == json.loads(text)


def test_what_only_json_reads_is_still_read() -> None:
    value = loads(b'{"x": NaN, "y": 1e400, "z": -Infinity}')
    assert math.isnan(value["x"])
    assert value["y"] == math.inf
    assert value["z"] == -math.inf


@pytest.mark.parametrize("data", [b"", b"{", b'{"a": 1} trailing', b"\xff\xfe"])
def test_what_is_not_json_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json and orjson word it differently
        loads(data)

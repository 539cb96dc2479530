"""Payload text ⇄ values.

Covered: encoding of every JSON type (None, text, bools before ints, numbers, containers
as compact sorted JSON, other objects), decoding of JSON scalars and of everything that
must stay text (objects, arrays, NaN, overflowing numbers, plain words), and that encoding
then decoding a scalar gives it back.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqtt_kube.core.payload import decode_scalar, encode_payload


@pytest.mark.parametrize(
    ("value", "payload"),
    [
        (None, ""),
        ("", ""),
        ("ON", "ON"),
        ("multi\nline", "multi\nline"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1, "1"),
        (-3, "-3"),
        (2.5, "2.5"),
        ({"b": 1, "a": [1, None]}, '{"a":[1,null],"b":1}'),
        ([], "[]"),
        ((1, 2), "[1,2]"),
        ({"nested": {"z": True, "y": "é"}}, '{"nested":{"y":"é","z":true}}'),
        ({"when": datetime.date(2024, 5, 1)}, '{"when":"2024-05-01"}'),
        (datetime.date(2024, 5, 1), "2024-05-01"),
    ],
)
def test_values_encode_to_the_documented_payload(value: object, payload: str) -> None:
    assert encode_payload(value) == payload


@pytest.mark.parametrize(
    ("payload", "value"),
    [
        ("3", 3),
        ("-7", -7),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ("null", None),
        (' "quoted" ', "quoted"),
        (" 4 ", 4),
        ("ON", "ON"),
        ("True", "True"),
        ("", ""),
        ("3 apples", "3 apples"),
        ('{"a": 1}', '{"a": 1}'),
        ("[1, 2]", "[1, 2]"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("1e999", "1e999"),
        ("9" * 5000, "9" * 5000),
    ],
)
def test_payloads_decode_to_a_json_scalar_or_stay_text(payload: str, value: object) -> None:
    decoded = decode_scalar(payload)
    assert decoded == value
    assert type(decoded) is type(value)


@given(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False))
def test_a_scalar_survives_encoding_and_decoding(value: object) -> None:
    decoded = decode_scalar(encode_payload(value))
    if value is None:
        assert decoded == ""  # the empty payload means None on the way out, text on the way in
    else:
        assert decoded == value
        assert type(decoded) is type(value)

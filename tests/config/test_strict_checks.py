"""`Strict` without voluptuous for a mapping with no mistake: the same result, the same errors.

Covered: a binding, a watch and a patch as the file writes them validate to what voluptuous
gives (compiled values included, compared by what they hold); a mistake in one value, a
missing required key and an unknown key give the errors voluptuous gives; a schema with a
default or a voluptuous validator of its own (`vol.All`) always goes through voluptuous, so
the default is filled and the combined check runs.
"""

from __future__ import annotations

from typing import Any

import pytest
import voluptuous as vol

from mqtt_kube.config import validators as v
from mqtt_kube.config.schemas import BINDING_SCHEMA, PATCH_SCHEMA, WATCH_SCHEMA


def comparable(value: Any) -> Any:
    """A validated mapping with its compiled values as what they hold."""
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if hasattr(value, "entries"):  # a ValueMap
        return ("values", value.entries, value.transform_source, value.jsonpath)
    return value


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        (BINDING_SCHEMA, {"resource": "Deployment", "name": "a", "namespace": "media"}),
        (BINDING_SCHEMA, {"resource": "Node", "name": "n", "homeassistant": {"name": "N"}}),
        (WATCH_SCHEMA, {"locus": "spec.replicas", "topic": "t/state", "qos": 0, "retain": "yes"}),
        (PATCH_SCHEMA, {"locus": "spec.replicas", "topic": "t/set", "values": {"ON": 1}}),
    ],
)
def test_a_mapping_without_mistakes_validates_as_voluptuous_says(
    schema: v.Strict, value: dict[str, Any]
) -> None:
    assert comparable(schema(value)) == comparable(schema.schema(dict(value)))


def errors(check: Any, value: dict[str, Any]) -> list[tuple[str, list[str]]]:
    with pytest.raises(vol.MultipleInvalid) as caught:
        check(value)
    return sorted((str(error.msg), [str(p) for p in error.path]) for error in caught.value.errors)


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        (WATCH_SCHEMA, {"locus": "spec.replicas", "topic": "t", "qos": 5}),
        (WATCH_SCHEMA, {"topic": "t"}),
        (WATCH_SCHEMA, {"locus": "spec[", "topic": "a/+/b"}),
        (BINDING_SCHEMA, {"resource": "Deployment", "name": "a%b"}),
    ],
)
def test_mistakes_are_the_ones_voluptuous_names(schema: v.Strict, value: dict[str, Any]) -> None:
    assert errors(schema, value) == errors(schema.schema, value)


def test_an_unknown_key_is_named_beside_the_other_mistakes() -> None:
    value = {"resource": "Deployment", "name": "a%b", "nmae": "b"}
    found = errors(BINDING_SCHEMA, value)
    assert [path for _, path in found] == [["name"], ["nmae"]]


def test_defaults_and_voluptuous_validators_go_through_voluptuous() -> None:
    defaulted = v.Strict({vol.Optional("a", default=3): v.optional(int)}, what="a test")
    assert defaulted({}) == {"a": 3}
    combined = v.Strict({vol.Required("a"): vol.All(int, vol.Range(min=1))}, what="a test")
    assert combined({"a": 2}) == {"a": 2}
    with pytest.raises(vol.MultipleInvalid):
        combined({"a": 0})

"""Value maps as the original service wrote them: every `values:` block of the original-forms
config (tests/compat, read from the file), the original README's examples, both ways of
writing `values`, and the identity map.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mqtt_kube.core.valuemap import MapEntry, Match, ValueMap
from tests.support.paths import ORIGINAL_CONFIG
from tests.support.value_maps import NO_MATCH, outcome


class _OriginalLoader(yaml.SafeLoader):
    """Enough of the config loader to read the original-forms file: `!relpath` kept as text."""


_OriginalLoader.add_constructor("!relpath", lambda loader, node: loader.construct_scalar(node))


def _original_values() -> dict[str, Any]:
    """Every `values:` block of the original-forms config, by where it is."""
    config = yaml.load(ORIGINAL_CONFIG.read_text(), Loader=_OriginalLoader)  # noqa: S506
    blocks = {}
    for b, binding in enumerate(config["bindings"]):
        for kind in ("watch", "patch", "action"):
            for a, association in enumerate(binding.get(kind, [])):
                blocks[f"bindings[{b}].{kind}[{a}]"] = association.get("values")
    return blocks


ORIGINAL_VALUES = _original_values()


@pytest.mark.parametrize(
    ("where", "value", "output"),
    [
        # plex: patch spec.replicas from ON/OFF
        ("bindings[0].patch[0]", "ON", 1),
        ("bindings[0].patch[0]", "OFF", 0),
        ("bindings[0].patch[0]", "on", NO_MATCH),
        ("bindings[0].patch[0]", "1", NO_MATCH),
        # plex: watch status.availableReplicas (the map written without `map:`)
        ("bindings[0].watch[0]", 1, "ON"),
        ("bindings[0].watch[0]", None, "OFF"),
        ("bindings[0].watch[0]", 0, NO_MATCH),
        ("bindings[0].watch[0]", 2, NO_MATCH),
        ("bindings[0].watch[0]", True, NO_MATCH),
        # nightly-backup: the whole status, no values
        ("bindings[1].watch[0]", {"active": 1}, {"active": 1}),
        ("bindings[1].watch[0]", None, None),
        # status.failed: ~ → ~, lambda v: v > 0 → FAILED
        ("bindings[1].watch[1]", None, None),
        ("bindings[1].watch[1]", 1, "FAILED"),
        ("bindings[1].watch[1]", 3, "FAILED"),
        ("bindings[1].watch[1]", 0, NO_MATCH),
        # status.active / status.succeeded
        ("bindings[1].watch[2]", None, None),
        ("bindings[1].watch[2]", 1, "RUNNING"),
        ("bindings[1].watch[2]", 2, NO_MATCH),
        ("bindings[1].watch[3]", 1, "DONE"),
        ("bindings[1].watch[3]", None, None),
        # startTime: a regex with named groups, a format-string output
        ("bindings[1].watch[4]", "2024-05-01T10:00:00Z", "2024-05-01 at 10:00"),
        ("bindings[1].watch[4]", "soon", NO_MATCH),
        # the action: {"action": "RUN"} launches, {"action": "STOP"} deletes
        ("bindings[1].action[0]", '{"action": "RUN"}', "launch"),
        ("bindings[1].action[0]", '{"action":"STOP"}', "delete"),
        ("bindings[1].action[0]", '{"action": "PAUSE"}', NO_MATCH),
        ("bindings[1].action[0]", "{}", NO_MATCH),
        ("bindings[1].action[0]", '"RUN"', NO_MATCH),
        # sonarr: a transform before the map
        ("bindings[2].patch[0]", " on ", 1),
        ("bindings[2].patch[0]", "Off", 0),
        ("bindings[2].patch[0]", "maybe", NO_MATCH),
        # sonarr: `{input}` in the output
        ("bindings[2].watch[0]", 3, "3 wanted"),
        ("bindings[2].watch[0]", None, "none wanted"),
        # sonarr: an action selected by a regex, matched from the start
        ("bindings[2].action[0]", "sync tv", "launch"),
        ("bindings[2].action[0]", "sync TV", NO_MATCH),
        ("bindings[2].action[0]", "resync tv", NO_MATCH),
    ],
)
def test_the_original_forms_values_blocks_map_as_the_original_did(
    where: str, value: object, output: object
) -> None:
    assert outcome(ValueMap.from_config(ORIGINAL_VALUES[where]), value) == output


def test_the_original_forms_config_has_the_blocks_the_table_expects() -> None:
    assert len(ORIGINAL_VALUES) == 11
    assert ORIGINAL_VALUES["bindings[1].action[0]"]["jsonpath"] == "$.action"


# The original README's examples, as it writes them.
README_WATCH = {1: "ON", None: "OFF"}  # `values:` itself is the map
README_PATCH = {"map": {"ON": 1, "OFF": 0}}
README_ACTION = {"map": {"RUN": "launch", "STOP": "delete"}}
README_ACTION_TYPO = {"map": {"RUN": "launch", "STOP": "create"}}


@pytest.mark.parametrize(
    ("spec", "value", "output"),
    [
        (README_WATCH, 1, "ON"),
        (README_WATCH, None, "OFF"),
        (README_WATCH, "", "OFF"),
        (README_PATCH, "ON", 1),
        (README_PATCH, "OFF", 0),
        (README_ACTION, "RUN", "launch"),
        (README_ACTION, "STOP", "delete"),
        (README_ACTION, "run", NO_MATCH),
        (README_ACTION_TYPO, "STOP", "create"),  # the caller refuses anything but launch/delete
    ],
)
def test_the_original_readme_examples_map_as_documented(
    spec: dict[Any, Any], value: object, output: object
) -> None:
    assert outcome(ValueMap.from_config(spec), value) == output


def test_values_written_as_the_map_itself_equal_values_with_a_map_key() -> None:
    short = ValueMap.from_config({1: "ON", None: "OFF"})
    long = ValueMap.from_config({"map": {1: "ON", None: "OFF"}})
    assert short == long
    assert hash(short) == hash(long)
    assert short.entries == (
        MapEntry(key=1, output="ON", form="literal"),
        MapEntry(key=None, output="OFF", form="literal"),
    )


@pytest.mark.parametrize("spec", [None, {}, {"map": {}}, {"map": None}])
def test_no_map_passes_the_value_through(spec: dict[str, Any] | None) -> None:
    values = ValueMap.from_config(spec)
    assert not values.has_map
    assert values.entries == ()
    assert values.match("42") == Match(output="42", context={"input": "42", "value": "42"})
    assert values.match(None) == Match(output=None, context={"input": None, "value": None})

"""Inference, table-driven: what each binding becomes (switch, number, binary_sensor, sensor,
button, or a note naming its place), which value is on, and the payloads that select a map
entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.core.valuemap import ValueMap
from mqtt_kube.homeassistant.readings import command_payload
from tests.support.ha_discovery import (
    OBJECT,
    PATCH_ON_OFF,
    binding_entities,
    kinds,
    plan_for,
)

# -- inference ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("associations", "expected", "note"),
    [
        pytest.param(
            PATCH_ON_OFF + "    watch:\n      locus: status.readyReplicas\n      topic: state\n"
            '      values: {1: "ON", ~: "OFF"}\n',
            [("switch", None)],
            None,
            id="patch and watch with the same two values: a switch",
        ),
        pytest.param(
            PATCH_ON_OFF + "    watch:\n      locus: status.readyReplicas\n      topic: state\n"
            '      values: {1: "RUNNING", ~: "STOPPED"}\n',
            [("binary_sensor", None)],
            "bindings[0].patch[0]: no entity for home/set: a switch needs a watch",
            id="values that differ: no switch, a note, and the watch alone",
        ),
        pytest.param(
            "    patch:\n      topic: set\n      locus: spec.replicas\n"
            '      values: {"LOW": 1, "MID": 2, "HIGH": 3}\n'
            "    watch:\n      locus: spec.replicas\n      topic: state\n"
            '      values: {1: "LOW", 2: "MID", 3: "HIGH"}\n',
            [("sensor", None)],
            "bindings[0].patch[0]: no entity",
            id="three values: no switch",
        ),
        pytest.param(
            "    patch:\n      topic: set\n      locus: spec.replicas\n",
            [("number", None)],
            None,
            id="a patch of replicas without a map: a number",
        ),
        pytest.param(
            "    patch:\n      topic: set\n      locus: spec.paused\n",
            [],
            "bindings[0].patch[0]: no entity for home/set: give the patch a map",
            id="a patch of another field without a map: nothing, and a note",
        ),
        pytest.param(
            "    patch:\n      topic: set\n      locus: spec.paused\n"
            "    homeassistant:\n      component: number\n",
            [("number", None)],
            None,
            id="component: number makes a number of any plain patch",
        ),
        pytest.param(
            "    watch:\n      locus: status.phase\n      topic: phase\n"
            '      values: {"Running": "{input}", ~: "gone"}\n',
            [("sensor", None)],
            None,
            id="an output that formats the payload: a sensor",
        ),
        pytest.param(
            "    watch:\n      locus: status.failed\n      topic: failed\n"
            '      values: {~: ~, "lambda v: v > 0": "FAILED"}\n',
            [("sensor", None)],
            None,
            id="one fixed output besides none: a sensor",
        ),
        pytest.param(
            "    watch:\n      locus: status.ready\n      topic: ready\n"
            '      values: {"re:^y": "yes", "lambda v: True": "no"}\n',
            [("binary_sensor", None)],
            None,
            id="two fixed outputs from any forms: a binary_sensor",
        ),
        pytest.param(
            "    action:\n      topic: cmd\n      launch: !relpath job.yaml\n",
            [("button", None)],
            None,
            id="an action without a map: one button",
        ),
        pytest.param(
            "    action:\n      topic: cmd\n      launch: !relpath job.yaml\n"
            '      values: {"RUN": launch, "re:^stop": delete}\n',
            [("button", None)],
            "bindings[0].action[0]: no button for map entry 're:^stop': a regex entry",
            id="a regex entry: no button for it, and a note",
        ),
        pytest.param(
            "    action:\n      topic: cmd\n      launch: !relpath job.yaml\n"
            '      values:\n        transform: "lambda v: v.upper()"\n'
            '        map: {"RUN": launch}\n',
            [],
            "a transform, which cannot be inverted",
            id="a transform on an action: no button",
        ),
        pytest.param(
            "    action:\n      topic: cmd\n      launch: !relpath job.yaml\n"
            '      values:\n        jsonpath: "$.items[0]"\n        map: {"RUN": launch}\n',
            [],
            "does not name one field",
            id="a jsonpath through a list: no button",
        ),
        pytest.param(
            "",
            [],
            "bindings[0]: Deployment ns/app has nothing to expose",
            id="no associations: nothing, and a note",
        ),
        pytest.param(
            "    watch:\n      locus: status\n      topic: app/status\n    homeassistant: false\n",
            [],
            None,
            id="homeassistant: false: nothing",
        ),
    ],
)
def test_what_each_binding_becomes(
    tmp_path: Path,
    associations: str,
    expected: list[tuple[str, str | None]],
    note: str | None,
) -> None:
    (tmp_path / "job.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: x-\n"
    )
    plan = plan_for(tmp_path, OBJECT + associations)
    assert kinds(plan) == expected
    if note is None:
        assert plan.notes == ()
    else:
        assert len(plan.notes) == 1
        assert note in plan.notes[0]


def test_a_number_without_a_watch_of_its_field_has_no_state_and_is_optimistic(
    tmp_path: Path,
) -> None:
    plan = plan_for(
        tmp_path,
        OBJECT + "    patch:\n      topic: set\n      locus: spec.replicas\n"
        "    watch:\n      locus: status.replicas\n      topic: state\n",
    )
    number, sensor = binding_entities(plan)
    assert number.payload["optimistic"] is True
    assert "state_topic" not in number.payload
    assert (sensor.component, sensor.name) == ("sensor", "Replicas")


@pytest.mark.parametrize(
    ("values", "on", "off"),
    [
        ('{1: "ON", ~: "OFF"}', "ON", "OFF"),
        ('{~: "OFF", 1: "ON"}', "ON", "OFF"),
        ('{"a": "STOPPED", "b": "RUNNING"}', "RUNNING", "STOPPED"),
        ('{"a": "idle", "b": "busy"}', "busy", "idle"),
        ('{"a": "true", "b": "false"}', "true", "false"),
        ('{~: "Left", 1: "Right"}', "Right", "Left"),
        ('{0: "Left", 1: "Right"}', "Right", "Left"),
        ('{1: "Left", 0: "Right"}', "Left", "Right"),
    ],
)
def test_which_of_two_values_is_on(tmp_path: Path, values: str, on: str, off: str) -> None:
    watch = f"    watch:\n      locus: status.x\n      topic: x\n      values: {values}\n"
    (entity,) = binding_entities(plan_for(tmp_path, OBJECT + watch))
    assert (entity.payload["payload_on"], entity.payload["payload_off"]) == (on, off)


@pytest.mark.parametrize(
    ("patch_map", "watch_map", "command", "state"),
    [
        ('{"ON": 1, "OFF": 0}', '{1: "ON", ~: "OFF"}', ("ON", "OFF"), ("ON", "OFF")),
        ('{"OFF": 0, "ON": 1}', '{~: "OFF", 1: "ON"}', ("ON", "OFF"), ("ON", "OFF")),
        ('{"go": 1, "halt": 0}', '{1: "go", ~: "halt"}', ("go", "halt"), ("go", "halt")),
        ('{"halt": 0, "go": 1}', '{1: "go", ~: "halt"}', ("go", "halt"), ("go", "halt")),
        ("{true: 1, false: 0}", '{1: "true", ~: "false"}', ("true", "false"), ("true", "false")),
    ],
)
def test_a_switch_sends_the_patch_maps_inputs_and_reads_the_watch_maps_outputs(
    tmp_path: Path,
    patch_map: str,
    watch_map: str,
    command: tuple[str, str],
    state: tuple[str, str],
) -> None:
    associations = (
        f"    patch:\n      topic: set\n      locus: spec.replicas\n      values: {patch_map}\n"
        f"    watch:\n      locus: status.r\n      topic: state\n      values: {watch_map}\n"
    )
    (switch,) = binding_entities(plan_for(tmp_path, OBJECT + associations))
    payload = switch.payload
    assert (payload["payload_on"], payload["payload_off"]) == command
    assert (payload["state_on"], payload["state_off"]) == state
    assert (payload["command_topic"], payload["state_topic"]) == ("home/set", "home/state")
    assert payload["optimistic"] is False


@pytest.mark.parametrize(
    ("spec", "key", "payload"),
    [
        ({"RUN": "launch"}, "RUN", "RUN"),
        ({1: "launch"}, 1, "1"),
        ({True: "launch"}, True, "true"),
        ({"jsonpath": "$.action", "map": {"RUN": "launch"}}, "RUN", '{"action":"RUN"}'),
        ({"jsonpath": "action", "map": {1: "launch"}}, 1, '{"action":1}'),
        ({"jsonpath": "$.cmd.name", "map": {"go": "launch"}}, "go", '{"cmd":{"name":"go"}}'),
        ({"jsonpath": "$.items[0]", "map": {"go": "launch"}}, "go", None),
        ({"transform": "lambda v: v", "map": {"go": "launch"}}, "go", None),
        ({"RUN": "launch", None: "delete"}, None, None),
    ],
)
def test_the_payload_that_selects_a_map_entry(
    spec: dict[Any, Any], key: object, payload: str | None
) -> None:
    assert command_payload(ValueMap.from_config(spec), key) == payload

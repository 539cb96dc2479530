"""Per-binding overrides and names: those that reach the main entity, those Home Assistant
would refuse (a config problem at its line, or a note), homeassistant yes/no, main entities,
and what `mqtt-kube check` lists.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mqtt_kube.cli.main import main
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import HomeAssistantSettings
from mqtt_kube.core.errors import ConfigError
from mqtt_kube.homeassistant.plan import build_plan, describe
from tests.support.ha_discovery import (
    HOMELAB,
    OBJECT,
    PATCH_ON_OFF,
    SCHEMAS,
    SWITCH,
    binding_entities,
    config_for,
    homelab_plan,
    kinds,
    plan_for,
    unique_ids,
)

# -- overrides and names ------------------------------------------------------------------


def test_overrides_reach_the_main_entity_and_name_the_device(tmp_path: Path) -> None:
    overrides = (
        "    homeassistant:\n      name: My app\n      icon: mdi:server\n"
        "      device_class: switch\n      entity_category: config\n"
        "      enabled_by_default: false\n"
    )
    plan = plan_for(tmp_path, SWITCH.format(command="s", locus="spec.replicas") + overrides)
    (switch,) = binding_entities(plan)
    assert switch.device == "My app"
    assert switch.payload["device"]["name"] == "My app"
    assert switch.name is None
    assert {k: switch.payload[k] for k in ("icon", "device_class", "entity_category")} == {
        "icon": "mdi:server",
        "device_class": "switch",
        "entity_category": "config",
    }
    assert switch.payload["enabled_by_default"] is False
    assert plan.notes == ()


@pytest.mark.parametrize(
    ("associations", "overrides", "expected", "note"),
    [
        pytest.param(
            PATCH_ON_OFF + "    watch:\n      locus: status.r\n      topic: state\n"
            '      values: {1: "ON", ~: "OFF"}\n',
            "      unit_of_measurement: pods\n",
            {},
            "bindings[0].homeassistant.unit_of_measurement: has no effect on a switch",
            id="a unit on a switch",
        ),
        pytest.param(
            "    watch:\n      locus: status.r\n      topic: r\n",
            "      entity_category: config\n",
            {"entity_category": "diagnostic"},
            "bindings[0].homeassistant.entity_category: Home Assistant refuses 'config'",
            id="config on a sensor",
        ),
        pytest.param(
            "    watch:\n      locus: status.r\n      topic: r\n",
            "      component: switch\n",
            {},
            "bindings[0].homeassistant.component: Deployment ns/app cannot be a switch",
            id="a component the binding cannot provide",
        ),
        pytest.param(
            "    watch:\n      locus: status.r\n      topic: r\n",
            "      state_class: measurement\n      unit_of_measurement: pods\n",
            {"state_class": "measurement", "unit_of_measurement": "pods"},
            None,
            id="a sensor's unit and state class",
        ),
        pytest.param(
            "    watch:\n      locus: status.r\n      topic: r\n",
            "      device_class: running\n",
            {},
            "bindings[0].homeassistant.device_class: 'running' is a device class of a "
            "binary_sensor, not of a sensor; left out",
            id="another component's device class",
        ),
        pytest.param(
            "    watch:\n      locus: status.failed\n      topic: f\n"
            '      values: {~: ~, "lambda v: v > 0": "FAILED"}\n',
            "      unit_of_measurement: pods\n",
            {},
            "bindings[0].homeassistant.unit_of_measurement: makes Home Assistant expect "
            "numbers, but this sensor's map publishes text such as 'FAILED'",
            id="a unit on a sensor that shows text",
        ),
        pytest.param(
            "    watch:\n      locus: status.r\n      topic: r\n      values: {~: 0, 1: 1, 2: 2}\n",
            "      device_class: duration\n      unit_of_measurement: s\n",
            {"device_class": "duration", "unit_of_measurement": "s"},
            None,
            id="a unit on a sensor that shows numbers",
        ),
    ],
)
def test_overrides_that_do_not_fit_are_noted_with_their_place(
    tmp_path: Path, associations: str, overrides: str, expected: dict[str, str], note: str | None
) -> None:
    plan = plan_for(tmp_path, OBJECT + associations + "    homeassistant:\n" + overrides)
    (entity,) = binding_entities(plan)
    for key, value in expected.items():
        assert entity.payload[key] == value
    for key in ("unit_of_measurement", "entity_category", "state_class", "device_class"):
        if key not in expected:
            assert key not in entity.payload
    assert [n for n in plan.notes if note and n.startswith(note)] == (
        [plan.notes[0]] if note else []
    )
    assert len(plan.notes) == (1 if note else 0)


WATCHED = "    watch: {locus: status.r, topic: r}\n"


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        pytest.param(
            "{device_class: runing}",
            "device_class",
            "'runing' is not a Home Assistant device class (did you mean 'running'?)",
            id="unknown device class",
        ),
        pytest.param(
            "{device_class: enum}",
            "device_class",
            "'enum' needs a list of options, which mqtt-kube does not announce",
            id="enum",
        ),
        pytest.param(
            "{component: sensor, device_class: running}",
            "device_class",
            "'running' is a device class of a binary_sensor, not of a sensor",
            id="the named component's device classes",
        ),
        pytest.param(
            "{component: switch, unit_of_measurement: pods}",
            "unit_of_measurement",
            "has no effect on a switch",
            id="a key the named component has not",
        ),
        pytest.param(
            "{device_class: timestamp, unit_of_measurement: s}",
            "unit_of_measurement",
            "makes Home Assistant expect numbers, but device_class timestamp says the sensor "
            "shows a time; give one or the other",
            id="a time with a unit",
        ),
        pytest.param(
            "{device_class: date, state_class: measurement}",
            "state_class",
            "makes Home Assistant expect numbers, but device_class date says the sensor "
            "shows a time; give one or the other",
            id="a date with a state class",
        ),
        pytest.param(
            "{min: 5, max: 5}",
            "max",
            "max must be greater than min, here 5 and 5 (without them: max 100, min 0)",
            id="min = max",
        ),
        pytest.param(
            "{max: -1}",
            "max",
            "max must be greater than min, here -1 and 0 (without them: max 100, min 0)",
            id="max below the default min",
        ),
        pytest.param(
            "{min: 100}",
            "min",
            "max must be greater than min, here 100 and 100 (without them: max 100, min 0)",
            id="min at the default max",
        ),
    ],
)
def test_overrides_home_assistant_would_refuse_are_config_problems_at_their_line(
    tmp_path: Path, overrides: str, key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_for(tmp_path, OBJECT + WATCHED + f"    homeassistant: {overrides}\n")
    (problem,) = caught.value.problems
    assert (problem.path, problem.line, problem.message) == (
        f"bindings[0].homeassistant.{key}",
        10,
        message,
    )


def test_check_refuses_a_device_class_home_assistant_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "mqtt: {client-id: kube}\nhomeassistant: true\nbindings:\n"
        + OBJECT
        + WATCHED
        + "    homeassistant:\n      device_class: connectivty\n"
    )
    assert main(["check", str(path)]) == 2
    assert (
        f"{path}:9: bindings[0].homeassistant.device_class: 'connectivty' is not a Home "
        "Assistant device class (did you mean 'connectivity'?)"
    ) in capsys.readouterr().err.splitlines()


def test_a_device_class_is_read_in_any_case(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, OBJECT + WATCHED + "    homeassistant: {device_class: TimeStamp}\n")
    (sensor,) = binding_entities(plan)
    assert sensor.payload["device_class"] == "timestamp"
    assert plan.notes == ()


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("yes", HomeAssistantSettings()),
        ("on", HomeAssistantSettings()),
        ("true", HomeAssistantSettings()),
        ("Yes", HomeAssistantSettings()),
        ("ON", HomeAssistantSettings()),
        ("no", None),
        ("off", None),
        ("false", None),
        ("Off", None),
    ],
)
def test_homeassistant_yes_turns_discovery_on_with_defaults_and_no_turns_it_off(
    tmp_path: Path, word: str, expected: HomeAssistantSettings | None
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"homeassistant: {word}\nbindings:\n" + OBJECT + f"    homeassistant: {word}\n")
    config = load_config(path)
    assert config.homeassistant == expected
    assert config.bindings[0].homeassistant is (None if expected else False)


def test_component_sensor_turns_a_would_be_binary_sensor_into_a_sensor(tmp_path: Path) -> None:
    watch = '    watch:\n      locus: status.r\n      topic: r\n      values: {1: "ON", ~: "OFF"}\n'
    plan = plan_for(tmp_path, OBJECT + watch + "    homeassistant:\n      component: sensor\n")
    (entity,) = binding_entities(plan)
    assert entity.component == "sensor"
    assert "payload_on" not in entity.payload
    SCHEMAS["sensor"](dict(entity.payload))


def test_a_number_takes_its_range_from_the_overrides(tmp_path: Path) -> None:
    config = config_for(
        tmp_path, OBJECT + "    patch:\n      topic: set\n      locus: spec.replicas\n"
    )
    binding = replace(config.bindings[0], homeassistant={"max": 3, "step": 1, "mode": "slider"})
    (number,) = binding_entities(build_plan(replace(config, bindings=(binding,))))
    assert (number.payload["min"], number.payload["max"], number.payload["mode"]) == (
        0,
        3,
        "slider",
    )


def test_the_main_entity_is_the_switch_then_the_number_then_the_first_watch(
    tmp_path: Path,
) -> None:
    job = (
        "    watch:\n      - {locus: status.active, topic: a}\n"
        "      - {locus: status.succeeded, topic: s}\n"
        "    patch:\n      topic: p\n      locus: spec.parallelism\n"
    )
    plan = plan_for(tmp_path, OBJECT + job)
    assert kinds(plan) == [("number", None), ("sensor", "Active"), ("sensor", "Succeeded")]


def test_no_entity_name_repeats_its_device_name() -> None:
    for entity in binding_entities(homelab_plan()):
        assert entity.name is None or entity.device not in entity.name


def test_describe_lists_every_entity_and_every_note(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, OBJECT + "    patch:\n      topic: set\n      locus: spec.paused\n")
    lines = describe(homelab_plan()) + describe(plan)
    assert lines[0] == "Home Assistant discovery under homeassistant/ (node homelab-kube):"
    assert "  switch        Jellyfin  [bindings[0].patch[0]+watch[0]]" in lines
    assert "  button        Job batch/backup · Run  [bindings[2].action[0]]" in lines
    assert lines[-1].startswith("  note: bindings[0].patch[0]: no entity for home/set")


def test_check_lists_the_entities_a_config_would_create(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", str(HOMELAB)]) == 0
    out = capsys.readouterr().out.splitlines()
    start = out.index("Home Assistant discovery under homeassistant/ (node homelab-kube):")
    assert out[start:] == describe(homelab_plan())
    assert len(out[start + 1 :]) == len(homelab_plan().entities)


def test_moving_an_association_to_another_binding_of_its_object_keeps_its_entity(
    tmp_path: Path,
) -> None:
    watches = (
        "    watch:\n      - {locus: status.a, topic: a}\n      - {locus: status.b, topic: b}\n"
    )
    together = plan_for(tmp_path, OBJECT + watches)
    moved = plan_for(
        tmp_path,
        OBJECT
        + "    watch: {locus: status.a, topic: a}\n"
        + OBJECT
        + "    watch: {locus: status.b, topic: b}\n    homeassistant: {device_class: duration}\n",
    )
    assert unique_ids(moved) == unique_ids(together)
    b = next(e for e in binding_entities(moved) if e.unique_id.endswith(":watch:status.b"))
    assert (b.name, b.payload["device_class"]) == ("B", "duration")

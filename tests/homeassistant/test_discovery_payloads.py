"""Discovery payloads against the reviewed snapshot and Home Assistant's schemas, and what Home
Assistant shows for an absent value or one no map entry covers, in 2024.3 and in current
releases.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol

from mqtt_kube import __version__
from mqtt_kube.core.hass_facts import DEVICE_CLASSES, DEVICE_KEYS, ORIGIN_KEYS
from mqtt_kube.homeassistant.plan import Entity
from mqtt_kube.homeassistant.templates import one_of_template
from tests.support.ha_discovery import (
    DEVICE_2024_3,
    HA_DEVICE_CLASSES,
    NUMERIC_CLASSES,
    OBJECT,
    SCHEMAS,
    SNAPSHOT,
    binding_entities,
    homelab_plan,
    plan_for,
)

# -- the snapshot and the schemas ---------------------------------------------------------


def test_the_homelab_config_announces_exactly_the_reviewed_payloads() -> None:
    expected = json.loads(SNAPSHOT.read_text().replace("<version>", __version__))
    plan = homelab_plan()
    assert {e.topic: dict(e.payload) for e in plan.entities} == expected
    assert plan.notes == ()


def test_the_homelab_config_uses_every_component() -> None:
    components = {e.component for e in homelab_plan().entities}
    assert components == {"switch", "number", "binary_sensor", "sensor", "button"}


@pytest.mark.parametrize("entity", homelab_plan().entities, ids=lambda e: e.topic.split("/")[3])
def test_every_payload_passes_home_assistants_schema_for_its_component(entity: Entity) -> None:
    SCHEMAS[entity.component](dict(entity.payload))
    assert set(entity.payload["device"]) <= DEVICE_KEYS
    assert set(entity.payload["origin"]) == ORIGIN_KEYS
    assert entity.payload["origin"]["sw_version"] == __version__


@pytest.mark.parametrize("entity", homelab_plan().entities, ids=lambda e: e.topic.split("/")[3])
def test_every_topic_and_payload_is_as_published(entity: Entity) -> None:
    prefix, component, node_id, object_id, last = entity.topic.split("/")
    assert (prefix, component, node_id, last) == (
        "homeassistant",
        entity.component,
        "homelab-kube",
        "config",
    )
    assert all(c.isalnum() or c in "_-" for c in object_id)
    assert json.loads(entity.encoded()) == entity.payload
    assert entity.encoded() == json.dumps(entity.payload, sort_keys=True, separators=(",", ":"))


def test_the_schemas_here_refuse_unknown_keys_and_another_components_device_class() -> None:
    entity = homelab_plan().entities[1]
    with pytest.raises(vol.Invalid, match="extra keys"):
        SCHEMAS[entity.component]({**entity.payload, "object_id": "x"})
    device = {**entity.payload["device"], "model_id": "1"}  # accepted only after 2024.3
    with pytest.raises(vol.Invalid, match="extra keys"):
        SCHEMAS[entity.component]({**entity.payload, "device": device})
    with pytest.raises(vol.Invalid, match="must be one of"):
        SCHEMAS[entity.component]({**entity.payload, "device_class": "running"})


def test_the_device_keys_allowed_are_those_home_assistant_2024_3_accepts() -> None:
    assert {str(key) for key in DEVICE_2024_3.schema} == DEVICE_KEYS
    entity = homelab_plan().entities[1]
    device = {**entity.payload["device"], "serial_number": "SN1"}  # accepted since 2024.2
    SCHEMAS[entity.component]({**entity.payload, "device": device})


def test_the_device_classes_allowed_are_home_assistants_but_enum() -> None:
    expected = {**HA_DEVICE_CLASSES, "sensor": HA_DEVICE_CLASSES["sensor"] - {"enum"}}
    assert {c: set(classes) for c, classes in DEVICE_CLASSES.items()} == expected


def test_the_instance_device_has_one_connectivity_sensor_on_the_availability_topic() -> None:
    plan = homelab_plan()
    connectivity = plan.entities[0]  # announced first: the other devices link to it
    assert connectivity.component == "binary_sensor"
    assert connectivity.payload["device_class"] == "connectivity"
    assert connectivity.payload["state_topic"] == "home/kube/status"
    assert "availability_topic" not in connectivity.payload  # offline shows as "off"
    instance = connectivity.payload["device"]["identifiers"][0]
    for entity in binding_entities(plan):
        assert entity.payload["device"]["via_device"] == instance
        assert entity.payload["availability_topic"] == "home/kube/status"


# -- what Home Assistant shows: the state callbacks of homeassistant/components/mqtt/
# sensor.py (`_update_state`: "None" is no value for a sensor that expects numbers, and for
# every sensor since 2024.10; "" is ignored by a numeric one), binary_sensor.py and
# switch.py ("" ignored, PAYLOAD_NONE "None" is no value, any other text is ignored),
# number.py (`payload_reset`, "None" by default) -------------------------------------------

KEPT = "<the previous state stays>"
REFUSED = "<Home Assistant refuses the state>"
RELEASES = ("2024.3", "2024.10")


def render(template: str, payload: str) -> str:
    """A value_template applied to a payload.

    The templates announced are Jinja expressions that read the same in Python (a
    conditional, `in` on a list of strings, a slice, the truth of a string).
    """
    assert template.startswith("{{ ")
    assert template.endswith(" }}")
    return str(eval(template[3:-3], {"__builtins__": {}}, {"value": payload}))


def shown(entity: Entity, payload: str, release: str) -> str:
    """The state Home Assistant records once `payload` arrives on the state topic."""
    config = entity.payload
    value = render(config["value_template"], payload) if "value_template" in config else payload
    if entity.component == "sensor":
        return sensor_state(config, value, release)
    if entity.component == "number":
        if value == "None":
            return "unknown"
        return value if is_number(value) else KEPT
    on, off = (
        ("state_on", "state_off") if entity.component == "switch" else ("payload_on", "payload_off")
    )
    if value in (config[on], config[off]):
        return "on" if value == config[on] else "off"
    return "unknown" if value == "None" else KEPT


def sensor_state(config: dict[str, Any], value: str, release: str) -> str:
    device_class = config.get("device_class")
    if value == "None" and release != "2024.3":
        return "unknown"
    numeric = (
        device_class in NUMERIC_CLASSES
        or "unit_of_measurement" in config
        or "state_class" in config
    )
    if numeric:
        if value == "":
            return KEPT
        if value == "None":
            return "unknown"
        return value if is_number(value) else REFUSED
    if device_class in ("timestamp", "date"):
        return value if is_time(value) else "unknown"  # "Invalid state message", no value
    return value  # stored as it is: "unknown" is the state Home Assistant records for none


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_time(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


STATEFUL = [e for e in binding_entities(homelab_plan()) if "state_topic" in e.payload]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("entity", STATEFUL, ids=lambda e: e.topic.split("/")[3])
def test_an_absent_value_shows_as_unknown(entity: Entity, release: str) -> None:
    assert shown(entity, "", release) == "unknown"


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize(
    "overrides",
    [
        "{}",
        "{unit_of_measurement: pods}",
        "{state_class: measurement}",
        "{device_class: duration, unit_of_measurement: s}",
        "{device_class: timestamp}",
        "{device_class: date}",
    ],
)
def test_an_absent_value_shows_as_unknown_whatever_the_sensor_expects(
    tmp_path: Path, overrides: str, release: str
) -> None:
    watch = f"    watch: {{locus: status.x, topic: x}}\n    homeassistant: {overrides}\n"
    (sensor,) = binding_entities(plan_for(tmp_path, OBJECT + watch))
    assert sensor.component == "sensor"
    assert shown(sensor, "", release) == "unknown"


def test_home_assistant_reads_none_as_no_value_for_a_text_sensor_only_since_2024_10() -> None:
    (sensor,) = [e for e in STATEFUL if e.name == "Start time"]
    spelt_none = replace(
        sensor, payload={**sensor.payload, "value_template": "{{ value if value else 'None' }}"}
    )
    assert shown(spelt_none, "", "2024.3") == "None"
    assert shown(spelt_none, "", "2024.10") == "unknown"


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize(
    "entity",
    [e for e in STATEFUL if e.component in ("binary_sensor", "switch")],
    ids=lambda e: e.topic.split("/")[3],
)
def test_a_value_no_map_entry_covers_shows_as_unknown_not_the_last_state(
    entity: Entity, release: str
) -> None:
    on = entity.payload.get("state_on", entity.payload.get("payload_on"))
    off = entity.payload.get("state_off", entity.payload.get("payload_off"))
    assert (shown(entity, on, release), shown(entity, off, release)) == ("on", "off")
    assert shown(entity, "2", release) == "unknown"  # e.g. two pods where the map says 1


def test_values_reach_home_assistant_as_published_and_cut_to_a_states_length() -> None:
    by_name = {(e.device, e.name): e for e in STATEFUL}
    sonarr = "Deployment media/sonarr"
    assert shown(by_name[(sonarr, None)], "3", "2024.3") == "3"  # the number
    assert shown(by_name[(sonarr, "Ready replicas")], "2", "2024.3") == "2"
    start = by_name[("Job batch/backup", "Start time")]
    assert shown(start, "2024-05-01T02:00:00Z", "2024.3") == "2024-05-01T02:00:00Z"
    assert shown(start, "x" * 300, "2024.10") == "x" * 255
    tricky = ["it's", "}} {%", "a\\b", "line\nbreak", "é"]
    assert [render(one_of_template(tricky), text) for text in tricky] == tricky

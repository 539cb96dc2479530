"""Discovery payloads, pure: configuration in, entities and payloads out.

Covered: the reviewed snapshot of a configuration using every component; every payload
against Home Assistant-style schemas (documented keys only, required keys, each
component's device classes, `device` and `origin` within what Home Assistant 2024.3
accepts); what Home Assistant shows for an absent value and for a value no map entry
covers (unknown, for every entity with a state, in 2024.3 and in current releases);
inference, table-driven (switch, number, binary_sensor, sensor, button, and what cannot be
exposed, each with a note naming its place); which value is "on"; button payloads for plain
and `jsonpath` maps; node ids; unique_ids stable across edits that keep a binding's
identity and different when it changes; per-binding overrides, those Home Assistant would
refuse (a config problem with its line, or a note when it depends on the inferred
component); `homeassistant: yes/no`; main entities and names; what `mqtt-kube check` lists.
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
from mqtt_kube.cli.main import main
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config, HomeAssistantSettings
from mqtt_kube.core.errors import ConfigError
from mqtt_kube.core.hass_facts import DEVICE_CLASSES, DEVICE_KEYS, ORIGIN_KEYS
from mqtt_kube.core.valuemap import ValueMap
from mqtt_kube.homeassistant.naming import node_id_for
from mqtt_kube.homeassistant.plan import DiscoveryPlan, Entity, build_plan, describe
from mqtt_kube.homeassistant.readings import command_payload
from mqtt_kube.homeassistant.templates import one_of_template
from tests.support.paths import CONFIGS, SNAPSHOTS

HOMELAB = CONFIGS / "discovery" / "homelab.yaml"
SNAPSHOT = SNAPSHOTS / "discovery-homelab.json"

# -- Home Assistant's discovery schemas, restated (facts from homeassistant/components/mqtt:
# config.py, schemas.py, and one module per component; device classes from each
# component's SensorDeviceClass, NumberDeviceClass, … enum), refusing any other key --------

_TEXT = vol.All(str, vol.Length(min=1))
_URL = vol.All(str, vol.Match(r"^https?://"))
DEVICE_2024_3 = vol.Schema(
    {
        vol.Required("identifiers"): vol.All([_TEXT], vol.Length(min=1)),
        vol.Optional("connections"): [[str]],
        vol.Optional("manufacturer"): str,
        vol.Optional("model"): str,
        vol.Optional("name"): str,
        vol.Optional("serial_number"): str,  # since 2024.2
        vol.Optional("sw_version"): str,
        vol.Optional("hw_version"): str,
        vol.Optional("suggested_area"): str,
        vol.Optional("via_device"): str,
        vol.Optional("configuration_url"): _URL,
    }
)
ORIGIN = vol.Schema(
    {
        vol.Required("name"): _TEXT,
        vol.Optional("sw_version"): str,
        vol.Optional("support_url"): _URL,
    }
)
NUMERIC_CLASSES = set(
    """apparent_power aqi area atmospheric_pressure battery blood_glucose_concentration
    carbon_dioxide carbon_monoxide conductivity current data_rate data_size distance duration
    energy energy_distance energy_storage frequency gas humidity illuminance irradiance
    moisture monetary nitrogen_dioxide nitrogen_monoxide nitrous_oxide ozone ph pm1 pm10 pm25
    power power_factor precipitation precipitation_intensity pressure reactive_power
    signal_strength sound_pressure speed sulphur_dioxide temperature
    volatile_organic_compounds volatile_organic_compounds_parts voltage volume
    volume_flow_rate volume_storage water weight wind_direction wind_speed""".split()  # noqa: SIM905
)
HA_DEVICE_CLASSES = {
    "sensor": NUMERIC_CLASSES | {"date", "enum", "timestamp"},
    "number": NUMERIC_CLASSES,
    "binary_sensor": set(
        """battery battery_charging carbon_monoxide cold connectivity door garage_door gas
        heat light lock moisture motion moving occupancy opening plug power presence problem
        running safety smoke sound tamper update vibration window""".split()  # noqa: SIM905
    ),
    "switch": {"outlet", "switch"},
    "button": {"identify", "restart", "update"},
}
QOS = vol.In([0, 1, 2])
TEMPLATE = vol.All(str, vol.Match(r"^\{\{.*\}\}$"))
COMMON = {
    vol.Required("unique_id"): _TEXT,
    vol.Required("name"): vol.Any(None, _TEXT),
    vol.Required("device"): DEVICE_2024_3,
    vol.Required("origin"): ORIGIN,
    vol.Optional("availability_topic"): _TEXT,
    vol.Optional("payload_available"): str,
    vol.Optional("payload_not_available"): str,
    vol.Optional("enabled_by_default"): bool,
    vol.Optional("entity_category"): vol.In(["config", "diagnostic"]),
    vol.Optional("icon"): vol.Match(r"^mdi:[a-z0-9-]+$"),
    vol.Optional("json_attributes_topic"): _TEXT,
    vol.Optional("json_attributes_template"): TEMPLATE,
    vol.Optional("qos"): QOS,
    vol.Optional("encoding"): str,
}
READ_ONLY = {
    **COMMON,
    vol.Required("state_topic"): _TEXT,
    vol.Optional("value_template"): TEMPLATE,
    vol.Optional("expire_after"): int,
    vol.Optional("force_update"): bool,
    vol.Optional("entity_category"): "diagnostic",  # `config` is refused for these
}
COMMANDING = {
    **COMMON,
    vol.Required("command_topic"): _TEXT,
    vol.Optional("retain"): bool,
}


def min_below_max(config: dict[str, Any]) -> dict[str, Any]:
    if config["min"] >= config["max"]:
        raise vol.Invalid("'max' must be > 'min'")
    return config


def device_class(component: str) -> dict[vol.Optional, vol.In]:
    return {vol.Optional("device_class"): vol.In(sorted(HA_DEVICE_CLASSES[component]))}


SCHEMAS: dict[str, vol.Schema] = {
    "sensor": vol.Schema(
        {
            **READ_ONLY,
            **device_class("sensor"),
            vol.Optional("unit_of_measurement"): str,
            vol.Optional("state_class"): vol.In(["measurement", "total", "total_increasing"]),
        }
    ),
    "binary_sensor": vol.Schema(
        {
            **READ_ONLY,
            **device_class("binary_sensor"),
            vol.Required("payload_on"): _TEXT,
            vol.Required("payload_off"): _TEXT,
        }
    ),
    "switch": vol.Schema(
        {
            **COMMANDING,
            **device_class("switch"),
            vol.Required("state_topic"): _TEXT,
            vol.Required("optimistic"): False,  # the state always comes from a watch
            vol.Required("payload_on"): _TEXT,
            vol.Required("payload_off"): _TEXT,
            vol.Required("state_on"): _TEXT,
            vol.Required("state_off"): _TEXT,
            vol.Optional("value_template"): TEMPLATE,
        }
    ),
    "number": vol.All(
        {
            **COMMANDING,
            **device_class("number"),
            vol.Optional("state_topic"): _TEXT,
            vol.Required("optimistic"): bool,
            vol.Required("min"): vol.Coerce(float),
            vol.Required("max"): vol.Coerce(float),
            vol.Optional("step"): vol.All(vol.Coerce(float), vol.Range(min=1e-3)),
            vol.Optional("mode"): vol.In(["auto", "box", "slider"]),
            vol.Optional("unit_of_measurement"): str,
            vol.Optional("value_template"): TEMPLATE,
        },
        min_below_max,
    ),
    "button": vol.Schema(
        {**COMMANDING, **device_class("button"), vol.Required("payload_press"): _TEXT}
    ),
}


def homelab_plan() -> DiscoveryPlan:
    return build_plan(load_config(HOMELAB))


def plan_for(tmp_path: Path, bindings: str, *, head: str = "") -> DiscoveryPlan:
    return build_plan(config_for(tmp_path, bindings, head=head))


def config_for(tmp_path: Path, bindings: str, *, head: str = "") -> Config:
    """A config with discovery on, client-id `kube`, and the given `bindings:` body."""
    path = tmp_path / "config.yaml"
    path.write_text(
        f"mqtt:\n  client-id: kube\n  topic-prefix: home\n{head}homeassistant: true\n"
        f"bindings:\n{bindings}"
    )
    return load_config(path)


def binding_entities(plan: DiscoveryPlan) -> list[Entity]:
    """Every entity but the instance's connectivity sensor."""
    return [e for e in plan.entities if e.source != "mqtt.availability-topic"]


def kinds(plan: DiscoveryPlan) -> list[tuple[str, str | None]]:
    return [(e.component, e.name) for e in binding_entities(plan)]


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


# -- inference ---------------------------------------------------------------------------

OBJECT = "  - namespace: ns\n    resource: Deployment\n    name: app\n"
PATCH_ON_OFF = (
    '    patch:\n      topic: set\n      locus: spec.replicas\n      values: {"ON": 1, "OFF": 0}\n'
)


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


# -- identities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "node_id"),
    [
        ("homelab-kube", "homelab-kube"),
        ("mqtt_kube_1", "mqtt_kube_1"),
        ("kube.home", "kube_home_" + node_id_for("kube.home")[-6:]),
        ("kube home/1", "kube_home_1_" + node_id_for("kube home/1")[-6:]),
    ],
)
def test_the_node_id_is_the_client_id_made_topic_safe(client_id: str, node_id: str) -> None:
    assert node_id_for(client_id) == node_id
    assert all(c.isalnum() or c in "_-" for c in node_id)


def test_client_ids_that_sanitize_alike_still_get_different_node_ids() -> None:
    ids = {node_id_for(c) for c in ("kube.a", "kube_a", "kube/a", "kube a")}
    assert len(ids) == 4


SWITCH = (
    "  - namespace: ns\n    resource: Deployment\n    name: app\n"
    "    patch:\n      topic: {command}\n      locus: {locus}\n"
    '      values: {{"ON": 1, "OFF": 0}}\n'
    "    watch:\n      locus: status.readyReplicas\n      topic: state\n"
    '      values: {{1: "ON", ~: "OFF"}}\n'
)
OTHER = (
    "  - namespace: ns\n    resource: Job\n    name: job\n"
    "    watch:\n      locus: status\n      topic: s\n"
)


def unique_ids(plan: DiscoveryPlan) -> dict[str, str]:
    return {e.unique_id: e.topic for e in plan.entities}


def test_unique_ids_and_topics_survive_edits_that_keep_the_bindings_identity(
    tmp_path: Path,
) -> None:
    before = plan_for(tmp_path, SWITCH.format(command="set", locus="spec.replicas") + OTHER)
    after = plan_for(
        tmp_path,
        OTHER + SWITCH.format(command="power/set", locus="$.spec.replicas"),
        head="  keepalive: 30\n",
    )
    assert unique_ids(after) == unique_ids(before)


def test_unique_ids_change_with_the_field_the_object_or_the_instance(tmp_path: Path) -> None:
    base = unique_ids(plan_for(tmp_path, SWITCH.format(command="s", locus="spec.replicas")))
    other_field = unique_ids(plan_for(tmp_path, SWITCH.format(command="s", locus="spec.x")))
    other_object = unique_ids(
        plan_for(
            tmp_path,
            SWITCH.format(command="s", locus="spec.replicas").replace("app", "web"),
        )
    )
    other_instance = build_plan(
        replace(
            config_for(tmp_path, SWITCH.format(command="s", locus="spec.replicas")),
            mqtt=replace(config_for(tmp_path, OTHER).mqtt, client_id="kube-2"),
        )
    )
    connectivity = "mqtt-kube:kube:connectivity"
    assert len(set(base) - {connectivity}) == 1
    assert not (set(base) - {connectivity}) & set(other_field)
    assert not (set(base) - {connectivity}) & set(other_object)
    assert not set(base) & set(unique_ids(other_instance))
    assert not set(base.values()) & set(unique_ids(other_instance).values())


def test_two_bindings_of_one_object_share_a_device_with_one_main_entity(tmp_path: Path) -> None:
    second = "  - namespace: ns\n    resource: Deployment\n    name: app\n" + (
        "    watch:\n      locus: status.replicas\n      topic: r\n"
        "    homeassistant:\n      unit_of_measurement: pods\n"
    )
    plan = plan_for(tmp_path, SWITCH.format(command="s", locus="spec.replicas") + second)
    switch, sensor = binding_entities(plan)
    assert switch.payload["device"] == sensor.payload["device"]
    assert (switch.name, sensor.name) == (None, "Replicas")
    assert sensor.payload["unit_of_measurement"] == "pods"  # its binding's main entity


def test_the_same_field_watched_twice_gets_two_unique_ids_and_two_names(tmp_path: Path) -> None:
    watches = (
        "    watch:\n"
        "      - {locus: status.replicas, topic: a}\n"
        "      - {locus: $.status.replicas, topic: b}\n"
        "      - {locus: status.replicas, topic: c}\n"
    )
    plan = plan_for(tmp_path, OBJECT + watches)
    entities = binding_entities(plan)
    assert [e.name for e in entities] == [None, "Replicas", "Replicas 2"]
    assert len({e.unique_id for e in entities}) == 3
    assert len({e.topic for e in entities}) == 3


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

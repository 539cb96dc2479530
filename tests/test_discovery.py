"""Discovery payloads, pure: configuration in, entities and payloads out.

Covered: the reviewed snapshot of a configuration using every component; every payload
against Home Assistant-style schemas (documented keys only, required keys, `device` and
`origin` within what Home Assistant 2024.3 accepts); inference, table-driven (switch,
number, binary_sensor, sensor, button, and what cannot be exposed, each with a note naming
its place); which value is "on"; button payloads for plain and `jsonpath` maps; node ids;
unique_ids stable across edits that keep a binding's identity and different when it
changes; per-binding overrides; main entities and names; what `mqtt-kube check` lists.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol

from mqtt_kube import __version__
from mqtt_kube.cli import main
from mqtt_kube.config import Config
from mqtt_kube.discovery import (
    DEVICE_KEYS,
    ORIGIN_KEYS,
    DiscoveryPlan,
    Entity,
    build_plan,
    command_payload,
    describe,
    node_id_for,
)
from mqtt_kube.schema import load_config
from mqtt_kube.valuemap import ValueMap

HERE = Path(__file__).parent
HOMELAB = HERE / "configs" / "discovery" / "homelab.yaml"
SNAPSHOT = HERE / "snapshots" / "discovery-homelab.json"

# -- Home Assistant's discovery schemas, restated (facts from homeassistant/components/mqtt:
# config.py, schemas.py, and one module per component), refusing any other key -----------

_TEXT = vol.All(str, vol.Length(min=1))
_URL = vol.All(str, vol.Match(r"^https?://"))
DEVICE_2024_3 = vol.Schema(
    {
        vol.Required("identifiers"): vol.All([_TEXT], vol.Length(min=1)),
        vol.Optional("connections"): [[str]],
        vol.Optional("manufacturer"): str,
        vol.Optional("model"): str,
        vol.Optional("name"): str,
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
    vol.Optional("device_class"): _TEXT,
    vol.Optional("expire_after"): int,
    vol.Optional("force_update"): bool,
    vol.Optional("entity_category"): "diagnostic",  # `config` is refused for these
}
COMMANDING = {
    **COMMON,
    vol.Required("command_topic"): _TEXT,
    vol.Optional("retain"): bool,
    vol.Optional("device_class"): _TEXT,
}
SCHEMAS: dict[str, vol.Schema] = {
    "sensor": vol.Schema(
        {
            **READ_ONLY,
            vol.Optional("unit_of_measurement"): str,
            vol.Optional("state_class"): vol.In(["measurement", "total", "total_increasing"]),
        }
    ),
    "binary_sensor": vol.Schema(
        {**READ_ONLY, vol.Required("payload_on"): _TEXT, vol.Required("payload_off"): _TEXT}
    ),
    "switch": vol.Schema(
        {
            **COMMANDING,
            vol.Required("state_topic"): _TEXT,
            vol.Required("optimistic"): False,  # the state always comes from a watch
            vol.Required("payload_on"): _TEXT,
            vol.Required("payload_off"): _TEXT,
            vol.Required("state_on"): _TEXT,
            vol.Required("state_off"): _TEXT,
            vol.Optional("value_template"): TEMPLATE,
        }
    ),
    "number": vol.Schema(
        {
            **COMMANDING,
            vol.Optional("state_topic"): _TEXT,
            vol.Required("optimistic"): bool,
            vol.Required("min"): vol.Coerce(float),
            vol.Required("max"): vol.Coerce(float),
            vol.Optional("step"): vol.All(vol.Coerce(float), vol.Range(min=1e-3)),
            vol.Optional("mode"): vol.In(["auto", "box", "slider"]),
            vol.Optional("unit_of_measurement"): str,
            vol.Optional("value_template"): TEMPLATE,
        }
    ),
    "button": vol.Schema({**COMMANDING, vol.Required("payload_press"): _TEXT}),
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


def test_the_schemas_here_refuse_an_unknown_key_and_a_2024_3_unknown_device_key() -> None:
    entity = homelab_plan().entities[1]
    with pytest.raises(vol.Invalid, match="extra keys"):
        SCHEMAS[entity.component]({**entity.payload, "object_id": "x"})
    device = {**entity.payload["device"], "serial_number": "1"}
    with pytest.raises(vol.Invalid, match="extra keys"):
        SCHEMAS[entity.component]({**entity.payload, "device": device})


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
            "    watch:\n      locus: status\n      topic: status\n    homeassistant: false\n",
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
    ],
)
def test_overrides_that_do_not_fit_are_noted_with_their_place(
    tmp_path: Path, associations: str, overrides: str, expected: dict[str, str], note: str | None
) -> None:
    plan = plan_for(tmp_path, OBJECT + associations + "    homeassistant:\n" + overrides)
    (entity,) = binding_entities(plan)
    for key, value in expected.items():
        assert entity.payload[key] == value
    for key in ("unit_of_measurement", "entity_category", "state_class"):
        if key not in expected:
            assert key not in entity.payload
    assert [n for n in plan.notes if note and n.startswith(note)] == (
        [plan.notes[0]] if note else []
    )
    assert len(plan.notes) == (1 if note else 0)


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

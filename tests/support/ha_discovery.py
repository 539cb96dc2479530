"""Home Assistant's MQTT discovery schemas restated (documented keys only, required keys, each
component's device classes, the device and origin keys 2024.3 accepts), and plans built from
config text for the discovery tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import voluptuous as vol

from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config
from mqtt_kube.homeassistant.plan import DiscoveryPlan, Entity, build_plan
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


OBJECT = "  - namespace: ns\n    resource: Deployment\n    name: app\n"
PATCH_ON_OFF = (
    '    patch:\n      topic: set\n      locus: spec.replicas\n      values: {"ON": 1, "OFF": 0}\n'
)


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

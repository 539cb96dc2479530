"""Home Assistant MQTT discovery payloads, built from a Config (SPEC §6).

Pure: no sockets, no asyncio, no clock. Given a Config it says which entities exist, on
which config topic each one is announced, and the exact payload.
`mqtt_kube.homeassistant.lifecycle` owns the lifecycle (publishing, stale cleanup, Home
Assistant's birth message); `mqtt-kube check` prints what this module infers.

What becomes what:
- a patch and a watch of one binding whose maps name the same two values (the patch
  map's inputs are the watch map's outputs, e.g. ON/OFF) → `switch`, never optimistic;
- a patch without a map on a count (`spec.replicas`, …) → `number`, with its state from a
  watch of the same field when there is one;
- any other watch → `binary_sensor` when its map has exactly two fixed non-empty outputs,
  else `sensor`;
- each literal payload in an action's map → `button` (for a `jsonpath` map, the JSON
  document that selects it).

Every payload uses full key names, keys documented by Home Assistant, `device` keys
accepted by Home Assistant 2024.3 (which rejects unknown ones), and no `object_id`
(deprecated by Home Assistant 2025.10: entity ids follow device and entity names).
An absent value (an empty payload) shows as *unknown* for every entity with a state.
What cannot be exposed, and an override Home Assistant would refuse, is reported as a
note, never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from mqtt_kube import __version__
from mqtt_kube.config.model import (
    ActionSpec,
    BindingSpec,
    Config,
    HomeAssistantSettings,
    PatchSpec,
    WatchSpec,
)
from mqtt_kube.core.locus import Locus
from mqtt_kube.core.payload import encode_payload
from mqtt_kube.core.valuemap import ValueMap

Component = Literal["switch", "number", "binary_sensor", "sensor", "button"]

PROJECT_URL: Final = "https://github.com/mqtt-kube/mqtt-kube"
ORIGIN_NAME: Final = "mqtt-kube"
PAYLOAD_ONLINE: Final = "online"
PAYLOAD_OFFLINE: Final = "offline"
COMMAND_QOS: Final = 1  # command topics are subscribed at QoS 1
NUMBER_MIN: Final = 0
NUMBER_MAX: Final = 100  # Home Assistant's own default for a number
MAX_STATE_LENGTH: Final = 255  # Home Assistant refuses longer states

# An empty payload means "no value": the object does not exist, or the locus matched
# nothing. The text "None" is Home Assistant's "no value" for a binary_sensor, a switch, a
# number and a sensor that expects numbers or times; a plain text sensor stores it as the
# word "None" before Home Assistant 2024.10, so such a sensor renders "unknown" instead:
# the very state Home Assistant records for an entity without a value.
NO_VALUE: Final = "None"
NO_TEXT: Final = "unknown"
STATE_TEMPLATE: Final = f"{{{{ value if value else '{NO_VALUE}' }}}}"
# A raw watch may carry a JSON object (`$.status`): its fields become attributes.
ATTRIBUTES_TEMPLATE: Final = (
    "{{ (value_json if value_json is defined and value_json is mapping else {}) | to_json }}"
)

# Keys Home Assistant 2024.3 accepts in `device` and `origin`; anything else is refused.
# (`serial_number` has been accepted since 2024.2, `model_id` only in later releases; we
# send neither.)
DEVICE_KEYS: Final = frozenset(
    {
        "identifiers",
        "connections",
        "manufacturer",
        "model",
        "name",
        "serial_number",
        "sw_version",
        "hw_version",
        "suggested_area",
        "via_device",
        "configuration_url",
    }
)
ORIGIN_KEYS: Final = frozenset({"name", "sw_version", "support_url"})

# Device classes by component, as Home Assistant lists them (sensor/const.py,
# number/const.py, binary_sensor, switch and button). An unknown one makes Home Assistant
# refuse the whole announcement. `enum` needs a list of options, which is not announced.
_NUMERIC_CLASSES: Final = frozenset(
    """apparent_power aqi area atmospheric_pressure battery blood_glucose_concentration
    carbon_dioxide carbon_monoxide conductivity current data_rate data_size distance duration
    energy energy_distance energy_storage frequency gas humidity illuminance irradiance
    moisture monetary nitrogen_dioxide nitrogen_monoxide nitrous_oxide ozone ph pm1 pm10 pm25
    power power_factor precipitation precipitation_intensity pressure reactive_power
    signal_strength sound_pressure speed sulphur_dioxide temperature
    volatile_organic_compounds volatile_organic_compounds_parts voltage volume
    volume_flow_rate volume_storage water weight wind_direction wind_speed""".split()  # noqa: SIM905
)
TIME_CLASSES: Final = frozenset({"timestamp", "date"})  # a sensor of one shows a time
DEVICE_CLASSES: Final[Mapping[str, frozenset[str]]] = {
    "sensor": _NUMERIC_CLASSES | TIME_CLASSES,
    "number": _NUMERIC_CLASSES,
    "binary_sensor": frozenset(
        """battery battery_charging carbon_monoxide cold connectivity door garage_door gas
        heat light lock moisture motion moving occupancy opening plug power presence problem
        running safety smoke sound tamper update vibration window""".split()  # noqa: SIM905
    ),
    "switch": frozenset({"outlet", "switch"}),
    "button": frozenset({"identify", "restart", "update"}),
}
UNANNOUNCEABLE_CLASSES: Final = frozenset({"enum"})
# Overrides that make Home Assistant expect a number from a sensor (besides a numeric
# device class); it then refuses every state that is not one.
NUMERIC_HINTS: Final = ("unit_of_measurement", "state_class")

# Per-binding overrides that reach the main entity, by component. `entity_category:
# config` is refused by Home Assistant for read-only entities, so those allow diagnostic.
_COMMON_OVERRIDES: Final = frozenset({"icon", "device_class", "enabled_by_default"})
OVERRIDE_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "switch": _COMMON_OVERRIDES | {"entity_category"},
    "button": _COMMON_OVERRIDES | {"entity_category"},
    "number": _COMMON_OVERRIDES
    | {"entity_category", "unit_of_measurement", "min", "max", "step", "mode"},
    "binary_sensor": _COMMON_OVERRIDES | {"entity_category"},
    "sensor": _COMMON_OVERRIDES | {"entity_category", "unit_of_measurement", "state_class"},
}
READ_ONLY: Final = frozenset({"sensor", "binary_sensor"})
_NOT_ENTITY_KEYS: Final = frozenset({"component", "name"})

# Fields that hold a count: a patch of one without a map becomes a `number`.
COUNT_FIELDS: Final = frozenset(
    {
        "replicas",
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "minReadySeconds",
        "revisionHistoryLimit",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    }
)
ON_WORDS: Final = frozenset(
    {
        "on",
        "true",
        "1",
        "yes",
        "y",
        "active",
        "running",
        "run",
        "up",
        "start",
        "started",
        "enable",
        "enabled",
        "open",
        "online",
        "ready",
        "available",
        "connected",
        "healthy",
        "home",
    }
)
OFF_WORDS: Final = frozenset(
    {
        "off",
        "false",
        "0",
        "no",
        "n",
        "inactive",
        "stopped",
        "stop",
        "down",
        "disable",
        "disabled",
        "closed",
        "offline",
        "unavailable",
        "disconnected",
        "unhealthy",
        "away",
        "idle",
    }
)
_BUTTON_ICONS: Final = {"launch": "mdi:play", "delete": "mdi:delete"}
_JINJA_ESCAPES: Final = {
    **{code: f"\\x{code:02x}" for code in range(32)},
    ord("\\"): "\\\\",
    ord("'"): "\\'",
    ord("{"): "\\u007b",
    ord("}"): "\\u007d",
}
_TOPIC_PART: Final = re.compile(r"[^a-zA-Z0-9_-]+")
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_OBJECT_ID_SLUG: Final = 60


@dataclass(frozen=True)
class Entity:
    """One discovered entity: where it is announced and what the announcement says."""

    component: Component
    topic: str  # <prefix>/<component>/<node_id>/<object_id>/config
    unique_id: str
    payload: Mapping[str, Any]
    device: str  # the device's name, for `mqtt-kube check`
    name: str | None  # the entity's own name; None: it is the device's main entity
    source: str  # "bindings[0].patch[0]+watch[0]", for `mqtt-kube check`

    def encoded(self) -> str:
        """The payload as published: compact JSON with sorted keys (stable, comparable)."""
        return json.dumps(self.payload, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class DiscoveryPlan:
    """Every entity one configuration announces, and what it could not expose."""

    prefix: str
    node_id: str
    owner: str  # every unique_id of this instance starts with it
    entities: tuple[Entity, ...]
    notes: tuple[str, ...] = ()

    @property
    def config_filter(self) -> str:
        """The subscription that sees every config topic of this instance."""
        return f"{self.prefix}/+/{self.node_id}/+/config"

    def messages(self) -> dict[str, str]:
        """Config topic → payload, in announcement order (the instance device first)."""
        return {entity.topic: entity.encoded() for entity in self.entities}

    def owns(self, topic: str) -> bool:
        """Whether a config topic lies in this instance's part of the discovery prefix."""
        parts = topic.split("/")
        prefix = self.prefix.split("/")
        return (
            len(parts) == len(prefix) + 4
            and parts[: len(prefix)] == prefix
            and parts[len(prefix) + 1] == self.node_id
            and parts[-1] == "config"
        )


def build_plan(config: Config) -> DiscoveryPlan:
    """The entities a configuration announces (with the default prefix when discovery is off)."""
    settings = config.homeassistant or HomeAssistantSettings()
    builder = _Builder(config, settings)
    return builder.build()


def node_id_for(client_id: str) -> str:
    """The discovery node id of an instance: its client-id, made topic-safe and still unique."""
    safe = _TOPIC_PART.sub("_", client_id).strip("_") or "mqtt-kube"
    if safe == client_id:
        return safe
    return f"{safe}_{_digest(client_id, 6)}"


def command_payload(values: ValueMap, key: object) -> str | None:
    """The payload that makes `values` select the map entry `key`; None if none can.

    A plain key is sent as text; with `jsonpath` the payload is the JSON document whose
    path holds the key (`$.action` → `{"action":"RUN"}`). A `transform` cannot be inverted.
    """
    if key is None or values.transform_source is not None:
        return None
    if values.jsonpath is None:
        return encode_payload(key)
    try:
        path = Locus.parse(values.jsonpath).field_path
    except ValueError:
        return None
    if not path or not all(isinstance(part, str) for part in path):
        return None
    document: object = key
    for part in reversed(path):
        document = {part: document}
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def describe(plan: DiscoveryPlan) -> list[str]:
    """Readable lines for `mqtt-kube check`: one per entity, then the notes."""
    lines = [f"Home Assistant discovery under {plan.prefix}/ (node {plan.node_id}):"]
    for entity in plan.entities:
        title = entity.device if entity.name is None else f"{entity.device} · {entity.name}"
        lines.append(f"  {entity.component:<13} {title}  [{entity.source}]")
    lines.extend(f"  note: {note}" for note in plan.notes)
    return lines


# -- inference --------------------------------------------------------------------------


@dataclass
class _Draft:
    """An entity before names, ids and overrides are settled."""

    component: Component
    part: str  # the stable part of the unique_id: "patch:spec.replicas", "action:RUN"
    name: str
    source: str
    patch: PatchSpec | None = None
    watch: WatchSpec | None = None
    action: ActionSpec | None = None
    on_off: tuple[str, str] | None = None  # command payloads (switch)
    states: tuple[str, str] | None = None  # state payloads (switch, binary_sensor)
    press: str | None = None  # payload_press (button)
    output: object = None  # what the pressed payload maps to (button)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Device:
    identifier: str
    name: str
    block: dict[str, Any]
    has_main: bool = False
    names: set[str] = field(default_factory=set)


class _Builder:
    def __init__(self, config: Config, settings: HomeAssistantSettings) -> None:
        self.client_id = config.mqtt.client_id
        self.availability = config.mqtt.availability_topic
        self.prefix = settings.discovery_prefix.strip("/")
        self.node_id = node_id_for(self.client_id)
        self.bindings = config.bindings
        self.instance_id = f"mqtt-kube:{self.client_id}"
        self.origin = {"name": ORIGIN_NAME, "sw_version": __version__, "support_url": PROJECT_URL}
        self.devices: dict[tuple[str, str | None, str], _Device] = {}
        self.unique_ids: set[str] = set()
        self.notes: list[str] = []

    def build(self) -> DiscoveryPlan:
        entities = [self._connectivity()]
        for binding in self.bindings:
            if binding.homeassistant is False:
                continue
            entities.extend(self._binding(binding))
        return DiscoveryPlan(
            prefix=self.prefix,
            node_id=self.node_id,
            owner=f"{self.instance_id}:",
            entities=tuple(entities),
            notes=tuple(self.notes),
        )

    def _connectivity(self) -> Entity:
        """The instance's own device: is mqtt-kube connected to the broker?"""
        unique_id = f"{self.instance_id}:connectivity"
        self.unique_ids.add(unique_id)
        device = {
            "identifiers": [self.instance_id],
            "name": self.client_id,
            "manufacturer": "mqtt-kube",
            "model": "Kubernetes to MQTT bridge",
            "sw_version": __version__,
        }
        payload = {
            "name": None,
            "unique_id": unique_id,
            "device_class": "connectivity",
            "state_topic": self.availability,
            "payload_on": PAYLOAD_ONLINE,
            "payload_off": PAYLOAD_OFFLINE,
            "qos": 1,
            "device": device,
            "origin": self.origin,
        }
        return Entity(
            component="binary_sensor",
            topic=self._topic("binary_sensor", "connectivity"),
            unique_id=unique_id,
            payload=payload,
            device=self.client_id,
            name=None,
            source="mqtt.availability-topic",
        )

    def _binding(self, binding: BindingSpec) -> list[Entity]:
        overrides = dict(binding.homeassistant or {})
        wanted = overrides.get("component")
        noted = len(self.notes)
        drafts = self._infer(binding, wanted)
        if not drafts:
            if len(self.notes) == noted:
                self.notes.append(f"{binding.where}: {binding.label} has nothing to expose")
            return []
        main = self._pick_main(binding, drafts, wanted)
        device = self._device(binding, overrides.get("name"))
        entities = []
        for draft in drafts:
            is_main = draft is main and not device.has_main
            if is_main:
                device.has_main = True
                name = None
            else:
                name = _unique_name(draft.name, device.names)
            payload = self._payload(draft, name=name, device=device)
            if draft is main:
                self._apply_overrides(binding, draft, payload, overrides)
            if draft.component == "sensor":
                payload["value_template"] = sensor_template(payload)
            unique_id = str(payload["unique_id"])
            entities.append(
                Entity(
                    component=draft.component,
                    topic=self._topic(draft.component, self._object_id(binding, draft, unique_id)),
                    unique_id=unique_id,
                    payload=payload,
                    device=device.name,
                    name=name,
                    source=draft.source,
                )
            )
        return entities

    def _infer(self, binding: BindingSpec, wanted: object) -> list[_Draft]:
        drafts: list[_Draft] = []
        watches = list(enumerate(binding.watch))
        used: set[int] = set()
        for index, patch in enumerate(binding.patch):
            where = f"{binding.where}.patch[{index}]"
            if patch.values.has_map:
                draft = self._switch(patch, watches, used, where)
                if draft is None:
                    self.notes.append(
                        f"{where}: no entity for {patch.topic}: a switch needs a watch whose "
                        "map gives the same two values as this patch's map takes"
                    )
                    continue
                drafts.append(draft)
            elif _is_count(patch.locus) or (wanted == "number" and not _has(drafts, "number")):
                drafts.append(self._number(patch, watches, used, where))
            else:
                self.notes.append(
                    f"{where}: no entity for {patch.topic}: give the patch a map (switch) "
                    "or set homeassistant.component: number"
                )
        for index, watch in watches:
            if index not in used:
                drafts.append(self._reading(watch, f"{binding.where}.watch[{index}]"))
        for index, action in enumerate(binding.action):
            drafts.extend(self._buttons(action, f"{binding.where}.action[{index}]"))
        return drafts

    def _switch(
        self, patch: PatchSpec, watches: list[tuple[int, WatchSpec]], used: set[int], where: str
    ) -> _Draft | None:
        keys = _two_literal_keys(patch.values)
        if keys is None:
            return None
        texts = {encode_payload(key): key for key in keys}
        for index, watch in watches:
            states = _two_states(watch.values)
            if index in used or states is None or set(states) != set(texts):
                continue
            on_key, off_key = _order_command(patch.values, keys)
            on, off = command_payload(patch.values, on_key), command_payload(patch.values, off_key)
            if on is None or off is None:
                return None
            used.add(index)
            on_state, off_state = encode_payload(on_key), encode_payload(off_key)
            return _Draft(
                component="switch",
                part=f"patch:{locus_id(patch.locus)}",
                name=_humanize_locus(patch.locus),
                source=f"{where}+watch[{index}]",
                patch=patch,
                watch=watch,
                on_off=(on, off),
                states=(on_state, off_state),
            )
        return None

    def _number(
        self, patch: PatchSpec, watches: list[tuple[int, WatchSpec]], used: set[int], where: str
    ) -> _Draft:
        field_id = locus_id(patch.locus)
        state: WatchSpec | None = None
        source = where
        for index, watch in watches:
            if index in used or watch.values.has_map or locus_id(watch.locus) != field_id:
                continue
            used.add(index)
            state = watch
            source = f"{where}+watch[{index}]"
            break
        return _Draft(
            component="number",
            part=f"patch:{field_id}",
            name=_humanize_locus(patch.locus),
            source=source,
            patch=patch,
            watch=state,
        )

    def _reading(self, watch: WatchSpec, where: str) -> _Draft:
        states = _two_states(watch.values)
        component: Component = "sensor" if states is None else "binary_sensor"
        return _Draft(
            component=component,
            part=f"watch:{locus_id(watch.locus)}",
            name=_humanize_locus(watch.locus),
            source=where,
            watch=watch,
            states=None if states is None else _order_states(watch.values, states),
        )

    def _buttons(self, action: ActionSpec, where: str) -> list[_Draft]:
        values = action.values
        if not values.has_map:
            return [
                _Draft(
                    component="button",
                    part="action:*",
                    name="Launch",
                    source=where,
                    action=action,
                    press="PRESS",
                    output="launch",
                )
            ]
        drafts = []
        for entry in values.entries:
            press = command_payload(values, entry.key) if entry.form == "literal" else None
            if press is None:
                self.notes.append(
                    f"{where}: no button for map entry {entry.key!r}: "
                    + _why_no_payload(values, entry.form, entry.key)
                )
                continue
            drafts.append(
                _Draft(
                    component="button",
                    part=f"action:{encode_payload(entry.key)}",
                    name=_humanize(encode_payload(entry.key)),
                    source=where,
                    action=action,
                    press=press,
                    output=entry.output,
                )
            )
        return drafts

    def _pick_main(self, binding: BindingSpec, drafts: list[_Draft], wanted: object) -> _Draft:
        if wanted is not None:
            for draft in drafts:
                if draft.component == wanted:
                    return draft
            if wanted == "sensor":
                for index, draft in enumerate(drafts):
                    if draft.component == "binary_sensor":
                        drafts[index] = replace(draft, component="sensor", states=None)
                        return drafts[index]
            self.notes.append(
                f"{binding.where}.homeassistant.component: {binding.label} cannot be a "
                f"{wanted}; using the inferred {drafts[0].component}"
            )
        for group in (("switch",), ("number",), ("binary_sensor", "sensor"), ("button",)):
            for draft in drafts:
                if draft.component in group:
                    return draft
        return drafts[0]

    def _device(self, binding: BindingSpec, name: object) -> _Device:
        key = (binding.kind, binding.namespace, binding.name)
        device = self.devices.get(key)
        if device is not None:
            return device
        identity = _identity(binding)
        identifier = f"{self.instance_id}:{identity}"
        label = name if isinstance(name, str) and name else binding.label
        model = (
            binding.kind if binding.api_version is None else f"{binding.kind} {binding.api_version}"
        )
        block = {
            "identifiers": [identifier],
            "name": label,
            "manufacturer": "Kubernetes",
            "model": model,
            "via_device": self.instance_id,
        }
        device = _Device(identifier, label, block)
        self.devices[key] = device
        return device

    def _payload(self, draft: _Draft, *, name: str | None, device: _Device) -> dict[str, Any]:
        unique_id = f"{device.identifier}:{draft.part}"
        serial = 2
        while unique_id in self.unique_ids:
            unique_id = f"{device.identifier}:{draft.part}#{serial}"
            serial += 1
        self.unique_ids.add(unique_id)
        payload: dict[str, Any] = {
            "name": name,
            "unique_id": unique_id,
            "availability_topic": self.availability,
            "payload_available": PAYLOAD_ONLINE,
            "payload_not_available": PAYLOAD_OFFLINE,
            "device": device.block,
            "origin": self.origin,
        }
        payload.update(_component_fields(draft))
        return payload

    def _apply_overrides(
        self,
        binding: BindingSpec,
        draft: _Draft,
        payload: dict[str, Any],
        overrides: dict[str, Any],
    ) -> None:
        component = draft.component
        allowed = OVERRIDE_KEYS[component]
        text = None
        if component == "sensor" and draft.watch is not None:
            text = _text_output(draft.watch.values)
        for key, value in overrides.items():
            if key in _NOT_ENTITY_KEYS:
                continue
            where = f"{binding.where}.homeassistant.{key}"
            if key not in allowed:
                self.notes.append(f"{where}: has no effect on a {component}; ignored")
            elif key == "device_class" and value not in DEVICE_CLASSES[component]:
                self.notes.append(
                    f"{where}: {value!r} is not a {component} device class, and Home Assistant "
                    "refuses an entity with one; left out"
                )
            elif text is not None and _expects_numbers(key, value):
                self.notes.append(
                    f"{where}: makes Home Assistant expect numbers, but this sensor's map "
                    f"publishes text such as {text!r}; left out"
                )
            elif key == "entity_category" and value == "config" and component in READ_ONLY:
                self.notes.append(
                    f"{where}: Home Assistant refuses 'config' for a {component}; "
                    "using 'diagnostic'"
                )
                payload[key] = "diagnostic"
            else:
                payload[key] = value

    def _topic(self, component: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{self.node_id}/{object_id}/config"

    def _object_id(self, binding: BindingSpec, draft: _Draft, unique_id: str) -> str:
        parts = [binding.kind, binding.namespace or "", binding.name, draft.part.split(":", 1)[1]]
        slug = _TOPIC_PART.sub("_", "_".join(p for p in parts if p)).strip("_").lower()
        return f"{slug[:_OBJECT_ID_SLUG].rstrip('_')}_{_digest(unique_id, 8)}"


def _component_fields(draft: _Draft) -> dict[str, Any]:
    """The component-specific keys of one entity's payload."""
    if draft.component == "switch":
        assert draft.patch is not None
        assert draft.watch is not None
        assert draft.on_off is not None
        assert draft.states is not None
        return {
            "command_topic": draft.patch.topic,
            "payload_on": draft.on_off[0],
            "payload_off": draft.on_off[1],
            "state_topic": draft.watch.topic,
            "state_on": draft.states[0],
            "state_off": draft.states[1],
            "value_template": one_of_template(draft.states),
            "optimistic": False,
            "qos": COMMAND_QOS,
            "retain": False,
        }
    if draft.component == "number":
        assert draft.patch is not None
        fields: dict[str, Any] = {
            "command_topic": draft.patch.topic,
            "min": NUMBER_MIN,
            "max": NUMBER_MAX,
            "step": 1,
            "mode": "box",
            "qos": COMMAND_QOS,
            "retain": False,
        }
        if draft.watch is None:
            fields["optimistic"] = True  # nothing reports the value back
        else:
            fields.update(
                state_topic=draft.watch.topic, value_template=STATE_TEMPLATE, optimistic=False
            )
        return fields
    if draft.component == "binary_sensor":
        assert draft.watch is not None
        assert draft.states is not None
        return {
            "state_topic": draft.watch.topic,
            "payload_on": draft.states[0],
            "payload_off": draft.states[1],
            "value_template": one_of_template(draft.states),
            "qos": draft.watch.qos,
        }
    if draft.component == "sensor":
        assert draft.watch is not None
        fields = {"state_topic": draft.watch.topic, "qos": draft.watch.qos}
        if not draft.watch.values.has_map:
            fields.update(
                json_attributes_topic=draft.watch.topic,
                json_attributes_template=ATTRIBUTES_TEMPLATE,
            )
        return fields
    assert draft.action is not None
    assert draft.press is not None
    fields = {
        "command_topic": draft.action.topic,
        "payload_press": draft.press,
        "qos": COMMAND_QOS,
        "retain": False,
    }
    icon = _BUTTON_ICONS.get(str(draft.output))
    if icon is not None:
        fields["icon"] = icon
    return fields


def one_of_template(states: Iterable[str]) -> str:
    """A value_template passing `states` through and turning anything else into no value.

    A map that does not cover every input lets the raw value through ("2" where only 1 is
    mapped); Home Assistant would ignore it and keep showing the previous state.
    """
    choices = ", ".join(_jinja_text(state) for state in states)
    return f"{{{{ value if value in [{choices}] else '{NO_VALUE}' }}}}"


def sensor_template(payload: Mapping[str, Any]) -> str:
    """A sensor's value_template: the state cut to size; no value as the sensor needs it."""
    typed = "device_class" in payload or any(key in payload for key in NUMERIC_HINTS)
    absent = NO_VALUE if typed else NO_TEXT
    return f"{{{{ value[:{MAX_STATE_LENGTH}] if value else '{absent}' }}}}"


def _jinja_text(text: str) -> str:
    """`text` as a quoted Jinja string; braces escaped too, so no `}}` ends the template."""
    return "'" + text.translate(_JINJA_ESCAPES) + "'"


# -- helpers ----------------------------------------------------------------------------


class _Dynamic:
    """Marks a map output that is a format string over the payload: no fixed state."""


_DYNAMIC: Final = _Dynamic()


def _static_output(output: object) -> str | _Dynamic | None:
    """The payload a map output always publishes; None for an empty one."""
    if output is None:
        return None
    if isinstance(output, str):
        if any(name is not None for _, name, _, _ in string.Formatter().parse(output)):
            return _DYNAMIC
        text = output.format()
        return text or None
    return encode_payload(output) or None


def _two_states(values: ValueMap) -> tuple[str, str] | None:
    """The two fixed non-empty payloads a watch map publishes, in file order; else None."""
    if not values.has_map:
        return None
    seen: list[str] = []
    for entry in values.entries:
        output = _static_output(entry.output)
        if isinstance(output, _Dynamic):
            return None
        if output is not None and output not in seen:
            seen.append(output)
    if len(seen) != 2:
        return None
    return seen[0], seen[1]


def _two_literal_keys(values: ValueMap) -> tuple[object, object] | None:
    """The two literal inputs of a patch map; None unless it has exactly those."""
    keys: list[object] = []
    for entry in values.entries:
        if entry.form != "literal" or entry.key is None:
            return None
        if encode_payload(entry.key) not in {encode_payload(k) for k in keys}:
            keys.append(entry.key)
    if len(keys) != 2:
        return None
    return keys[0], keys[1]


def _word_side(text: str) -> bool | None:
    """True for an "on" word, False for an "off" word, None when it says neither."""
    word = text.strip().lower()
    if word in ON_WORDS:
        return True
    if word in OFF_WORDS:
        return False
    return None


def _order_command(values: ValueMap, keys: tuple[object, object]) -> tuple[object, object]:
    """(on, off) among a patch map's two inputs: by word, then by what they set, then order."""
    first, second = keys
    for key, other in ((first, second), (second, first)):
        side = _word_side(encode_payload(key))
        if side is not None:
            return (key, other) if side else (other, key)
    outputs = {encode_payload(e.key): e.output for e in values.entries}
    first_set, second_set = outputs[encode_payload(first)], outputs[encode_payload(second)]
    if _falsy(first_set) and not _falsy(second_set):
        return second, first
    return first, second


def _order_states(values: ValueMap, states: tuple[str, str]) -> tuple[str, str]:
    """(on, off) among a watch map's two outputs: by word, then by what maps there, then order."""
    first, second = states
    for state, other in ((first, second), (second, first)):
        side = _word_side(state)
        if side is not None:
            return (state, other) if side else (other, state)
    for entry in values.entries:
        if _static_output(entry.output) == first and _falsy(entry.key):
            return second, first
    return first, second


def _text_output(values: ValueMap) -> str | None:
    """A fixed output of a watch map that is not a number; None when there is none."""
    if not values.has_map:
        return None
    for entry in values.entries:
        output = _static_output(entry.output)
        if isinstance(output, str) and not _is_number(output):
            return output
    return None


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _expects_numbers(key: str, value: object) -> bool:
    """Whether an override makes Home Assistant expect a sensor's states to be numbers."""
    return key in NUMERIC_HINTS or (key == "device_class" and value in _NUMERIC_CLASSES)


def _falsy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"", "0", "false"}
    return value is None or value is False or value == 0


def _is_count(locus: Locus) -> bool:
    path = locus.field_path
    return path is not None and bool(path) and path[-1] in COUNT_FIELDS


def _has(drafts: Iterable[_Draft], component: str) -> bool:
    return any(draft.component == component for draft in drafts)


def _why_no_payload(values: ValueMap, form: str, key: object) -> str:
    if form != "literal":
        return f"a {form} entry has no single payload to send"
    if key is None:
        return "an empty payload cannot be a button"
    if values.transform_source is not None:
        return "the payload goes through a transform, which cannot be inverted"
    return f"the jsonpath {values.jsonpath!r} does not name one field"


def locus_id(locus: Locus) -> str:
    """A locus as the same text however it was written (`$.spec.replicas` = `spec.replicas`)."""
    path = locus.field_path
    if path is None:
        expression = locus.expression.strip()
        for lead in ("$.", "$"):
            if expression.startswith(lead):
                return expression[len(lead) :]
        return expression
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _humanize_locus(locus: Locus) -> str:
    path = locus.field_path
    if path:
        names = [part for part in path if isinstance(part, str)]
        if names:
            return _humanize(names[-1])
    tail = re.split(r"[.\[\]]", locus_id(locus).rstrip("]"))[-1]
    return _humanize(tail) if tail else "Value"


def _humanize(text: str) -> str:
    """`availableReplicas` → `Available replicas`; `RUN` → `Run`; `run-backup` → `Run backup`."""
    words = _CAMEL.sub(" ", text).replace("_", " ").replace("-", " ").split()
    if not words:
        return "Value"
    phrase = " ".join(words).lower()
    return phrase[0].upper() + phrase[1:]


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, serial = name, 2
    while candidate in taken:
        candidate = f"{name} {serial}"
        serial += 1
    taken.add(candidate)
    return candidate


def _identity(binding: BindingSpec) -> str:
    if binding.namespace:
        return f"{binding.kind}/{binding.namespace}/{binding.name}"
    return f"{binding.kind}/{binding.name}"


def _digest(text: str, length: int) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:length]

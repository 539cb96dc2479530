"""The discovery plan: every entity one configuration announces, with its topic and payload.

Pure: no sockets, no asyncio, no clock. `infer` says what each binding becomes; this module
gives each entity its device, name, unique id and config topic, applies the binding's
overrides, and adds the instance's own connectivity entity. `lifecycle` publishes the plan;
`mqtt-kube check` prints it.

Every payload uses full key names, keys documented by Home Assistant, `device` keys
accepted by Home Assistant 2024.3 (which rejects unknown ones), and no `object_id`
(deprecated by Home Assistant 2025.10: entity ids follow device and entity names).
An absent value (an empty payload) shows as *unknown* for every entity with a state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mqtt_kube import __version__
from mqtt_kube.config.model import BindingSpec, Config, HomeAssistantSettings
from mqtt_kube.core.hass_facts import NOT_ENTITY_KEYS, Component, override_problems
from mqtt_kube.homeassistant.drafts import Draft, SensorDraft
from mqtt_kube.homeassistant.infer import infer_drafts, pick_main
from mqtt_kube.homeassistant.naming import (
    identity,
    node_id_for,
    object_id,
    unique_name,
)
from mqtt_kube.homeassistant.readings import text_output
from mqtt_kube.homeassistant.templates import sensor_template

PROJECT_URL: Final = "https://github.com/mqtt-kube/mqtt-kube"
ORIGIN_NAME: Final = "mqtt-kube"
PAYLOAD_ONLINE: Final = "online"
PAYLOAD_OFFLINE: Final = "offline"
# What the plan does with an override Home Assistant would refuse, said after its problem.
_LEFT_OUT: Final = "left out"


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
    return _PlanBuilder(config, settings).build()


def binding_entities(config: Config, binding: BindingSpec) -> tuple[list[Entity], list[str]]:
    """The entities of one binding added at run time (a found object): its own device."""
    builder = _PlanBuilder(config, config.homeassistant or HomeAssistantSettings())
    entities = [] if binding.homeassistant is False else builder._binding(binding)
    return entities, builder.notes


def describe(plan: DiscoveryPlan) -> list[str]:
    """Readable lines for `mqtt-kube check`: one per entity, then the notes."""
    lines = [f"Home Assistant discovery under {plan.prefix}/ (node {plan.node_id}):"]
    for entity in plan.entities:
        title = entity.device if entity.name is None else f"{entity.device} · {entity.name}"
        lines.append(f"  {entity.component:<13} {title}  [{entity.source}]")
    lines.extend(f"  note: {note}" for note in plan.notes)
    return lines


@dataclass
class _Device:
    identifier: str
    name: str
    block: dict[str, Any]
    has_main: bool = False
    names: set[str] = field(default_factory=set)


class _PlanBuilder:
    """Builds one plan: devices, unique ids and names are settled across all bindings."""

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
        drafts = infer_drafts(binding, wanted, self.notes)
        if not drafts:
            if len(self.notes) == noted:
                self.notes.append(f"{binding.where}: {binding.label} has nothing to expose")
            return []
        main = pick_main(binding, drafts, wanted, self.notes)
        device = self._device(binding, overrides.get("name"))
        if main is None:
            for key in sorted(overrides.keys() - NOT_ENTITY_KEYS):
                self.notes.append(
                    f"{binding.where}.homeassistant.{key}: {binding.label} has no main entity "
                    f"(its recipes name every entity); {_LEFT_OUT}"
                )
        entities = []
        for draft in drafts:
            is_main = draft is main and not device.has_main
            if is_main:
                device.has_main = True
                name = None
            else:
                name = unique_name(draft.name, device.names)
            payload = self._payload(draft, name=name, device=device)
            if draft is main:
                self._apply_overrides(binding, draft, payload, overrides)
            if isinstance(draft, SensorDraft):
                payload["value_template"] = sensor_template(payload)
            unique_id = str(payload["unique_id"])
            topic_id = object_id(binding, draft.part, unique_id)
            entities.append(
                Entity(
                    component=draft.component,
                    topic=self._topic(draft.component, topic_id),
                    unique_id=unique_id,
                    payload=payload,
                    device=device.name,
                    name=name,
                    source=draft.source,
                )
            )
        return entities

    def _device(self, binding: BindingSpec, name: object) -> _Device:
        key = (binding.kind, binding.namespace, binding.name)
        device = self.devices.get(key)
        if device is not None:
            return device
        identifier = f"{self.instance_id}:{identity(binding)}"
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

    def _payload(self, draft: Draft, *, name: str | None, device: _Device) -> dict[str, Any]:
        """The entity's payload: the common keys, the component's, then a recipe's hints."""
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
        payload.update(draft.fields())
        hint = draft.hint
        if hint is not None:
            for key, value in (("icon", hint.icon), ("device_class", hint.device_class)):
                if value is not None:
                    payload[key] = value
        return payload

    def _apply_overrides(
        self,
        binding: BindingSpec,
        draft: Draft,
        payload: dict[str, Any],
        overrides: dict[str, Any],
    ) -> None:
        """The binding's overrides on its main entity; what Home Assistant would refuse, noted."""
        text = text_output(draft.watch.values) if isinstance(draft, SensorDraft) else None
        problems: dict[str, tuple[str, str | None]] = {}
        for problem in override_problems(overrides, component=draft.component, text_output=text):
            problems.setdefault(problem.key, (problem.message, problem.replacement))
        for key, value in overrides.items():
            if key in NOT_ENTITY_KEYS:
                continue
            if key not in problems:
                payload[key] = value
                continue
            message, replacement = problems[key]
            fix = _LEFT_OUT if replacement is None else f"using {replacement!r}"
            self.notes.append(f"{binding.where}.homeassistant.{key}: {message}; {fix}")
            if replacement is not None:
                payload[key] = replacement

    def _topic(self, component: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{self.node_id}/{object_id}/config"

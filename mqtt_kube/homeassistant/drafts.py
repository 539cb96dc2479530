"""One typed draft per Home Assistant component, each with the payload keys it announces.

A draft is an entity before the plan gives it a device, a name and a unique id: what it is
built from (the patch, watch or action) and what inference read from their maps. Each
component's `fields()` is the one place that says which keys its payload carries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from mqtt_kube.config.model import ActionSpec, CommandSpec, EntityHint, PatchSpec, WatchSpec
from mqtt_kube.core.hass_facts import NUMBER_MAX, NUMBER_MIN, Component
from mqtt_kube.homeassistant.templates import ATTRIBUTES_TEMPLATE, STATE_TEMPLATE, one_of_template

COMMAND_QOS: Final = 1  # command topics are subscribed at QoS 1
_BUTTON_ICONS: Final = {"launch": "mdi:play", "delete": "mdi:delete"}


@dataclass(frozen=True)
class Draft(ABC):
    """What every entity has: the stable part of its unique_id, a name, where it came from."""

    component: ClassVar[Component]
    part: str  # "patch:spec.replicas", "watch:status.phase", "action:RUN"
    name: str
    source: str  # "bindings[0].patch[0]+watch[0]", for `mqtt-kube check` and notes
    hint: EntityHint | None = field(default=None, kw_only=True)  # a recipe's, if any

    @abstractmethod
    def fields(self) -> dict[str, Any]:
        """The component's own payload keys (topics, payloads, templates, qos)."""


@dataclass(frozen=True)
class SwitchDraft(Draft):
    """A patch (or a recipe's power command) and a watch whose maps name the same two values;
    never optimistic."""

    component: ClassVar[Component] = "switch"
    patch: PatchSpec | CommandSpec
    watch: WatchSpec
    on_off: tuple[str, str]  # command payloads
    states: tuple[str, str]  # state payloads

    def fields(self) -> dict[str, Any]:
        return {
            "command_topic": self.patch.topic,
            "payload_on": self.on_off[0],
            "payload_off": self.on_off[1],
            "state_topic": self.watch.topic,
            "state_on": self.states[0],
            "state_off": self.states[1],
            "value_template": one_of_template(self.states),
            "optimistic": False,
            "qos": COMMAND_QOS,
            "retain": False,
        }


@dataclass(frozen=True)
class NumberDraft(Draft):
    """A patch of a count without a map; its state from a watch of the same field, if any."""

    component: ClassVar[Component] = "number"
    patch: PatchSpec
    watch: WatchSpec | None

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "command_topic": self.patch.topic,
            "min": NUMBER_MIN,
            "max": NUMBER_MAX,
            "step": 1,
            "mode": "box",
            "qos": COMMAND_QOS,
            "retain": False,
        }
        if self.watch is None:
            fields["optimistic"] = True  # nothing reports the value back
        else:
            fields.update(
                state_topic=self.watch.topic, value_template=STATE_TEMPLATE, optimistic=False
            )
        return fields


@dataclass(frozen=True)
class BinarySensorDraft(Draft):
    """A watch whose map has exactly two fixed non-empty outputs."""

    component: ClassVar[Component] = "binary_sensor"
    watch: WatchSpec
    states: tuple[str, str]  # (on, off)

    def fields(self) -> dict[str, Any]:
        return {
            "state_topic": self.watch.topic,
            "payload_on": self.states[0],
            "payload_off": self.states[1],
            "value_template": one_of_template(self.states),
            "qos": self.watch.qos,
        }

    def as_sensor(self) -> SensorDraft:
        """The same watch shown as a plain sensor (when the binding asks for one)."""
        return SensorDraft(
            part=self.part, name=self.name, source=self.source, watch=self.watch, hint=self.hint
        )


@dataclass(frozen=True)
class SensorDraft(Draft):
    """Any other watch; a raw one (no map) also carries a JSON object's fields as attributes."""

    component: ClassVar[Component] = "sensor"
    watch: WatchSpec

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"state_topic": self.watch.topic, "qos": self.watch.qos}
        if not self.watch.values.has_map:
            fields.update(
                json_attributes_topic=self.watch.topic,
                json_attributes_template=ATTRIBUTES_TEMPLATE,
            )
        return fields


@dataclass(frozen=True)
class ButtonDraft(Draft):
    """One literal payload of an action's map (or any payload, for an action without one), or
    a recipe's button command."""

    component: ClassVar[Component] = "button"
    action: ActionSpec | CommandSpec
    press: str  # payload_press
    output: object  # what the pressed payload maps to: "launch", "delete", …

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "command_topic": self.action.topic,
            "payload_press": self.press,
            "qos": COMMAND_QOS,
            "retain": False,
        }
        icon = _BUTTON_ICONS.get(str(self.output))
        if icon is not None:
            fields["icon"] = icon
        return fields

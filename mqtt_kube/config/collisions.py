"""Topics of one file that would collide on the broker, refused with their lines.

Every topic mqtt-kube publishes or subscribes to is exact (no wildcards), so a collision is
two uses of one topic that cannot share it:

- a command topic (patch or action) used twice: one payload, two meanings;
- a watch topic that is also a command topic: mqtt-kube would take its own state for a
  command, and then republish it;
- two watches on one topic: each change of one overwrites the other's state;
- a binding topic on the availability topic: `online`/`offline` read as a command, or a
  state overwriting the availability.

With discovery on, Home Assistant's topics are taken as well: its birth topic (the
availability topic there, as `topic-prefix: homeassistant` gives, makes Home Assistant read
mqtt-kube's `offline` as its own, and mqtt-kube its own `online` as a Home Assistant start),
and the discovery config topics `<prefix>/<component>/[<node_id>/]<object_id>/config`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from mqtt_kube.config.model import HomeAssistantSettings, MqttSettings
from mqtt_kube.config.problems import Problems
from mqtt_kube.config.schemas import CONF_HOMEASSISTANT, CONF_MQTT
from mqtt_kube.config.yaml_file import PathPart, format_path, line_of

Role = Literal["watch", "patch", "action"]


@dataclass(frozen=True)
class TopicUse:
    """One association's topic, and the path of its `topic` key."""

    role: Role
    topic: str
    where: tuple[PathPart, ...]

    @property
    def owner(self) -> str:
        """The association, as the file names it: `bindings[0].watch[1]`."""
        return format_path(self.where[:-1])


def check_topics(
    problems: Problems,
    uses: Iterable[TopicUse],
    *,
    mqtt: MqttSettings,
    discovery: HomeAssistantSettings | None,
) -> None:
    """Record a problem for each topic that collides with one earlier in the file."""
    availability = (mqtt.availability_topic, _availability_path(problems.data))
    _check_own(problems, availability, discovery)
    states: dict[str, TopicUse] = {}
    commands: dict[str, TopicUse] = {}
    for use in sorted(uses, key=lambda use: line_of(problems.data, use.where) or 0):
        message = _clash(use, states, commands) or _reserved(use.topic, availability, discovery)
        if message is not None:
            problems.problem(use.where, message)
        (states if use.role == "watch" else commands).setdefault(use.topic, use)


def _clash(
    use: TopicUse, states: Mapping[str, TopicUse], commands: Mapping[str, TopicUse]
) -> str | None:
    topic = use.topic
    if use.role == "watch":
        if topic in states:
            return (
                f"topic {topic!r} is already the state topic of {states[topic].owner}: "
                "two watches would overwrite each other's state"
            )
        if topic in commands:
            return (
                f"topic {topic!r} is also the command topic of {commands[topic].owner}: "
                "mqtt-kube would take its own state for a command"
            )
        return None
    if topic in commands:
        return f"topic {topic!r} is already the command topic of {commands[topic].owner}"
    if topic in states:
        return (
            f"topic {topic!r} is also the state topic of {states[topic].owner}: "
            "mqtt-kube would take its own state for a command"
        )
    return None


def _reserved(
    topic: str,
    availability: tuple[str, list[PathPart]],
    discovery: HomeAssistantSettings | None,
) -> str | None:
    """Why a binding topic may not be `topic`: a topic of the instance or of Home Assistant."""
    if topic == availability[0]:
        return (
            f"topic {topic!r} is mqtt-kube's availability topic ({format_path(availability[1])}), "
            "where it says online and offline"
        )
    if discovery is None:
        return None
    if topic == discovery.birth_topic:
        return (
            f"topic {topic!r} is Home Assistant's birth topic "
            f"({CONF_HOMEASSISTANT}.birth-topic), where it says online and offline"
        )
    if _is_config_topic(topic, discovery.discovery_prefix):
        return _config_form(topic, discovery.discovery_prefix)
    return None


def _check_own(
    problems: Problems,
    availability: tuple[str, list[PathPart]],
    discovery: HomeAssistantSettings | None,
) -> None:
    """The availability topic against Home Assistant's topics."""
    topic, where = availability
    if discovery is None:
        return
    if topic == discovery.birth_topic:
        problems.problem(
            where,
            f"the availability topic {topic!r} is Home Assistant's birth topic "
            f"({CONF_HOMEASSISTANT}.birth-topic): Home Assistant would read mqtt-kube's "
            "offline as its own, and mqtt-kube its own online as a Home Assistant start; "
            "set mqtt.availability-topic or another topic-prefix",
        )
    elif _is_config_topic(topic, discovery.discovery_prefix):
        problems.problem(where, _config_form(topic, discovery.discovery_prefix))


def _is_config_topic(topic: str, prefix: str) -> bool:
    """`<prefix>/<component>/[<node_id>/]<object_id>/config`, as Home Assistant subscribes."""
    head = f"{prefix}/"
    if not topic.startswith(head):
        return False
    levels = topic[len(head) :].split("/")
    return levels[-1] == "config" and len(levels) in (3, 4)


def _config_form(topic: str, prefix: str) -> str:
    return (
        f"topic {topic!r} has the form of a discovery config topic "
        f"({prefix}/<component>/[<node_id>/]<object_id>/config): Home Assistant would read "
        "it as a discovery config"
    )


def _availability_path(root: object) -> list[PathPart]:
    """Where the availability topic comes from: given, from the prefix, or the client-id."""
    section = root.get(CONF_MQTT) if isinstance(root, Mapping) else None
    section = section if isinstance(section, Mapping) else {}
    for key in ("availability-topic", "topic-prefix"):
        if section.get(key):
            return [CONF_MQTT, key]
    return [CONF_MQTT, "client-id"]

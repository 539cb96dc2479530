"""Topics of one file that would collide on the broker are refused, each with its line.

Covered: the availability topic on Home Assistant's birth topic (from `topic-prefix:
homeassistant`, from `availability-topic`, or from a `birth-topic` of one's own); a watch
topic that is also a command topic (in either order and across bindings); two watches on one
topic; a command topic used twice; a binding topic that is the availability topic or the
birth topic; a binding or availability topic that Home Assistant would read as a discovery
config; and what stays allowed: binding topics under the discovery prefix that are no config
topic, and the birth topic's name when discovery is off.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.core.errors import ConfigError

HEAD = "mqtt:\n  client-id: kube\n"
BINDING = """\
bindings:
  - namespace: media
    resource: Deployment
    name: jellyfin
"""


def _write(tmp_path: Path, mqtt: str, body: str, *, discovery: str = "true") -> Path:
    path = tmp_path / "config.yaml"
    head = HEAD + textwrap.indent(textwrap.dedent(mqtt).strip("\n"), "  ")
    associations = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    path.write_text(f"{head.rstrip()}\nhomeassistant: {discovery}\n{BINDING}{associations}\n")
    return path


def _problems(path: Path) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [(p.path, p.line, p.message) for p in caught.value.problems]


WATCH = "watch: {locus: status.readyReplicas, topic: state}"


def test_topic_prefix_homeassistant_puts_availability_on_the_birth_topic(tmp_path: Path) -> None:
    path = _write(tmp_path, "topic-prefix: homeassistant", WATCH)
    [(where, line, message)] = _problems(path)
    assert (where, line) == ("mqtt.topic-prefix", 3)
    assert message.startswith(
        "the availability topic 'homeassistant/status' is Home Assistant's birth topic "
        "(homeassistant.birth-topic)"
    )
    assert "set mqtt.availability-topic" in message


def test_an_availability_topic_given_on_the_birth_topic_is_refused_on_its_line(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path, "availability-topic: ha/online", WATCH, discovery="{birth-topic: ha/online}"
    )
    [(where, line, _)] = _problems(path)
    assert (where, line) == ("mqtt.availability-topic", 3)


def test_a_watch_topic_that_is_also_a_command_topic_is_refused(tmp_path: Path) -> None:
    body = """
    watch: {locus: spec.replicas, topic: power}
    patch: {locus: spec.replicas, topic: power}
    """
    [(where, line, message)] = _problems(_write(tmp_path, "", body))
    assert (where, line) == ("bindings[0].patch[0].topic", 9)
    assert message == (
        "topic 'power' is also the state topic of bindings[0].watch[0]: "
        "mqtt-kube would take its own state for a command"
    )


def test_a_command_topic_that_a_later_watch_publishes_on_is_refused(tmp_path: Path) -> None:
    body = """
    action: {topic: run, values: {STOP: delete}}
    watch: {locus: status.active, topic: run}
    """
    [(where, line, message)] = _problems(_write(tmp_path, "", body))
    assert (where, line) == ("bindings[0].watch[0].topic", 9)
    assert message.startswith("topic 'run' is also the command topic of bindings[0].action[0]")


def test_two_watches_on_one_topic_are_refused(tmp_path: Path) -> None:
    body = """
    watch:
      - {locus: spec.replicas, topic: state}
      - {locus: status.readyReplicas, topic: state}
    """
    [(where, line, message)] = _problems(_write(tmp_path, "", body))
    assert (where, line) == ("bindings[0].watch[1].topic", 10)
    assert message == (
        "topic 'state' is already the state topic of bindings[0].watch[0]: "
        "two watches would overwrite each other's state"
    )


def test_a_command_topic_used_twice_is_still_refused(tmp_path: Path) -> None:
    body = """
    patch: {locus: spec.replicas, topic: set}
    action: {topic: set, values: {X: delete}}
    """
    [(where, line, message)] = _problems(_write(tmp_path, "", body))
    assert (where, line) == ("bindings[0].action[0].topic", 9)
    assert message == "topic 'set' is already the command topic of bindings[0].patch[0]"


@pytest.mark.parametrize(
    ("topic", "problem"),
    [
        ("kube/status", "is mqtt-kube's availability topic"),
        ("homeassistant/status", "is Home Assistant's birth topic"),
        ("homeassistant/switch/x/config", "Home Assistant would read it as a discovery config"),
        ("homeassistant/switch/n/x/config", "Home Assistant would read it as a discovery config"),
    ],
)
@pytest.mark.parametrize(
    "association",
    ["watch: {locus: spec.replicas, topic: T}", "patch: {locus: spec.replicas, topic: T}"],
)
def test_a_binding_topic_on_a_topic_of_the_instance_or_of_home_assistant_is_refused(
    tmp_path: Path, topic: str, problem: str, association: str
) -> None:
    path = _write(tmp_path, "availability-topic: kube/status", association.replace("T", topic))
    [(where, line, message)] = _problems(path)
    assert (where[-6:], line) == (".topic", 9)
    assert problem in message


def test_an_availability_topic_of_the_form_of_a_discovery_config_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "availability-topic: homeassistant/binary_sensor/kube/config", WATCH)
    [(where, _, message)] = _problems(path)
    assert where == "mqtt.availability-topic"
    assert "Home Assistant would read it as a discovery config" in message


@pytest.mark.parametrize(
    "topic",
    [
        "homeassistant/kube/state",
        "homeassistant/a/b/c/d/config",
        "homeassistant/config",
        "x/y/z/config",
    ],
)
def test_other_topics_under_the_discovery_prefix_are_allowed(tmp_path: Path, topic: str) -> None:
    config = load_config(_write(tmp_path, "", f"watch: {{locus: spec.replicas, topic: {topic}}}"))
    assert config.bindings[0].watch[0].topic == topic


def test_home_assistant_topics_are_not_reserved_when_discovery_is_off(tmp_path: Path) -> None:
    path = _write(tmp_path, "topic-prefix: homeassistant", WATCH, discovery="false")
    assert load_config(path).mqtt.availability_topic == "homeassistant/status"

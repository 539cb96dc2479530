"""Bindings and their associations: the original forms, both `values` forms, single mappings,
defaults, topics and the prefix, Home Assistant overrides.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import DEFAULT_HTTP_BIND
from tests.support.config_files import JELLYFIN, jellyfin, load, only_problem
from tests.support.paths import CONFIGS, ORIGINAL_CONFIG, ORIGINAL_JOB, ORIGINAL_SYNC_JOB

# --- bindings and their associations


def test_a_config_in_the_original_forms_loads_unchanged() -> None:
    config = load_config(ORIGINAL_CONFIG)
    assert config.source == str(ORIGINAL_CONFIG)
    assert (config.mqtt.host, config.mqtt.client_id) == (
        "broker.home.example",
        "living-room-bridge",
    )
    assert config.mqtt.availability_topic == "house/kube/status"
    assert (config.http.bind, config.http.max_connections, config.log_level) == (
        DEFAULT_HTTP_BIND,
        10,
        "DEBUG",
    )
    prefix = "house/kube/"
    plex, job, sonarr = config.bindings
    assert (plex.label, job.label, sonarr.label) == (
        "Deployment media/plex",
        "Job batch/nightly-backup",
        "Deployment media/sonarr",
    )
    assert [(p.topic, p.locus.field_path, p.retained) for p in plex.patch] == [
        (prefix + "plex/power/set", ("spec", "replicas"), "apply")
    ]
    assert [(w.topic, w.qos, w.retain) for w in plex.watch] == [
        (prefix + "plex/power/state", 1, True)
    ]
    assert [w.topic.removeprefix(prefix) for w in job.watch] == [
        "backup/status",
        "backup/status/failed",
        "backup/status/active",
        "backup/status/succeeded",
        "backup/status/started",
    ]
    (action,) = job.action
    assert action.topic == prefix + "backup/cmd"
    assert action.launch is not None
    assert action.launch.path == str(ORIGINAL_JOB)
    assert [(e.key, e.output) for e in action.values.entries] == [
        ("RUN", "launch"),
        ("STOP", "delete"),
    ]
    assert action.retained == "ignore"
    assert action.where == "bindings[1].action[0]"
    (sync,) = sonarr.action
    assert sync.launch is not None
    assert sync.launch.path == str(ORIGINAL_SYNC_JOB)
    assert [(e.key, e.form) for e in sync.values.entries] == [
        ("re:sync (?P<library>[a-z]+)$", "regex")
    ]
    assert sonarr.patch[0].values.transform_source == "lambda v: v.strip().upper()"
    assert config.warnings == ()


def test_values_may_be_the_map_itself_or_hold_it_under_map(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        watch:
          - locus: status.availableReplicas
            topic: a
            values: {1: "ON", ~: "OFF"}
          - locus: status.availableReplicas
            topic: b
            values:
              map: {1: "ON", ~: "OFF"}
        """),
    )
    short, long = config.bindings[0].watch
    assert short.values == long.values
    assert [(e.key, e.output) for e in short.values.entries] == [(1, "ON"), (None, "OFF")]


def test_an_association_may_be_a_single_mapping(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        watch: {locus: status.replicas, topic: replicas}
        patch: {locus: spec.replicas, topic: replicas/set}
        action: {topic: cmd, launch: !relpath job.yaml}
        """),
    )
    binding = config.bindings[0]
    assert [w.where for w in binding.watch] == ["bindings[0].watch[0]"]
    assert [p.where for p in binding.patch] == ["bindings[0].patch[0]"]
    assert [a.where for a in binding.action] == ["bindings[0].action[0]"]
    assert binding.raw["watch"] == {"locus": "status.replicas", "topic": "replicas"}


def test_an_association_takes_its_defaults(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        watch: {locus: status.replicas, topic: w}
        patch: {locus: spec.replicas, topic: p}
        action: {topic: a, launch: !relpath job.yaml}
        """),
    )
    binding = config.bindings[0]
    assert (binding.watch[0].qos, binding.watch[0].retain) == (1, False)
    assert binding.patch[0].retained == "apply"
    assert binding.action[0].retained == "ignore"
    assert not binding.watch[0].values.has_map


def test_an_association_takes_what_it_is_given(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        watch: {locus: status.replicas, topic: w, qos: 0, retain: yes}
        patch: {locus: spec.replicas, topic: p, retained: ignore}
        action: {topic: a, launch: !relpath job.yaml, retained: apply}
        """),
    )
    binding = config.bindings[0]
    assert (binding.watch[0].qos, binding.watch[0].retain) == (0, True)
    assert binding.patch[0].retained == "ignore"
    assert binding.action[0].retained == "apply"


@pytest.mark.parametrize(
    ("prefix", "topic", "expected"),
    [
        (None, "a/b", "a/b"),
        (None, "/a", "/a"),
        ("home/kube", "a/b", "home/kube/a/b"),
        ("home/kube/", "a/b", "home/kube/a/b"),
        ("home/kube//", "//a/b", "home/kube/a/b"),
        ("/home", "a", "/home/a"),
    ],
)
def test_the_topic_prefix_is_joined_with_one_slash(
    folder: Path, prefix: str | None, topic: str, expected: str
) -> None:
    head = f"mqtt: {{topic-prefix: '{prefix}'}}\n" if prefix else ""
    body = f"    watch: {{locus: status.replicas, topic: '{topic}'}}\n"
    body += f"    patch: {{locus: spec.replicas, topic: '{topic}/set'}}\n"
    binding = load(folder, head + JELLYFIN.lstrip("\n") + body).bindings[0]
    assert (binding.watch[0].topic, binding.patch[0].topic) == (expected, f"{expected}/set")


@pytest.mark.parametrize(
    ("mqtt", "expected"),
    [
        ("client-id: kube1", "mqtt-kube/kube1/status"),
        ("client-id: kube1\n  topic-prefix: home/kube", "home/kube/status"),
        ("topic-prefix: home/kube/\n  availability-topic: /alive", "home/kube/alive"),
        ("availability-topic: kube/alive", "kube/alive"),
    ],
)
def test_the_availability_topic(folder: Path, mqtt: str, expected: str) -> None:
    config = load(folder, f"mqtt:\n  {mqtt}\nbindings: []\n")
    assert config.mqtt.availability_topic == expected


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ('""', "may not be empty"),
        ("/", "a topic needs at least one level besides '/'"),
        ("a/+/b", "topic 'a/+/b' contains a wildcard (+ or #); name one topic"),
        ("a/#", "topic 'a/#' contains a wildcard (+ or #); name one topic"),
        ('"a\\0b"', "a topic may not contain the NUL character"),
        ("x" * 65536, "a topic may be at most 65535 bytes long"),
        ("[a, b]", "expected text, got a list"),
    ],
)
def test_a_bad_topic_is_refused(folder: Path, topic: str, message: str) -> None:
    text = jellyfin(f"    watch:\n      locus: status.replicas\n      topic: {topic}\n")
    assert only_problem(folder, text) == ("bindings[0].watch[0].topic", 7, message)


def test_a_prefix_with_a_wildcard_is_refused(folder: Path) -> None:
    assert only_problem(folder, "mqtt:\n  topic-prefix: home/+\nbindings: []\n")[:2] == (
        "mqtt.topic-prefix",
        2,
    )


def test_a_command_topic_used_twice_is_refused(folder: Path) -> None:
    text = jellyfin("""
    patch:
      - {locus: spec.replicas, topic: power/set}
    action:
      - {topic: power/set, launch: !relpath job.yaml}
    """)
    assert only_problem(folder, text) == (
        "bindings[0].action[0].topic",
        8,
        "topic 'power/set' is already the command topic of bindings[0].patch[0]",
    )


def test_raw_keeps_the_bindings_and_actions_config_as_plain_data(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        action:
          topic: cmd
          launch: !relpath job.yaml
          values: {RUN: launch}
        """),
    )
    binding = config.bindings[0]
    assert binding.raw == {
        "namespace": "media",
        "resource": "Deployment",
        "name": "jellyfin",
        "action": {
            "topic": "cmd",
            "launch": str(folder / "job.yaml"),
            "values": {"RUN": "launch"},
        },
    }
    assert type(binding.raw) is dict
    assert type(binding.raw["action"]["values"]) is dict
    assert binding.action[0].raw == binding.raw["action"]
    assert type(binding.action[0].raw) is dict


# --- Home Assistant overrides per binding


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("false", False),
        ("true", None),
        ("~", None),
        (
            "{component: switch, name: Jellyfin, icon: 'mdi:filmstrip', enabled_by_default: no}",
            {
                "component": "switch",
                "name": "Jellyfin",
                "icon": "mdi:filmstrip",
                "enabled_by_default": False,
            },
        ),
        (
            "{device_class: connectivity, entity_category: diagnostic, state_class: measurement,"
            " unit_of_measurement: pods}",
            {
                "device_class": "connectivity",
                "entity_category": "diagnostic",
                "state_class": "measurement",
                "unit_of_measurement": "pods",
            },
        ),
        (
            "{component: number, min: 0, max: 3, step: 1, mode: slider}",
            {"component": "number", "min": 0, "max": 3, "step": 1, "mode": "slider"},
        ),
    ],
)
def test_a_binding_may_override_its_home_assistant_entity(
    folder: Path, value: str, expected: object
) -> None:
    config = load(folder, jellyfin(f"    homeassistant: {value}\n"))
    assert config.bindings[0].homeassistant == expected
    assert type(config.bindings[0].homeassistant) is type(expected)


def test_the_home_assistant_example_config_loads() -> None:
    config = load_config(CONFIGS / "discovery" / "homelab.yaml")
    assert [b.label for b in config.bindings] == [
        "Deployment media/jellyfin",
        "Deployment media/sonarr",
        "Job batch/backup",
        "Node pi-1",
        "Deployment media/hidden",
    ]
    assert config.bindings[4].homeassistant is False

"""Node ids from client ids, unique_ids stable across edits that keep a binding's identity and
different when it changes, devices shared by the bindings of one object.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mqtt_kube.homeassistant.naming import node_id_for
from mqtt_kube.homeassistant.plan import build_plan
from tests.support.ha_discovery import (
    OBJECT,
    OTHER,
    SWITCH,
    binding_entities,
    config_for,
    plan_for,
    unique_ids,
)

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

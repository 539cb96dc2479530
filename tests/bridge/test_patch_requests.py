"""The one PATCH a command makes, against the strict fake API, end to end through the service.

Covered: a field the API does not know (a typo, `spec.replicas` of a DaemonSet) refused under
strict field validation and reported with the binding, the topic and the field, in the log
and in /api/status; `status.*` of a custom resource without a /status subresource patched
on the object; a JSON patch that adds a missing key, a missing parent (from the watched copy),
and keeps what another writer added meanwhile (its guard fails, the patch is built again
from the newer copy); booleans logged as the payload spells them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

NS = "media"
LIMITS = "spec.template.spec.containers[0].resources.limits.memory"


def deployment(resources: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "jellyfin", "image": "jellyfin/jellyfin:10"}
    if resources is not None:
        container["resources"] = resources
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "jellyfin", "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "jellyfin"}},
            "template": {
                "metadata": {"labels": {"app": "jellyfin"}},
                "spec": {"containers": [container]},
            },
        },
    }


def binding(kind: str, locus: str, *, watch: str | None = None, extra: str = "") -> str:
    text = (
        f"bindings:\n  - namespace: {NS}\n    resource: {kind}\n    name: jellyfin\n{extra}"
        f"    patch: {{topic: set, locus: '{locus}'}}\n"
    )
    if watch is not None:
        text += f"    watch: {{topic: state, locus: '{watch}'}}\n"
    return text


def memory(fake: FakeKube) -> dict[str, Any]:
    obj = fake.get("apps/v1", "Deployment", NS, "jellyfin")
    assert obj is not None
    resources: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0].get(
        "resources", {}
    )
    return resources


@pytest.mark.parametrize(
    ("kind", "obj", "locus", "field"),
    [
        pytest.param("Deployment", deployment(), "spec.replica", "spec.replica", id="typo"),
        pytest.param(
            "DaemonSet",
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": "jellyfin", "namespace": NS},
                "spec": {"selector": {"matchLabels": {"app": "j"}}, "template": {}},
            },
            "spec.replicas",
            "spec.replicas",
            id="daemonset-replicas",
        ),
    ],
)
async def test_a_field_the_api_does_not_know_is_an_error_naming_binding_topic_and_field(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    obj: dict[str, Any],
    locus: str,
    field: str,
) -> None:
    fake_kube.put(obj)
    before = fake_kube.get("apps/v1", kind, NS, "jellyfin")["spec"]
    config = write_config(
        tmp_path,
        binding(kind, locus),
        broker=mosquitto,
        fake=fake_kube,
        prefix=mqtt_prefix,
        client_id="strict",
    )
    async with running_service(config) as service:
        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/set", "3")
        (bound,) = service.bindings
        await until(lambda: bound.last_error is not None)
        (request,) = [r for r in fake_kube.requests if r.method == "PATCH"]
        assert request.query.get("fieldValidation") == "Strict"
        status = service.status()["bindings"][0]
    expected = f"command on {mqtt_prefix}/set: {kind} has no field {field}"
    assert status["errors"][f"{mqtt_prefix}/set"].startswith(expected)
    assert [r.getMessage() for r in caplog.records if expected in r.getMessage()] == [
        f"{kind} {NS}/jellyfin: {status['last_error']}"
    ]
    assert "set to" not in caplog.text
    assert fake_kube.get("apps/v1", kind, NS, "jellyfin")["spec"] == before


async def test_status_of_a_custom_resource_without_a_status_subresource_is_patched_on_the_object(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.add_resource(
        group="example.com", version="v1", kind="Lamp", plural="lamps", status=False
    )
    fake_kube.put(
        {
            "apiVersion": "example.com/v1",
            "kind": "Lamp",
            "metadata": {"name": "jellyfin", "namespace": NS},
        }
    )
    config = write_config(
        tmp_path,
        binding("Lamp", "status.on", extra="    apiVersion: example.com/v1\n"),
        broker=mosquitto,
        fake=fake_kube,
        prefix=mqtt_prefix,
        client_id="status",
    )
    async with running_service(config) as service:
        await mqtt_probe.publish(f"{mqtt_prefix}/set", "true")
        await until(lambda: service.counters.patches + service.counters.failed == 1)
        assert service.bindings[0].last_error is None
    lamp = fake_kube.get("example.com/v1", "Lamp", NS, "jellyfin")
    assert lamp is not None
    assert lamp["status"] == {"on": True}
    assert fake_kube.count("PATCH", "/status") == 0


async def test_a_json_patch_adds_a_missing_key_and_a_missing_parent_in_one_request(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment())  # no resources at all: resources and limits are missing
    config = write_config(
        tmp_path,
        binding("Deployment", LIMITS, watch=LIMITS),
        broker=mosquitto,
        fake=fake_kube,
        prefix=mqtt_prefix,
        client_id="jsonpatch",
    )
    async with running_service(config) as service:
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/state") == ""  # no limits yet
        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/set", "1Gi")
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/state") == "1Gi"
        assert fake_kube.count("PATCH") == 1
        assert fake_kube.count("GET", "/deployments/jellyfin") == 0  # never read-modify-write
        await mqtt_probe.publish(f"{mqtt_prefix}/set", "2Gi")  # now the key exists
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/state") == "2Gi"
        assert service.bindings[0].last_error is None
    assert memory(fake_kube) == {"limits": {"memory": "2Gi"}}


async def test_without_a_watch_a_missing_key_under_an_existing_parent_is_added(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment({"limits": {"cpu": "1"}}))
    config = write_config(
        tmp_path,
        binding("Deployment", LIMITS),
        broker=mosquitto,
        fake=fake_kube,
        prefix=mqtt_prefix,
        client_id="add",
    )
    async with running_service(config) as service:
        await mqtt_probe.publish(f"{mqtt_prefix}/set", "1Gi")
        await until(lambda: service.counters.patches + service.counters.failed == 1)
        assert service.bindings[0].last_error is None
    assert memory(fake_kube) == {"limits": {"cpu": "1", "memory": "1Gi"}}


async def test_a_parent_added_meanwhile_is_kept_and_the_patch_built_again_from_the_newer_copy(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment({}))  # resources without limits, as watched
    config = write_config(
        tmp_path,
        binding("Deployment", LIMITS, watch="spec.replicas"),
        broker=mosquitto,
        fake=fake_kube,
        prefix=mqtt_prefix,
        client_id="guard",
    )
    async with running_service(config) as service:
        # The watch falls behind: its stream is cut and cannot come back yet.
        fake_kube.hang(method="GET", path_contains="/deployments")
        await fake_kube.cut_watches()
        fake_kube.put(deployment({"limits": {"cpu": "1"}}))  # another writer adds limits
        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/set", "1Gi")
        await until(lambda: fake_kube.count("PATCH") == 1)  # its guard fails: nothing written
        assert memory(fake_kube) == {"limits": {"cpu": "1"}}
        fake_kube.release_hung()  # the watch catches up; the patch is built again from it
        await until(lambda: fake_kube.count("PATCH") == 2)
        await until(lambda: service.counters.patches == 1)
        assert service.bindings[0].last_error is None
    assert memory(fake_kube) == {"limits": {"cpu": "1", "memory": "1Gi"}}


async def test_a_boolean_is_logged_as_the_payload_spells_it(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mqtt_kube.bridge.binding")
    fake_kube.put(deployment())
    config = write_config(
        tmp_path,
        binding("Deployment", "spec.paused"),
        broker=mosquitto,
        fake=fake_kube,
        prefix=mqtt_prefix,
        client_id="bool",
    )
    async with running_service(config) as service:
        await mqtt_probe.publish(f"{mqtt_prefix}/set", "false")
        await until(lambda: service.counters.patches == 1)
    assert f"Deployment {NS}/jellyfin: spec.paused set to false (from {mqtt_prefix}/set)" in [
        record.getMessage() for record in caplog.records
    ]

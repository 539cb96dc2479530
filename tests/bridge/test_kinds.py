"""Kinds beyond Deployments and Jobs, end to end: a CRD found through API discovery, a
cluster-scoped Node, a merge patch of a plain field, a payload used as its own value, an
action without a map (every payload launches).
"""

from __future__ import annotations

from pathlib import Path

from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

BINDINGS = """
bindings:
  - namespace: home
    apiVersion: example.com/v1
    resource: Widget
    name: lamp
    watch:
      locus: spec.brightness
      topic: lamp/brightness
    patch:
      topic: lamp/brightness/set
      locus: spec.brightness
  - resource: Node
    name: node-1
    watch:
      locus: spec.unschedulable
      topic: node-1/cordoned
      values:
        ~: "false"
  - namespace: home
    resource: CronJob
    name: backup
    patch:
      topic: backup/suspend/set
      locus: spec.suspend
      values:
        "ON": false
        "OFF": true
    watch:
      locus: spec.suspend
      topic: backup/suspended
"""


async def test_a_crd_a_node_and_a_cronjob_are_bridged(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.add_resource(group="example.com", version="v1", kind="Widget", plural="widgets")
    fake_kube.put(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "lamp", "namespace": "home"},
            "spec": {"brightness": 10},
        }
    )
    fake_kube.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, "spec": {}})
    fake_kube.put(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "backup", "namespace": "home"},
            "spec": {"schedule": "0 3 * * *", "suspend": False},
        }
    )
    config = write_config(
        tmp_path, BINDINGS, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="kinds"
    )
    async with running_service(config):
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/lamp/brightness") == "10"
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/node-1/cordoned") == "false"
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/backup/suspended") == "false"

        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/lamp/brightness/set", "42")
        await mqtt_probe.until_text(
            f"{mqtt_prefix}/lamp/brightness", "42"
        )  # past a repeat of the first state
        (request,) = [r for r in fake_kube.requests if r.method == "PATCH"]
        assert request.path == "/apis/example.com/v1/namespaces/home/widgets/lamp"
        assert request.body == {"spec": {"brightness": 42}}
        assert request.content_type == "application/merge-patch+json"

        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/backup/suspend/set", "OFF")
        await mqtt_probe.until_text(
            f"{mqtt_prefix}/backup/suspended", "true"
        )  # past a repeat of the first state
        (request,) = [r for r in fake_kube.requests if r.method == "PATCH"]
        assert request.path == "/apis/batch/v1/namespaces/home/cronjobs/backup"
        assert request.body == {"spec": {"suspend": True}}

        fake_kube.patch("v1", "Node", None, "node-1", {"spec": {"unschedulable": True}})
        await mqtt_probe.until_text(
            f"{mqtt_prefix}/node-1/cordoned", "true"
        )  # past a repeat of the first state


async def test_a_crd_missing_at_start_up_is_picked_up_once_installed(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    config = write_config(
        tmp_path, BINDINGS, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="late"
    )
    fake_kube.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, "spec": {}})
    async with running_service(config, wait_ready=False) as service:
        # The Node binding works while the Widget kind is still unknown to the API server.
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/node-1/cordoned") == "false"
        assert any("Widget" in reason for reason in service.readiness())
        fake_kube.add_resource(group="example.com", version="v1", kind="Widget", plural="widgets")
        fake_kube.put(
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "lamp", "namespace": "home"},
                "spec": {"brightness": 3},
            }
        )
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/lamp/brightness", timeout=10) == "3"
        await until(lambda: not service.readiness(), seconds=10)


async def test_a_node_binding_launches_into_a_namespace_and_deletes_only_there(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    (tmp_path / "drain.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: drain-${binding.name}\n"
        "  namespace: maintenance\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: drain, image: busybox}]\n"
    )
    body = (
        "bindings:\n  - resource: Node\n    name: node-1\n    action:\n"
        "      topic: node-1/drain\n      launch: !relpath drain.yaml\n"
        "      values: {RUN: launch, STOP: delete}\n"
        "    watch:\n      locus: metadata.name\n      topic: node-1/name\n"
    )
    fake_kube.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}})
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="nodes"
    )
    async with running_service(config) as service:
        await mqtt_probe.publish(f"{mqtt_prefix}/node-1/drain", "RUN")
        await until(lambda: service.counters.launches == 1)
        assert fake_kube.get("batch/v1", "Job", "maintenance", "drain-node-1") is not None
        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/node-1/drain", "STOP")
        await until(lambda: service.counters.deletes == 1)
        deletes = sorted(r.path for r in fake_kube.requests if r.method == "DELETE")
        assert deletes == [
            "/api/v1/nodes",
            "/api/v1/nodes/node-1",
            "/apis/batch/v1/namespaces/maintenance/jobs",
        ]
        assert fake_kube.get("batch/v1", "Job", "maintenance", "drain-node-1") is None


async def test_an_action_without_a_map_launches_on_any_payload(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    (tmp_path / "job.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: run-\n"
        "  annotations: {asked: '${match.input}'}\nspec:\n  template:\n    spec:\n"
        "      restartPolicy: Never\n      containers: [{name: run, image: busybox}]\n"
    )
    body = (
        "bindings:\n  - namespace: batch\n    resource: Job\n    name: run\n    action:\n"
        "      topic: run/press\n      launch: !relpath job.yaml\n"
    )
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="press"
    )
    async with running_service(config) as service:
        await mqtt_probe.publish(f"{mqtt_prefix}/run/press", "PRESS")  # the button's payload
        await mqtt_probe.publish(f"{mqtt_prefix}/run/press", "anything")
        await until(lambda: service.counters.launches + service.counters.failed >= 2)
        assert service.counters.failed == 0
        jobs = fake_kube.objects("batch/v1", "Job", "batch")
        assert sorted(job["metadata"]["annotations"]["asked"] for job in jobs) == [
            "PRESS",
            "anything",
        ]

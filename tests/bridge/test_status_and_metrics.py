"""What /api/ready, /api/status and /metrics say, against the strict fake API, end to end.

Covered: /api/ready notices an API server that refuses new connections while the open
watch stream goes on, and recovers; /api/status keeps every current error of a binding (a
failing watch and a failing command side by side, each cleared only by its own recovery);
a watch value that fails its value map is counted as such, not as a failed command; a
delete of an object that is already gone is no API error; a namespaced custom resource
bound without a namespace is said so with the binding, makes no request, and does not keep
the service from being ready.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

NS = "media"


def deployment(replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "jellyfin", "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "j"}}, "template": {}},
    }


def metric(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(f"mqtt_kube_{name} ")]
    return float(line.split()[1])


JELLYFIN = f"""
bindings:
  - namespace: {NS}
    resource: Deployment
    name: jellyfin
    watch: {{topic: replicas, locus: spec.replicas}}
    patch: {{topic: set, locus: spec.replicas}}
"""


async def test_ready_notices_new_connections_refused_while_the_watch_stream_lives(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    fake_kube.put(deployment())
    config = write_config(
        tmp_path, JELLYFIN, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="rdy"
    )
    async with running_service(config) as service:
        service.probe_every = 0.05
        await until(lambda: fake_kube.open_watches == 1)
        fake_kube.refuse_connections()
        await until(lambda: any("Kubernetes API" in r for r in service.readiness()))
        assert fake_kube.open_watches == 1  # the stream itself is fine
        (reason,) = service.readiness()
        assert reason.startswith("Kubernetes API: GET /version: ")
        await fake_kube.accept_connections()
        await until(lambda: not service.readiness())


async def test_status_keeps_a_failing_watch_beside_a_failing_command(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment())
    config = write_config(
        tmp_path, JELLYFIN, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="errs"
    )
    async with running_service(config) as service:
        (binding,) = service.bindings
        fake_kube.fail_next(1, status=403, method="PATCH")
        await mqtt_probe.publish(f"{mqtt_prefix}/set", "2")
        await until(lambda: f"{mqtt_prefix}/set" in binding.errors)
        fake_kube.fail_next(10_000, status=403, method="GET", path_contains="/deployments")
        await fake_kube.cut_watches()
        await until(lambda: "injected failure: HTTP 403" in binding.errors.get("watch", ""))
        errors = service.status()["bindings"][0]["errors"]
        assert set(errors) == {f"{mqtt_prefix}/set", "watch"}

        await mqtt_probe.publish(f"{mqtt_prefix}/set", "3")  # the command works again
        await until(lambda: f"{mqtt_prefix}/set" not in binding.errors)
        assert set(service.status()["bindings"][0]["errors"]) == {"watch"}  # still failing


async def test_a_watch_value_that_fails_its_map_is_no_failed_command(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    fake_kube.put(deployment())
    body = f"""
bindings:
  - namespace: {NS}
    resource: Deployment
    name: jellyfin
    watch:
      topic: replicas
      locus: metadata.name
      values: {{transform: "lambda v: int(v)"}}
"""
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="map"
    )
    async with running_service(config) as service:
        await until(lambda: service.bindings[0].watch_value_errors >= 1)
        metrics = service.metrics()
        status = service.status()["bindings"][0]
    assert metric(metrics, "commands_failed_total") == 0
    assert metric(metrics, "watch_value_errors_total") >= 1
    assert list(status["errors"]) == [f"{mqtt_prefix}/replicas"]


async def test_deleting_what_is_already_gone_is_no_api_error(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    body = f"""
bindings:
  - namespace: {NS}
    resource: Job
    name: backup
    action: {{topic: run, values: {{STOP: delete}}}}
"""
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="gone"
    )
    async with running_service(config) as service:
        await mqtt_probe.publish(f"{mqtt_prefix}/run", "STOP")
        await until(lambda: service.counters.deletes == 1)
        assert service.client.api_errors == 0
        assert metric(service.metrics(), "api_errors_total") == 0


async def test_a_namespaced_custom_resource_without_namespace_is_said_so_with_the_binding(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.add_resource(group="example.com", version="v1", kind="Widget", plural="widgets")
    body = """
bindings:
  - apiVersion: example.com/v1
    resource: Widget
    name: lamp
    watch: {topic: lamp, locus: spec.on}
    patch: {topic: lamp/set, locus: spec.on}
"""
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="scope"
    )
    async with running_service(config) as service:  # ready: nothing else is wrong
        (binding,) = service.bindings
        await until(lambda: "is namespaced" in (binding.last_error or ""))
        assert binding.errors["kind"] == (
            "Widget (example.com/v1) is namespaced, says API discovery: "
            "give bindings[0] a namespace"
        )
        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/lamp/set", "true")
        await until(lambda: service.counters.failed == 1)
        assert binding.errors[f"{mqtt_prefix}/lamp/set"].endswith("give bindings[0] a namespace")
        assert [r.method for r in fake_kube.requests] == []  # no PATCH of a path that is not there
        assert fake_kube.open_watches == 0

"""Recipes at run time, end to end through the service, mosquitto and the strict fake API.

Covered: `power` OFF scales a Deployment (and a StatefulSet) at 3 replicas to 0 and records
3 in `mqtt-kube.io/replicas`, ON brings back 3, each with exactly one request and no GET;
ON without a recorded count starts one replica; a power command computed from a copy that
is no longer current is refused by the API server and computed again; `restart` changes
the pod template's `restartedAt` once per press, to now in RFC 3339 (Deployment,
StatefulSet, DaemonSet); `cronjob`'s Run now creates one Job owned by the CronJob, with the
jobTemplate's labels, annotations and spec, and its switch suspends and resumes it; `node`
cordons and uncordons and reports Ready; `job` launches and deletes from the binding's
`launch`; the replica sensors publish what the API says.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.kube.recipe_requests import REPLICAS_ANNOTATION, RESTARTED_AT
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.kube_objects import workload
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

NS = "media"


def cronjob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "metadata": {
                    "labels": {"app": "backup"},
                    "annotations": {"example.com/owner": "ops"},
                },
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "backup", "image": "example/backup:1"}],
                        }
                    },
                },
            },
        },
    }


def binding(kind: str, name: str, recipe: str, *, namespace: str | None = NS) -> str:
    where = f"    namespace: {namespace}\n" if namespace else ""
    return f"bindings:\n  - resource: {kind}\n{where}    name: {name}\n    recipe: {recipe}\n"


def commands(fake: FakeKube, obj: str) -> list[tuple[str, str]]:
    """The requests other than the watch's own (lists of collections, watches), as
    (method, path); a GET of the object `obj` (its path) would be one."""
    return [(r.method, r.path) for r in fake.requests if r.method != "GET" or r.path == obj]


def config_for(
    tmp_path: Path, body: str, mosquitto: Mosquitto, fake: FakeKube, prefix: str
) -> Path:
    return write_config(
        tmp_path, body, broker=mosquitto, fake=fake, prefix=prefix, client_id="recipes"
    )


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
async def test_power_off_records_the_count_and_on_restores_it_in_one_request_each(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
    kind: str,
) -> None:
    fake_kube.put(workload(kind, "jellyfin", replicas=3))
    base = f"{mqtt_prefix}/{kind.lower()}/{NS}/jellyfin"
    path = f"/apis/apps/v1/namespaces/{NS}/{kind.lower()}s/jellyfin"
    config = config_for(
        tmp_path, binding(kind, "jellyfin", "power"), mosquitto, fake_kube, mqtt_prefix
    )
    async with running_service(config):
        assert await mqtt_probe.next_text(f"{base}/power/state") == "ON"
        assert await mqtt_probe.next_text(f"{base}/replicas/desired") == "3"
        assert await mqtt_probe.next_text(f"{base}/replicas/ready") == "3"
        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{base}/power/set", "OFF")
        assert await mqtt_probe.next_text(f"{base}/power/state") == "OFF"
        assert await mqtt_probe.next_text(f"{base}/replicas/desired") == "0"
        assert commands(fake_kube, path) == [("PATCH", path)]
        stopped = fake_kube.get("apps/v1", kind, NS, "jellyfin")
        assert stopped["spec"]["replicas"] == 0
        assert stopped["metadata"]["annotations"] == {REPLICAS_ANNOTATION: "3"}

        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{base}/power/set", "ON")
        assert await mqtt_probe.next_text(f"{base}/power/state") == "ON"
        assert commands(fake_kube, path) == [("PATCH", path)]  # no GET: from the watched copy
        assert fake_kube.get("apps/v1", kind, NS, "jellyfin")["spec"]["replicas"] == 3


async def test_power_on_without_a_recorded_count_starts_one_replica(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(workload("Deployment", "sonarr", replicas=0))
    base = f"{mqtt_prefix}/deployment/{NS}/sonarr"
    config = config_for(
        tmp_path, binding("Deployment", "sonarr", "power"), mosquitto, fake_kube, mqtt_prefix
    )
    async with running_service(config):
        assert await mqtt_probe.next_text(f"{base}/power/state") == "OFF"
        await mqtt_probe.publish(f"{base}/power/set", "ON")
        assert await mqtt_probe.next_text(f"{base}/power/state") == "ON"
    assert fake_kube.get("apps/v1", "Deployment", NS, "sonarr")["spec"]["replicas"] == 1


async def test_a_power_command_from_a_copy_no_longer_current_is_computed_again(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(workload("Deployment", "radarr", replicas=3))
    base = f"{mqtt_prefix}/deployment/{NS}/radarr"
    config = config_for(
        tmp_path, binding("Deployment", "radarr", "power"), mosquitto, fake_kube, mqtt_prefix
    )
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/radarr"
    async with running_service(config) as service:
        assert await mqtt_probe.next_text(f"{base}/power/state") == "ON"
        (bound,) = service.bindings
        stale = bound.seen
        assert stale is not None
        # Someone scales to 5; the binding's copy is made to lag behind, still saying 3.
        fake_kube.patch("apps/v1", "Deployment", NS, "radarr", {"spec": {"replicas": 5}})
        await mqtt_probe.until_text(f"{base}/replicas/ready", "5")
        bound.seen = stale
        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{base}/power/set", "OFF")
        await until(lambda: fake_kube.count("PATCH") == 1)
        # The API server refuses the patch from the stale copy (409); the next copy the
        # watch brings, after another change, is current again.
        fake_kube.patch("apps/v1", "Deployment", NS, "radarr", {"metadata": {"labels": {"a": "b"}}})
        await until(lambda: service.counters.patches + service.counters.failed == 1)
        assert bound.last_error is None
        assert commands(fake_kube, path) == [("PATCH", path), ("PATCH", path)]
    stopped = fake_kube.get("apps/v1", "Deployment", NS, "radarr")
    assert stopped["spec"]["replicas"] == 0
    assert stopped["metadata"]["annotations"] == {REPLICAS_ANNOTATION: "5"}  # not the stale 3


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
async def test_restart_changes_restarted_at_once_per_press_to_now(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
    kind: str,
) -> None:
    fake_kube.put(workload(kind, "plex", replicas=None if kind == "DaemonSet" else 1))
    base = f"{mqtt_prefix}/{kind.lower()}/{NS}/plex"

    def restarted_at() -> str | None:
        obj = fake_kube.get("apps/v1", kind, NS, "plex")
        annotations = obj["spec"]["template"]["metadata"].get("annotations") or {}
        return annotations.get(RESTARTED_AT)

    path = f"/apis/apps/v1/namespaces/{NS}/{kind.lower()}s/plex"
    config = config_for(
        tmp_path, binding(kind, "plex", "restart"), mosquitto, fake_kube, mqtt_prefix
    )
    async with running_service(config) as service:

        async def press(count: int) -> float:
            """Press once; the moment restartedAt now names, checked to be the press's."""
            before = int(time.time())
            fake_kube.clear_requests()
            await mqtt_probe.publish(f"{base}/restart/press", "PRESS")
            await until(lambda: service.counters.patches == count)
            assert commands(fake_kube, path) == [("PATCH", path)]
            stamp = restarted_at()
            assert stamp is not None
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
            moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            assert before <= moment.timestamp() <= time.time()
            return moment.timestamp()

        first = await press(1)
        await until(lambda: time.time() >= first + 1)  # a second press names a later second
        assert await press(2) > first
        assert service.bindings[0].last_error is None


async def test_run_now_creates_one_job_owned_by_the_cronjob_as_kubectl_does(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    owner = fake_kube.put(cronjob("backup"))
    base = f"{mqtt_prefix}/cronjob/{NS}/backup"
    config = config_for(
        tmp_path, binding("CronJob", "backup", "cronjob"), mosquitto, fake_kube, mqtt_prefix
    )
    async with running_service(config) as service:
        assert await mqtt_probe.next_text(f"{base}/schedule/state") == "ON"
        fake_kube.clear_requests()
        before = int(time.time())
        await mqtt_probe.publish(f"{base}/run/press", "PRESS")
        await until(lambda: service.counters.launches == 1)
        assert commands(fake_kube, "") == [("POST", f"/apis/batch/v1/namespaces/{NS}/jobs")]
    (job,) = fake_kube.objects("batch/v1", "Job", NS)
    metadata = job["metadata"]
    found = re.fullmatch(r"backup-manual-(\d+)", metadata["name"])
    assert found is not None
    assert before <= int(found.group(1)) <= time.time()
    assert metadata["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "backup",
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]
    assert metadata["labels"] == {"app": "backup"}
    assert metadata["annotations"] == {
        "cronjob.kubernetes.io/instantiate": "manual",
        "example.com/owner": "ops",
    }
    assert job["spec"] == owner["spec"]["jobTemplate"]["spec"]


async def test_the_cronjob_switch_suspends_and_resumes_it(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(cronjob("backup"))
    base = f"{mqtt_prefix}/cronjob/{NS}/backup"
    config = config_for(
        tmp_path, binding("CronJob", "backup", "cronjob"), mosquitto, fake_kube, mqtt_prefix
    )
    async with running_service(config):
        assert await mqtt_probe.next_text(f"{base}/schedule/state") == "ON"
        await mqtt_probe.publish(f"{base}/schedule/set", "OFF")
        assert await mqtt_probe.next_text(f"{base}/schedule/state") == "OFF"
        assert fake_kube.get("batch/v1", "CronJob", NS, "backup")["spec"]["suspend"] is True
        await mqtt_probe.publish(f"{base}/schedule/set", "ON")
        assert await mqtt_probe.next_text(f"{base}/schedule/state") == "ON"
        assert fake_kube.get("batch/v1", "CronJob", NS, "backup")["spec"]["suspend"] is False
        fake_kube.patch(
            "batch/v1",
            "CronJob",
            NS,
            "backup",
            {"status": {"lastScheduleTime": "2026-01-02T03:00:00Z"}},
        )
        await mqtt_probe.until_text(f"{base}/last-schedule", "2026-01-02T03:00:00Z")


async def test_the_node_switch_cordons_and_uncordons_and_ready_follows_the_condition(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "pi-1"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    base = f"{mqtt_prefix}/node/pi-1"
    config = config_for(
        tmp_path, binding("Node", "pi-1", "node", namespace=None), mosquitto, fake_kube, mqtt_prefix
    )
    async with running_service(config):
        assert await mqtt_probe.next_text(f"{base}/schedulable/state") == "ON"
        assert await mqtt_probe.next_text(f"{base}/ready/state") == "ON"
        await mqtt_probe.publish(f"{base}/schedulable/set", "OFF")
        assert await mqtt_probe.next_text(f"{base}/schedulable/state") == "OFF"
        assert fake_kube.get("v1", "Node", None, "pi-1")["spec"] == {"unschedulable": True}
        await mqtt_probe.publish(f"{base}/schedulable/set", "ON")
        assert await mqtt_probe.next_text(f"{base}/schedulable/state") == "ON"
        assert "unschedulable" not in fake_kube.get("v1", "Node", None, "pi-1")["spec"]
        fake_kube.patch(
            "v1",
            "Node",
            None,
            "pi-1",
            {"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}},
        )
        assert await mqtt_probe.next_text(f"{base}/ready/state") == "OFF"


async def test_the_job_recipe_runs_and_stops_the_binding_launch_template(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    (tmp_path / "job.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: ${binding.name}\nspec:\n"
        "  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: run, image: busybox}]\n"
    )
    body = binding("Job", "nightly", "job") + "    launch: !relpath job.yaml\n"
    base = f"{mqtt_prefix}/job/{NS}/nightly"
    config = config_for(tmp_path, body, mosquitto, fake_kube, mqtt_prefix)
    async with running_service(config):
        assert await mqtt_probe.next_text(f"{base}/status/active") == ""  # no Job yet
        await mqtt_probe.publish(f"{base}/job/set", "RUN")
        await mqtt_probe.until_text(f"{base}/status/active", "ON")
        fake_kube.complete_job(NS, "nightly")
        await mqtt_probe.until_text(f"{base}/status/succeeded", "1")
        assert await mqtt_probe.next_text(f"{base}/status/active") == "OFF"
        await mqtt_probe.publish(f"{base}/job/set", "STOP")
        await until(lambda: fake_kube.get("batch/v1", "Job", NS, "nightly") is None)

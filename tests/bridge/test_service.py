"""The whole service end to end: real mosquitto, the fake API, a config in the original forms.

Covered: the media server switch (one /scale request per command, state follows the
controller); the Job action (launch with labels, status watches, JSON status, delete);
objects created, deleted and re-created after start-up; a broker restart mid-run; a 410
relist with no missed change and no duplicate publish; watch connection sharing across
300 bindings; garbage on every command topic changes nothing and breaks nothing.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mqtt_kube.bridge.service import Service
from mqtt_kube.kube.watch import ResourceWatch
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.paths import ORIGINAL_JOB
from tests.support.service_harness import original_config, running_service, write_config
from tests.support.waiting import until

MEDIA = "media"  # the namespace of the Deployments
JOBS = "batch"  # the namespace of the Job binding


def plex(replicas: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "plex", "namespace": MEDIA},
        "spec": {"replicas": replicas},
    }


@pytest.fixture
def original(tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str) -> Path:
    """The original-forms config, pointed at this test's broker, API and topic prefix."""
    return original_config(tmp_path, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix)


async def becomes_on(probe: MqttProbe, topic: str) -> list[str]:
    """Payloads up to `ON`: a new Deployment is OFF until available, unless the two coalesce."""
    seen = [await probe.next_text(topic, timeout=10)]
    while seen[-1] != "ON" and len(seen) < 3:
        seen.append(await probe.next_text(topic, timeout=10))
    return seen


def writes(fake: FakeKube) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path, r.body) for r in fake.requests if r.method != "GET"]


def reads_of_the_object(fake: FakeKube) -> list[str]:
    """GETs of the plex Deployment itself or its /scale (the watch reads the collection)."""
    path = f"/apis/apps/v1/namespaces/{MEDIA}/deployments/plex"
    return [r.path for r in fake.requests if r.method == "GET" and r.path.startswith(path)]


def deployment_watch(service: Service) -> ResourceWatch:
    watch = service.watches[("Deployment", "apps/v1", MEDIA, None)]
    assert watch is not None
    return watch


async def test_the_media_server_switch_scales_the_deployment_and_reports_its_state(
    original: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(plex(0))
    state = f"{mqtt_prefix}/plex/power/state"
    async with running_service(original):
        first = await mqtt_probe.next(state)
        assert (first.payload, first.retain) == (b"OFF", False)  # live, not a stale retained copy

        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/plex/power/set", "ON")
        assert await mqtt_probe.next_text(state) == "ON"
        path = f"/apis/apps/v1/namespaces/{MEDIA}/deployments/plex/scale"
        assert writes(fake_kube) == [("PATCH", path, {"spec": {"replicas": 1}})]
        assert fake_kube.requests[-1].content_type == "application/merge-patch+json"
        assert reads_of_the_object(fake_kube) == []  # not read-modify-write

        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/plex/power/set", "OFF")
        assert await mqtt_probe.next_text(state) == "OFF"
        assert writes(fake_kube) == [("PATCH", path, {"spec": {"replicas": 0}})]
        await mqtt_probe.quiet(state)

    async with MqttProbe.connect(mosquitto, subscribe=[state]) as late:
        retained = await late.next(state)
        assert (retained.payload, retained.retain) == (b"OFF", True)


async def test_the_job_action_launches_reports_and_deletes(
    original: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    topic = f"{mqtt_prefix}/backup/status"
    async with running_service(original):
        for suffix in ("", "/active", "/succeeded", "/failed", "/started"):
            assert await mqtt_probe.next_text(f"{topic}{suffix}") == ""  # no Job yet

        await mqtt_probe.publish(f"{mqtt_prefix}/backup/cmd", json.dumps({"action": "RUN"}))
        assert await mqtt_probe.next_text(f"{topic}/active") == "RUNNING"
        job = fake_kube.get("batch/v1", "Job", JOBS, "nightly-backup")
        assert job is not None
        assert job["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "mqtt-kube",
            "mqtt-kube/binding": "job.nightly-backup",
        }
        annotations = job["metadata"]["annotations"]
        assert re.fullmatch(r"run-[0-9a-f]{8}", annotations["house.example/run"])  # ${uid}
        assert annotations["house.example/requested-with"] == '{"action": "RUN"}'  # ${match.input}
        assert job["spec"]["template"]["spec"]["containers"][0]["name"] == "nightly-backup"
        status = json.loads(await mqtt_probe.next_text(topic))
        assert status["active"] == 1

        fake_kube.complete_job(JOBS, "nightly-backup")
        assert await mqtt_probe.next_text(f"{topic}/succeeded") == "DONE"
        raw = await mqtt_probe.next_text(topic)
        final = json.loads(raw)
        assert final["succeeded"] == 1
        assert raw == json.dumps(final, sort_keys=True, separators=(",", ":"))

        await mqtt_probe.publish(f"{mqtt_prefix}/backup/cmd", json.dumps({"action": "STOP"}))
        assert await mqtt_probe.next_text(f"{topic}/succeeded") == ""
        assert fake_kube.get("batch/v1", "Job", JOBS, "nightly-backup") is None


async def test_a_failed_job_publishes_failed(
    original: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    async with running_service(original):
        failed = f"{mqtt_prefix}/backup/status/failed"
        assert await mqtt_probe.next_text(failed) == ""
        await mqtt_probe.publish(f"{mqtt_prefix}/backup/cmd", '{"action": "RUN"}')
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/backup/status/active") == ""
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/backup/status/active") == "RUNNING"
        fake_kube.fail_job(JOBS, "nightly-backup")
        assert await mqtt_probe.next_text(failed) == "FAILED"


async def test_an_object_created_deleted_and_recreated_is_followed(
    original: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    state = f"{mqtt_prefix}/plex/power/state"
    async with running_service(original):
        assert await mqtt_probe.next_text(state) == ""  # does not exist yet
        fake_kube.put(plex(1))
        assert await becomes_on(mqtt_probe, state) in (["OFF", "ON"], ["ON"])
        fake_kube.delete("apps/v1", "Deployment", MEDIA, "plex")
        assert await mqtt_probe.next_text(state) == ""
        fake_kube.put(plex(1))
        assert await becomes_on(mqtt_probe, state) in (["OFF", "ON"], ["ON"])


async def test_a_broker_restart_mid_run_is_survived(
    original: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    fake_kube.put(plex(0))
    state = f"{mqtt_prefix}/plex/power/state"
    async with running_service(original) as service:
        await until(lambda: service.mqtt.connected)
        mosquitto.restart()  # no persistence: retained state is gone with the old broker
        await until(
            lambda: service.mqtt.connected and service.mqtt.stats.reconnects >= 1, seconds=15
        )
        async with MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/#"]) as probe:
            assert await probe.next_text(state, timeout=10) == "OFF"  # republished, retained
            await probe.publish(f"{mqtt_prefix}/plex/power/set", "ON")  # resubscribed
            assert await probe.next_text(state) == "ON"


async def test_a_410_relist_misses_no_change_and_publishes_nothing_twice(
    original: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    fake_kube.put(plex(1))
    state = f"{mqtt_prefix}/plex/power/state"
    async with running_service(original) as service:
        assert await mqtt_probe.next_text(state) in {"OFF", "ON"}
        await until(
            lambda: (
                (fake_kube.get("apps/v1", "Deployment", MEDIA, "plex") or {})
                .get("status", {})
                .get("availableReplicas")
                == 1
            )
        )
        mqtt_probe.clear()
        fake_kube.controller = False
        fake_kube.compact()
        await fake_kube.cut_watches()
        fake_kube.patch(
            "apps/v1", "Deployment", MEDIA, "plex", {"status": {"availableReplicas": None}}
        )
        assert await mqtt_probe.next_text(state) == "OFF"
        await mqtt_probe.quiet(state, within=0.5)
        assert fake_kube.watch_requests >= 2
        assert deployment_watch(service).relists >= 1


@pytest.mark.parametrize(("scope", "watches"), [("namespace", 6), ("auto", 6), ("cluster", 2)])
async def test_300_bindings_over_3_namespaces_and_2_kinds_share_at_most_6_watches(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_prefix: str,
    scope: str,
    watches: int,
) -> None:
    bindings = []
    for n in range(300):
        kind = ("Deployment", "StatefulSet")[n % 2]
        api_version = "    apiVersion: apps/v1\n" if n % 4 < 2 else ""  # written or left out
        bindings.append(
            f"  - namespace: ns-{n % 3}\n    resource: {kind}\n{api_version}    name: app-{n}\n"
            f"    watch:\n      locus: spec.replicas\n      topic: app-{n}/replicas\n"
        )
    body = f"  watch-scope: {scope}\nbindings:\n" + "".join(bindings)  # under kubernetes:
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="scale"
    )
    async with running_service(config) as service:
        assert len([w for w in service.watches.values() if w is not None]) == watches
        await until(lambda: fake_kube.open_watches == watches)
        assert fake_kube.max_open_watches == watches
        assert fake_kube.watch_requests == watches


async def test_garbage_on_every_command_topic_changes_nothing_and_breaks_nothing(
    original: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    fake_kube.put(plex(0))
    state = f"{mqtt_prefix}/plex/power/state"
    garbage = [
        b"",
        b"MAYBE",
        b"\xff\xfe\x00",
        b"{",
        b'{"action": 3}',
        b"[]",
        b"null",
        b'{"action": "RUN"',
        b"on",
        b"1" * 100_000,
        b'{"action": "LAUNCH"}',
    ]
    async with running_service(original) as service:
        assert await mqtt_probe.next_text(state) == "OFF"
        fake_kube.clear_requests()
        for topic in ("plex/power/set", "backup/cmd", "sonarr/sync"):
            for payload in garbage:
                await mqtt_probe.publish(f"{mqtt_prefix}/{topic}", payload)
        await until(
            lambda: service.counters.ignored + service.counters.failed >= 3 * len(garbage) - 2
        )
        assert writes(fake_kube) == []
        await mqtt_probe.publish(f"{mqtt_prefix}/plex/power/set", "ON")
        assert await mqtt_probe.next_text(state) == "ON"
        assert not service.readiness()


async def test_a_failing_watch_shows_on_its_bindings_until_it_recovers(
    original: Path, fake_kube: FakeKube, caplog: pytest.LogCaptureFixture
) -> None:
    fake_kube.put(plex(0))
    fake_kube.fail_next(3, status=403, method="GET", path_contains="/deployments")
    async with running_service(original, wait_ready=False) as service:
        (binding,) = [b for b in service.bindings if b.spec.name == "plex"]
        await until(lambda: binding.last_error is not None)
        url = f"http://127.0.0.1:{service.http.port}/api/status"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            status = await response.json()
        (entry,) = [e for e in status["bindings"] if e["binding"].endswith("/plex")]
        assert entry["last_error"].startswith(
            f"watch Deployment in namespace {MEDIA}: GET /apis/apps/v1/namespaces/"
        )
        assert "HTTP 403" in entry["last_error"]
        await until(lambda: binding.last_error is None and not service.readiness(), seconds=15)
    assert (
        f"watch Deployment in namespace {MEDIA} "
        f"(Deployment {MEDIA}/plex, Deployment {MEDIA}/sonarr): GET"
    ) in caplog.text


async def test_a_retained_patch_applies_at_start_up_and_a_retained_action_does_not(
    original: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    fake_kube.put(plex(0))
    await mqtt_probe.publish(f"{mqtt_prefix}/plex/power/set", "ON", retain=True)
    await mqtt_probe.publish(f"{mqtt_prefix}/backup/cmd", '{"action": "RUN"}', retain=True)
    async with running_service(original) as service:
        await until(lambda: service.counters.patches == 1 and service.counters.ignored == 1)
        path = f"/apis/apps/v1/namespaces/{MEDIA}/deployments/plex/scale"
        assert writes(fake_kube) == [("PATCH", path, {"spec": {"replicas": 1}})]
        assert fake_kube.get("batch/v1", "Job", JOBS, "nightly-backup") is None


async def test_an_action_with_retained_apply_launches_from_a_retained_payload(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    (tmp_path / "job.yaml").write_text(ORIGINAL_JOB.read_text())
    body = (
        "bindings:\n  - namespace: batch\n    resource: Job\n    name: example-wget\n"
        "    action:\n      topic: run\n      launch: !relpath job.yaml\n"
        "      retained: apply\n      values: {RUN: launch}\n"
    )
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="apply"
    )
    await mqtt_probe.publish(f"{mqtt_prefix}/run", "RUN", retain=True)
    async with running_service(config) as service:
        await until(lambda: service.counters.launches == 1)
        assert fake_kube.get("batch/v1", "Job", "batch", "example-wget") is not None
        assert service.counters.ignored == 0


def test_an_http_port_in_use_stops_the_process_with_one_line_naming_it(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = original_config(
            tmp_path, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, http_port=port
        )
        done = subprocess.run(
            [sys.executable, "-m", "mqtt_kube", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert errors == [
        f"ERROR mqtt_kube.cli.run: stopped: HTTP endpoints: cannot listen on 127.0.0.1:{port}: "
        "Address already in use"
    ]

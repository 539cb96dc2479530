"""The whole service end to end: real mosquitto, the fake API, the original example config.

Covered: the Jellyfin switch (one /scale request per command, state follows the
controller); the Job action (launch with labels, status watches, JSON status, delete);
objects created, deleted and re-created after start-up; a broker restart mid-run; a 410
relist with no missed change and no duplicate publish; watch connection sharing across
300 bindings; garbage on every command topic changes nothing and breaks nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.broker_fixtures import MqttProbe
from tests.service_harness import running_service, seed_config, write_config
from tests.waiting import until

NAMESPACE = "mqtt-kube-demo"


def jellyfin(replicas: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "jellyfin", "namespace": NAMESPACE},
        "spec": {"replicas": replicas},
    }


@pytest.fixture
def seed(tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str) -> Path:
    """The original example config, pointed at this test's broker, API and topic prefix."""
    return seed_config(tmp_path, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix)


async def becomes_on(probe: MqttProbe, topic: str) -> list[str]:
    """Payloads up to `ON`: a new Deployment is OFF until available, unless the two coalesce."""
    seen = [await probe.next_text(topic, timeout=10)]
    while seen[-1] != "ON" and len(seen) < 3:
        seen.append(await probe.next_text(topic, timeout=10))
    return seen


def writes(fake: FakeKube) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path, r.body) for r in fake.requests if r.method != "GET"]


async def test_the_jellyfin_switch_scales_the_deployment_and_reports_its_state(
    seed: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    fake_kube.put(jellyfin(0))
    state = f"{mqtt_prefix}/jellyfin/power/state"
    async with running_service(seed):
        first = await mqtt_probe.next(state)
        assert (first.payload, first.retain) == (b"OFF", False)  # live, not a stale retained copy

        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/jellyfin/power/set", "ON")
        assert await mqtt_probe.next_text(state) == "ON"
        path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/jellyfin/scale"
        assert writes(fake_kube) == [("PATCH", path, {"spec": {"replicas": 1}})]
        assert fake_kube.requests[-1].content_type == "application/merge-patch+json"

        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{mqtt_prefix}/jellyfin/power/set", "OFF")
        assert await mqtt_probe.next_text(state) == "OFF"
        assert writes(fake_kube) == [("PATCH", path, {"spec": {"replicas": 0}})]
        await mqtt_probe.quiet(state)

    async with MqttProbe.connect(mosquitto, subscribe=[state]) as late:
        retained = await late.next(state)
        assert (retained.payload, retained.retain) == (b"OFF", True)


async def test_the_job_action_launches_reports_and_deletes(
    seed: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    topic = f"{mqtt_prefix}/example/status"
    async with running_service(seed):
        for suffix in ("", "/active", "/succeeded", "/failed", "/startTime"):
            assert await mqtt_probe.next_text(f"{topic}{suffix}") == ""  # no Job yet

        await mqtt_probe.publish(f"{mqtt_prefix}/example/cmd", json.dumps({"action": "RUN"}))
        assert await mqtt_probe.next_text(f"{topic}/active") == "ACTIVE"
        job = fake_kube.get("batch/v1", "Job", NAMESPACE, "example-wget")
        assert job is not None
        assert job["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "mqtt-kube",
            "mqtt-kube/binding": "job.example-wget",
        }
        assert job["spec"]["template"]["spec"]["containers"][0]["name"] == "example-wget"
        status = json.loads(await mqtt_probe.next_text(topic))
        assert status["active"] == 1

        fake_kube.complete_job(NAMESPACE, "example-wget")
        assert await mqtt_probe.next_text(f"{topic}/succeeded") == "DONE"
        raw = await mqtt_probe.next_text(topic)
        final = json.loads(raw)
        assert final["succeeded"] == 1
        assert raw == json.dumps(final, sort_keys=True, separators=(",", ":"))

        await mqtt_probe.publish(f"{mqtt_prefix}/example/cmd", json.dumps({"action": "STOP"}))
        assert await mqtt_probe.next_text(f"{topic}/succeeded") == ""
        assert fake_kube.get("batch/v1", "Job", NAMESPACE, "example-wget") is None


async def test_a_failed_job_publishes_failed(
    seed: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    async with running_service(seed):
        failed = f"{mqtt_prefix}/example/status/failed"
        assert await mqtt_probe.next_text(failed) == ""
        await mqtt_probe.publish(f"{mqtt_prefix}/example/cmd", '{"action": "RUN"}')
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/example/status/active") == ""
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/example/status/active") == "ACTIVE"
        fake_kube.fail_job(NAMESPACE, "example-wget")
        assert await mqtt_probe.next_text(failed) == "FAILED"


async def test_an_object_created_deleted_and_recreated_is_followed(
    seed: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    state = f"{mqtt_prefix}/jellyfin/power/state"
    async with running_service(seed):
        assert await mqtt_probe.next_text(state) == ""  # does not exist yet
        fake_kube.put(jellyfin(1))
        assert await becomes_on(mqtt_probe, state) in (["OFF", "ON"], ["ON"])
        fake_kube.delete("apps/v1", "Deployment", NAMESPACE, "jellyfin")
        assert await mqtt_probe.next_text(state) == ""
        fake_kube.put(jellyfin(1))
        assert await becomes_on(mqtt_probe, state) in (["OFF", "ON"], ["ON"])


async def test_a_broker_restart_mid_run_is_survived(
    seed: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    fake_kube.put(jellyfin(0))
    state = f"{mqtt_prefix}/jellyfin/power/state"
    async with running_service(seed) as service:
        await until(lambda: service.mqtt.connected)
        mosquitto.restart()  # no persistence: retained state is gone with the old broker
        await until(
            lambda: service.mqtt.connected and service.mqtt.stats.reconnects >= 1, seconds=15
        )
        async with MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/#"]) as probe:
            assert await probe.next_text(state, timeout=10) == "OFF"  # republished, retained
            await probe.publish(f"{mqtt_prefix}/jellyfin/power/set", "ON")  # resubscribed
            assert await probe.next_text(state) == "ON"


async def test_a_410_relist_misses_no_change_and_publishes_nothing_twice(
    seed: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    fake_kube.put(jellyfin(1))
    state = f"{mqtt_prefix}/jellyfin/power/state"
    async with running_service(seed):
        assert await mqtt_probe.next_text(state) in {"OFF", "ON"}
        await until(
            lambda: (
                (fake_kube.get("apps/v1", "Deployment", NAMESPACE, "jellyfin") or {})
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
            "apps/v1", "Deployment", NAMESPACE, "jellyfin", {"status": {"availableReplicas": None}}
        )
        assert await mqtt_probe.next_text(state) == "OFF"
        await mqtt_probe.quiet(state, within=0.5)
        assert fake_kube.watch_requests >= 2


async def test_300_bindings_over_3_namespaces_and_2_kinds_share_6_watches(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    bindings = []
    for n in range(300):
        kind = ("Deployment", "StatefulSet")[n % 2]
        bindings.append(
            f"  - namespace: ns-{n % 3}\n    resource: {kind}\n    name: app-{n}\n"
            f"    watch:\n      locus: spec.replicas\n      topic: app-{n}/replicas\n"
        )
    body = "bindings:\n" + "".join(bindings)
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="scale"
    )
    async with running_service(config) as service:
        assert len([w for w in service.watches.values() if w is not None]) == 6
        await until(lambda: fake_kube.open_watches == 6)
        assert fake_kube.max_open_watches == 6


async def test_garbage_on_every_command_topic_changes_nothing_and_breaks_nothing(
    seed: Path, fake_kube: FakeKube, mqtt_probe: MqttProbe, mqtt_prefix: str
) -> None:
    fake_kube.put(jellyfin(0))
    state = f"{mqtt_prefix}/jellyfin/power/state"
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
    async with running_service(seed) as service:
        assert await mqtt_probe.next_text(state) == "OFF"
        fake_kube.clear_requests()
        for topic in ("jellyfin/power/set", "example/cmd"):
            for payload in garbage:
                await mqtt_probe.publish(f"{mqtt_prefix}/{topic}", payload)
        await until(
            lambda: service.counters.ignored + service.counters.failed >= 2 * len(garbage) - 2
        )
        assert writes(fake_kube) == []
        await mqtt_probe.publish(f"{mqtt_prefix}/jellyfin/power/set", "ON")
        assert await mqtt_probe.next_text(state) == "ON"
        assert not service.readiness()

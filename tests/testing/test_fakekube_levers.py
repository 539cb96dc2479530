"""The fake API server's toy controller (replicas, omitted zeros, Jobs, DaemonSets, switched
off) and its levers for tests: fail_next, cut_watches, latency, the request log.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio.client.exceptions import ApiException

from mqtt_kube.testing.fakekube import FakeKube, StatusError
from tests.support.fake_api_calls import (
    MERGE,
    NS,
    deployment,
    raw_watch,
    status_body,
    take,
)
from tests.support.waiting import until

# The toy controller


async def test_the_controller_makes_replica_counts_follow_spec_and_omits_zeros(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    await apps.create_namespaced_deployment(NS, deployment("jellyfin", replicas=2))

    def status() -> dict[str, Any]:
        return (fake_kube.get("apps/v1", "Deployment", NS, "jellyfin") or {}).get("status", {})

    await until(lambda: status().get("availableReplicas") == 2)
    assert status() == {
        "replicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "updatedReplicas": 2,
        "observedGeneration": 1,
    }
    await apps.patch_namespaced_deployment_scale(
        "jellyfin", NS, {"spec": {"replicas": 0}}, _content_type=MERGE
    )
    await until(lambda: status().get("observedGeneration") == 2)
    assert status() == {"observedGeneration": 2}
    read = await apps.read_namespaced_deployment("jellyfin", NS)
    assert read.status.available_replicas is None


async def test_the_controller_runs_jobs_until_a_test_finishes_them(
    fake_kube: FakeKube, kube_client: k8s_client.ApiClient
) -> None:
    batch = k8s_client.BatchV1Api(kube_client)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "scan"}, "spec": {}}
    await batch.create_namespaced_job(NS, job, _preload_content=False)
    await batch.create_namespaced_job(
        NS, {**job, "metadata": {"name": "broken"}}, _preload_content=False
    )

    def status(name: str) -> dict[str, Any]:
        return (fake_kube.get("batch/v1", "Job", NS, name) or {}).get("status", {})

    await until(lambda: status("scan").get("active") == 1 and status("broken").get("active") == 1)
    assert "startTime" in status("scan")
    fake_kube.complete_job(NS, "scan")
    fake_kube.fail_job(NS, "broken")
    done, failed = status("scan"), status("broken")
    assert (done.get("succeeded"), "active" in done, "completionTime" in done) == (1, False, True)
    assert [c["type"] for c in done["conditions"]] == ["Complete"]
    assert (failed.get("failed"), "active" in failed) == (1, False)
    assert [c["type"] for c in failed["conditions"]] == ["Failed"]
    with pytest.raises(StatusError, match=r'jobs\.batch "ghost" not found'):
        fake_kube.complete_job(NS, "ghost")


async def test_the_controller_schedules_one_daemonset_pod(fake_kube: FakeKube) -> None:
    fake_kube.put({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}})

    def status() -> dict[str, Any]:
        return (fake_kube.get("apps/v1", "DaemonSet", "default", "agent") or {}).get("status", {})

    assert status()["numberReady"] == 0  # the real API always sends these counts
    await until(lambda: status().get("numberReady") == 1)
    assert (status()["desiredNumberScheduled"], status()["numberAvailable"]) == (1, 1)


async def test_with_the_controller_off_status_stays_as_written(fake_kube: FakeKube) -> None:
    fake_kube.controller = False
    fake_kube.put(deployment("jellyfin", replicas=3))
    await asyncio.sleep(fake_kube.controller_delay * 4)
    assert "status" not in (fake_kube.get("apps/v1", "Deployment", NS, "jellyfin") or {})
    fake_kube.controller = True  # switching on catches up
    await until(
        lambda: (
            (fake_kube.get("apps/v1", "Deployment", NS, "jellyfin") or {})
            .get("status", {})
            .get("readyReplicas")
            == 3
        )
    )


# Observation and fault injection


async def test_fail_next_fails_only_the_matching_requests(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api, core: k8s_client.CoreV1Api
) -> None:
    fake_kube.fail_next(2, status=503, method="GET", path_contains="/deployments")
    await core.list_namespaced_config_map(NS)  # does not match
    for _ in range(2):
        with pytest.raises(ApiException) as raised:
            await apps.list_namespaced_deployment(NS)
        assert raised.value.status == 503
        assert status_body(raised.value)["reason"] == "ServiceUnavailable"
    await apps.list_namespaced_deployment(NS)
    assert fake_kube.count(method="GET", path_contains="/deployments") == 3


async def test_cut_watches_drops_open_streams_mid_stream(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin"))
    events = raw_watch(apps)
    await take(events, 1)
    assert (quiet_kube.open_watches, quiet_kube.watch_requests) == (1, 1)
    await quiet_kube.cut_watches()
    assert quiet_kube.open_watches == 0
    with pytest.raises(aiohttp.ClientPayloadError):
        await take(events, 1)
    assert quiet_kube.max_open_watches == 1


async def test_a_watch_closed_by_its_client_is_no_longer_counted(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin"))
    events = raw_watch(apps)
    await take(events, 1)
    assert quiet_kube.open_watches == 1
    await events.aclose()
    await until(lambda: quiet_kube.open_watches == 0)
    quiet_kube.put(deployment("plex"))  # nobody left to send it to


async def test_latency_delays_every_answer(fake_kube: FakeKube, core: k8s_client.CoreV1Api) -> None:
    fake_kube.latency = 0.2
    started = time.monotonic()
    await core.list_namespaced_config_map(NS)
    assert time.monotonic() - started >= 0.2


async def test_the_request_log_records_method_path_query_type_and_body(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin"))
    await apps.list_namespaced_deployment(NS, label_selector="app=jellyfin")
    await apps.patch_namespaced_deployment_scale(
        "jellyfin", NS, {"spec": {"replicas": 2}}, _content_type=MERGE
    )
    listed, patched = quiet_kube.requests
    assert (listed.method, listed.path, listed.query, listed.body) == (
        "GET",
        "/apis/apps/v1/namespaces/media/deployments",
        {"labelSelector": "app=jellyfin"},
        None,
    )
    assert (patched.method, patched.path, patched.content_type, patched.body) == (
        "PATCH",
        "/apis/apps/v1/namespaces/media/deployments/jellyfin/scale",
        MERGE,
        {"spec": {"replicas": 2}},
    )
    assert quiet_kube.count(method="PATCH") == 1
    assert quiet_kube.count(path_contains="/scale") == 1
    quiet_kube.clear_requests()
    assert quiet_kube.requests == []

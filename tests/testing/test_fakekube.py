"""The fake Kubernetes API server, mostly through the real kubernetes_asyncio client.

Covered: list with resourceVersion (items without kind/apiVersion); watch from a version
(Watch helper and a raw stream), synthetic ADDED, selectors and objects leaving them,
DELETED with a new version, bookmarks (on demand and timed), timeoutSeconds, 410 after
compact() or beyond the history; merge, strategic and JSON patches, 415, patch tests; /scale
and /status; create (generateName, 409, 422 cases), PUT conflicts, delete and
deletecollection by label, DeleteOptions; exact Status bodies for 404/405/422; discovery
(core, apps, a CRD, groups, version); the toy controller (replicas, omitted zeros, Jobs,
DaemonSets, switched off); fail_next, cut_watches, latency, the request log; kubeconfig
and token enforcement; the pure patch and selector rules; the standalone command's input.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio import watch as k8s_watch
from kubernetes_asyncio.client.exceptions import ApiException

from mqtt_kube.testing.fakekube import FakeKube, StatusError
from mqtt_kube.testing.fakekube_cli import load_objects, main
from mqtt_kube.testing.fakekube_ops import FieldSelector, LabelSelector, json_patch, merge_patch
from tests.support.waiting import until

NS = "media"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def deployment(
    name: str, *, replicas: int = 1, labels: dict[str, str] | None = None, namespace: str = NS
) -> dict[str, Any]:
    """A Deployment complete enough for the typed client models."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": f"example/{name}:1"}]},
            },
        },
    }


def status_body(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert isinstance(body, dict)
    return body


@pytest.fixture
def apps(kube_client: k8s_client.ApiClient) -> k8s_client.AppsV1Api:
    return k8s_client.AppsV1Api(kube_client)


@pytest.fixture
def core(kube_client: k8s_client.ApiClient) -> k8s_client.CoreV1Api:
    return k8s_client.CoreV1Api(kube_client)


@pytest.fixture
def quiet_kube(fake_kube: FakeKube) -> FakeKube:
    """The fake with its controller off, so only the test's own writes make events."""
    fake_kube.controller = False
    return fake_kube


async def raw_watch(apps: k8s_client.AppsV1Api, **params: Any) -> AsyncIterator[dict[str, Any]]:
    """Events of a raw watch of Deployments in NS, parsed line by line."""
    response = await apps.list_namespaced_deployment(
        NS, watch=True, _preload_content=False, **params
    )
    try:
        assert response.status == 200
        async for line in response.content:
            yield json.loads(line)
    finally:
        response.release()


async def take(events: AsyncIterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        async for event in events:
            found.append(event)
            if len(found) == count:
                break
    return found


def kinds_and_replicas(events: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
    return [(e["type"], (e["object"].get("spec") or {}).get("replicas")) for e in events]


# List and watch


async def test_a_list_carries_the_current_resource_version_and_untyped_items(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin"))
    quiet_kube.put(deployment("plex"))
    quiet_kube.put(deployment("elsewhere", namespace="other"))

    listed = await apps.list_namespaced_deployment(NS)
    assert [d.metadata.name for d in listed.items] == ["jellyfin", "plex"]
    assert listed.metadata.resource_version == quiet_kube.resource_version == "3"

    response = await apps.list_deployment_for_all_namespaces(_preload_content=False)
    raw = json.loads(await response.read())
    assert (raw["kind"], raw["apiVersion"]) == ("DeploymentList", "apps/v1")
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in raw["items"]] == [
        ("media", "jellyfin"),
        ("media", "plex"),
        ("other", "elsewhere"),
    ]
    assert all("kind" not in item and "apiVersion" not in item for item in raw["items"])


async def test_every_write_bumps_the_one_global_resource_version(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api, core: k8s_client.CoreV1Api
) -> None:
    created = await apps.create_namespaced_deployment(NS, deployment("jellyfin"))
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
    made = await core.create_namespaced_config_map(NS, config_map)
    patched = await apps.patch_namespaced_deployment(
        "jellyfin", NS, {"spec": {"replicas": 4}}, _content_type=MERGE
    )
    versions = [
        created.metadata.resource_version,
        made.metadata.resource_version,
        patched.metadata.resource_version,
    ]
    assert versions == ["1", "2", "3"]
    assert (patched.metadata.generation, created.metadata.generation) == (2, 1)
    assert patched.metadata.uid == created.metadata.uid
    assert patched.metadata.creation_timestamp == created.metadata.creation_timestamp


async def test_the_watch_helper_resumes_after_a_resource_version(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin", replicas=1))
    listed = await apps.list_namespaced_deployment(NS)
    quiet_kube.patch("apps/v1", "Deployment", NS, "jellyfin", {"spec": {"replicas": 2}})
    quiet_kube.put(deployment("plex", replicas=5))

    seen: list[tuple[str, str, int]] = []
    async with k8s_watch.Watch() as watch:
        stream = watch.stream(
            apps.list_namespaced_deployment,
            NS,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=5,
        )
        async with asyncio.timeout(5):
            async for event in stream:
                obj = event["object"]
                seen.append((event["type"], obj.metadata.name, obj.spec.replicas))
                if len(seen) == 3:
                    break
                quiet_kube.delete("apps/v1", "Deployment", NS, "plex")
    assert seen == [("MODIFIED", "jellyfin", 2), ("ADDED", "plex", 5), ("DELETED", "plex", 5)]


async def test_a_raw_watch_without_version_starts_with_synthetic_added_events(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin", replicas=1))
    quiet_kube.put(deployment("plex", replicas=2))
    events = raw_watch(apps, timeout_seconds=5)
    first = await take(events, 2)
    quiet_kube.patch("apps/v1", "Deployment", NS, "plex", {"spec": {"replicas": 3}})
    later = await take(events, 1)
    await events.aclose()

    assert kinds_and_replicas(first + later) == [("ADDED", 1), ("ADDED", 2), ("MODIFIED", 3)]
    assert first[0]["object"]["kind"] == "Deployment"  # watch objects keep their type
    assert later[0]["object"]["metadata"]["resourceVersion"] == quiet_kube.resource_version


async def test_deleted_carries_the_last_state_with_a_new_resource_version(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    before = quiet_kube.put(deployment("jellyfin", replicas=2))
    events = raw_watch(apps, resource_version=before["metadata"]["resourceVersion"])
    await apps.delete_namespaced_deployment("jellyfin", NS)
    (deleted,) = await take(events, 1)
    await events.aclose()

    assert deleted["type"] == "DELETED"
    assert deleted["object"]["spec"] == before["spec"]
    assert int(deleted["object"]["metadata"]["resourceVersion"]) > int(
        before["metadata"]["resourceVersion"]
    )


async def test_a_selected_watch_sees_objects_enter_and_leave_its_selection(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin", labels={"tier": "web"}))
    quiet_kube.put(deployment("plex", labels={"tier": "db"}))
    events = raw_watch(apps, label_selector="tier in (web,edge)", timeout_seconds=5)
    (initial,) = await take(events, 1)
    relabel = "apps/v1", "Deployment", NS
    quiet_kube.patch(*relabel, "jellyfin", {"metadata": {"labels": {"tier": "db"}}})
    quiet_kube.patch(*relabel, "plex", {"metadata": {"labels": {"tier": "edge"}}})
    quiet_kube.patch(*relabel, "jellyfin", {"spec": {"replicas": 9}})  # outside: unseen
    quiet_kube.patch(*relabel, "plex", {"spec": {"replicas": 4}})
    changes = await take(events, 3)
    await events.aclose()

    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in [initial, *changes]]
    assert seen == [
        ("ADDED", "jellyfin"),
        ("DELETED", "jellyfin"),
        ("ADDED", "plex"),
        ("MODIFIED", "plex"),
    ]


async def test_a_field_selector_watches_one_object(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    since = quiet_kube.resource_version
    quiet_kube.put(deployment("plex"))
    quiet_kube.put(deployment("jellyfin"))
    events = raw_watch(apps, field_selector="metadata.name=jellyfin", resource_version=since)
    (event,) = await take(events, 1)
    await events.aclose()
    assert event["object"]["metadata"]["name"] == "jellyfin"


async def test_bookmarks_come_on_demand_with_the_current_version(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin"))
    plain = raw_watch(apps, resource_version=quiet_kube.resource_version)
    bookmarked = raw_watch(
        apps, resource_version=quiet_kube.resource_version, allow_watch_bookmarks=True
    )
    reads = [asyncio.ensure_future(take(plain, 1)), asyncio.ensure_future(take(bookmarked, 1))]
    await until(lambda: quiet_kube.open_watches == 2)
    quiet_kube.send_bookmarks()
    quiet_kube.put(deployment("plex"))
    plain_event, bookmark = [events[0] for events in await asyncio.gather(*reads)]
    await plain.aclose()
    await bookmarked.aclose()

    assert bookmark == {
        "type": "BOOKMARK",
        "object": {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {"resourceVersion": "1"},
        },
    }
    assert plain_event["type"] == "ADDED"  # no bookmark for a watch that did not ask


async def test_bookmarks_also_come_every_interval(kube_client: k8s_client.ApiClient) -> None:
    async with FakeKube(bookmark_interval=0.05) as fake:
        kube_client.configuration.host = fake.url
        apps = k8s_client.AppsV1Api(kube_client)
        events = raw_watch(apps, allow_watch_bookmarks=True, timeout_seconds=5)
        bookmarks = await take(events, 2)
        await events.aclose()
    assert [event["type"] for event in bookmarks] == ["BOOKMARK", "BOOKMARK"]


async def test_the_server_ends_a_watch_after_timeout_seconds(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    started = time.monotonic()
    events = [event async for event in raw_watch(apps, timeout_seconds=1)]
    assert events == []
    assert 0.9 < time.monotonic() - started < 3
    assert quiet_kube.open_watches == 0


async def test_after_compaction_every_earlier_version_gets_one_410_error_event(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin"))
    patched = quiet_kube.patch("apps/v1", "Deployment", NS, "jellyfin", {"spec": {"replicas": 2}})
    quiet_kube.compact()
    latest = patched["metadata"]["resourceVersion"]
    events = [event async for event in raw_watch(apps, resource_version=latest)]
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"
    assert events[0]["object"]["kind"] == "Status"

    listed = await apps.list_namespaced_deployment(NS)  # a new list gives a version to watch from
    still = raw_watch(apps, resource_version=listed.metadata.resource_version, timeout_seconds=5)
    quiet_kube.patch("apps/v1", "Deployment", NS, "jellyfin", {"spec": {"replicas": 3}})
    assert kinds_and_replicas(await take(still, 1)) == [("MODIFIED", 3)]
    await still.aclose()


async def test_the_watch_helper_raises_410_gone_after_compaction(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    old = quiet_kube.put(deployment("jellyfin"))["metadata"]["resourceVersion"]
    quiet_kube.put(deployment("plex"))
    quiet_kube.compact()
    async with k8s_watch.Watch() as watch:
        stream = watch.stream(
            apps.list_namespaced_deployment, NS, resource_version=old, timeout_seconds=5
        )
        with pytest.raises(ApiException) as raised:
            async for _ in stream:
                pass
    assert raised.value.status == 410


async def test_a_watch_can_resume_only_within_the_history_limit(
    kube_client: k8s_client.ApiClient,
) -> None:
    async with FakeKube(history_limit=3, controller=False) as fake:
        kube_client.configuration.host = fake.url
        apps = k8s_client.AppsV1Api(kube_client)
        for replicas in range(5):  # versions 1..5; the history keeps 3, 4 and 5
            fake.put(deployment("jellyfin", replicas=replicas))
        expired = [event async for event in raw_watch(apps, resource_version="1")]
        resumed = raw_watch(apps, resource_version="2")
        replayed = await take(resumed, 3)
        await resumed.aclose()
    assert [event["type"] for event in expired] == ["ERROR"]
    assert kinds_and_replicas(replayed) == [("MODIFIED", 2), ("MODIFIED", 3), ("MODIFIED", 4)]


# Writes


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (MERGE, {"spec": {"replicas": 3}, "metadata": {"labels": {"extra": None}}}),
        (STRATEGIC, {"spec": {"replicas": 3}, "metadata": {"labels": {"extra": None}}}),
        (
            JSON_PATCH,
            [
                {"op": "test", "path": "/spec/replicas", "value": 1},
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "remove", "path": "/metadata/labels/extra"},
            ],
        ),
    ],
)
async def test_each_patch_type_sets_one_field_and_removes_another(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api, content_type: str, body: object
) -> None:
    quiet_kube.put(deployment("jellyfin", replicas=1, labels={"app": "jellyfin", "extra": "x"}))
    patched = await apps.patch_namespaced_deployment(
        "jellyfin", NS, body, _content_type=content_type
    )
    assert patched.spec.replicas == 3
    assert patched.metadata.labels == {"app": "jellyfin"}
    assert quiet_kube.requests[-1].content_type == content_type


async def test_the_client_sends_a_dict_as_strategic_merge_and_a_list_as_json_patch(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin"))
    await apps.patch_namespaced_deployment("jellyfin", NS, {"spec": {"replicas": 2}})
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 4}]
    patched = await apps.patch_namespaced_deployment("jellyfin", NS, ops)
    assert [r.content_type for r in quiet_kube.requests] == [STRATEGIC, JSON_PATCH]
    assert patched.spec.replicas == 4


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/apply-patch+yaml", {"spec": {}}, 415),
        ("application/json", {"spec": {}}, 415),
        (JSON_PATCH, [{"op": "test", "path": "/spec/replicas", "value": 7}], 422),
        (JSON_PATCH, [{"op": "remove", "path": "/spec/nothing"}], 422),
        (JSON_PATCH, {"op": "remove"}, 400),
        (MERGE, {"spec": {"replicas": -1}}, 422),
        (MERGE, {"metadata": {"name": "renamed"}}, 422),
        (MERGE, {"metadata": {"namespace": "elsewhere"}}, 422),
        (MERGE, {"metadata": {"resourceVersion": "999"}}, 409),
    ],
)
async def test_a_refused_patch_changes_nothing(
    quiet_kube: FakeKube,
    apps: k8s_client.AppsV1Api,
    content_type: str,
    body: object,
    status: int,
) -> None:
    before = quiet_kube.put(deployment("jellyfin"))
    with pytest.raises(ApiException) as raised:
        await apps.patch_namespaced_deployment("jellyfin", NS, body, _content_type=content_type)
    assert raised.value.status == status
    assert status_body(raised.value)["code"] == status
    assert quiet_kube.get("apps/v1", "Deployment", NS, "jellyfin") == before


async def test_invalid_replicas_get_422_naming_the_field(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin"))
    with pytest.raises(ApiException) as raised:
        await apps.patch_namespaced_deployment(
            "jellyfin", NS, {"spec": {"replicas": "two"}}, _content_type=MERGE
        )
    body = status_body(raised.value)
    assert (raised.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"].startswith('Deployment.apps "jellyfin" is invalid: spec.replicas:')
    assert body["details"]["causes"][0]["field"] == "spec.replicas"


async def test_the_scale_subresource_reads_and_sets_replicas(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.put(deployment("jellyfin", replicas=1))
    await until(
        lambda: (
            (fake_kube.get("apps/v1", "Deployment", NS, "jellyfin") or {})
            .get("status", {})
            .get("replicas")
            == 1
        )
    )
    scale = await apps.read_namespaced_deployment_scale("jellyfin", NS)
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (
        1,
        1,
        "app=jellyfin",
    )

    patched = await apps.patch_namespaced_deployment_scale(
        "jellyfin", NS, {"spec": {"replicas": 3}}, _content_type=MERGE
    )
    assert (patched.kind, patched.spec.replicas) == ("Scale", 3)
    replaced = await apps.replace_namespaced_deployment_scale(
        "jellyfin", NS, {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 2}}
    )
    assert replaced.spec.replicas == 2
    assert fake_kube.get("apps/v1", "Deployment", NS, "jellyfin")["spec"]["replicas"] == 2  # type: ignore[index]

    with pytest.raises(ApiException) as raised:
        await apps.patch_namespaced_deployment_scale(
            "jellyfin", NS, {"spec": {"replicas": -2}}, _content_type=MERGE
        )
    assert status_body(raised.value)["message"].startswith(
        'Scale.autoscaling "jellyfin" is invalid: spec.replicas: Invalid value: -2'
    )


async def test_the_status_subresource_changes_only_status_and_the_object_only_the_rest(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    quiet_kube.put(deployment("jellyfin", replicas=1))
    patched = await apps.patch_namespaced_deployment_status(
        "jellyfin",
        NS,
        {"status": {"readyReplicas": 1}, "spec": {"replicas": 8}},
        _content_type=MERGE,
    )
    assert (patched.spec.replicas, patched.status.ready_replicas) == (1, 1)
    assert patched.metadata.generation == 1

    main = await apps.patch_namespaced_deployment(
        "jellyfin",
        NS,
        {"status": {"readyReplicas": 5}, "spec": {"replicas": 2}},
        _content_type=MERGE,
    )
    assert (main.spec.replicas, main.status.ready_replicas) == (2, 1)
    read = await apps.read_namespaced_deployment_status("jellyfin", NS)
    assert read.status.ready_replicas == 1


async def test_create_answers_201_and_a_second_create_409(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    created, status, _ = await apps.create_namespaced_deployment_with_http_info(
        NS, deployment("jellyfin")
    )
    assert status == 201
    assert created.metadata.namespace == NS
    with pytest.raises(ApiException) as raised:
        await apps.create_namespaced_deployment(NS, deployment("jellyfin"))
    body = status_body(raised.value)
    assert (raised.value.status, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'deployments.apps "jellyfin" already exists'


async def test_create_fills_in_generate_name_and_the_namespace_from_the_url(
    quiet_kube: FakeKube, core: k8s_client.CoreV1Api
) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "scan-"}}
    created = await core.create_namespaced_config_map(NS, body)
    assert created.metadata.name.startswith("scan-")
    assert len(created.metadata.name) == len("scan-") + 5
    assert created.metadata.namespace == NS
    assert created.metadata.uid
    assert created.metadata.creation_timestamp


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "metadata.name"),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}, "kind"),
        ({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "x"}}, "apiVersion"),
        (
            {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}},
            "metadata.namespace",
        ),
        ({"kind": "ConfigMap", "metadata": {"name": "Not_A_Name"}}, "metadata.name"),
    ],
)
async def test_create_refuses_a_bad_object_with_422(
    quiet_kube: FakeKube, core: k8s_client.CoreV1Api, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiException) as raised:
        await core.create_namespaced_config_map(NS, body)
    status = status_body(raised.value)
    assert (raised.value.status, status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == field
    assert quiet_kube.objects("v1", "ConfigMap") == []


async def test_replace_checks_a_given_resource_version(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    stale = quiet_kube.put(deployment("jellyfin", replicas=1))
    quiet_kube.patch("apps/v1", "Deployment", NS, "jellyfin", {"spec": {"replicas": 2}})
    with pytest.raises(ApiException) as raised:
        await apps.replace_namespaced_deployment("jellyfin", NS, stale)
    assert (raised.value.status, status_body(raised.value)["reason"]) == (409, "Conflict")

    unconditional = deployment("jellyfin", replicas=6)
    replaced = await apps.replace_namespaced_deployment("jellyfin", NS, unconditional)
    assert replaced.spec.replicas == 6


async def test_a_write_that_changes_nothing_keeps_the_version_and_sends_no_event(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    version = quiet_kube.put(deployment("jellyfin", replicas=2))["metadata"]["resourceVersion"]
    same = await apps.patch_namespaced_deployment(
        "jellyfin", NS, {"spec": {"replicas": 2}}, _content_type=MERGE
    )
    assert same.metadata.resource_version == version == quiet_kube.resource_version


async def test_delete_answers_a_success_status_and_honours_propagation_policies(
    quiet_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    for name in ("a", "b", "c"):
        quiet_kube.put(deployment(name))
    answer = await apps.delete_namespaced_deployment(
        "a", NS, body={"propagationPolicy": "Foreground"}
    )
    assert (answer.status, answer.details.name, answer.details.kind) == (
        "Success",
        "a",
        "deployments",
    )
    await apps.delete_namespaced_deployment("b", NS, propagation_policy="Orphan")
    with pytest.raises(ApiException) as raised:
        await apps.delete_namespaced_deployment("c", NS, propagation_policy="Sometimes")
    assert raised.value.status == 422
    assert [d["metadata"]["name"] for d in quiet_kube.objects("apps/v1", "Deployment")] == ["c"]


async def test_delete_collection_removes_only_the_labelled_objects(
    quiet_kube: FakeKube, core: k8s_client.CoreV1Api
) -> None:
    def config_map(name: str, labels: dict[str, str], namespace: str = NS) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
        }

    launched = {"app.kubernetes.io/managed-by": "mqtt-kube", "mqtt-kube/binding": "job.scan"}
    quiet_kube.put(config_map("one", launched))
    quiet_kube.put(config_map("two", {**launched, "extra": "yes"}))
    quiet_kube.put(config_map("mine", {"app.kubernetes.io/managed-by": "someone"}))
    quiet_kube.put(config_map("far", launched, namespace="other"))

    await core.delete_collection_namespaced_config_map(
        NS,
        label_selector="app.kubernetes.io/managed-by=mqtt-kube,mqtt-kube/binding=job.scan",
        propagation_policy="Background",
    )
    left = [
        (c["metadata"]["namespace"], c["metadata"]["name"])
        for c in quiet_kube.objects("v1", "ConfigMap")
    ]
    assert left == [("media", "mine"), ("other", "far")]


# Errors


async def test_a_missing_object_gets_404_with_the_real_status_body(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    with pytest.raises(ApiException) as raised:
        await apps.read_namespaced_deployment("x", NS)
    assert raised.value.status == 404
    assert status_body(raised.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "x" not found',
        "reason": "NotFound",
        "details": {"name": "x", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("GET", "/apis/apps/v1/namespaces/media/gadgets", 404, "NotFound"),
        ("GET", "/apis/nothing.example/v1", 404, "NotFound"),
        ("GET", "/apis/apps/v1/deployments/jellyfin", 404, "NotFound"),
        ("GET", "/api/v1/namespaces/media/configmaps/x/status", 404, "NotFound"),
        ("POST", "/apis/apps/v1/namespaces/media/deployments/x", 405, "MethodNotAllowed"),
        ("POST", "/apis/apps/v1/deployments", 405, "MethodNotAllowed"),
        ("DELETE", "/apis/apps/v1/namespaces/media/deployments/x/scale", 405, "MethodNotAllowed"),
        ("PUT", "/api/v1", 405, "MethodNotAllowed"),
        ("GET", "/api/v1/pods?watch=true&resourceVersion=abc", 400, "BadRequest"),
        ("GET", "/api/v1/pods?labelSelector=a%20in%20(", 400, "BadRequest"),
        ("GET", "/api/v1/pods?fieldSelector=status.phase%3DRunning", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/media/configmaps", 400, "BadRequest"),
    ],
)
async def test_every_refusal_carries_a_status_body(
    fake_kube: FakeKube, method: str, path: str, status: int, reason: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, fake_kube.url + path, data=b"not json") as response,
    ):
        body = await response.json()
    assert (response.status, body["kind"], body["code"], body["reason"]) == (
        status,
        "Status",
        status,
        reason,
    )


# Discovery


async def test_discovery_lists_core_and_apps_resources_with_subresources(
    fake_kube: FakeKube, kube_client: k8s_client.ApiClient
) -> None:
    core = await k8s_client.CoreV1Api(kube_client).get_api_resources()
    by_name = {r.name: r for r in core.resources}
    assert core.group_version == "v1"
    assert (by_name["pods"].namespaced, by_name["pods"].kind) == (True, "Pod")
    assert not by_name["nodes"].namespaced
    assert "configmaps/status" not in by_name

    apps = await k8s_client.AppsV1Api(kube_client).get_api_resources()
    by_name = {r.name: r for r in apps.resources}
    assert by_name["deployments"].singular_name == "deployment"
    assert "watch" in by_name["deployments"].verbs
    assert (by_name["deployments/scale"].kind, by_name["deployments/scale"].group) == (
        "Scale",
        "autoscaling",
    )
    assert "deployments/status" in by_name
    assert "daemonsets/scale" not in by_name

    groups = await k8s_client.ApisApi(kube_client).get_api_versions()
    names = {group.name for group in groups.groups}
    assert {"apps", "batch", "coordination.k8s.io"} <= names
    versions = await k8s_client.CoreApi(kube_client).get_api_versions()
    assert versions.versions == ["v1"]
    code = await k8s_client.VersionApi(kube_client).get_code()
    assert code.major == "1"


async def test_a_registered_custom_resource_is_discovered_and_served(
    fake_kube: FakeKube, kube_client: k8s_client.ApiClient
) -> None:
    fake_kube.add_resource(
        group="example.com", version="v1", kind="Widget", plural="widgets", scale=True
    )
    custom = k8s_client.CustomObjectsApi(kube_client)
    listing = await custom.get_api_resources("example.com", "v1")
    assert {r.name for r in listing.resources} == {"widgets", "widgets/scale", "widgets/status"}
    groups = await k8s_client.ApisApi(kube_client).get_api_versions()
    assert "example.com" in {group.name for group in groups.groups}

    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "knob"},
        "spec": {"size": 1},
    }
    await custom.create_namespaced_custom_object("example.com", "v1", NS, "widgets", widget)
    patched = await custom.patch_namespaced_custom_object(
        "example.com", "v1", NS, "widgets", "knob", {"spec": {"size": 2}}, _content_type=MERGE
    )
    assert patched["spec"] == {"size": 2}
    with pytest.raises(ApiException) as raised:
        await custom.patch_namespaced_custom_object(
            "example.com", "v1", NS, "widgets", "knob", {"spec": {}}, _content_type=STRATEGIC
        )
    assert raised.value.status == 415
    listed = await custom.list_namespaced_custom_object("example.com", "v1", NS, "widgets")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["knob"]


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


# Credentials


async def test_the_written_kubeconfig_loads_with_the_real_client(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(deployment("jellyfin"))
    path = fake_kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    configuration = k8s_client.Configuration()
    await k8s_config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == fake_kube.url
    async with k8s_client.ApiClient(configuration) as api:
        listed = await k8s_client.AppsV1Api(api).list_namespaced_deployment(NS)
    assert [d.metadata.name for d in listed.items] == ["jellyfin"]


async def test_a_token_is_enforced_when_given(tmp_path: Path) -> None:
    async with FakeKube(token="s3cret") as fake:
        path = fake.write_kubeconfig(tmp_path / "kubeconfig")
        good = k8s_client.Configuration()
        await k8s_config.load_kube_config(config_file=str(path), client_configuration=good)
        async with k8s_client.ApiClient(good) as api:
            await k8s_client.CoreV1Api(api).list_namespaced_config_map(NS)
        bad = k8s_client.Configuration(host=fake.url, api_key={"BearerToken": "Bearer wrong"})
        async with k8s_client.ApiClient(bad) as api:
            with pytest.raises(ApiException) as raised:
                await k8s_client.CoreV1Api(api).list_namespaced_config_map(NS)
    assert raised.value.status == 401
    assert status_body(raised.value)["reason"] == "Unauthorized"
    assert fake.count() == 2  # refused requests are recorded too


# Pure rules


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app=", {"app": ""}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app=web,tier=front", {"app": "web", "tier": "front"}, True),
        ("app=web,tier=front", {"app": "web"}, False),
        ("tier in (front, edge)", {"tier": "edge"}, True),
        ("tier in (front,edge),app", {"tier": "edge"}, False),
        ("tier notin (front)", {}, True),
        ("tier notin (front)", {"tier": "front"}, False),
        ("tier", {"tier": ""}, True),
        ("!tier", {"tier": ""}, False),
        ("example.com/owner=me", {"example.com/owner": "me"}, True),
    ],
)
def test_label_selectors_match_as_the_api_server_does(
    selector: str, labels: dict[str, str], expected: bool
) -> None:
    obj = {"metadata": {"labels": labels}}
    assert LabelSelector.parse(selector).matches(obj) is expected


@pytest.mark.parametrize("selector", ["=web", "a in (b", "app=we b", "a,,b", "Bad Key=x"])
def test_a_bad_label_selector_is_refused_naming_it(selector: str) -> None:
    with pytest.raises(StatusError, match="labelSelector") as raised:
        LabelSelector.parse(selector)
    assert raised.value.code == 400


def test_field_selectors_match_name_and_namespace() -> None:
    obj = {"metadata": {"name": "a", "namespace": "b"}}
    assert FieldSelector.parse("metadata.name=a,metadata.namespace==b").matches(obj)
    assert not FieldSelector.parse("metadata.name!=a").matches(obj)
    with pytest.raises(StatusError, match=r"field label not supported: spec\.x"):
        FieldSelector.parse("spec.x=1")


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        (
            {"a": 1, "b": {"c": 2, "d": 3}},
            {"b": {"c": None, "e": 4}},
            {"a": 1, "b": {"d": 3, "e": 4}},
        ),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": 1}}, {"a": 5}, {"a": 5}),
    ],
)
def test_merge_patch_follows_rfc_7386(
    target: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    original = json.dumps(target)
    assert merge_patch(target, patch) == expected
    assert json.dumps(target) == original  # the target is not changed


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        ([{"op": "add", "path": "/l/-", "value": 3}], {"l": [1, 2, 3], "m": {"a/b": 1}}),
        ([{"op": "add", "path": "/l/0", "value": 0}], {"l": [0, 1, 2], "m": {"a/b": 1}}),
        ([{"op": "remove", "path": "/m/a~1b"}], {"l": [1, 2], "m": {}}),
        ([{"op": "replace", "path": "/l/1", "value": 9}], {"l": [1, 9], "m": {"a/b": 1}}),
        ([{"op": "move", "from": "/l", "path": "/n"}], {"m": {"a/b": 1}, "n": [1, 2]}),
        ([{"op": "copy", "from": "/l/0", "path": "/m/c"}], {"l": [1, 2], "m": {"a/b": 1, "c": 1}}),
    ],
)
def test_json_patch_follows_rfc_6902(
    operations: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    assert json_patch({"l": [1, 2], "m": {"a/b": 1}}, operations) == expected


@pytest.mark.parametrize(
    ("operations", "code"),
    [
        ([{"op": "test", "path": "/a", "value": 2}], 422),
        ([{"op": "replace", "path": "/missing", "value": 1}], 422),
        ([{"op": "add", "path": "/l/7", "value": 1}], 422),
        ([{"op": "jump", "path": "/a"}], 400),
        ([{"op": "add", "path": "a", "value": 1}], 400),
        ([{"op": "add", "path": "/a"}], 400),
        ("not a list", 400),
    ],
)
def test_a_json_patch_that_cannot_apply_is_refused(operations: object, code: int) -> None:
    with pytest.raises(StatusError) as raised:
        json_patch({"a": 1, "l": []}, operations)
    assert raised.value.code == code


def test_objects_load_from_a_multi_document_file_with_lists(tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n"
    )
    assert [obj["metadata"]["name"] for obj in load_objects(path)] == ["a", "b"]


def test_the_command_names_the_file_and_document_of_a_bad_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\n---\njust: text\n")
    assert main(["--objects", str(path), "--port", "0"]) == 2
    assert f"{path}: document 2: not a Kubernetes object" in capsys.readouterr().err


def test_the_command_names_the_file_and_object_the_server_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_A_Name}\n")
    assert main(["--objects", str(path), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert f'{path}: object 1: ConfigMap "Not_A_Name" is invalid: metadata.name' in error

"""List and watch at the fake API server through the real client: resource versions, synthetic
ADDED, selectors and objects leaving them, DELETED, bookmarks, timeoutSeconds, 410 after
compaction or beyond the history.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import watch as k8s_watch
from kubernetes_asyncio.client.exceptions import ApiException

from mqtt_kube.testing.fakekube import FakeKube
from tests.support.fake_api_calls import (
    MERGE,
    NS,
    deployment,
    kinds_and_replicas,
    raw_watch,
    take,
)
from tests.support.waiting import until

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

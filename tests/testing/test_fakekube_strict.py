"""The fake Kubernetes API server is strict where the real one is, through the real client.

Covered (unknown fields are in test_fakekube_strict_fields.py): /status only where discovery
lists it (ConfigMap, a CRD without it); a JSON patch `replace` or `add` on a missing path
answered with the real server's opaque 422, `add` of a missing key accepted;
`limit`/`continue` pages from one resourceVersion, 410 for a token older than the history,
400 for a bad one; bearer tokens that expire by time or at once; held requests; new
connections refused while an open watch goes on; request headers kept; the table of built-in
kinds agreeing with the fake on /status and /scale.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio.client.exceptions import ApiException

from mqtt_kube.core.kinds import BUILTIN_KINDS
from mqtt_kube.testing.fakekube import DEFAULT_BEARER, FakeKube
from tests.support.fake_api_calls import (
    JSON_PATCH,
    MERGE,
    NS,
    deployment,
    raw_watch,
    status_body,
    take,
)
from tests.support.strict_calls import OPAQUE_422, failure, raw_patch
from tests.support.waiting import until

# Subresources as discovery lists them


async def test_status_is_served_only_for_resources_whose_discovery_lists_it(
    fake_kube: FakeKube, core: k8s_client.CoreV1Api, custom: k8s_client.CustomObjectsApi
) -> None:
    fake_kube.add_resource(
        group="example.com", version="v1", kind="Widget", plural="widgets", status=False
    )
    fake_kube.put(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": NS}}
    )
    fake_kube.put(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": NS},
        }
    )
    listed = await core.get_api_resources()
    names = {resource.name for resource in listed.resources}
    assert {"configmaps", "pods", "pods/status", "nodes/status"} <= names
    assert "configmaps/status" not in names
    assert "secrets/status" not in names
    widgets = await custom.get_api_resources("example.com", "v1")
    assert [resource.name for resource in widgets.resources] == ["widgets"]

    for path in (
        f"/api/v1/namespaces/{NS}/configmaps/c/status",
        f"/apis/example.com/v1/namespaces/{NS}/widgets/w/status",
    ):
        response = await core.api_client.call_api(
            path,
            "PATCH",
            header_params={"Content-Type": MERGE},
            body={"status": {"ready": True}},
            auth_settings=["BearerToken"],
            _preload_content=False,
        )
        body = await response.json()
        response.release()
        assert (response.status, body["message"]) == (
            404,
            "the server could not find the requested resource",
        ), path


# JSON patch


async def test_a_json_patch_on_a_missing_path_gets_the_real_servers_opaque_422(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.put(deployment("jellyfin"))
    limits = "/spec/template/spec/containers/0/resources/limits/memory"
    for op in ("replace", "add", "remove"):
        status, body, _ = await raw_patch(
            apps, [{"op": op, "path": limits, "value": "1Gi"}], content_type=JSON_PATCH
        )
        assert (status, body["reason"], body["message"], body["details"]) == (
            422,
            "Invalid",
            OPAQUE_422,
            {},
        ), op


async def test_a_json_patch_add_sets_a_missing_key_whose_parent_exists(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    body = deployment("jellyfin")
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
    fake_kube.put(body)
    path = "/spec/template/spec/containers/0/resources/limits/memory"
    status, patched, _ = await raw_patch(
        apps, [{"op": "add", "path": path, "value": "1Gi"}], content_type=JSON_PATCH
    )
    assert status == 200
    resources = patched["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"cpu": "1", "memory": "1Gi"}}


# Pages


def names(listed: Any) -> list[str]:
    return [item.metadata.name for item in listed.items]


async def test_a_list_comes_in_pages_from_one_resource_version(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.controller = False
    for name in ("a", "b", "c", "d", "e"):
        fake_kube.put(deployment(name))
    first = await apps.list_namespaced_deployment(NS, limit=2)
    assert names(first) == ["a", "b"]
    assert first.metadata.remaining_item_count == 3
    version = first.metadata.resource_version

    fake_kube.delete("apps/v1", "Deployment", NS, "c")  # changes between pages do not show
    fake_kube.put(deployment("bb"))
    fake_kube.patch("apps/v1", "Deployment", NS, "d", {"spec": {"replicas": 5}})

    second = await apps.list_namespaced_deployment(NS, limit=2, _continue=first.metadata._continue)
    third = await apps.list_namespaced_deployment(NS, limit=2, _continue=second.metadata._continue)
    assert names(second) == ["c", "d"]
    assert names(third) == ["e"]
    assert second.items[1].spec.replicas == 1
    assert {second.metadata.resource_version, third.metadata.resource_version} == {version}
    assert third.metadata._continue is None
    assert third.metadata.remaining_item_count is None
    fresh = await apps.list_namespaced_deployment(NS)
    assert names(fresh) == ["a", "b", "bb", "d", "e"]


async def test_a_continue_token_older_than_the_history_gets_410_and_a_bad_one_400(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    for name in ("a", "b", "c"):
        fake_kube.put(deployment(name))
    first = await apps.list_namespaced_deployment(NS, limit=1, label_selector="app!=x")
    assert first.metadata.remaining_item_count is None  # not counted with a selector
    fake_kube.compact()
    error = await failure(
        apps.list_namespaced_deployment(NS, limit=1, _continue=first.metadata._continue)
    )
    assert (error.status, status_body(error)["reason"]) == (410, "Expired")
    error = await failure(apps.list_namespaced_deployment(NS, limit=1, _continue="garbage!"))
    assert error.status == 400
    assert status_body(error)["message"].startswith("continue key is not valid")


# Credentials


async def test_bearer_tokens_expire_by_time_or_at_once() -> None:
    async with FakeKube() as fake:
        lasting = fake.issue_token()
        brief = fake.issue_token(lifetime=0.2)

        async def status(token: str) -> int:
            configuration = k8s_client.Configuration(
                host=fake.url,
                api_key={"BearerToken": token},
                api_key_prefix={"BearerToken": "Bearer"},
            )
            async with k8s_client.ApiClient(configuration) as api:
                try:
                    await k8s_client.CoreV1Api(api).list_namespace()
                except ApiException as exc:
                    return int(exc.status)
            return 200

        assert (await status(lasting), await status(brief)) == (200, 200)
        assert await status(DEFAULT_BEARER) == 401
        await until(lambda: not fake.tokens.valid(brief))
        assert await status(brief) == 401
        fake.expire_token(lasting)
        assert await status(lasting) == 401
        assert fake.tokens.refused == 3
        assert fake.token == lasting  # the first token issued goes into the kubeconfig


# Held requests, refused connections, headers


async def test_a_held_request_gets_no_answer_until_released(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.put(deployment("jellyfin"))
    fake_kube.hang(method="GET", path_contains="/deployments/jellyfin")
    read = asyncio.ensure_future(apps.read_namespaced_deployment("jellyfin", NS))
    await until(lambda: fake_kube.hanging == 1)
    listed = await apps.list_namespaced_deployment(NS)  # others go through
    assert names(listed) == ["jellyfin"]
    assert not read.done()
    fake_kube.release_hung()
    assert (await read).metadata.name == "jellyfin"
    assert fake_kube.hanging == 0


async def test_a_held_request_ends_when_the_client_gives_up(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.put(deployment("jellyfin"))
    fake_kube.hang(method="GET")
    with pytest.raises(asyncio.TimeoutError):
        await apps.read_namespaced_deployment("jellyfin", NS, _request_timeout=0.2)
    await until(lambda: fake_kube.hanging == 0)


async def test_new_connections_are_refused_while_an_open_watch_goes_on(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.controller = False
    fake_kube.put(deployment("jellyfin"))
    events = raw_watch(apps, resource_version=fake_kube.resource_version, timeout_seconds=30)
    pending = asyncio.ensure_future(take(events, 1))
    await until(lambda: fake_kube.open_watches == 1)
    fake_kube.refuse_connections()
    version = k8s_client.VersionApi(apps.api_client)
    with pytest.raises(aiohttp.ClientConnectionError):
        await version.get_code()  # a new connection: the watch holds the only open one
    fake_kube.patch("apps/v1", "Deployment", NS, "jellyfin", {"spec": {"replicas": 4}})
    (event,) = await pending
    assert event["object"]["spec"]["replicas"] == 4
    await fake_kube.accept_connections()
    assert (await version.get_code()).git_version == "v1.31.0-fakekube"
    await events.aclose()


async def test_each_request_keeps_its_headers_and_bearer_token(
    fake_kube: FakeKube, kube_client: k8s_client.ApiClient
) -> None:
    kube_client.user_agent = "tester/1.0"
    await k8s_client.CoreV1Api(kube_client).list_namespace()
    request = fake_kube.requests[-1]
    assert request.headers["User-Agent"] == "tester/1.0"
    assert request.token == (fake_kube.token or DEFAULT_BEARER)
    assert json.loads(json.dumps(dict(request.headers)))  # plain strings


def test_the_kinds_table_agrees_with_the_fakes_subresources() -> None:
    """mqtt-kube's own table of built-in kinds and the fake (from the client's models) say
    the same of /status and /scale."""
    served = {
        resource.kind: (resource.status, resource.scale)
        for resource in FakeKube().store.resources()
    }
    table = {info.kind: (info.status, info.scalable) for info in BUILTIN_KINDS.values()}
    assert served == table

"""The fake Kubernetes API server is strict where the real one is, through the real client.

Covered: unknown fields (422 for a patch and 400 for a body under `fieldValidation=Strict`,
dropped with a `Warning` header under the default, silently under `Ignore`, an unknown
directive refused; a custom resource by its schema or keeping every field; `put()` refusing
them); /status only where discovery lists it (ConfigMap, a CRD without it); a JSON patch
`replace` or `add` on a missing path answered with the real server's opaque 422, `add` of
a missing key accepted; `limit`/`continue` pages from one resourceVersion, 410 for a token
older than the history, 400 for a bad one; bearer tokens that expire by time or at once;
held requests; new connections refused while an open watch goes on; request headers kept;
the table of built-in kinds agreeing with the fake on /status and /scale.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio.client.exceptions import ApiException

from mqtt_kube.core.kinds import BUILTIN_KINDS
from mqtt_kube.testing.fakekube import DEFAULT_BEARER, FakeKube, StatusError
from tests.support.fake_api_calls import (
    JSON_PATCH,
    MERGE,
    NS,
    deployment,
    raw_watch,
    status_body,
    take,
)
from tests.support.waiting import until

OPAQUE_422 = "the server rejected our request due to an error in our request"


@pytest.fixture
def custom(kube_client: k8s_client.ApiClient) -> k8s_client.CustomObjectsApi:
    return k8s_client.CustomObjectsApi(kube_client)


async def raw_patch(
    apps: k8s_client.AppsV1Api, body: object, *, content_type: str = MERGE, **params: Any
) -> tuple[int, dict[str, Any], list[str]]:
    """PATCH deployment jellyfin: (status, parsed body, Warning headers)."""
    response = await apps.patch_namespaced_deployment(
        "jellyfin", NS, body, _content_type=content_type, _preload_content=False, **params
    )
    try:
        return response.status, await response.json(), response.headers.getall("Warning", [])
    finally:
        response.release()


async def failure(call: Any) -> ApiException:
    with pytest.raises(ApiException) as raised:
        await call
    return raised.value


# Unknown fields


async def test_a_strict_patch_of_an_unknown_field_gets_422_naming_it(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.put(deployment("jellyfin", replicas=1))
    error = await failure(
        apps.patch_namespaced_deployment(
            "jellyfin",
            NS,
            {"spec": {"replica": 3}},
            field_validation="Strict",
            _content_type=MERGE,
        )
    )
    body = status_body(error)
    assert error.status == 422
    assert body["reason"] == "Invalid"
    assert body["message"].startswith('"" is invalid: patch: Invalid value: "{')
    assert body["message"].endswith('strict decoding error: unknown field "spec.replica"')
    assert body["details"]["causes"][0]["field"] == "patch"
    assert fake_kube.get("apps/v1", "Deployment", NS, "jellyfin")["spec"]["replicas"] == 1


async def test_without_strict_an_unknown_field_is_dropped_with_a_warning_header(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.put(deployment("jellyfin"))
    status, body, warnings = await raw_patch(
        apps, {"spec": {"replica": 3, "paused": True}, "colour": "red"}
    )
    assert status == 200
    assert sorted(warnings) == [
        '299 - "unknown field \\"colour\\""',
        '299 - "unknown field \\"spec.replica\\""',
    ]
    assert "replica" not in body["spec"]
    assert "colour" not in body
    assert body["spec"]["paused"] is True


async def test_ignore_drops_unknown_fields_silently_and_an_unknown_directive_is_refused(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.put(deployment("jellyfin"))
    status, body, warnings = await raw_patch(
        apps, {"spec": {"replica": 3}}, field_validation="Ignore"
    )
    assert (status, warnings, "replica" in body["spec"]) == (200, [], False)

    status, body, _ = await raw_patch(apps, {"spec": {"paused": True}}, field_validation="Loose")
    assert status == 400
    assert body["message"] == (
        'fieldValidation: Unsupported value: "Loose": supported values: "Ignore", "Strict", "Warn"'
    )


async def test_fields_deep_in_lists_and_maps_are_known_by_the_kinds_own_types(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    fake_kube.put(deployment("jellyfin"))
    ops = [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/resources",
            "value": {"limits": {"memory": "1Gi"}, "limit": {"cpu": "1"}},
        }
    ]
    status, body, _ = await raw_patch(apps, ops, content_type=JSON_PATCH, field_validation="Strict")
    assert status == 422
    assert body["message"].endswith(
        'unknown field "spec.template.spec.containers[0].resources.limit"'
    )
    status, body, _ = await raw_patch(apps, ops[:1], content_type=JSON_PATCH)
    assert status == 200
    assert body["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "limits": {"memory": "1Gi"}  # any key of the `limits` map is known
    }


async def test_a_strict_create_of_an_unknown_field_gets_400(
    fake_kube: FakeKube, apps: k8s_client.AppsV1Api
) -> None:
    body = deployment("jellyfin")
    body["spec"]["replica"] = 2
    error = await failure(apps.create_namespaced_deployment(NS, body, field_validation="Strict"))
    assert error.status == 400
    assert status_body(error)["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: '
        'strict decoding error: unknown field "spec.replica"'
    )
    created = await apps.create_namespaced_deployment(NS, body, _preload_content=False)
    assert created.headers.getall("Warning") == ['299 - "unknown field \\"spec.replica\\""']
    created.release()


async def test_a_custom_resource_knows_the_fields_of_its_schema_or_keeps_them_all(
    fake_kube: FakeKube, custom: k8s_client.CustomObjectsApi
) -> None:
    fake_kube.add_resource(
        group="example.com",
        version="v1",
        kind="Widget",
        plural="widgets",
        schema={
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {"size": {"type": "integer"}},
                    "x-kubernetes-preserve-unknown-fields": False,
                },
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    )
    fake_kube.add_resource(group="example.com", version="v1", kind="Gadget", plural="gadgets")
    fake_kube.put(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": NS},
            "spec": {"size": 1},
            "status": {"anything": {"goes": True}},
        }
    )
    fake_kube.put(
        {
            "apiVersion": "example.com/v1",
            "kind": "Gadget",
            "metadata": {"name": "g", "namespace": NS},
            "spec": {"whatever": [1, 2]},
        }
    )
    error = await failure(
        custom.patch_namespaced_custom_object(
            "example.com",
            "v1",
            NS,
            "widgets",
            "w",
            {"spec": {"colour": "red"}},
            field_validation="Strict",
            _content_type=MERGE,
        )
    )
    assert error.status == 422
    assert status_body(error)["message"].endswith('unknown field "spec.colour"')
    patched = await custom.patch_namespaced_custom_object(
        "example.com",
        "v1",
        NS,
        "gadgets",
        "g",
        {"spec": {"colour": "red"}},
        field_validation="Strict",
        _content_type=MERGE,
    )
    assert patched["spec"] == {"whatever": [1, 2], "colour": "red"}


def test_put_refuses_a_field_the_kind_does_not_have(fake_kube: FakeKube) -> None:
    body = deployment("jellyfin")
    body["spec"]["replica"] = 2
    with pytest.raises(StatusError, match=re.escape('unknown field "spec.replica"')):
        fake_kube.put(body)
    with pytest.raises(StatusError, match=re.escape('unknown field "status"')):
        fake_kube.put(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": NS},
                "status": {},
            }
        )


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

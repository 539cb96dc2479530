"""What the fake API server answers besides objects: exact Status bodies for refusals,
discovery of core, apps and custom resources, kubeconfig and token enforcement.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from mqtt_kube.testing.fakekube import FakeKube
from tests.support.fake_api_calls import (
    MERGE,
    NS,
    STRATEGIC,
    deployment,
    status_body,
)

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

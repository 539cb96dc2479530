"""Writes at the fake API server through the real client: merge, strategic and JSON patches,
refused patches, /scale and /status, create (generateName, 409, 422), PUT conflicts, delete
and deletecollection by label.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio.client.exceptions import ApiException

from mqtt_kube.testing.fakekube import FakeKube
from tests.support.fake_api_calls import (
    JSON_PATCH,
    MERGE,
    NS,
    STRATEGIC,
    deployment,
    status_body,
)
from tests.support.waiting import until

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

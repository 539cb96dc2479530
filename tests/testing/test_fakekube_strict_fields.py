"""The fake API server knows each kind's fields as the real one does, through the real client:
unknown fields get 422 for a patch and 400 for a body under `fieldValidation=Strict`, are
dropped with a `Warning` header under the default and silently under `Ignore`; an unknown
directive is refused; a custom resource knows its schema's fields or keeps them all; `put()`
refuses them too.
"""

from __future__ import annotations

import re

import pytest
from kubernetes_asyncio import client as k8s_client

from mqtt_kube.testing.fakekube import FakeKube, StatusError
from tests.support.fake_api_calls import (
    JSON_PATCH,
    MERGE,
    NS,
    deployment,
    status_body,
)
from tests.support.strict_calls import failure, raw_patch

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

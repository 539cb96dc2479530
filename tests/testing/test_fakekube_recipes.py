"""What the recipes rely on, served by the fake API as the real server does, through the
real client.

Covered: a Job created with an owner reference to its CronJob (controller) keeps it; an
owner reference without a uid, or a second controller, is refused with 422 in the real
server's words; a Job name longer than 63 characters is refused; a merge patch carrying a
`metadata.resourceVersion` that is no longer current is refused with 409 and one carrying
the current one applies; a CronJob gets `spec.suspend: false` by default; a Node's
`spec.unschedulable` is cleared by a merge patch of null.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio.client.exceptions import ApiException

from mqtt_kube.testing.fakekube import FakeKube

NS = "batch"
JOB_SPEC = {
    "template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox"}]}
    }
}


@pytest.fixture
def batch(kube_client: k8s_client.ApiClient) -> k8s_client.BatchV1Api:
    return k8s_client.BatchV1Api(kube_client)


def owner(name: str, uid: str, *, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": name,
        "uid": uid,
        "controller": controller,
    }


def job(name: str, owners: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "ownerReferences": owners},
        "spec": JOB_SPEC,
    }


def cronjob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": JOB_SPEC}},
    }


async def refusal(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as caught:
        await call
    return caught.value.status, json.loads(caught.value.body)


async def test_a_job_owned_by_its_cronjob_keeps_the_reference(
    fake_kube: FakeKube, batch: k8s_client.BatchV1Api
) -> None:
    uid = fake_kube.put(cronjob("backup"))["metadata"]["uid"]
    created = await batch.create_namespaced_job(NS, job("backup-manual-1", [owner("backup", uid)]))
    (reference,) = created.metadata.owner_references
    assert (reference.kind, reference.name, reference.uid, reference.controller) == (
        "CronJob",
        "backup",
        uid,
        True,
    )


@pytest.mark.parametrize(
    ("owners", "field", "message"),
    [
        pytest.param(
            [owner("backup", "")],
            "metadata.ownerReferences.uid",
            'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
            id="no-uid",
        ),
        pytest.param(
            [owner("a", "1"), owner("b", "2")],
            "metadata.ownerReferences",
            "metadata.ownerReferences: Only one reference can have Controller set to true. "
            'Found "true" in references for CronJob/a and CronJob/b',
            id="two-controllers",
        ),
    ],
)
async def test_a_bad_owner_reference_is_refused_as_the_real_server_does(
    fake_kube: FakeKube,
    batch: k8s_client.BatchV1Api,
    owners: list[dict[str, Any]],
    field: str,
    message: str,
) -> None:
    status, body = await refusal(batch.create_namespaced_job(NS, job("run", owners)))
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["message"] == f'Job.batch "run" is invalid: {message}'
    assert body["details"]["causes"][0]["field"] == field
    assert fake_kube.objects("batch/v1", "Job", NS) == []


async def test_a_job_name_longer_than_63_characters_is_refused(
    fake_kube: FakeKube, batch: k8s_client.BatchV1Api
) -> None:
    name = "n" * 64
    status, body = await refusal(batch.create_namespaced_job(NS, job(name, [])))
    assert status == 422
    assert body["message"] == (
        f'Job.batch "{name}" is invalid: metadata.name: Invalid value: "{name}": '
        "must be no more than 63 characters"
    )
    created = await batch.create_namespaced_job(NS, job("n" * 63, []))
    assert created.metadata.name == "n" * 63


async def test_a_merge_patch_with_a_stale_resource_version_is_a_conflict(
    fake_kube: FakeKube, batch: k8s_client.BatchV1Api
) -> None:
    version = fake_kube.put(cronjob("backup"))["metadata"]["resourceVersion"]
    fake_kube.patch("batch/v1", "CronJob", NS, "backup", {"metadata": {"labels": {"a": "b"}}})
    stale = {"metadata": {"resourceVersion": version}, "spec": {"suspend": True}}
    status, body = await refusal(
        batch.patch_namespaced_cron_job(
            "backup", NS, stale, _content_type="application/merge-patch+json"
        )
    )
    assert status == 409
    assert body["reason"] == "Conflict"
    assert body["message"].startswith('Operation cannot be fulfilled on cronjobs.batch "backup"')
    current = fake_kube.get("batch/v1", "CronJob", NS, "backup")
    assert current["spec"]["suspend"] is False  # the default, untouched
    fresh = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}}
    patched = await batch.patch_namespaced_cron_job(
        "backup",
        NS,
        {**fresh, "spec": {"suspend": True}},
        _content_type="application/merge-patch+json",
    )
    assert patched.spec.suspend is True


async def test_a_node_is_uncordoned_by_a_merge_patch_of_null(
    fake_kube: FakeKube, kube_client: k8s_client.ApiClient
) -> None:
    core = k8s_client.CoreV1Api(kube_client)
    fake_kube.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pi-1"}})
    merge = "application/merge-patch+json"
    cordoned = await core.patch_node("pi-1", {"spec": {"unschedulable": True}}, _content_type=merge)
    assert cordoned.spec.unschedulable is True
    await core.patch_node("pi-1", {"spec": {"unschedulable": None}}, _content_type=merge)
    assert "unschedulable" not in fake_kube.get("v1", "Node", None, "pi-1")["spec"]

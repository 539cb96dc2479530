"""What the Kubernetes client sends and how it reads the answers, against the strict fake.

Covered: every request says `mqtt-kube/<version>` as its user agent (for audit logs); a
`Warning` header of an answer is logged with the request; the real server's opaque 422 for
a JSON patch and its strict-decoding 422 become messages that say what was refused; a watch
stream the server ends on time is renewed without counting a restart, an error does count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mqtt_kube import __version__
from mqtt_kube.config.model import KubernetesSettings
from mqtt_kube.core.errors import Invalid
from mqtt_kube.core.kinds import BUILTIN_KINDS
from mqtt_kube.kube.client import JSON_PATCH, MERGE_PATCH, KubeClient
from mqtt_kube.kube.watch import ResourceWatch
from mqtt_kube.testing.fakekube import FakeKube
from tests.support.waiting import until

DEPLOYMENT = "/apis/apps/v1/namespaces/media/deployments/jellyfin"


@pytest.fixture
async def client(fake_kube: FakeKube, tmp_path: Path) -> AsyncIterator[KubeClient]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    client = await KubeClient.connect(KubernetesSettings(kubeconfig=str(kubeconfig)))
    yield client
    await client.close()


@pytest.fixture
def jellyfin(fake_kube: FakeKube) -> None:
    fake_kube.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "jellyfin", "namespace": "media"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "j"}}, "template": {}},
        }
    )


async def test_every_request_names_mqtt_kube_and_its_version(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    await client.request("GET", "/api/v1/namespaces/media/configmaps")
    async with client.open_stream(
        "/api/v1/namespaces/media/configmaps",
        query={"watch": "true", "timeoutSeconds": "1"},
        read_timeout=5,
    ) as stream:
        await stream.read()
    await client.probe()
    agents = {request.headers.get("User-Agent") for request in fake_kube.requests}
    assert agents == {f"mqtt-kube/{__version__}"}


async def test_a_warning_header_is_logged_with_its_request(
    fake_kube: FakeKube, client: KubeClient, jellyfin: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mqtt_kube.kube.client")
    await client.request(
        "PATCH", DEPLOYMENT, body={"spec": {"replica": 2}}, content_type=MERGE_PATCH
    )
    assert [record.getMessage() for record in caplog.records] == [
        f'PATCH {DEPLOYMENT}: the API server warns: unknown field "spec.replica"'
    ]


async def test_refused_patches_say_what_was_refused(client: KubeClient, jellyfin: None) -> None:
    with pytest.raises(Invalid) as strict:
        await client.request(
            "PATCH",
            DEPLOYMENT,
            query={"fieldValidation": "Strict"},
            body={"spec": {"replica": 2}},
            content_type=MERGE_PATCH,
        )
    assert str(strict.value) == f"PATCH {DEPLOYMENT}: the API does not know the field spec.replica"
    assert strict.value.unknown_fields == ("spec.replica",)
    with pytest.raises(Invalid, match="the JSON patch does not apply to the object"):
        await client.request(
            "PATCH",
            DEPLOYMENT,
            body=[{"op": "replace", "path": "/spec/paused", "value": True}],
            content_type=JSON_PATCH,
        )


async def test_a_stream_ended_on_time_is_no_restart_and_an_error_is(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    fake_kube.controller = False
    watch = ResourceWatch(client, BUILTIN_KINDS["Deployment"], "media", timeout_seconds=1)
    watch.add_listener("media", "jellyfin", lambda body: None)
    task = asyncio.create_task(watch.run())
    try:
        await until(lambda: fake_kube.watch_requests >= 3)  # two renewals after timeoutSeconds
        assert watch.restarts == 0
        await fake_kube.cut_watches()
        await until(lambda: fake_kube.watch_requests >= 4)
        assert watch.restarts == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

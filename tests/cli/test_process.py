"""mqtt-kube as a process, the way users run it: `python -m mqtt_kube CONFIG`.

Covered: ready over HTTP with status and metrics; SIGTERM publishes `offline` and exits 0
within 5 s; `--log-format json` writes one JSON object per line; credentials that cannot
be loaded stop it with one clear line and no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto, free_port
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import original_config


@contextlib.asynccontextmanager
async def started(config: Path, *extra: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m mqtt_kube [extra] CONFIG`, killed afterwards if still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mqtt_kube",
        *extra,
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def wait_ready(process: asyncio.subprocess.Process, base: str) -> None:
    async with asyncio.timeout(15):
        while process.returncode is None:
            try:
                if (await get(f"{base}/api/ready"))[0] == 200:
                    return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"exited early with {process.returncode}")


@pytest.fixture
async def config(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> tuple[Path, str]:
    fake_kube.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "plex", "namespace": "media"},
            "spec": {"replicas": 1},
        }
    )
    port = free_port()
    path = original_config(
        tmp_path, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, http_port=port
    )
    return path, f"http://127.0.0.1:{port}"


async def test_sigterm_publishes_offline_and_exits_0_within_5_seconds(
    config, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    path, base = config
    async with started(path) as process:
        await wait_ready(process, base)
        await sigterm_is_clean(process, base, mosquitto, mqtt_prefix)


async def sigterm_is_clean(
    process: asyncio.subprocess.Process, base: str, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    status, body = await get(f"{base}/api/status")
    assert status == 200
    assert json.loads(body)["bindings"][0]["binding"] == "Deployment media/plex"
    metrics = (await get(f"{base}/metrics"))[1]
    assert "mqtt_kube_mqtt_connected 1" in metrics
    async with MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/status"]) as probe:
        assert await probe.next_text(f"{mqtt_prefix}/status") == "online"
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 5) == 0
        assert time.monotonic() - began < 5
        assert await probe.next_text(f"{mqtt_prefix}/status") == "offline"
    async with MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/status"]) as late:
        retained = await late.next(f"{mqtt_prefix}/status")
        assert (retained.payload, retained.retain) == (b"offline", True)


async def test_json_logs_are_one_object_per_line(config) -> None:
    path, base = config
    async with started(path, "--log-format", "json") as process:
        await wait_ready(process, base)
        process.send_signal(signal.SIGINT)
        _, stderr = await process.communicate()
    assert process.returncode == 0
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert len(lines) >= 3
    records = [json.loads(line) for line in lines]
    assert {"level", "logger", "message"} <= set(records[0])
    assert any("running" in r["message"] for r in records)


async def test_unloadable_credentials_stop_with_one_clear_line(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"mqtt:\n  port: {free_port()}\nkubernetes:\n  kubeconfig: {kubeconfig}\n"
        "bindings:\n  - namespace: a\n    resource: Pod\n    name: b\n"
        "    watch:\n      locus: status.phase\n      topic: b/phase\n"
    )
    async with started(path) as process:
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
    text = stderr.decode()
    assert process.returncode == 1
    assert "Traceback" not in text
    assert f"cannot load Kubernetes credentials from kubeconfig {kubeconfig}" in text


async def test_status_shows_a_missing_object_without_stopping_the_rest(
    config, fake_kube: FakeKube
) -> None:
    path, base = config
    async with started(path) as process:
        await wait_ready(process, base)
        body = json.loads((await get(f"{base}/api/status"))[1])
    by_name = {b["binding"]: b for b in body["bindings"]}
    assert by_name["Job batch/nightly-backup"]["exists"] is False
    assert by_name["Deployment media/sonarr"]["exists"] is False
    assert by_name["Deployment media/plex"]["exists"] is True

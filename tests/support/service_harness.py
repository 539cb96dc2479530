"""Run the whole service in-process against the test broker and the fake API."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from mqtt_kube.bridge.service import Service
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.paths import ORIGINAL_CONFIG, ORIGINAL_JOB, ORIGINAL_SYNC_JOB
from tests.support.waiting import until


def write_config(
    folder: Path, body: str, *, broker: Mosquitto, fake: FakeKube, prefix: str, client_id: str
) -> Path:
    """A config file: the given `bindings:` (and more) under our broker, API and prefix."""
    kubeconfig = fake.write_kubeconfig(folder / "kubeconfig")
    head = (
        f"mqtt:\n  host: {broker.host}\n  port: {broker.port}\n  client-id: {client_id}\n"
        f"  topic-prefix: {prefix}\n  keepalive: 5\n"
        f"http:\n  bind: 127.0.0.1\n  port: 0\n"
        f"kubernetes:\n  kubeconfig: {kubeconfig}\n"
    )
    path = folder / "config.yaml"
    path.write_text(head + body)
    return path


def original_config(
    folder: Path, *, broker: Mosquitto, fake: FakeKube, prefix: str, http_port: int = 0
) -> Path:
    """The original-forms config, unchanged but for where the broker, HTTP and API are."""
    text = ORIGINAL_CONFIG.read_text()
    for old, new in (
        ("host: broker.home.example", f"host: {broker.host}"),
        ("port: 1883", f"port: {broker.port}"),
        ("topic-prefix: house/kube", f"topic-prefix: {prefix}"),
        ("host: 0.0.0.0\n  port: 8080", f"host: 127.0.0.1\n  port: {http_port}"),
    ):
        if old not in text:
            raise ValueError(f"{ORIGINAL_CONFIG} no longer holds {old!r}")
        text = text.replace(old, new)
    text += f"\nkubernetes:\n  kubeconfig: {fake.write_kubeconfig(folder / 'kubeconfig')}\n"
    for template in (ORIGINAL_JOB, ORIGINAL_SYNC_JOB):
        shutil.copy(template, folder / template.name)
    path = folder / ORIGINAL_CONFIG.name
    path.write_text(text)
    return path


@contextlib.asynccontextmanager
async def running_service(
    config: Config | Path, *, wait_ready: bool = True
) -> AsyncIterator[Service]:
    """The service, started (and ready); stopped, and checked to exit 0, afterwards."""
    if isinstance(config, Path):
        config = load_config(config)
    client = await KubeClient.connect(config.kubernetes)
    service = Service(config, client=client)
    task = asyncio.create_task(service.run(handle_signals=False), name="service under test")
    try:
        await until(lambda: task.done() or not (wait_ready and service.readiness()), seconds=10)
        if task.done():
            task.result()
        yield service
    finally:
        service.stop()
        status = await asyncio.wait_for(task, 10)
        await client.close()
    assert status == 0

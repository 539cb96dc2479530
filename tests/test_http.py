"""The HTTP endpoints over a real socket: health, readiness, status, metrics, the cap.

The service behind them is a small stand-in implementing the `Observable` seam; the
real service's answers are checked end to end in test_lifecycle.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mqtt_kube.config import HttpSettings
from mqtt_kube.http import HttpServer
from mqtt_kube.metrics import render_metrics


class StandIn:
    def __init__(self) -> None:
        self.reasons: list[str] = ["MQTT is not connected"]
        self.fatal: str | None = None

    def health(self) -> tuple[bool, str]:
        return (self.fatal is None, self.fatal or "ok")

    def readiness(self) -> list[str]:
        return self.reasons

    def status(self) -> dict[str, Any]:
        return {"bindings": [{"binding": "Deployment media/jellyfin", "exists": True}]}

    def metrics(self) -> str:
        return render_metrics(
            counters=[("messages_in", "MQTT messages received", 3)],
            gauges=[("mqtt_connected", "1 while connected", 1)],
        )


@pytest.fixture
async def served() -> AsyncIterator[tuple[StandIn, str, HttpServer]]:
    service = StandIn()
    server = HttpServer(HttpSettings(bind="127.0.0.1", port=0, max_connections=3), service)
    await server.start()
    yield service, f"http://127.0.0.1:{server.port}", server
    await server.stop()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_health_is_200_while_nothing_is_fatally_broken(served) -> None:
    service, base, _ = served
    assert (await get(f"{base}/api/health"))[0] == 200
    service.fatal = "lost the leader Lease"
    status, body = await get(f"{base}/api/health")
    assert status == 503
    assert "lost the leader Lease" in body


async def test_ready_is_503_with_reasons_until_everything_is_up(served) -> None:
    service, base, _ = served
    status, body = await get(f"{base}/api/ready")
    assert status == 503
    assert "MQTT is not connected" in body
    service.reasons = []
    assert (await get(f"{base}/api/ready"))[0] == 200


async def test_status_is_json_and_metrics_are_prometheus_text(served) -> None:
    _, base, _ = served
    status, body = await get(f"{base}/api/status")
    assert status == 200
    assert '"Deployment media/jellyfin"' in body
    status, body = await get(f"{base}/metrics")
    assert status == 200
    assert "# TYPE mqtt_kube_messages_in_total counter\nmqtt_kube_messages_in_total 3\n" in body
    assert "mqtt_kube_mqtt_connected 1\n" in body


async def test_connections_beyond_the_cap_are_refused(served) -> None:
    _, base, _ = served
    host, port = base.removeprefix("http://").split(":")
    idle = [await asyncio.open_connection(host, int(port)) for _ in range(4)]
    try:
        status, body = await get(f"{base}/api/health")
        assert status == 503
        assert "too many connections" in body
    finally:
        for _, writer in idle:
            writer.close()
    await asyncio.sleep(0.1)
    assert (await get(f"{base}/api/health"))[0] == 200

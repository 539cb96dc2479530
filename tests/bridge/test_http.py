"""The HTTP endpoints over a real socket: health, readiness, status, metrics, the cap.

The connection cap is checked with raw sockets: idle ones beyond it are closed oldest
first as new ones are accepted, and /api/health answers through a flood. Also: whole
numbers in /metrics, and a port already in use.

The service behind them is a small stand-in implementing the `Observable` seam; the
real service's answers are checked end to end in test_lifecycle.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mqtt_kube.bridge.http import HttpError, HttpServer
from mqtt_kube.bridge.metrics import render_metrics
from mqtt_kube.config.model import HttpSettings


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


async def open_sockets(base: str, count: int) -> list[tuple[asyncio.StreamReader, Any]]:
    host, port = base.removeprefix("http://").split(":")
    return [await asyncio.open_connection(host, int(port)) for _ in range(count)]


async def closed_by_the_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closes the socket (fails the test if it never does)."""
    async with asyncio.timeout(5):
        return await reader.read() == b""


async def raw_get(reader: asyncio.StreamReader, writer: Any, path: str) -> bytes:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    async with asyncio.timeout(5):
        return await reader.readline()


async def test_the_cap_holds_at_accept_time_by_closing_the_oldest_connections(served) -> None:
    _, base, _ = served
    sockets = await open_sockets(base, 10)  # idle: not one byte sent
    try:
        for reader, _ in sockets[:7]:
            assert await closed_by_the_server(reader)
        # the newest three are still open and served
        for reader, writer in sockets[7:]:
            assert await raw_get(reader, writer, "/api/health") == b"HTTP/1.1 200 OK\r\n"
    finally:
        for _, writer in sockets:
            writer.close()


async def test_health_answers_200_through_a_flood_of_idle_connections(served) -> None:
    _, base, _ = served
    sockets = await open_sockets(base, 3)
    try:
        status, body = await get(f"{base}/api/health")
        assert (status, body) == (200, '{"healthy": true, "reason": "ok"}')
        assert await closed_by_the_server(sockets[0][0])  # the oldest made room
    finally:
        for _, writer in sockets:
            writer.close()


def test_whole_numbers_are_printed_as_integers() -> None:
    text = render_metrics(
        counters=[("messages_out", "MQTT messages published", 1234567.0)],
        gauges=[("ratio", "A fraction", 0.125), ("big", "A large gauge", 12345678901)],
    )
    assert "mqtt_kube_messages_out_total 1234567\n" in text
    assert "mqtt_kube_ratio 0.125\n" in text
    assert "mqtt_kube_big 12345678901\n" in text


async def test_a_port_in_use_is_one_error_naming_bind_and_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HttpServer(HttpSettings(bind="127.0.0.1", port=port), StandIn())
        with pytest.raises(
            HttpError, match=rf"cannot listen on 127\.0\.0\.1:{port}: Address already in use$"
        ):
            await server.start()

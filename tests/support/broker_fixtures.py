"""Fixtures for a real mosquitto broker on a free loopback port, and helpers to watch it.

- `mosquitto`: a fresh broker per test (it starts in a few tens of ms), so a test may stop
  or restart it freely.
- `mqtt_prefix`: a topic prefix unique to the test; put every topic under it.
- `mqtt_settings`: `MqttSettings` for that broker, prefix and availability topic.
- `mqtt_probe`: an `MqttProbe` already subscribed to `<mqtt_prefix>/#`.
- `MqttProbe`: a plain aiomqtt client that records what the broker delivers:
  `await probe.next(topic)`, `await probe.next_text(topic)`, `await probe.until_text(topic,
  wanted)`, `await probe.next_config(start, device)`, `await probe.quiet(topic)`,
  `await probe.publish(topic, payload)`.
- `TcpProxy`: a relay in front of the broker that can cut connections abruptly (no MQTT
  DISCONNECT, so the broker publishes Last Wills) and refuse new ones until restored.

A test that restarts the broker should open its own probe afterwards: the `mqtt_probe`
connection does not survive the restart (it just stops recording).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any, Self

import aiomqtt
import pytest

from mqtt_kube.config.model import MqttSettings
from mqtt_kube.core.message import Message
from mqtt_kube.testing.mosquitto import HOST, Mosquitto

__all__ = [
    "MqttProbe",
    "TcpProxy",
    "mosquitto",
    "mqtt_prefix",
    "mqtt_probe",
    "mqtt_settings",
]


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A running broker with anonymous access on a free port; its log is shown on failure."""
    with Mosquitto() as broker:
        yield broker
        print(f"--- {broker!r} log ---\n{broker.log_text()}")  # pytest shows it on failure


@pytest.fixture
def mqtt_prefix(request: pytest.FixtureRequest) -> str:
    """`test/<test name>-<random>`: no two tests (or runs) share a topic."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")[:60]
    return f"test/{name}-{secrets.token_hex(3)}"


@pytest.fixture
def mqtt_settings(mosquitto: Mosquitto, mqtt_prefix: str) -> MqttSettings:
    """Connection settings for the `mosquitto` broker, scoped to `mqtt_prefix`."""
    return MqttSettings(
        client_id=f"mqtt-kube-{mqtt_prefix.rsplit('-', 1)[-1]}",
        availability_topic=f"{mqtt_prefix}/status",
        host=mosquitto.host,
        port=mosquitto.port,
        topic_prefix=mqtt_prefix,
        keepalive=10,
    )


@pytest.fixture
async def mqtt_probe(mosquitto: Mosquitto, mqtt_prefix: str) -> AsyncIterator[MqttProbe]:
    """A probe on the `mosquitto` broker that records everything under `mqtt_prefix`."""
    async with MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/#"]) as probe:
        yield probe


class MqttProbe:
    """A second MQTT client that records what the broker delivers, for assertions.

    Every message received is kept per topic; `next(topic)` hands them out in order, waiting
    when none is there yet. Nothing is lost between calls, so there is no race between
    causing a publish and starting to wait for it.
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.history: list[Message] = []  # everything received, in order
        self._unread: dict[str, deque[Message]] = {}
        self._arrived = asyncio.Condition()

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, broker: Mosquitto, *, subscribe: list[str] | None = None, **client_options: Any
    ) -> AsyncIterator[Self]:
        """Connect to `broker` (plain listener), subscribe, and record until the block ends."""
        options: dict[str, Any] = {"identifier": f"probe-{secrets.token_hex(4)}"}
        options.update(client_options)
        async with aiomqtt.Client(broker.host, broker.port, **options) as client:
            probe = cls(client)
            reader = asyncio.create_task(probe._read(), name="mqtt probe")
            try:
                for topic in subscribe or []:
                    await probe.subscribe(topic)
                yield probe
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        await self.client.subscribe(topic, qos=qos)

    async def publish(
        self, topic: str, payload: str | bytes = "", *, qos: int = 1, retain: bool = False
    ) -> None:
        await self.client.publish(topic, payload, qos=qos, retain=retain)

    async def next(self, topic: str, timeout: float = 5.0) -> Message:  # noqa: ASYNC109 - reads best
        """The oldest unread message on `topic`, waiting up to `timeout` seconds for one."""
        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(lambda: bool(self._unread.get(topic)))
                return self._unread[topic].popleft()
        except TimeoutError:
            seen = ", ".join(f"{m.topic}={m.payload[:40]!r}" for m in self.history[-10:])
            raise AssertionError(
                f"no message on {topic!r} within {timeout:g} s; last received: {seen or 'none'}"
            ) from None

    async def next_under(self, start: str, timeout: float = 10.0) -> Message:  # noqa: ASYNC109
        """The oldest unread message whose topic starts with `start` (a discovery config whose
        topic is not known beforehand)."""

        def waiting() -> str | None:
            return next((t for t, q in self._unread.items() if t.startswith(start) and q), None)

        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(lambda: waiting() is not None)
                topic = waiting()
                assert topic is not None
                return self._unread[topic].popleft()
        except TimeoutError:
            raise AssertionError(f"no message under {start!r} within {timeout:g} s") from None

    async def next_text(self, topic: str, timeout: float = 5.0) -> str:  # noqa: ASYNC109
        """The payload of `next(topic)` as text."""
        return (await self.next(topic, timeout)).payload.decode()

    async def until_text(self, topic: str, wanted: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Read `topic` until it says `wanted`; what it says on the way there is skipped (a
        state passing through, a config announced twice). Each read waits up to `timeout`."""
        while (await self.next_text(topic, timeout)) != wanted:
            pass

    async def next_config(self, start: str, device: str) -> tuple[str, dict[str, Any]]:
        """The next non-empty discovery config under `start` (`<discovery prefix>/sensor/`,
        say) whose device is named `device`: (topic, payload); others are skipped."""
        while True:
            message = await self.next_under(start)
            if message.payload and json.loads(message.payload)["device"]["name"] == device:
                return message.topic, json.loads(message.payload)

    async def quiet(self, topic: str, within: float = 0.3) -> None:
        """Assert that nothing (more) arrives on `topic` for `within` seconds."""
        await asyncio.sleep(within)
        unread = self._unread.get(topic)
        assert not unread, f"unexpected on {topic!r}: {[m.payload for m in unread or ()]}"

    def clear(self) -> None:
        """Forget unread messages (history stays)."""
        self._unread.clear()

    async def _read(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):  # the broker went away: stop recording
            await self._record()

    async def _record(self) -> None:
        async for raw in self.client.messages:
            payload = raw.payload
            assert isinstance(payload, bytes | bytearray)
            message = Message(
                topic=raw.topic.value, payload=bytes(payload), retain=raw.retain, qos=raw.qos
            )
            async with self._arrived:
                self.history.append(message)
                self._unread.setdefault(message.topic, deque()).append(message)
                self._arrived.notify_all()


class TcpProxy:
    """A loopback TCP relay to `target` that a test can cut, like a network failure.

    `cut()` drops every relayed connection without a word (the broker then publishes Last
    Wills) and stops listening, so reconnects are refused at once; `restore()` listens on
    the same port again. `pause()` holds traffic both ways (a stalled link) until `resume()`.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.host = HOST
        self.port = 0
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def __aenter__(self) -> Self:
        await self.restore()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.cut()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def cut(self) -> None:
        """Stop listening and drop every relayed connection abruptly (ends a `pause()`)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._flowing.set()  # held bytes go nowhere now: the transports are gone

    def pause(self) -> None:
        """Hold every byte in both directions until `resume()`."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def restore(self) -> None:
        """Listen again (on the same port after a `cut()`)."""
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except OSError:
                return
            self._writers.add(up_writer)
            try:
                await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
            finally:
                self._writers.discard(up_writer)
                up_writer.transport.abort()
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            self._handlers.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy bytes until EOF or an error, then close the other side."""
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

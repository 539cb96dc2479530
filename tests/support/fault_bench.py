"""The fault bench: the whole service in-process against a real mosquitto, the fake API
behind a relay that can fail, and a steady stream of numbered commands whose every accepted
one is checked against the writes the fake's store recorded. What "accepted" means, and the
scenarios run on it, are in tests/bridge/test_faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import aiomqtt

import mqtt_kube.mqtt.connection as mqtt_module
from mqtt_kube.bridge.commands import ACTION_QUEUE_LIMIT
from mqtt_kube.bridge.service import Service
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.fakekube_resources import Resource
from mqtt_kube.testing.mosquitto import HOST, Mosquitto
from tests.support.broker_fixtures import MqttProbe, TcpProxy
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

SOAK: Final = os.environ.get("MQTT_KUBE_SOAK") == "1"
NAMESPACE: Final = "faults"
SWITCHES: Final = 8
LAUNCHERS: Final = 4
INTERVAL: Final = 0.02  # seconds between two commands of the stream
PHASE: Final = 8.0 if SOAK else 1.5  # seconds of fault injection per scenario
RESTARTS: Final = 20 if SOAK else 3
CONVERGE: Final = 60.0 if SOAK else 15.0  # seconds to catch up once the faults stop
TEMPLATE: Final = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cmd-${match.input}
data:
  seq: "${match.input}"
"""


def config_body() -> str:
    """8 Deployment switches (patch + retained watch of spec.replicas) and 4 launch topics."""
    lines = ["bindings:"]
    for n in range(SWITCHES):
        lines += [
            f"  - namespace: {NAMESPACE}",
            "    resource: Deployment",
            f"    name: app-{n}",
            "    patch:",
            f"      topic: app-{n}/set",
            "      locus: spec.replicas",
            "    watch:",
            "      locus: spec.replicas",
            f"      topic: app-{n}/replicas",
            "      retain: true",
        ]
    lines += [
        f"  - namespace: {NAMESPACE}",
        "    resource: ConfigMap",
        "    name: launcher",
        "    action:",
    ]
    for n in range(LAUNCHERS):
        lines += [
            f"      - topic: launch-{n}",
            "        launch: !relpath launch.yaml",
            "        values:",
            "          map:",
            '            "re:^[0-9]+$": launch',
        ]
    return "\n".join(lines) + "\n"


def deployment(n: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"app-{n}", "namespace": NAMESPACE},
        "spec": {"replicas": 0},
    }


@dataclass
class Command:
    seq: int
    topic: str  # relative to the prefix
    launch: bool
    up: bool  # mqtt-kube was connected and subscribed when it was published
    acked: bool = False

    @property
    def accepted(self) -> bool:
        return self.up and self.acked


class Applied:
    """What reached the API server: every replicas value each Deployment took, every ConfigMap.

    Recorded at each write of the fake's store, so a value overwritten later still counts.
    """

    def __init__(self, fake: FakeKube) -> None:
        self._store = fake.store
        self._replicas: dict[str, set[int]] = {}
        self._created: set[str] = set()
        self._store.listeners.append(self._written)

    def close(self) -> None:
        self._store.listeners.remove(self._written)

    def _written(self, resource: Resource, namespace: str, name: str) -> None:
        obj = self._store.get(resource, namespace, name)
        if obj is None or namespace != NAMESPACE:
            return
        if resource.kind == "Deployment":
            self._replicas.setdefault(name, set()).add(obj["spec"]["replicas"])
        elif resource.kind == "ConfigMap":
            self._created.add(name)

    def holds(self, command: Command) -> bool:
        if command.launch:
            return f"cmd-{command.seq}" in self._created
        return command.seq in self._replicas.get(command.topic.removesuffix("/set"), set())


class CommandStream:
    """Publishes numbered commands at a steady rate with its own client, reconnecting as needed.

    Every third tick asks a launcher to create ConfigMap `cmd-<seq>`, the others ask a switch
    for replicas=seq. A tick goes to the first topic from its turn that is not full: a switch
    is full while its last accepted command has not reached the API server (so coalescing
    never replaces an accepted command), a launcher while half the action queue's worth of
    them have not (so the queue never overflows). A tick with every topic full sends nothing.
    """

    def __init__(
        self, broker: Mosquitto, prefix: str, fake: FakeKube, *, up: Callable[[], bool]
    ) -> None:
        self._broker = broker
        self._prefix = prefix
        self._up = up
        self.applied = Applied(fake)
        self.commands: list[Command] = []
        self.held = 0  # ticks that sent nothing: every topic of their kind was full
        self._waiting: dict[str, list[Command]] = {}  # topic → accepted, not applied yet
        self._task: asyncio.Task[None] | None = None
        # Stopped by a flag, not by cancellation: a cancelled aiomqtt client can hang in
        # its own disconnect.
        self._stopping = asyncio.Event()

    async def __aenter__(self) -> CommandStream:
        self._task = asyncio.create_task(self._run(), name="command stream")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
        self.applied.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await asyncio.wait_for(self._task, timeout=15)
            self._task = None

    async def _run(self) -> None:
        tick = 0
        while not self._stopping.is_set():
            try:
                async with aiomqtt.Client(
                    self._broker.host, self._broker.port, identifier=f"stream-{os.getpid()}"
                ) as client:
                    while not self._stopping.is_set():
                        tick += 1
                        topic = self._free_topic(tick)
                        if topic is None:
                            self.held += 1
                        else:
                            await self._send(client, topic)
                        await asyncio.sleep(INTERVAL)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    def _free_topic(self, tick: int) -> str | None:
        if tick % 3 == 0:
            turn, limit = tick // 3, ACTION_QUEUE_LIMIT // 2
            topics = [f"launch-{(turn + n) % LAUNCHERS}" for n in range(LAUNCHERS)]
        else:
            limit = 1
            topics = [f"app-{(tick + n) % SWITCHES}/set" for n in range(SWITCHES)]
        return next((t for t in topics if len(self._unapplied(t)) < limit), None)

    def _unapplied(self, topic: str) -> list[Command]:
        waiting = self._waiting[topic] = [
            c for c in self._waiting.get(topic, []) if not self.applied.holds(c)
        ]
        return waiting

    async def _send(self, client: aiomqtt.Client, topic: str) -> None:
        seq = len(self.commands) + 1
        command = Command(seq, topic, topic.startswith("launch-"), up=self._up())
        self.commands.append(command)
        await client.publish(f"{self._prefix}/{topic}", str(seq), qos=1, timeout=1.0)
        command.acked = True
        if command.accepted:
            self._waiting.setdefault(topic, []).append(command)

    def accepted(self) -> list[Command]:
        return [c for c in self.commands if c.accepted]

    def lost(self) -> list[Command]:
        """Accepted commands that have not reached the API server (yet)."""
        return [c for topic in list(self._waiting) for c in self._unapplied(topic)]


@dataclass
class Bench:
    """What a scenario works with."""

    service: Service
    fake: FakeKube
    broker: Mosquitto
    api_relay: FaultyRelay
    mqtt_relay: TcpProxy
    prefix: str
    down: bool = False  # set by a scenario while it takes MQTT away
    connections_expected: int = 0  # mqtt-kube's reconnect count once it is back
    injected: dict[str, int] = field(default_factory=dict)
    recoveries: list[float] = field(default_factory=list)  # seconds from a fault's end to ready

    def up(self) -> bool:
        mqtt = self.service.mqtt
        return (
            not self.down and mqtt.connected and mqtt.stats.reconnects >= self.connections_expected
        )

    def count(self, what: str, n: int = 1) -> None:
        self.injected[what] = self.injected.get(what, 0) + n

    async def back_up(self, *, seconds: float = 30.0) -> None:
        """Wait for mqtt-kube's next connection after a fault taken by `down`."""
        self.connections_expected += 1
        self.down = False
        await until(self.up, seconds=seconds)

    async def stable(self) -> None:
        """In the soak, let the link count as stable, so the reconnect backoff starts over."""
        if SOAK:
            await asyncio.sleep(mqtt_module.STABLE_SECONDS + 0.5)

    async def recovered(self, ended: float) -> None:
        """Wait for readiness again; note how long after `ended` (a monotonic time) it came."""
        await until(lambda: not self.service.readiness(), seconds=CONVERGE)
        self.recoveries.append(time.monotonic() - ended)


class FaultyRelay(TcpProxy):
    """A TcpProxy that can also cut a watch stream in the middle of an event line."""

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__(target_host, target_port)
        self.split = asyncio.Event()
        self.splits = 0

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if self.split.is_set() and b'{"type":"' in data:
                    self.split.clear()
                    self.splits += 1
                    start = data.index(b'{"type":"')
                    writer.write(data[: start + (len(data) - start) // 2])
                    await writer.drain()
                    break
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@contextlib.asynccontextmanager
async def bench(
    tmp_path: Path, broker: Mosquitto, fake: FakeKube, prefix: str
) -> AsyncIterator[Bench]:
    """The service, talking to the broker and to the fake API each through a relay."""
    for n in range(SWITCHES):
        fake.put(deployment(n))
    api_host, api_port = fake.url.removeprefix("http://").split(":")
    async with (
        FaultyRelay(api_host, int(api_port)) as api_relay,
        TcpProxy(broker.host, broker.port) as mqtt_relay,
    ):
        (tmp_path / "launch.yaml").write_text(TEMPLATE)
        config = write_config(
            tmp_path, config_body(), broker=broker, fake=fake, prefix=prefix, client_id="faults"
        )
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            kubeconfig.read_text().replace(fake.url, f"http://{HOST}:{api_relay.port}")
        )
        text = config.read_text().replace(f"port: {broker.port}\n", f"port: {mqtt_relay.port}\n")
        config.write_text(text)
        async with running_service(config) as service:
            service.client.request_timeout = 0.5
            yield Bench(service, fake, broker, api_relay, mqtt_relay, prefix)


async def http_status(service: Service, path: str) -> int:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{service.http.port}{path}") as response,
        ):
            return response.status
    except aiohttp.ClientError:
        return 0


async def retained_states(broker: Mosquitto, prefix: str) -> dict[str, str]:
    """What a newcomer receives on every switch's state topic."""
    topics = [f"{prefix}/app-{n}/replicas" for n in range(SWITCHES)]
    async with MqttProbe.connect(broker, subscribe=topics) as probe:
        return {topic: await probe.next_text(topic, timeout=5) for topic in topics}


@dataclass
class Outcome:
    sent: int
    accepted: list[Command]
    lost: list[Command]
    mismatches: list[str]

    def tally(self, *, launch: bool) -> str:
        accepted = [c for c in self.accepted if c.launch == launch]
        lost = sum(c.launch == launch for c in self.lost)
        return f"accepted {len(accepted)}, applied {len(accepted) - lost}"


async def settle(bench: Bench, stream: CommandStream) -> Outcome:
    """Stop the stream, wait until every accepted command shows at the fake, compare states."""
    await stream.stop()
    fake = bench.fake
    with contextlib.suppress(TimeoutError):
        await until(lambda: not stream.lost(), seconds=CONVERGE)
    assert not bench.service.readiness(), f"not ready again: {bench.service.readiness()}"

    def expected() -> dict[str, str]:
        return {
            f"{bench.prefix}/{obj['metadata']['name']}/replicas": str(obj["spec"]["replicas"])
            for obj in fake.objects("apps/v1", "Deployment", NAMESPACE)
        }

    mismatches: list[str] = []
    deadline = time.monotonic() + 5
    while True:
        states = await retained_states(bench.broker, bench.prefix)
        want = expected()
        mismatches = [
            f"{t}: MQTT {states.get(t)!r}, object {v!r}"
            for t, v in want.items()
            if states.get(t) != v
        ]
        if not mismatches or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return Outcome(len(stream.commands), stream.accepted(), stream.lost(), mismatches)

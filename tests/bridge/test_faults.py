"""Faults survived: the whole service in-process, a real mosquitto, the fake API behind a relay.

Every scenario runs under a steady command stream (patch commands on 8 Deployment switches,
launch commands on 4 action topics) and injects one kind of fault: broker restarts and
kills, MQTT links cut abruptly, API 5xx/429 answers, API timeouts, API connections dropped,
watch streams cut in the middle of an event, 410 storms. Afterwards the process must be
alive and ready again, the retained MQTT state must equal the objects, and no accepted
command may be lost.

"Accepted" means: the publisher got its PUBACK (QoS 1) for a command it published while
mqtt-kube was connected to that same broker and subscribed (its connection counter says it
came back after the last restart). Every command carries its own sequence number, and each
accepted one is checked on its own: a patch is applied when its Deployment took that
replicas value at some write (every write of the fake's store is recorded, so a value
overwritten later still counts), a launch when its ConfigMap `cmd-<seq>` was created.
Patch topics coalesce (last value wins), which could hide a lost command behind a later
one; so a switch gets no new command while its last accepted one has not reached the API
server, and a launcher none while half the action queue's worth of its accepted ones have
not. "Ready again" is timed from the moment each fault ends (the broker listening again,
the link restored, the fault phase over) to `readiness()` being empty. Also covered: an
object deleted between a command and its PATCH; a burst on one topic coalescing to at most
two patches.

MQTT_KUBE_SOAK=1 runs the long version (20 broker restarts and 20 link cuts, each link
then left up long enough to reset the reconnect backoff; 8 s fault phases; 200 cuts under
the fast stream); the figures each scenario prints are recorded in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import aiomqtt
import pytest

import mqtt_kube.mqtt.connection as mqtt_module
from mqtt_kube.bridge.commands import ACTION_QUEUE_LIMIT
from mqtt_kube.bridge.service import Service
from mqtt_kube.config.model import MqttSettings
from mqtt_kube.mqtt.connection import MqttConnection
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


# -- scenarios: each injects one kind of fault for a while ----------------------------------


def kill(broker: Mosquitto) -> None:
    """SIGKILL the broker, as an OOM kill or a node failure would (no clean shutdown)."""
    process = broker._process  # the harness stops brokers politely; this one must not be
    assert process is not None
    process.send_signal(signal.SIGKILL)
    process.wait()


async def broker_restarts(bench: Bench) -> None:
    for n in range(RESTARTS):
        await asyncio.sleep(PHASE / 2)
        bench.down = True
        if n % 2:
            kill(bench.broker)
            bench.broker.start()
            bench.count("broker killed (SIGKILL) and started")
        else:
            bench.broker.restart()
            bench.count("broker restarted (SIGTERM)")
        ended = time.monotonic()
        await bench.back_up()
        await bench.recovered(ended)
        await bench.stable()


async def mqtt_links_cut(bench: Bench) -> None:
    for _ in range(RESTARTS):
        await asyncio.sleep(PHASE / 2)
        bench.down = True
        await bench.mqtt_relay.cut()
        bench.count("MQTT link cut")
        await asyncio.sleep(0.2)
        await bench.mqtt_relay.restore()
        ended = time.monotonic()
        await bench.back_up()
        await bench.recovered(ended)
        await bench.stable()


async def api_errors(bench: Bench) -> None:
    """Batches of error answers to PATCH and POST, each once the last is used up.

    Batches injected faster than requests use them would outlast the phase, and a command
    meeting errors for longer than its 30 s retry budget is dropped by design.
    """
    statuses = [500, 503, 502, 504, 429]
    batches = {"PATCH": 3, "POST": 2}
    fake = bench.fake
    used_up = {method: fake.count(method=method) for method in batches}  # at this many requests

    def spent(method: str) -> bool:
        return fake.count(method=method) >= used_up[method]

    deadline = time.monotonic() + PHASE
    n = 0
    while time.monotonic() < deadline:
        status = statuses[n % len(statuses)]
        for method, size in batches.items():
            if spent(method):
                fake.fail_next(size, status=status, method=method)
                used_up[method] = fake.count(method=method) + size
                bench.count(f"API answers {status}", size)
        n += 1
        await asyncio.sleep(0.25)
    await until(lambda: all(spent(method) for method in batches), seconds=CONVERGE)
    await bench.recovered(time.monotonic())


async def api_timeouts(bench: Bench) -> None:
    deadline = time.monotonic() + PHASE
    while time.monotonic() < deadline:
        bench.fake.latency = 0.8  # above the client's 0.5 s request timeout
        bench.count("API slower than the request timeout (0.8 s > 0.5 s) windows")
        await asyncio.sleep(0.6)
        bench.fake.latency = 0.0
        await asyncio.sleep(0.4)
    await bench.recovered(time.monotonic())


async def api_connections_dropped(bench: Bench) -> None:
    deadline = time.monotonic() + PHASE
    while time.monotonic() < deadline:
        await bench.api_relay.cut()
        bench.count("API connections dropped, refused for 0.2 s")
        await asyncio.sleep(0.2)
        await bench.api_relay.restore()
        await asyncio.sleep(0.3)
    await bench.recovered(time.monotonic())


async def watch_cut_mid_event(bench: Bench) -> None:
    deadline = time.monotonic() + PHASE
    while time.monotonic() < deadline:
        bench.api_relay.split.set()  # the next event line through the relay is cut in half
        await asyncio.sleep(0.2)
        await bench.fake.cut_watches()
        bench.count("watch streams cut by the server")
        await asyncio.sleep(0.1)
    await bench.recovered(time.monotonic())
    assert bench.api_relay.splits > 0
    bench.count("watch streams cut half-way through an event line", bench.api_relay.splits)


async def gone_storm(bench: Bench) -> None:
    deadline = time.monotonic() + PHASE
    while time.monotonic() < deadline:
        bench.fake.compact()
        await bench.fake.cut_watches()
        bench.count("410 Gone (history compacted, stream cut)")
        await asyncio.sleep(0.1)
    await bench.recovered(time.monotonic())


SCENARIOS: Final[dict[str, Callable[[Bench], Awaitable[None]]]] = {
    "broker restarts and kills": broker_restarts,
    "MQTT links cut": mqtt_links_cut,
    "API 5xx and 429": api_errors,
    "API timeouts": api_timeouts,
    "API connections dropped": api_connections_dropped,
    "watch cut mid-event": watch_cut_mid_event,
    "410 storm": gone_storm,
}


@pytest.mark.timeout(600 if SOAK else 60)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_after_each_fault_the_service_is_ready_consistent_and_lost_no_command(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str, scenario: str
) -> None:
    async with bench(tmp_path, mosquitto, fake_kube, mqtt_prefix) as b:
        run_task = next(t for t in asyncio.all_tasks() if t.get_name() == "service under test")
        async with CommandStream(mosquitto, mqtt_prefix, fake_kube, up=b.up) as stream:
            await asyncio.sleep(0.5)
            await SCENARIOS[scenario](b)
            await asyncio.sleep(0.5)
            outcome = await settle(b, stream)
        assert not run_task.done()
        assert await http_status(b.service, "/api/health") == 200
        assert await http_status(b.service, "/api/ready") == 200
        print(
            f"FIGURES {scenario}: faults {b.injected}; commands sent {outcome.sent}, accepted "
            f"{len(outcome.accepted)}; patches {outcome.tally(launch=False)}; launches "
            f"{outcome.tally(launch=True)}; lost {len(outcome.lost)}; ticks held back "
            f"{stream.held}; state mismatches {len(outcome.mismatches)}; ready again "
            f"{max(b.recoveries):.2f} s after a fault ended (worst of {len(b.recoveries)}); "
            f"API errors seen {b.service.client.api_errors}; MQTT reconnects "
            f"{b.service.mqtt.stats.reconnects}; watch relists "
            f"{sum(w.relists for w in b.service.watches.values() if w is not None)}"
        )
        assert [f"{c.topic} seq {c.seq}" for c in outcome.lost] == []
        assert outcome.mismatches == []
        assert {c.launch for c in outcome.accepted} == {False, True}
        assert b.injected


async def test_an_object_deleted_between_command_and_patch_is_logged_and_followed(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        bench(tmp_path, mosquitto, fake_kube, mqtt_prefix) as b,
        MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/app-0/replicas"]) as probe,
    ):
        state = f"{mqtt_prefix}/app-0/replicas"
        assert await probe.next_text(state) == "0"
        fake_kube.latency = 0.3
        fake_kube.clear_requests()
        await probe.publish(f"{mqtt_prefix}/app-0/set", "3")
        await until(lambda: fake_kube.count(method="PATCH", path_contains="/app-0/") == 1)
        fake_kube.delete("apps/v1", "Deployment", NAMESPACE, "app-0")
        assert await probe.next_text(state) == ""
        await until(lambda: "the object does not exist" in caplog.text)
        assert f"Deployment {NAMESPACE}/app-0: command on {mqtt_prefix}/app-0/set" in caplog.text
        assert fake_kube.get("apps/v1", "Deployment", NAMESPACE, "app-0") is None

        fake_kube.latency = 0.0
        fake_kube.put(deployment(0))
        assert await probe.next_text(state) == "0"
        await probe.publish(f"{mqtt_prefix}/app-0/set", "4")
        assert await probe.next_text(state) == "4"
        assert not b.service.readiness()


async def test_a_burst_on_one_topic_coalesces_to_at_most_two_patches_and_the_last_wins(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    burst = 200
    async with (
        bench(tmp_path, mosquitto, fake_kube, mqtt_prefix),
        MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/app-1/replicas"]) as probe,
    ):
        state = f"{mqtt_prefix}/app-1/replicas"
        assert await probe.next_text(state) == "0"
        fake_kube.latency = 0.2  # the first PATCH is in flight while the rest arrive
        fake_kube.clear_requests()
        for value in range(1, burst + 1):
            await probe.client.publish(f"{mqtt_prefix}/app-1/set", str(value), qos=1)
        await until(
            lambda: (
                (fake_kube.get("apps/v1", "Deployment", NAMESPACE, "app-1") or {})["spec"][
                    "replicas"
                ]
                == burst
            )
        )
        await asyncio.sleep(0.5)
        patches = [r for r in fake_kube.requests if r.method == "PATCH"]
        print(f"FIGURES coalescing: {burst} commands on one topic -> {len(patches)} PATCH requests")
        assert 1 <= len(patches) <= 2
        assert patches[-1].body == {"spec": {"replicas": burst}}


async def test_a_patch_that_meets_api_errors_is_retried_until_applied(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = f"{mqtt_prefix}/app-2/replicas"
    async with (
        bench(tmp_path, mosquitto, fake_kube, mqtt_prefix),
        MqttProbe.connect(mosquitto, subscribe=[state]) as probe,
    ):
        assert await probe.next_text(state) == "0"
        fake_kube.clear_requests()
        fake_kube.fail_next(2, status=503, method="PATCH")
        await probe.publish(f"{mqtt_prefix}/app-2/set", "5")
        assert await probe.next_text(state) == "5"
        assert fake_kube.count(method="PATCH") == 3
    assert "injected failure: HTTP 503 ServiceUnavailable; retrying in" in caplog.text


async def test_a_patch_refused_for_good_is_not_retried(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with bench(tmp_path, mosquitto, fake_kube, mqtt_prefix) as b:
        fake_kube.clear_requests()
        fake_kube.fail_next(1, status=422, method="PATCH")
        async with MqttProbe.connect(mosquitto) as probe:
            await probe.publish(f"{mqtt_prefix}/app-3/set", "2")
        await until(lambda: b.service.counters.failed == 1)
        await asyncio.sleep(0.5)
        assert fake_kube.count(method="PATCH") == 1
    assert "retrying" not in caplog.text


async def test_a_launch_whose_answer_timed_out_is_not_launched_twice(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    async with bench(tmp_path, mosquitto, fake_kube, mqtt_prefix) as b:
        fake_kube.clear_requests()
        fake_kube.latency = 0.8  # the server creates it, but after the client gave up
        async with MqttProbe.connect(mosquitto) as probe:
            await probe.publish(f"{mqtt_prefix}/launch-1", "77")
        await until(lambda: fake_kube.count(method="POST") == 1)
        await asyncio.sleep(0.6)
        fake_kube.latency = 0.0
        await until(lambda: b.service.counters.launches == 1, seconds=10)
        assert fake_kube.count(method="POST") == 2  # the retry got 409 AlreadyExists
        names = [o["metadata"]["name"] for o in fake_kube.objects("v1", "ConfigMap", NAMESPACE)]
        assert names == ["cmd-77"]
        assert b.service.counters.failed == 0


@pytest.mark.parametrize(
    ("limit", "configured"), [(1024, "  max-payload: 1024\n"), (256 * 1024, "")]
)
async def test_a_payload_over_max_payload_is_dropped_with_a_warning_naming_the_topic(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
    limit: int,
    configured: str,
) -> None:
    fake_kube.put(deployment(0))
    body = (
        f"bindings:\n  - namespace: {NAMESPACE}\n    resource: Deployment\n    name: app-0\n"
        "    patch:\n      topic: app-0/set\n      locus: spec.replicas\n"
    )
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="limits"
    )
    config.write_text(
        config.read_text().replace("  keepalive: 5\n", "  keepalive: 5\n" + configured)
    )
    topic = f"{mqtt_prefix}/app-0/set"
    async with running_service(config) as service, MqttProbe.connect(mosquitto) as probe:
        assert service.config.mqtt.max_payload == limit
        fake_kube.clear_requests()
        await probe.publish(topic, "7" + " " * limit)  # one byte too many
        await probe.publish(topic, "5" + " " * (limit - 1))  # exactly the limit: JSON 5
        await until(lambda: fake_kube.count(method="PATCH") == 1)
        await asyncio.sleep(0.2)
        assert [r.body for r in fake_kube.requests if r.method == "PATCH"] == [
            {"spec": {"replicas": 5}}
        ]
        assert service.mqtt.stats.dropped_oversize == 1
    assert f"message on {topic} dropped: {limit + 1} bytes is more than the {limit} allowed" in (
        caplog.text
    )


@pytest.mark.timeout(600 if SOAK else 60)
async def test_links_cut_under_a_fast_stream_lose_no_acknowledged_message(
    mosquitto: Mosquitto, mqtt_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every cut would otherwise double the reconnect delay (a link must last 10 s to reset it).
    monkeypatch.setattr(mqtt_module, "STABLE_SECONDS", 0.0)
    cuts = 200 if SOAK else 8
    topic = f"{mqtt_prefix}/cmd"
    received: list[int] = []
    async with TcpProxy(mosquitto.host, mosquitto.port) as relay:
        settings = MqttSettings(
            client_id=f"cuts-{mqtt_prefix[-6:]}",
            availability_topic=f"{mqtt_prefix}/status",
            host=relay.host,
            port=relay.port,
            keepalive=5,
        )
        connection = MqttConnection(
            settings, on_message=lambda message: received.append(int(message.payload))
        )
        connection.add_subscription(topic, qos=1)
        running = asyncio.create_task(connection.run())
        assert await connection.wait_connected(5)
        accepted: list[int] = []
        down = False
        stopping = asyncio.Event()

        async def stream() -> None:
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
                seq = 0
                while not stopping.is_set():
                    seq += 1
                    up = connection.connected and not down
                    await client.publish(topic, str(seq), qos=1)
                    if up:
                        accepted.append(seq)
                    await asyncio.sleep(0.001)

        publisher = asyncio.create_task(stream())
        try:
            for cut in range(1, cuts + 1):
                await asyncio.sleep(0.1)
                down = True
                await relay.cut()
                await asyncio.sleep(0.02)
                await relay.restore()
                await until(lambda: connection.connected and connection.stats.reconnects >= cut)  # noqa: B023 - awaited at once
                down = False
            await asyncio.sleep(0.3)
        finally:
            stopping.set()
            await asyncio.wait_for(publisher, timeout=15)
            await asyncio.sleep(0.5)  # let the last deliveries arrive
            await connection.close()
            await running
    seen = set(received)
    lost = [n for n in accepted if n not in seen]
    print(
        f"FIGURES MQTT links cut under a fast stream: {cuts} cuts; {len(accepted)} messages "
        f"acknowledged while connected; lost {len(set(accepted) - set(received))}; "
        f"delivered twice {len(received) - len(set(received))} (at least once)"
    )
    assert set(accepted) <= set(received), lost[:10]

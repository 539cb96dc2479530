"""Watch → MQTT: how many object changes per second mqtt-kube turns into publishes.

1,000 Deployments change `spec.replicas` round after round, all queued at once, so the watch
stream runs as fast as the fake API server can write it. mqtt-kube (in this process, on
one core) is timed from the moment the last change is queued to the moment the broker has
acknowledged (QoS 1) the final value of every topic; the state board may skip values that
were already stale (that is its job), so the figure is changes handled per second, with
the publishes counted beside it. The baseline is the least any consumer of the same stream
must do: aiohttp reading the lines and `json.loads` on each, timed from the same moment to
its last line. The fake API server and the broker each run in their own process.

Then a field no watch reads (a label) changes on every object: mqtt-kube must publish
nothing, where changing the watched field once on every object publishes once per object.

All of it runs twice: against mosquitto as installed, and with `set_tcp_nodelay true`.
With the defaults, mosquitto's Nagle's algorithm waits for our kernel's acknowledgement
before it sends the next PUBACK; mqtt-kube acknowledges at once (TCP_QUICKACK), and the
two figures show that the broker setting no longer matters.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import aiohttp

from bench.common import (
    BenchError,
    Figure,
    RemoteFake,
    Section,
    cpu_seconds,
    fake_process,
    median,
    number,
    running_service,
    write_config,
)
from mqtt_kube.bridge.service import Service
from mqtt_kube.testing.mosquitto import Mosquitto, free_port

OBJECTS: Final = 1000
ROUNDS: Final = 20  # changes per object in one run
RUNS: Final = 5  # of each path per broker, alternating; the median is reported
BARE_NAMESPACE: Final = "bench-bare"
BRIDGE_NAMESPACE: Final = "bench-bridge"
PREFIX: Final = "bench/watch"
WAIT_SECONDS: Final = 60.0
QUIET_SECONDS: Final = 0.5


def _objects(namespace: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"obj-{index:04d}", "namespace": namespace},
            "spec": {"replicas": 0},
        }
        for index in range(OBJECTS)
    ]


def _bindings() -> list[dict[str, Any]]:
    return [
        {
            "namespace": BRIDGE_NAMESPACE,
            "resource": "Deployment",
            "name": f"obj-{index:04d}",
            "watch": [{"locus": "$.spec.replicas", "topic": f"obj-{index:04d}/replicas"}],
        }
        for index in range(OBJECTS)
    ]


async def _change(
    fake: RemoteFake, namespace: str, *, values: list[object], path: list[str]
) -> Any:
    return await fake.channel.call(
        "set",
        api_version="apps/v1",
        kind="Deployment",
        namespace=namespace,
        path=path,
        values=values,
        seconds=WAIT_SECONDS,
    )


async def _bare_run(fake: RemoteFake, values: list[object]) -> tuple[float, int]:
    """(seconds, events) for the bare consumer of one run."""
    collection = f"{fake.url}/apis/apps/v1/namespaces/{BARE_NAMESPACE}/deployments"
    timeout = aiohttp.ClientTimeout(total=WAIT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(collection) as response:
            version = (await response.json())["metadata"]["resourceVersion"]
        query = {"watch": "true", "allowWatchBookmarks": "true", "resourceVersion": version}
        async with session.get(collection, params=query) as stream:
            changed = asyncio.ensure_future(
                _change(fake, BARE_NAMESPACE, values=values, path=["spec", "replicas"])
            )
            wanted = OBJECTS * len(values)
            seen = 0
            async for line in stream.content:
                if line.strip():
                    json.loads(line)
                    seen += 1
                    if seen == wanted:
                        break
            finished = time.monotonic()
            result = await changed
    if result["events"] != wanted:
        raise BenchError(f"the fake made {result['events']} changes, not {wanted}")
    return finished - result["done"], wanted


class PublishLog:
    """What mqtt-kube's state board gets acknowledged by the broker, as it happens.

    It stands in for the connection's `publish_soon` on the running service (the board
    calls it there), so it costs mqtt-kube one done-callback per publish and nothing else.
    """

    def __init__(self, service: Service) -> None:
        self._publish_soon = service.mqtt.publish_soon
        service.mqtt.publish_soon = self.publish_soon  # type: ignore[method-assign]
        self._final = ""
        self._wanted = 0
        self._finished: set[str] = set()
        self._done: asyncio.Future[float] | None = None

    def publish_soon(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[bool]:
        future = self._publish_soon(topic, payload, qos=qos, retain=retain)
        if self._done is not None:
            future.add_done_callback(partial(self._answered, topic, payload))
        return future

    def _answered(self, topic: str, payload: str | bytes, future: asyncio.Future[bool]) -> None:
        if self._done is None or future.cancelled() or not future.result():
            return
        if payload == self._final:
            self._finished.add(topic)
            if len(self._finished) >= self._wanted and not self._done.done():
                self._done.set_result(time.monotonic())
        else:
            self._finished.discard(topic)

    def expect(self, final: str, *, topics: int) -> asyncio.Future[float]:
        """The time at which `topics` topics will all have been published as `final`."""
        self._final, self._wanted = final, topics
        self._finished = set()
        self._done = asyncio.get_running_loop().create_future()
        return self._done


async def _bridged_run(
    fake: RemoteFake, service: Service, *, log: PublishLog, values: list[object]
) -> tuple[float, int, int, float]:
    """(seconds, events, publishes, CPU seconds of this process) for mqtt-kube in one run."""
    done = log.expect(str(values[-1]), topics=OBJECTS)
    published = service.mqtt.stats.messages_out
    cpu = cpu_seconds(os.getpid())
    result = await _change(fake, BRIDGE_NAMESPACE, values=values, path=["spec", "replicas"])
    finished = await asyncio.wait_for(done, WAIT_SECONDS)
    cpu = cpu_seconds(os.getpid()) - cpu
    return (
        finished - float(result["done"]),
        int(result["events"]),
        service.mqtt.stats.messages_out - published,
        cpu,
    )


async def _publishes_after(
    fake: RemoteFake, service: Service, *, path: list[str], value: object
) -> tuple[int, int]:
    """(events, publishes) once every bridged object has set `path` to `value`."""
    watch = next(w for w in service.watches.values() if w is not None)
    await asyncio.sleep(QUIET_SECONDS)  # the last acknowledgements of a run may still come in
    events = watch.events
    published = service.mqtt.stats.messages_out
    result = await _change(fake, BRIDGE_NAMESPACE, values=[value], path=path)
    async with asyncio.timeout(WAIT_SECONDS):
        while watch.events < events + int(result["events"]):  # noqa: ASYNC110 - another task's state
            await asyncio.sleep(0.01)
    await asyncio.sleep(QUIET_SECONDS)  # time enough for the state board to publish
    return watch.events - events, service.mqtt.stats.messages_out - published


class NoDelayMosquitto(Mosquitto):
    """mosquitto with `set_tcp_nodelay true`: each PUBACK leaves at once.

    By default mosquitto lets Nagle's algorithm hold a PUBACK while its previous segment
    is unacknowledged; a client whose kernel delays that acknowledgement (up to 40 ms,
    when it has nothing to send) stalls at the end of every burst of QoS 1 publishes.
    """

    def _write_config(self) -> None:
        super()._write_config()
        config = self.folder / "mosquitto.conf"
        config.write_text(config.read_text() + "set_tcp_nodelay true\n")


@dataclass
class Phase:
    """The runs of both paths with one broker, alternating; events per second."""

    broker: str
    bare: list[float] = field(default_factory=list)
    bridged: list[float] = field(default_factory=list)
    publishes: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    unchanged: tuple[int, int] = (0, 0)  # (events, publishes) for a label on every object
    changed: tuple[int, int] = (0, 0)  # (events, publishes) for spec.replicas on every object


async def _phase(
    folder: Path, fake: RemoteFake, *, broker: Mosquitto, phase: Phase, offset: int
) -> None:
    """Run mqtt-kube against `broker`; replicas go from `offset + 1` up, a new value each time."""
    config = write_config(
        folder / f"watch-{offset}.yaml",
        broker_port=broker.port,
        kubeconfig=fake.kubeconfig,
        http_port=free_port(),
        bindings=_bindings(),
        prefix=PREFIX,
    )
    async with running_service(config) as service:
        log = PublishLog(service)
        # Let the start-up publishes (one per topic) drain before measuring.
        async with asyncio.timeout(WAIT_SECONDS):
            while service.mqtt.stats.messages_out < OBJECTS:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        for attempt in range(RUNS):
            first = offset + attempt * ROUNDS + 1
            values: list[object] = list(range(first, first + ROUNDS))
            seconds, events = await _bare_run(fake, values)
            phase.bare.append(events / seconds)
            seconds, events, sent, used = await _bridged_run(fake, service, log=log, values=values)
            phase.bridged.append(events / seconds)
            phase.publishes.append(sent)
            phase.cpu.append(used / seconds)
        phase.unchanged = await _publishes_after(
            fake, service, path=["metadata", "labels", "bench"], value=f"touched-{offset}"
        )
        phase.changed = await _publishes_after(fake, service, path=["spec", "replicas"], value=0)


async def run(folder: Path) -> Section:
    """Measure both paths with each broker setting; the section of the report."""
    section = Section("Watch → MQTT (object changes to publishes)")
    objects = _objects(BARE_NAMESPACE) + _objects(BRIDGE_NAMESPACE)
    phases = [Phase("mosquitto defaults"), Phase("mosquitto with set_tcp_nodelay true")]
    async with fake_process(folder, objects=objects) as fake:
        brokers = (Mosquitto, NoDelayMosquitto)
        for index, (phase, broker_class) in enumerate(zip(phases, brokers, strict=True)):
            with broker_class() as broker:
                await _phase(folder, fake, broker=broker, phase=phase, offset=index * RUNS * ROUNDS)
    for phase in phases:
        section.series[f"mqtt-kube, {phase.broker}"] = phase.bridged
        section.series[f"bare consumer, {phase.broker}"] = phase.bare
        ours, theirs = median(phase.bridged), median(phase.bare)
        section.add(
            Figure(
                f"changes handled per second, {phase.broker}",
                ours,
                "events/s",
                theirs,
                "bare aiohttp + json.loads consumer",
                target="≥ 0.8x and ≥ 10,000/s",
                met=ours >= 0.8 * theirs and ours >= 10_000,
            )
        )
    for phase in phases:
        (unchanged_events, unchanged), (changed_events, changed) = phase.unchanged, phase.changed
        section.add(
            Figure(
                f"publishes when an unwatched field changes, {phase.broker}",
                float(unchanged),
                "",
                float(changed),
                "publishes when the watched field changes",
                target="0",
                met=unchanged == 0 and unchanged_events == changed_events == OBJECTS,
            )
        )
    section.note(
        f"{RUNS} runs per broker of {OBJECTS} objects x {ROUNDS} changes = "
        f"{OBJECTS * ROUNDS} events each, alternating bare and mqtt-kube"
    )
    for phase in phases:
        section.note(
            f"{phase.broker}: mqtt-kube events/s "
            + ", ".join(number(v) for v in phase.bridged)
            + "; bare consumer events/s "
            + ", ".join(number(v) for v in phase.bare)
            + "; publishes per run (the state board keeps only a topic's latest value) "
            + ", ".join(str(p) for p in phase.publishes)
            + "; CPU of the mqtt-kube process while busy (100 % = one core) "
            + ", ".join(f"{c * 100:.0f} %" for c in phase.cpu)
        )
        section.note(
            f"{phase.broker}: a label changed on {phase.unchanged[0]} objects: "
            f"{phase.unchanged[1]} publishes; spec.replicas changed on {phase.changed[0]} "
            f"objects: {phase.changed[1]} publishes"
        )
    return section

"""Discovery: one entry over 5,000 Deployments in one namespace, against explicit bindings.

mqtt-kube runs as its own process against the fake API server in another, with Home
Assistant discovery on. Run 1 has one `discover:` entry over the namespace, every
Deployment but one annotated `mqtt-kube.io/recipe: power,restart`; run 2 has the same
4,999 objects as explicit bindings with the same recipes. Each reports the time from
process start to /api/ready and the resident memory once ready. In run 1 the one object
left is then annotated and the annotation removed again, several times: the time from the
API server applying the patch to the entity's discovery config published (or cleared)
on the broker, against a plain field change of another found object to its state publish
in the same run (the path every watch event takes).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Final

import aiomqtt
import yaml

from bench.common import (
    HOST,
    Figure,
    RemoteFake,
    Section,
    child,
    fake_process,
    median,
    number,
    rss_mib,
    wait_ready,
)
from mqtt_kube.config.discover import choice_of, found_binding
from mqtt_kube.config.load import load_config
from mqtt_kube.homeassistant.plan import binding_entities
from mqtt_kube.testing.mosquitto import Mosquitto, free_port

OBJECTS: Final = 5_000
NAMESPACE: Final = "media"
PREFIX: Final = "bench/discovery"
HA_PREFIX: Final = "bench-ha"
ROUNDS: Final = 7
READY_SECONDS: Final = 120.0
SETTLE_SECONDS: Final = 2.0  # after ready, for the start-up publishes to drain
WAIT_SECONDS: Final = 20.0
ANNOTATION: Final = "mqtt-kube.io/recipe"
RECIPES: Final = "power,restart"


def _name(index: int) -> str:
    return f"app-{index:04d}"


def _objects() -> list[dict[str, Any]]:
    objects = []
    for index in range(OBJECTS):
        metadata: dict[str, Any] = {"name": _name(index), "namespace": NAMESPACE}
        if index:  # the first one is left for the annotation to add
            metadata["annotations"] = {ANNOTATION: RECIPES}
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": metadata,
                "spec": {"replicas": 1},
            }
        )
    return objects


def _config(
    path: Path, *, broker: Mosquitto, fake: RemoteFake, http_port: int, discover: bool
) -> Path:
    body: dict[str, Any] = {
        "mqtt": {"host": HOST, "port": broker.port, "client-id": path.stem, "topic-prefix": PREFIX},
        "http": {"bind": HOST, "port": http_port},
        "logging": {"level": "INFO"},
        "kubernetes": {"kubeconfig": str(fake.kubeconfig)},
        "homeassistant": {"discovery-prefix": HA_PREFIX},
    }
    if discover:
        body["discover"] = [{"resource": "Deployment", "namespace": NAMESPACE}]
    else:
        body["bindings"] = [
            {
                "resource": "Deployment",
                "namespace": NAMESPACE,
                "name": _name(i),
                "recipe": ["power", "restart"],
            }
            for i in range(1, OBJECTS)
        ]
    path.write_text(yaml.dump(body, Dumper=yaml.CSafeDumper, sort_keys=False))
    return path


def _switch_topic(config: Path, index: int) -> str:
    """The discovery config topic of object `index`'s switch, from the config alone."""
    loaded = load_config(config)
    entry = loaded.discover[0]
    body = {
        "metadata": {
            "name": _name(index),
            "namespace": NAMESPACE,
            "annotations": {ANNOTATION: RECIPES},
        }
    }
    choice = choice_of(entry, body)
    assert choice is not None
    found = found_binding(entry, choice, prefix=loaded.mqtt.topic_prefix)
    assert found.binding is not None
    (switch,) = [e for e in binding_entities(loaded, found.binding)[0] if e.component == "switch"]
    return switch.topic


def _prepare(
    folder: Path, name: str, *, broker: Mosquitto, fake: RemoteFake, discover: bool
) -> tuple[Path, int, Path]:
    """(config file, HTTP port, log file) of one run."""
    http_port = free_port()
    config = _config(
        folder / f"{name}.yaml", broker=broker, fake=fake, http_port=http_port, discover=discover
    )
    log = folder / f"{name}.log"
    return config, http_port, log


async def _start_and_measure(
    folder: Path, name: str, *, broker: Mosquitto, fake: RemoteFake, discover: bool
) -> tuple[float, float]:
    """(seconds from start to ready, MiB resident once ready) of one run."""
    config, http_port, log = _prepare(folder, name, broker=broker, fake=fake, discover=discover)
    started = time.monotonic()
    async with child(["-m", "mqtt_kube", str(config)], log=log) as process:
        ready = await wait_ready(http_port, process=process, log=log, seconds=READY_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)
        return ready - started, rss_mib(process.pid)


async def _next(client: aiomqtt.Client, topic: str, *, empty: bool) -> float:
    """The monotonic time a message on `topic` arrives (empty or not, as asked)."""
    async with asyncio.timeout(WAIT_SECONDS):
        async for message in client.messages:
            if message.topic.value == topic and (message.payload == b"") == empty:
                return time.monotonic()
    raise AssertionError("the broker connection ended")


async def _latencies(
    folder: Path, *, broker: Mosquitto, fake: RemoteFake
) -> dict[str, list[float]]:
    """Annotation added → config, removed → cleared, field changed → state; seconds each."""
    config, http_port, log = _prepare(
        folder, "discovery-latency", broker=broker, fake=fake, discover=True
    )
    switch = _switch_topic(config, 0)
    state = f"{PREFIX}/deployment/{NAMESPACE}/{_name(1)}/replicas/desired"
    found: dict[str, list[float]] = {"added": [], "removed": [], "field": []}
    async with (
        child(["-m", "mqtt_kube", str(config)], log=log) as process,
        aiomqtt.Client(HOST, broker.port, identifier="bench-discovery") as client,
    ):
        await wait_ready(http_port, process=process, log=log, seconds=READY_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)
        await client.subscribe(switch, qos=1)
        await client.subscribe(state, qos=1)
        for round_ in range(ROUNDS + 1):  # the first, while start-up configs drain, left out
            for key, patch, topic, empty in (
                ("added", {"metadata": {"annotations": {ANNOTATION: RECIPES}}}, switch, False),
                ("removed", {"metadata": {"annotations": {ANNOTATION: None}}}, switch, True),
            ):
                waiter = asyncio.ensure_future(_next(client, topic, empty=empty))
                answer = await fake.channel.call(
                    "patch",
                    api_version="apps/v1",
                    kind="Deployment",
                    namespace=NAMESPACE,
                    name=_name(0),
                    patch=patch,
                )
                found[key].append(await waiter - float(answer["done"]))
            waiter = asyncio.ensure_future(_next(client, state, empty=False))
            answer = await fake.channel.call(
                "patch",
                api_version="apps/v1",
                kind="Deployment",
                namespace=NAMESPACE,
                name=_name(1),
                patch={"spec": {"replicas": 2 + round_}},
            )
            found["field"].append(await waiter - float(answer["done"]))
    return {key: values[1:] for key, values in found.items()}


async def run(folder: Path) -> Section:
    """Both runs and the latencies; the section of the report."""
    section = Section(
        f"Discovery (one entry over {OBJECTS:,} Deployments in one namespace, as a process)"
    )
    with Mosquitto() as broker:
        async with fake_process(folder, objects=_objects()) as fake:
            found_ready, found_rss = await _start_and_measure(
                folder, "discovery", broker=broker, fake=fake, discover=True
            )
            explicit_ready, explicit_rss = await _start_and_measure(
                folder, "explicit", broker=broker, fake=fake, discover=False
            )
            latencies = await _latencies(folder, broker=broker, fake=fake)
    count = f"{OBJECTS - 1:,}"
    section.add(
        Figure(
            f"start to ready, {count} found",
            found_ready,
            "s",
            explicit_ready,
            f"{count} explicit bindings",
            target="≤ 1.5x",
            met=found_ready <= 1.5 * explicit_ready,
        )
    )
    section.add(
        Figure(
            f"RSS when ready, {count} found",
            found_rss,
            "MiB",
            explicit_rss,
            f"{count} explicit bindings",
            target="≤ 1.2x",
            met=found_rss <= 1.2 * explicit_rss,
        )
    )
    field = median(latencies["field"])
    for key, what in (
        ("added", "annotation added → switch config published"),
        ("removed", "annotation removed → config cleared"),
    ):
        value = median(latencies[key])
        section.add(
            Figure(
                what,
                value,
                "s",
                field,
                "field change → state published",
                target="≤ 5x",
                met=value <= 5 * field,
            )
        )
    section.note(
        json.dumps({k: [round(v * 1000, 1) for v in vs] for k, vs in latencies.items()})
        + " (ms, each round after a first one left out)"
    )
    section.note(
        f"ready: {number(found_ready, 's')} found, {number(explicit_ready, 's')} explicit; "
        f"RSS {number(found_rss, 'MiB')} found, {number(explicit_rss, 'MiB')} explicit"
    )
    return section

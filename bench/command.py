"""Command → API: from an MQTT `ON`/`OFF` to the PATCH arriving at the API server.

The path measured is the whole bridge: the publish, the broker, mqtt-kube's receive loop,
routing, the value map, the one /scale request, and the fake API server parsing it. The
baseline is what a program without mqtt-kube would do for the same field: a bare
kubernetes_asyncio `AppsV1Api.patch_namespaced_deployment_scale` (the same body, the
content type the generated client picks, the same kubeconfig) to the same server. Both are
timed the same way, from the moment the caller starts to the moment the server writes the
object, one command at a time: each waits until the previous one is fully done (the
response read by its sender).

The fake runs in this process so that its write can be timed on the same clock without a
round trip; the broker runs as its own process, as it would in a real deployment. The two
paths alternate in blocks so that a noisy neighbour hurts both alike.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Final

import aiomqtt
from kubernetes_asyncio import client as k8s_client

from bench.common import (
    HOST,
    Figure,
    Section,
    number,
    percentile,
    running_service,
    write_config,
)
from mqtt_kube.bridge.service import Service
from mqtt_kube.config.model import KubernetesSettings
from mqtt_kube.kube.client import load_configuration
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto, free_port

COMMANDS: Final = 2000
BLOCKS: Final = 4  # the two paths alternate, COMMANDS / BLOCKS commands at a time
WARM_UP: Final = 50  # commands sent through each path first, not counted
NAMESPACE: Final = "bench"
NAME: Final = "jellyfin"
PREFIX: Final = "bench/command"
TOPIC: Final = f"{PREFIX}/jellyfin/power/set"
WAIT_SECONDS: Final = 10.0


class Arrivals:
    """The moment the fake API server writes an object, on `time.perf_counter()`."""

    def __init__(self, fake: FakeKube) -> None:
        self._waiter: asyncio.Future[float] | None = None
        fake.store.listeners.append(self._on_write)

    def _on_write(self, *_written: object) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(time.perf_counter())

    def expect(self) -> asyncio.Future[float]:
        """A future for the time of the next write."""
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"replicas": 0},
    }


def _binding() -> dict[str, Any]:
    """The original README's switch: ON/OFF on a topic, mapped to spec.replicas."""
    return {
        "namespace": NAMESPACE,
        "resource": "Deployment",
        "name": NAME,
        "patch": [
            {
                "topic": "jellyfin/power/set",
                "locus": "$.spec.replicas",
                "values": {"map": {"ON": 1, "OFF": 0}},
            }
        ],
    }


async def _bare(
    api: k8s_client.AppsV1Api, arrivals: Arrivals, *, count: int, first: int
) -> list[float]:
    latencies = []
    for index in range(first, first + count):
        started = time.perf_counter()
        arrived = arrivals.expect()
        await api.patch_namespaced_deployment_scale(
            NAME, NAMESPACE, {"spec": {"replicas": (index + 1) % 2}}
        )
        latencies.append(await asyncio.wait_for(arrived, WAIT_SECONDS) - started)
    return latencies


async def _bridged(
    publisher: aiomqtt.Client, service: Service, *, arrivals: Arrivals, count: int, first: int
) -> list[float]:
    latencies = []
    for index in range(first, first + count):
        started = time.perf_counter()
        arrived = arrivals.expect()
        await publisher.publish(TOPIC, "ON" if index % 2 == 0 else "OFF", qos=0)
        latencies.append(await asyncio.wait_for(arrived, WAIT_SECONDS) - started)
        # The next command waits until mqtt-kube has read the answer, as the bare call does.
        async with asyncio.timeout(WAIT_SECONDS):
            while service.counters.patches < index + 1:  # noqa: ASYNC110 - state of another task
                await asyncio.sleep(0.0002)
    return latencies


async def run(folder: Path) -> Section:
    """Measure both paths; the section of the report."""
    section = Section("Command → API (MQTT `ON`/`OFF` to the PATCH at the API server)")
    per_block = COMMANDS // BLOCKS
    with Mosquitto() as broker:
        async with FakeKube(controller=False, bookmark_interval=0) as fake:
            fake.put(_deployment())
            arrivals = Arrivals(fake)
            kubeconfig = fake.write_kubeconfig(folder / "command-kubeconfig")
            config_path = write_config(
                folder / "command.yaml",
                broker_port=broker.port,
                kubeconfig=kubeconfig,
                http_port=free_port(),
                bindings=[_binding()],
                prefix=PREFIX,
            )
            configuration = await load_configuration(KubernetesSettings(kubeconfig=str(kubeconfig)))
            async with (
                k8s_client.ApiClient(configuration) as api_client,
                running_service(config_path) as service,
                aiomqtt.Client(HOST, broker.port, identifier="bench-command") as publisher,
            ):
                api = k8s_client.AppsV1Api(api_client)
                await _bare(api, arrivals, count=WARM_UP, first=0)
                # The bare calls left replicas at WARM_UP % 2; the bridge starts from ON.
                fake.patch("apps/v1", "Deployment", NAMESPACE, NAME, {"spec": {"replicas": 0}})
                sent = 0
                await _bridged(publisher, service, arrivals=arrivals, count=WARM_UP, first=sent)
                sent += WARM_UP
                bare: list[float] = []
                bridged: list[float] = []
                patches_before = service.counters.patches
                requests_before = len(fake.requests)
                requests_bridged = 0
                for _ in range(BLOCKS):
                    bare += await _bare(api, arrivals, count=per_block, first=len(bare) + WARM_UP)
                    # Put the object where the bridge expects it: an unchanged value writes nothing.
                    fake.patch(
                        "apps/v1", "Deployment", NAMESPACE, NAME, {"spec": {"replicas": sent % 2}}
                    )
                    before = len(fake.requests)
                    bridged += await _bridged(
                        publisher, service, arrivals=arrivals, count=per_block, first=sent
                    )
                    requests_bridged += len(fake.requests) - before
                    sent += per_block
                recorded = fake.requests[requests_before:]
                patches = service.counters.patches - patches_before
    scale_patches = sum(
        1 for r in recorded if r.method == "PATCH" and r.path.endswith(f"/{NAME}/scale")
    )
    _report(section, bare=bare, bridged=bridged)
    per_command = requests_bridged / len(bridged)
    section.add(
        Figure(
            "API requests per command",
            per_command,
            "",
            1.0,
            "exactly one (docs/architecture.md)",
            target="= 1",
            met=requests_bridged == len(bridged) == patches,
        )
    )
    section.note(
        f"{len(bridged)} commands through mqtt-kube → {requests_bridged} API requests "
        f"({patches} patches counted by mqtt-kube); {scale_patches} PATCH …/scale requests "
        f"in all, bare calls included ({len(bare)} of them)"
    )
    section.note(
        f"broker mosquitto on {HOST}:{broker.port}; command QoS 0, as Home Assistant sends"
    )
    return section


def _report(section: Section, *, bare: list[float], bridged: list[float]) -> None:
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        ours = percentile(bridged, fraction) * 1000
        theirs = percentile(bare, fraction) * 1000
        limit = 1.0 if label == "p50" else 1.2
        section.add(
            Figure(
                f"{label} latency",
                ours,
                "ms",
                theirs,
                "bare patch_namespaced_deployment_scale",
                target=f"≤ {limit:.1f}x",
                met=ours <= limit * theirs,
            )
        )
    for label, values in (("mqtt-kube", bridged), ("bare call", bare)):
        ms = sorted(v * 1000 for v in values)
        section.note(
            f"{label}: {len(ms)} commands, min {number(ms[0], 'ms')}, "
            f"p50 {number(percentile(ms, 0.5), 'ms')}, p90 {number(percentile(ms, 0.9), 'ms')}, "
            f"p99 {number(percentile(ms, 0.99), 'ms')}, max {number(ms[-1], 'ms')}"
        )

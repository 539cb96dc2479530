"""Scale: 100, 1,000 and 10,000 bindings over 100 namespaces and 3 kinds.

mqtt-kube runs as its own process (`python -m mqtt_kube CONFIG`), as in production, against
the fake API server in another process holding all 10,000 objects. For each size and each
`kubernetes.watch-scope` it reports the watch connections the server saw, the time from
process start to /api/ready answering 200, and the resident memory once ready (VmRSS from
/proc). Baselines: one watch per binding (what a naive bridge would open), and an idle
interpreter that has imported mqtt-kube (its start-up time and memory); growth is each
size against the one ten times smaller, where 10x is linear.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.common import (
    Channel,
    Figure,
    RemoteFake,
    Section,
    child,
    fake_process,
    number,
    peak_rss_mib,
    rss_mib,
    wait_ready,
    write_config,
)
from mqtt_kube.testing.mosquitto import Mosquitto, free_port

SIZES: Final = (100, 1_000, 10_000)
NAMESPACES: Final = 100
KINDS: Final = (
    ("Deployment", "apps/v1", "spec.replicas"),
    ("StatefulSet", "apps/v1", "spec.replicas"),
    ("ConfigMap", "v1", "data.value"),
)
PREFIX: Final = "bench/scale"
READY_SECONDS: Final = 60.0
SETTLE_SECONDS: Final = 1.0  # after ready, for the start-up publishes to drain
IDLE_IMPORT: Final = (
    "import sys, time, mqtt_kube.cli.main, mqtt_kube.bridge.service; "
    "print('{}', flush=True); sys.stdin.read()"
)


@dataclass(frozen=True)
class Run:
    """One start of mqtt-kube: its size, scope and what was measured."""

    bindings: int
    scope: str
    watches: int
    ready_seconds: float
    rss_mib: float
    peak_mib: float
    stop_seconds: float


def _place(index: int) -> tuple[str, tuple[str, str, str], str]:
    """(namespace, kind, name) of binding `index`: spread over namespaces, then kinds."""
    return (
        f"ns-{index % NAMESPACES:03d}",
        KINDS[(index // NAMESPACES) % len(KINDS)],
        f"obj-{index:05d}",
    )


def _objects() -> list[dict[str, Any]]:
    objects = []
    for index in range(max(SIZES)):
        namespace, (kind, api_version, _), name = _place(index)
        obj: dict[str, Any] = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
        }
        if kind == "ConfigMap":
            obj["data"] = {"value": "off"}
        else:
            obj["spec"] = {"replicas": 0}
        objects.append(obj)
    return objects


def _bindings(count: int) -> list[dict[str, Any]]:
    bindings = []
    for index in range(count):
        namespace, (kind, _, locus), name = _place(index)
        bindings.append(
            {
                "namespace": namespace,
                "resource": kind,
                "name": name,
                "watch": [{"locus": locus, "topic": f"{index}/state"}],
                "patch": [{"locus": locus, "topic": f"{index}/set"}],
            }
        )
    return bindings


async def _idle_interpreter(folder: Path) -> tuple[float, float]:
    """(seconds to import, MiB resident) of an interpreter that only imported mqtt-kube."""
    log = folder / "idle-import.log"
    started = time.monotonic()
    async with child(["-c", IDLE_IMPORT], log=log, talk=True) as process:
        await Channel(process, name="the idle interpreter", log=log).read(seconds=30)
        return time.monotonic() - started, rss_mib(process.pid)


async def _start(
    folder: Path, fake: RemoteFake, *, broker: Mosquitto, count: int, scope: str
) -> Run:
    name = f"scale-{scope}-{count}"
    http_port = free_port()
    config = write_config(
        folder / f"{name}.yaml",
        broker_port=broker.port,
        kubeconfig=fake.kubeconfig,
        http_port=http_port,
        bindings=_bindings(count),
        prefix=PREFIX,
        watch_scope=scope,
    )
    await fake.channel.call("reset")
    log = folder / f"{name}.log"
    started = time.monotonic()
    async with child(["-m", "mqtt_kube", str(config)], log=log) as process:
        ready = await wait_ready(http_port, process=process, log=log, seconds=READY_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)
        stats = await fake.channel.call("stats")
        rss, peak = rss_mib(process.pid), peak_rss_mib(process.pid)
        stopping = time.monotonic()
        process.terminate()
        await asyncio.wait_for(process.wait(), READY_SECONDS)
        stopped = time.monotonic()
    return Run(
        bindings=count,
        scope=scope,
        watches=int(stats["max_open_watches"]),
        ready_seconds=ready - started,
        rss_mib=rss,
        peak_mib=peak,
        stop_seconds=stopped - stopping,
    )


async def run(folder: Path) -> Section:
    """Start mqtt-kube at each size in both scopes; the section of the report."""
    section = Section("Scale (bindings over 100 namespaces x 3 kinds, mqtt-kube as a process)")
    runs: list[Run] = []
    with Mosquitto() as broker:
        async with fake_process(folder, objects=_objects()) as fake:
            import_seconds, idle_mib = await _idle_interpreter(folder)
            for scope in ("cluster", "namespace"):
                for count in SIZES:
                    runs.append(await _start(folder, fake, broker=broker, count=count, scope=scope))
    _report(section, runs, import_seconds=import_seconds, idle_mib=idle_mib)
    return section


def _report(section: Section, runs: list[Run], *, import_seconds: float, idle_mib: float) -> None:
    largest = {run.scope: run for run in runs if run.bindings == max(SIZES)}
    for scope, limit in (("cluster", 3), ("namespace", 300)):
        run = largest[scope]
        section.add(
            Figure(
                f"watch connections, {scope}-wide, {run.bindings:,} bindings",
                run.watches,
                "",
                run.bindings,
                "one watch per binding",
                target=f"≤ {limit}",
                met=run.watches <= limit,
            )
        )
    for scope in ("cluster", "namespace"):
        run = largest[scope]
        section.add(
            Figure(
                f"start to ready, {scope}-wide, {run.bindings:,} bindings",
                run.ready_seconds,
                "s",
                import_seconds,
                "start of an interpreter importing mqtt-kube",
                target="≤ 3 s",
                met=run.ready_seconds <= 3,
            )
        )
        section.add(
            Figure(
                f"RSS when ready, {scope}-wide, {run.bindings:,} bindings",
                run.rss_mib,
                "MiB",
                idle_mib,
                "idle interpreter with mqtt-kube imported",
                target="≤ 150 MiB",
                met=run.rss_mib <= 150,
            )
        )
    for scope in ("cluster", "namespace"):
        chain = sorted((r for r in runs if r.scope == scope), key=lambda r: r.bindings)
        section.series[f"bindings, {scope}-wide"] = [float(r.bindings) for r in chain]
        section.series[f"ready seconds, {scope}-wide"] = [r.ready_seconds for r in chain]
        section.series[f"RSS MiB, {scope}-wide"] = [r.rss_mib for r in chain]
        for smaller, larger in itertools.pairwise(chain):
            step = f"{smaller.bindings:,} → {larger.bindings:,}"
            growth = larger.bindings / smaller.bindings
            for what, before, after, unit in (
                ("ready time", smaller.ready_seconds, larger.ready_seconds, "s"),
                (
                    "RSS above the idle interpreter",
                    smaller.rss_mib - idle_mib,
                    larger.rss_mib - idle_mib,
                    "MiB",
                ),
            ):
                section.add(
                    Figure(
                        f"{what} growth, {scope}-wide, {step}",
                        after,
                        unit,
                        before,
                        f"the same at {smaller.bindings:,} bindings",
                        target=f"≤ {growth:.0f}x (linear)",
                        met=after <= growth * before,
                    )
                )
    section.note(
        f"idle interpreter importing mqtt-kube: {number(import_seconds, 's')} to start, "
        f"{number(idle_mib, 'MiB')} resident"
    )
    for run in runs:
        section.note(
            f"{run.scope}-wide, {run.bindings:,} bindings: {run.watches} watch connections, "
            f"ready in {number(run.ready_seconds, 's')}, RSS {number(run.rss_mib, 'MiB')} "
            f"(peak {number(run.peak_mib, 'MiB')}), exit on SIGTERM in "
            f"{number(run.stop_seconds, 's')}"
        )

"""Start-up and idle cost with the project's example config (config-basic.yaml).

Start-up is timed from spawning `python -m mqtt_kube config-basic.yaml` to /api/ready
answering 200; the baseline is spawning `python -c "import mqtt_kube.bridge.service"` to the end
of that import (it then prints a line), so the difference is what mqtt-kube itself adds:
reading the config, connecting, the first list of each watch. Both are repeated, in turn,
and the medians compared.

Idle cost is read from /proc over a quiet window once mqtt-kube is ready: CPU time
(/proc/<pid>/task/*/schedstat, in nanoseconds, beside utime+stime from /proc/<pid>/stat)
and how many times the process was woken. The baseline is a bare aiomqtt client with the
same keepalive, idle on the same broker in the same window: what "nothing but keepalives"
costs.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from pathlib import Path
from typing import Final

from bench.common import (
    Channel,
    Figure,
    RemoteFake,
    Section,
    child,
    cpu_nanoseconds,
    cpu_seconds,
    fake_process,
    median,
    number,
    rss_mib,
    wait_ready,
    wakeups,
)
from mqtt_kube.homeassistant.lifecycle import SCAN_SECONDS, STATE_DELAY_SECONDS
from mqtt_kube.testing.mosquitto import Mosquitto, free_port

REPO: Final = Path(__file__).resolve().parents[1]
EXAMPLE: Final = REPO / "config-basic.yaml"
STARTS: Final = 5
IDLE_SECONDS: Final = 10.0
# Idle begins when start-up is over: Home Assistant discovery's scan of retained configs and
# its pause before the states, and aiohttp closing the first list's pooled connection once
# it has been idle for aiohttp's keep-alive time.
AIOHTTP_KEEPALIVE_SECONDS: Final = 15.0
SETTLE_SECONDS: Final = max(SCAN_SECONDS + STATE_DELAY_SECONDS, AIOHTTP_KEEPALIVE_SECONDS) + 2.0
READY_SECONDS: Final = 30.0
NAMESPACE: Final = "media"  # of the example's Deployment
IMPORT_ONLY: Final = "import mqtt_kube.bridge.service; print('{}', flush=True)"
# What the service's libraries cost, each on top of those before it (VmRSS after import).
IMPORTS: Final = (
    "yaml",
    "voluptuous",
    "jsonpath_ng.ext",
    "mako.template",
    "orjson",
    "aiohttp",
    "aiohttp.web",
    "aiomqtt",
    "mqtt_kube.kube.client",
    "mqtt_kube.bridge.service",
    "mqtt_kube.cli.run",
)
IMPORT_COST: Final = (
    "import importlib, json, sys\n"
    "def rss():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmRSS:'):\n"
    "            return int(line.split()[1]) / 1024\n"
    "costs = [('python', rss())]\n"
    "for name in sys.argv[1:]:\n"
    "    importlib.import_module(name)\n"
    "    costs.append((name, rss()))\n"
    "models = 'kubernetes_asyncio.client.models.v1_pod' in sys.modules\n"
    "print(json.dumps({'costs': costs, 'models': models}), flush=True)\n"
)
IDLE_CLIENT: Final = (
    "import asyncio, sys, aiomqtt\n"
    "async def main():\n"
    "    async with aiomqtt.Client('127.0.0.1', int(sys.argv[1]), keepalive=60) as client:\n"
    "        await client.subscribe('bench/idle/#')\n"
    "        print('{}', flush=True)\n"
    "        await asyncio.Event().wait()\n"
    "asyncio.run(main())\n"
)


def example_config(folder: Path, *, broker: Mosquitto, fake: RemoteFake, http_port: int) -> Path:
    """config-basic.yaml unchanged but for where the broker, HTTP and the API are."""
    text = EXAMPLE.read_text()
    for old, new in (
        ("host: 127.0.0.1\n  port: 1883", f"host: {broker.host}\n  port: {broker.port}"),
        ("bind: 0.0.0.0\n  port: 8080", f"bind: 127.0.0.1\n  port: {http_port}"),
    ):
        if old not in text:
            raise ValueError(f"{EXAMPLE} no longer holds {old!r}")
        text = text.replace(old, new)
    text += f"\nkubernetes:\n  kubeconfig: {fake.kubeconfig}\n"
    shutil.copy(REPO / "backup-job.yaml", folder / "backup-job.yaml")
    path = folder / "config-basic.yaml"
    path.write_text(text)
    return path


async def _import_seconds(folder: Path) -> float:
    """From spawning the interpreter to `import mqtt_kube.bridge.service` done (not to its exit)."""
    log = folder / "import.log"
    started = time.monotonic()
    async with child(["-c", IMPORT_ONLY], log=log, talk=True) as process:
        await Channel(process, name="the import-only interpreter", log=log).read(seconds=30)
        return time.monotonic() - started


async def _import_costs(folder: Path) -> tuple[list[tuple[str, float]], bool]:
    """(library, MiB resident after importing it) in turn, and whether the models came."""
    log = folder / "import-cost.log"
    async with child(["-c", IMPORT_COST, *IMPORTS], log=log, talk=True) as process:
        answer = await Channel(process, name="the import-cost interpreter", log=log).read(
            seconds=30
        )
    return [(str(name), float(mib)) for name, mib in answer["costs"]], bool(answer["models"])


async def _ready_seconds(folder: Path, config: Path, *, http_port: int, attempt: int) -> float:
    log = folder / f"startup-{attempt}.log"
    started = time.monotonic()
    async with child(["-m", "mqtt_kube", str(config)], log=log) as process:
        ready = await wait_ready(http_port, process=process, log=log, seconds=READY_SECONDS)
    return ready - started


async def _idle(
    folder: Path, config: Path, *, http_port: int, broker: Mosquitto
) -> dict[str, float]:
    """CPU and wake-ups of mqtt-kube and of the bare client over the same quiet window."""
    log = folder / "idle.log"
    client_log = folder / "idle-client.log"
    async with (
        child(["-m", "mqtt_kube", str(config)], log=log) as process,
        child(["-c", IDLE_CLIENT, str(broker.port)], log=client_log, talk=True) as client,
    ):
        await wait_ready(http_port, process=process, log=log, seconds=READY_SECONDS)
        await Channel(client, name="the idle aiomqtt client", log=client_log).read(seconds=20)
        await asyncio.sleep(SETTLE_SECONDS)
        pids = {"ours": process.pid, "bare": client.pid}
        before = {k: (cpu_nanoseconds(p), cpu_seconds(p), wakeups(p)) for k, p in pids.items()}
        started = time.monotonic()
        await asyncio.sleep(IDLE_SECONDS)
        after = {k: (cpu_nanoseconds(p), cpu_seconds(p), wakeups(p)) for k, p in pids.items()}
        window = time.monotonic() - started
        resident = {key: rss_mib(pid) for key, pid in pids.items()}
    figures = {"window": window, "ours_rss": resident["ours"], "bare_rss": resident["bare"]}
    for key in pids:
        figures[f"{key}_cpu"] = (after[key][0] - before[key][0]) / 1e9 / window
        figures[f"{key}_ticks"] = (after[key][1] - before[key][1]) / window
        figures[f"{key}_wakeups"] = (after[key][2] - before[key][2]) / window
    return figures


async def run(folder: Path) -> Section:
    """Start mqtt-kube several times, then watch it idle; the section of the report."""
    section = Section("Start-up and idle (config-basic.yaml, mqtt-kube as a process)")
    imports: list[float] = []
    readies: list[float] = []
    with Mosquitto() as broker:
        jellyfin = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "jellyfin", "namespace": NAMESPACE},
            "spec": {"replicas": 1},
            "status": {"replicas": 1, "availableReplicas": 1},
        }
        async with fake_process(folder, objects=[jellyfin]) as fake:
            http_port = free_port()
            config = example_config(folder, broker=broker, fake=fake, http_port=http_port)
            for attempt in range(STARTS):
                imports.append(await _import_seconds(folder))
                readies.append(
                    await _ready_seconds(folder, config, http_port=http_port, attempt=attempt)
                )
            idle = await _idle(folder, config, http_port=http_port, broker=broker)
    costs, models = await _import_costs(folder)
    ready, imported = median(readies), median(imports)
    section.add(
        Figure(
            "start to ready",
            ready,
            "s",
            imported,
            '`python -c "import mqtt_kube.bridge.service"`',
            target="≤ baseline + 1 s",
            met=ready - imported < 1.0,
        )
    )
    section.add(
        Figure(
            "idle CPU",
            idle["ours_cpu"] * 100,
            "%",
            idle["bare_cpu"] * 100,
            "bare aiomqtt client, same keepalive",
            target="< 0.1 %",
            met=idle["ours_cpu"] < 0.001,
        )
    )
    section.add(
        Figure(
            "idle wake-ups",
            idle["ours_wakeups"],
            "/s",
            idle["bare_wakeups"],
            "bare aiomqtt client, same keepalive",
            target="keepalives only (≤ 1.1x)",
            met=idle["ours_wakeups"] <= 1.1 * idle["bare_wakeups"] + 0.1,
        )
    )
    section.add(
        Figure(
            "idle RSS",
            idle["ours_rss"],
            "MiB",
            idle["bare_rss"],
            "bare aiomqtt client",
            target="≤ 60 MiB",
            met=idle["ours_rss"] <= 60.0,
        )
    )
    section.note(
        f"start to ready, {STARTS} starts: "
        + ", ".join(number(s, "s") for s in readies)
        + "; import only: "
        + ", ".join(number(s, "s") for s in imports)
    )
    section.note(
        f"mqtt-kube adds {number(ready - imported, 's')} to the interpreter and its imports"
    )
    section.note(
        f"idle window {number(idle['window'], 's')}: mqtt-kube "
        f"{idle['ours_cpu'] * 100:.3f} % CPU ({idle['ours_ticks'] * 100:.1f} % by utime+stime), "
        f"{idle['ours_wakeups']:.1f} wake-ups/s; bare client {idle['bare_cpu'] * 100:.3f} % CPU, "
        f"{idle['bare_wakeups']:.1f} wake-ups/s"
    )
    steps = [
        f"{name} +{number(mib - before, 'MiB')}"
        for (_, before), (name, mib) in itertools.pairwise(costs)
    ]
    section.note(
        f"resident memory by import, each on top of the ones before: interpreter "
        f"{number(costs[0][1], 'MiB')}, " + ", ".join(steps) + f"; {number(costs[-1][1], 'MiB')} "
        f"in all; kubernetes_asyncio's models {'imported' if models else 'not imported'}"
    )
    return section

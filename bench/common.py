"""What every measurement shares: figures beside their baselines, child processes, /proc.

A `Figure` is one measured value with the baseline it is compared with, measured in the same
run; a `Section` is one measurement's figures plus its raw numbers. Child processes (the
fake API server, idle baselines, mqtt-kube itself) run from the repository folder with this
interpreter, log to files in the run's folder, talk JSON lines when they talk at all, and
are always stopped by their own pid. `running_service` runs mqtt-kube in this process
instead, where a measurement needs to see inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml

from mqtt_kube.bridge.service import Service
from mqtt_kube.config.load import load_config
from mqtt_kube.kube.client import KubeClient

logger = logging.getLogger(__name__)

REPO: Final = Path(__file__).resolve().parents[1]
PYTHON: Final = sys.executable
HOST: Final = "127.0.0.1"
STOP_SECONDS: Final = 5.0
SERVICE_SECONDS: Final = 10.0  # for mqtt-kube in this process to be ready, or to stop
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")

JsonObject = dict[str, Any]


class BenchError(Exception):
    """A measurement could not be taken (a child died, a wait ran out); says which and why."""


@dataclass(frozen=True)
class Figure:
    """One measured value and the same-run baseline it is compared with."""

    what: str
    value: float
    unit: str
    baseline: float
    baseline_label: str
    target: str = ""  # e.g. "≤ 1.2x" or "< 10 s"; empty when there is none
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


@dataclass
class Section:
    """One measurement: its figures, and the raw numbers behind them (one line each)."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    seconds: float = 0.0  # how long the measurement took
    # Named lists of numbers for the report's plot (bench.plot), e.g. each run's events/s.
    series: dict[str, list[float]] = field(default_factory=dict)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def note(self, text: str) -> None:
        self.raw.append(text)


def number(value: float, unit: str = "") -> str:
    """A value with a precision that suits its size, and its unit."""
    size = abs(value)
    if not unit and value == int(value):
        text = f"{int(value):,}"  # a count
    elif size == 0 or size >= 100:
        text = f"{value:,.0f}"
    elif size >= 10:
        text = f"{value:.1f}"
    elif size >= 0.1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 for p50, 0.99 for p99)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# -- /proc ------------------------------------------------------------------------------


def _status_fields(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def rss_mib(pid: int) -> float:
    """Resident memory now (VmRSS), in MiB."""
    return int(_status_fields(Path(f"/proc/{pid}/status"))["VmRSS"].split()[0]) / 1024


def peak_rss_mib(pid: int) -> float:
    """The most resident memory so far (VmHWM), in MiB."""
    return int(_status_fields(Path(f"/proc/{pid}/status"))["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the whole process (every thread), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    after_name = text.rpartition(")")[2].split()
    utime, stime = int(after_name[11]), int(after_name[12])  # fields 14 and 15 of stat
    return (utime + stime) / CLOCK_TICKS


def cpu_nanoseconds(pid: int) -> int:
    """CPU time of every thread so far, from the scheduler's own accounting (ns)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def wakeups(pid: int) -> int:
    """Context switches of every thread so far: how often the process was scheduled in."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            fields = _status_fields(task / "status")
            total += int(fields["voluntary_ctxt_switches"])
            total += int(fields["nonvoluntary_ctxt_switches"])
    return total


# -- child processes ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def child(
    args: Sequence[str], *, log: Path, talk: bool = False
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `python <args>` from the repository; stdin/stdout are pipes when it talks.

    Its stderr (and stdout when it does not talk) goes to `log`. On leaving, it gets
    SIGTERM, then SIGKILL after 5 s.
    """
    pipe = asyncio.subprocess.PIPE
    with log.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            PYTHON,
            *args,
            cwd=REPO,
            stdin=pipe if talk else asyncio.subprocess.DEVNULL,
            stdout=pipe if talk else log_file,
            stderr=log_file,
            limit=16 * 1024 * 1024,
        )
    try:
        yield process
    finally:
        await stop_process(process)


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after 5 s; returns once it has exited."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


class Channel:
    """JSON lines to and from a child process that talks."""

    def __init__(self, process: asyncio.subprocess.Process, *, name: str, log: Path) -> None:
        self.process = process
        self.name = name
        self.log = log

    async def read(self, *, seconds: float) -> JsonObject:
        """The next line the child writes, parsed."""
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), seconds)
        except TimeoutError:
            raise BenchError(
                f"{self.name} said nothing for {seconds:g} s; see {self.log}"
            ) from None
        if not line:
            raise BenchError(f"{self.name} exited early; see {self.log}:\n{tail(self.log)}")
        try:
            message: JsonObject = json.loads(line)
        except ValueError:
            raise BenchError(f"{self.name} wrote {line[:200]!r}, not a JSON line") from None
        if "error" in message:
            raise BenchError(f"{self.name}: {message['error']}")
        return message

    async def call(self, op: str, *, seconds: float = 60.0, **args: object) -> JsonObject:
        """Send one request line and wait for the answer line."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        await self.process.stdin.drain()
        return await self.read(seconds=seconds)


def tail(log: Path, lines: int = 20) -> str:
    """The last lines of a child's log, to show why it failed."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass(frozen=True)
class RemoteFake:
    """The fake API server in its own process (`bench.fakeproc`)."""

    channel: Channel
    url: str
    kubeconfig: Path


@contextlib.asynccontextmanager
async def fake_process(folder: Path, *, objects: list[JsonObject]) -> AsyncIterator[RemoteFake]:
    """The fake API server in a child process, holding `objects`, its kubeconfig written."""
    log = folder / "fakekube.log"
    kubeconfig = folder / "kubeconfig"
    async with child(
        ["-m", "bench.fakeproc", "--kubeconfig", str(kubeconfig)], log=log, talk=True
    ) as process:
        channel = Channel(process, name="the fake API server", log=log)
        hello = await channel.read(seconds=20)
        if objects:
            await channel.call("put", objects=objects, seconds=120)
        yield RemoteFake(channel, str(hello["url"]), kubeconfig)


# -- mqtt-kube configs, in this process or as a process -----------------------------------


def write_config(
    path: Path,
    *,
    broker_port: int,
    kubeconfig: Path,
    http_port: int,
    bindings: list[JsonObject],
    prefix: str,
    watch_scope: str | None = None,
) -> Path:
    """A mqtt-kube config file for these bindings, our broker, our fake and our HTTP port."""
    kubernetes: JsonObject = {"kubeconfig": str(kubeconfig)}
    if watch_scope is not None:
        kubernetes["watch-scope"] = watch_scope
    config = {
        "mqtt": {
            "host": HOST,
            "port": broker_port,
            "client-id": f"mqtt-kube-{path.stem}",
            "topic-prefix": prefix,
        },
        "http": {"bind": HOST, "port": http_port},
        "logging": {"level": "INFO"},
        "kubernetes": kubernetes,
        "bindings": bindings,
    }
    path.write_text(yaml.dump(config, Dumper=yaml.CSafeDumper, sort_keys=False))
    return path


async def wait_ready(
    port: int, *, process: asyncio.subprocess.Process, log: Path, seconds: float
) -> float:
    """Poll /api/ready until it answers 200; the monotonic time it first did."""
    url = f"http://{HOST}:{port}/api/ready"
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=1.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            if process.returncode is not None:
                raise BenchError(
                    f"mqtt-kube exited with status {process.returncode}; see {log}:\n{tail(log)}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return time.monotonic()
            if time.monotonic() > deadline:
                raise BenchError(f"mqtt-kube was not ready within {seconds:g} s; see {log}")
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def running_service(config_path: Path) -> AsyncIterator[Service]:
    """mqtt-kube in this process, ready; stopped on leaving."""
    config = load_config(config_path)
    client = await KubeClient.connect(config.kubernetes)
    service = Service(config, client=client)
    task = asyncio.create_task(service.run(handle_signals=False), name="mqtt-kube under bench")
    try:
        async with asyncio.timeout(SERVICE_SECONDS):
            while service.readiness() and not task.done():  # noqa: ASYNC110 - state of another task
                await asyncio.sleep(0.01)
        if task.done():
            raise BenchError(f"mqtt-kube stopped at start-up with status {task.result()}")
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, SERVICE_SECONDS)
        await client.close()

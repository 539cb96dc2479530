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
the link restored, the fault phase over) to `readiness()` being empty. The bench itself
is tests/support/fault_bench.py; single faults met by one command are in
test_fault_cases.py.

MQTT_KUBE_SOAK=1 runs the long version (20 broker restarts and 20 link cuts, each link
then left up long enough to reset the reconnect backoff; 8 s fault phases; 200 cuts under
the fast stream); the figures each scenario prints are recorded in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import pytest

from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.fault_bench import (
    CONVERGE,
    PHASE,
    RESTARTS,
    SOAK,
    Bench,
    CommandStream,
    bench,
    http_status,
    settle,
)
from tests.support.waiting import until

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

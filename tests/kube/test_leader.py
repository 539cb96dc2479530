"""Leader election with a Lease: two candidates in-process, then two real service processes.

Covered, with two `LeaderElector`s against the fake API: exactly one of two racing
candidates leads; the standby waits while the leader renews; a leader that stops renewing
(a crash) is replaced after the lease duration, never before; a clean release hands over
at the standby's next try; API errors while standing by or renewing are ridden out, and a
leader that cannot renew for a whole lease duration gives up.

With two `python -m mqtt_kube --leader-elect CONFIG` processes (short timings through the
MQTT_KUBE_LEASE_* variables): only the leader connects to MQTT and acts (one PATCH per
command); killing it hands over to the standby; a clean stop (SIGTERM) releases the Lease
at once, so the next standby takes over at its next try instead of after expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mqtt_kube.config.model import KubernetesSettings
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.kube.leader import LeaderElector, LeadershipLost, LeaseTiming
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import write_config
from tests.support.waiting import until

NAMESPACE = "default"
LEASE = "mqtt-kube-leader-test"
TIMING = LeaseTiming(duration=1.0, renew_every=0.2, retry_every=0.1, renew_deadline=0.6)


@pytest.fixture
async def client(fake_kube: FakeKube, tmp_path: Path) -> AsyncIterator[KubeClient]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    client = await KubeClient.connect(KubernetesSettings(kubeconfig=str(kubeconfig)))
    yield client
    await client.close()


def candidate(client: KubeClient, identity: str) -> LeaderElector:
    return LeaderElector(client, namespace=NAMESPACE, name=LEASE, identity=identity, timing=TIMING)


def holder(fake: FakeKube) -> str | None:
    lease = fake.get("coordination.k8s.io/v1", "Lease", NAMESPACE, LEASE)
    return None if lease is None else str(lease["spec"].get("holderIdentity") or "")


@contextlib.asynccontextmanager
async def background(work: Any, name: str) -> AsyncIterator[asyncio.Task[Any]]:
    task = asyncio.create_task(work, name=name)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, LeadershipLost):
            await task


# -- two electors in one process ---------------------------------------------------------


async def test_of_two_racing_candidates_exactly_one_leads(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    a, b = candidate(client, "a"), candidate(client, "b")
    async with background(a.acquire(), "a"), background(b.acquire(), "b"):
        await until(lambda: a.is_leader or b.is_leader)
        await asyncio.sleep(3 * TIMING.retry_every)
        assert [a.is_leader, b.is_leader].count(True) == 1
        assert holder(fake_kube) == ("a" if a.is_leader else "b")


async def test_the_standby_waits_as_long_as_the_leader_renews(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    leader, standby = candidate(client, "leader"), candidate(client, "standby")
    await leader.acquire()
    async with background(leader.hold(), "hold"), background(standby.acquire(), "standby"):
        await asyncio.sleep(2 * TIMING.duration)
        assert leader.is_leader
        assert not standby.is_leader
        assert holder(fake_kube) == "leader"


async def test_a_crashed_leader_is_replaced_after_the_lease_duration_and_not_before(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    leader, standby = candidate(client, "leader"), candidate(client, "standby")
    await leader.acquire()
    async with background(standby.acquire(), "standby") as waiting:
        async with background(leader.hold(), "hold"):
            await asyncio.sleep(2 * TIMING.renew_every)
        last_renewal = time.monotonic()  # the hold task is gone: the leader "crashed"
        await asyncio.wait_for(waiting, timeout=TIMING.duration + 1.0)
        handover = time.monotonic() - last_renewal
    assert standby.is_leader
    assert holder(fake_kube) == "standby"
    assert TIMING.duration - TIMING.renew_every <= handover
    assert handover <= TIMING.duration + 3 * TIMING.retry_every


async def test_a_released_lease_is_taken_at_the_next_try(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    leader, standby = candidate(client, "leader"), candidate(client, "standby")
    await leader.acquire()
    async with background(standby.acquire(), "standby") as waiting:
        await asyncio.sleep(2 * TIMING.retry_every)
        released = time.monotonic()
        await leader.release()
        await asyncio.wait_for(waiting, timeout=TIMING.duration)
        handover = time.monotonic() - released
    assert not leader.is_leader
    assert holder(fake_kube) == "standby"
    assert handover <= 2 * TIMING.retry_every + 0.1


async def test_api_errors_while_standing_by_are_retried(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    leader, standby = candidate(client, "leader"), candidate(client, "standby")
    await leader.acquire()
    async with background(standby.acquire(), "standby") as waiting:
        await asyncio.sleep(TIMING.retry_every)
        fake_kube.fail_next(3, status=500, path_contains="/leases")
        await asyncio.sleep(5 * TIMING.retry_every)
        assert not waiting.done()
        await leader.release()
        await asyncio.wait_for(waiting, timeout=TIMING.duration)
    assert standby.is_leader


async def test_a_leader_rides_out_short_api_errors_and_gives_up_after_a_lease_duration(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    leader = candidate(client, "leader")
    await leader.acquire()
    async with background(leader.hold(), "hold") as holding:
        fake_kube.fail_next(2, status=503, path_contains="/leases")
        await asyncio.sleep(4 * TIMING.renew_every)
        assert leader.is_leader
        assert not holding.done()
        fake_kube.fail_next(1000, status=500, path_contains="/leases")
        started = time.monotonic()
        with pytest.raises(LeadershipLost, match="lost Lease default/mqtt-kube-leader-test"):
            await asyncio.wait_for(holding, timeout=2 * TIMING.duration)
        gave_up_after = time.monotonic() - started
    assert not leader.is_leader
    assert gave_up_after <= TIMING.duration


# -- two service processes -----------------------------------------------------------------


class Replica:
    """One `python -m mqtt_kube --leader-elect` process, its log in a file."""

    def __init__(self, config: Path, log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mqtt_kube", "--leader-elect", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def identity_suffix(self) -> str:
        return f"-{self.process.pid}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def http_port(self) -> int | None:
        found = re.search(r"HTTP endpoints on http://127\.0\.0\.1:(\d+)/", self.text())
        return int(found.group(1)) if found else None

    def kill(self) -> None:
        """SIGKILL, and reap (for teardown: it blocks)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    async def stop(self, sig: signal.Signals) -> int:
        """Send `sig` and wait for the exit without blocking the fake API in this loop."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        await until(lambda: self.process.poll() is not None, seconds=10)
        return self.process.returncode


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.kill()
        print(f"--- replica {replica.process.pid} ---\n{replica.text()}")


async def ready(replica: Replica) -> int:
    """The HTTP status of the replica's /api/ready (0 until it listens)."""
    port = replica.http_port()
    if port is None:
        return 0
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/api/ready") as response,
    ):
        return response.status


def leading(fake: FakeKube, replicas: list[Replica]) -> Replica | None:
    """The replica named by the Lease, if any."""
    lease = fake.get("coordination.k8s.io/v1", "Lease", NAMESPACE, lease_name_of(fake))
    who = "" if lease is None else str(lease["spec"].get("holderIdentity") or "")
    return next((r for r in replicas if who.endswith(r.identity_suffix)), None)


def lease_name_of(fake: FakeKube) -> str:
    leases = fake.objects("coordination.k8s.io/v1", "Lease", NAMESPACE)
    return str(leases[0]["metadata"]["name"]) if leases else "none"


async def next_state(probe: MqttProbe, topic: str, expected: str, *, before: str) -> None:
    """Wait for `expected` on `topic`; only repeats of `before` may come first.

    A new leader publishes its start-up state, and again when its connect hook runs: the
    same payload twice is allowed.
    """
    while (text := await probe.next_text(topic, timeout=5)) != expected:
        assert text == before, f"{topic}: {text!r} before {expected!r}"


def connected(replica: Replica) -> bool:
    """Whether the replica ever connected to the broker (its log says so)."""
    return "connected to MQTT broker" in replica.text()


async def test_two_service_processes_one_acts_a_kill_hands_over_a_stop_releases(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_prefix: str,
    replicas: list[Replica],
) -> None:
    client_id = "leader-e2e"
    fake_kube.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app", "namespace": NAMESPACE},
            "spec": {"replicas": 0},
        }
    )
    body = (
        "bindings:\n  - namespace: default\n    resource: Deployment\n    name: app\n"
        "    patch:\n      topic: app/set\n      locus: spec.replicas\n"
        "    watch:\n      locus: spec.replicas\n      topic: app/replicas\n      retain: true\n"
    )
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id=client_id
    )
    env = {
        **os.environ,
        "POD_NAMESPACE": NAMESPACE,
        "MQTT_KUBE_LEASE_DURATION": "2",
        "MQTT_KUBE_LEASE_RENEW": "0.5",
        "MQTT_KUBE_LEASE_RETRY": "0.25",
    }
    for n in range(2):
        replicas.append(Replica(config, tmp_path / f"replica-{n}.log", env))
    command = f"{mqtt_prefix}/app/set"
    state = f"{mqtt_prefix}/app/replicas"
    patches = "/deployments/app/scale"

    availability = f"{mqtt_prefix}/status"
    async with MqttProbe.connect(mosquitto, subscribe=[state, availability]) as probe:
        await until(lambda: leading(fake_kube, replicas) is not None, seconds=20)
        first = leading(fake_kube, replicas)
        assert first is not None
        standby = next(r for r in replicas if r is not first)
        await until(
            lambda: first.http_port() is not None and standby.http_port() is not None, seconds=10
        )
        assert await probe.next_text(state, timeout=10) == "0"
        assert await probe.next_text(availability) == "online"
        await until(lambda: connected(first))
        assert not connected(standby)
        assert await ready(first) == 200
        assert await ready(standby) == 503

        for before, value in (("0", "1"), ("1", "2")):
            await probe.publish(command, value)
            await next_state(probe, state, value, before=before)
        await asyncio.sleep(0.3)
        assert fake_kube.count(method="PATCH", path_contains=patches) == 2

        killed = time.monotonic()
        await first.stop(signal.SIGKILL)
        await until(lambda: leading(fake_kube, replicas) is standby, seconds=10)
        assert await probe.next_text(availability, timeout=10) == "offline"  # the Last Will
        assert await probe.next_text(availability, timeout=10) == "online"
        handover = time.monotonic() - killed
        await until(lambda: connected(standby))
        assert await probe.next_text(state) == "2"  # the new leader's start-up state
        await probe.publish(command, "3")
        await next_state(probe, state, "3", before="2")
        await until(lambda: fake_kube.count(method="PATCH", path_contains=patches) == 3)

        third = Replica(config, tmp_path / "replica-2.log", env)
        replicas.append(third)
        await until(lambda: third.http_port() is not None, seconds=10)
        assert await ready(third) == 503
        assert not connected(third)
        stopping = time.monotonic()
        assert await standby.stop(signal.SIGTERM) == 0
        stopped = time.monotonic()
        assert "could not release Lease" not in standby.text()
        await until(lambda: leading(fake_kube, replicas) is third, seconds=2)
        released_handover = time.monotonic() - stopped
        stop_seconds = stopped - stopping
        assert await probe.next_text(availability, timeout=5) == "offline"  # said on the way out
        assert await probe.next_text(availability, timeout=5) == "online"
        assert await probe.next_text(state) == "3"
        await probe.publish(command, "4")
        await next_state(probe, state, "4", before="3")
        await asyncio.sleep(0.3)
        assert fake_kube.count(method="PATCH", path_contains=patches) == 4

    print(
        f"handover after kill: {handover:.2f} s (lease 2 s); clean stop {stop_seconds:.2f} s, "
        f"handover after release {released_handover:.2f} s (retry every 0.25 s)"
    )
    assert handover <= 2 + 1.0
    assert released_handover < 1.0

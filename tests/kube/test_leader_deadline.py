"""A Lease renewal that hangs instead of failing, against the fake API's held requests.

Covered: the leader's every request hangs (its own bearer token picks them); it gives up,
by the renew deadline, before the standby (another client) may take the Lease over, so the
two never lead together. The renew deadline's setting and its default.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mqtt_kube.config.model import KubernetesSettings
from mqtt_kube.core.errors import MqttKubeError
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.kube.leader import LeaderElector, LeadershipLost, LeaseTiming
from mqtt_kube.testing.fakekube import FakeKube
from tests.support.waiting import until

TIMING = LeaseTiming(duration=3.0, renew_every=0.3, retry_every=0.2, renew_deadline=1.0)


@contextlib.asynccontextmanager
async def client_with_token(fake: FakeKube, folder: Path, token: str) -> AsyncIterator[KubeClient]:
    kubeconfig = fake.write_kubeconfig(folder / f"kubeconfig-{token}", user={"token": token})
    client = await KubeClient.connect(KubernetesSettings(kubeconfig=str(kubeconfig)))
    try:
        yield client
    finally:
        await client.close()


def elector(client: KubeClient, identity: str) -> LeaderElector:
    return LeaderElector(
        client, namespace="default", name="mqtt-kube-hang", identity=identity, timing=TIMING
    )


async def test_a_leader_whose_renewal_hangs_gives_up_before_the_standby_takes_over(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    leader_token, standby_token = fake_kube.issue_token(), fake_kube.issue_token()
    order: list[str] = []
    async with (
        client_with_token(fake_kube, tmp_path, leader_token) as leader_client,
        client_with_token(fake_kube, tmp_path, standby_token) as standby_client,
    ):
        leader, standby = elector(leader_client, "leader"), elector(standby_client, "standby")
        await leader.acquire()

        async def hold() -> None:
            with contextlib.suppress(LeadershipLost):
                await leader.hold()
            order.append("leader gave up")

        async def take_over() -> None:
            await standby.acquire()
            order.append("standby leads")

        async with asyncio.TaskGroup() as group:
            group.create_task(hold())
            group.create_task(take_over())
            # From now on the leader's requests get no answer (its 30 s request limit
            # is far longer than the lease).
            fake_kube.hang(token=leader_token)
            await until(lambda: len(order) == 2, seconds=4 * TIMING.duration)
            fake_kube.release_hung()
    assert order == ["leader gave up", "standby leads"]
    assert not leader.is_leader


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({"MQTT_KUBE_LEASE_RENEW_DEADLINE": "20"}, "must be shorter than"),
        ({"MQTT_KUBE_LEASE_RENEW_DEADLINE": "4"}, "must be shorter than"),
        ({"MQTT_KUBE_LEASE_RENEW_DEADLINE": "soon"}, "expected a number of seconds"),
    ],
)
def test_the_renew_deadline_lies_between_renewal_and_lease_duration(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], problem: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(MqttKubeError, match=problem):
        LeaseTiming.from_env()


def test_the_renew_deadline_defaults_to_two_thirds_of_the_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MQTT_KUBE_LEASE_DURATION", "30")
    assert LeaseTiming.from_env().renew_deadline == 20
    monkeypatch.delenv("MQTT_KUBE_LEASE_DURATION")
    assert LeaseTiming.from_env() == LeaseTiming()  # 15, 5, 2 and 10 s

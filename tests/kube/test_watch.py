"""The shared watch against the fake API server, through the real kubernetes_asyncio client.

Covered: start-up delivery of present and absent objects; changes delivered once; other
objects ignored; delete and re-create followed; a cut stream resumes without duplicates;
410 Gone relists without missing the change made meanwhile, whether it comes in the
stream or in answer to opening it; API errors back off and recover, each failure and the
recovery reported, the log naming the bindings served; a cut after a working stream backs
off no further than the first try; one watch request per (kind, namespace).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.config.model import KubernetesSettings
from mqtt_kube.core.backoff import Backoff
from mqtt_kube.core.kinds import BUILTIN_KINDS
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.kube.watch import ResourceWatch, describe_bindings
from mqtt_kube.testing.fakekube import FakeKube
from tests.support.waiting import until

DEPLOYMENT = BUILTIN_KINDS["Deployment"]


def deployment(name: str, *, namespace: str = "media", replicas: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas},
    }


@pytest.fixture
async def client(fake_kube: FakeKube, tmp_path: Path) -> AsyncIterator[KubeClient]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    client = await KubeClient.connect(KubernetesSettings(kubeconfig=str(kubeconfig)))
    yield client
    await client.close()


class Recorder:
    """A listener that keeps what it was given: replicas, or None while absent."""

    def __init__(self) -> None:
        self.seen: list[int | None] = []

    def __call__(self, body: dict[str, Any] | None) -> None:
        self.seen.append(None if body is None else body["spec"]["replicas"])


@pytest.fixture
async def running_watch(
    client: KubeClient,
) -> AsyncIterator[Callable[..., tuple[ResourceWatch, dict[str, Recorder]]]]:
    tasks: list[asyncio.Task[None]] = []

    def start(*names: str, namespace: str = "media") -> tuple[ResourceWatch, dict[str, Recorder]]:
        watch = ResourceWatch(
            client, DEPLOYMENT, namespace, backoff=Backoff(initial=0.01, maximum=0.05)
        )
        recorders = {name: Recorder() for name in names}
        for name, recorder in recorders.items():
            watch.add_listener(namespace, name, recorder)
        tasks.append(asyncio.create_task(watch.run()))
        return watch, recorders

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_start_up_delivers_present_objects_and_none_for_absent_ones(
    fake_kube: FakeKube, running_watch
) -> None:
    fake_kube.put(deployment("jellyfin", replicas=1))
    watch, seen = running_watch("jellyfin", "plex")
    await until(lambda: watch.synced)
    assert seen["jellyfin"].seen == [1]
    assert seen["plex"].seen == [None]


async def test_a_change_is_delivered_once_and_other_objects_are_ignored(
    fake_kube: FakeKube, running_watch
) -> None:
    fake_kube.controller = False  # no status updates: every event below is one of ours
    fake_kube.put(deployment("jellyfin"))
    watch, seen = running_watch("jellyfin")
    await until(lambda: watch.synced)
    fake_kube.put(deployment("unrelated", replicas=3))
    fake_kube.patch("apps/v1", "Deployment", "media", "jellyfin", {"spec": {"replicas": 2}})
    # The stream is ordered: once the next change is in, a repeat of this one would be too.
    fake_kube.patch("apps/v1", "Deployment", "media", "jellyfin", {"spec": {"replicas": 5}})
    await until(lambda: seen["jellyfin"].seen[-1:] == [5])
    assert seen["jellyfin"].seen == [0, 2, 5]


async def test_a_deleted_object_is_none_and_its_return_is_followed(
    fake_kube: FakeKube, running_watch
) -> None:
    watch, seen = running_watch("jellyfin")
    await until(lambda: watch.synced)
    fake_kube.put(deployment("jellyfin", replicas=1))
    await until(lambda: seen["jellyfin"].seen[-1:] == [1])
    fake_kube.delete("apps/v1", "Deployment", "media", "jellyfin")
    await until(lambda: seen["jellyfin"].seen[-1:] == [None])
    fake_kube.put(deployment("jellyfin", replicas=4))
    await until(lambda: seen["jellyfin"].seen[-1:] == [4])
    assert seen["jellyfin"].seen[0] is None


async def test_a_cut_stream_resumes_from_the_last_version_without_duplicates(
    fake_kube: FakeKube, running_watch
) -> None:
    fake_kube.put(deployment("jellyfin", replicas=1))
    watch, seen = running_watch("jellyfin")
    await until(lambda: watch.synced and fake_kube.open_watches == 1)
    lists_before = fake_kube.count(method="GET", path_contains="/deployments")
    await fake_kube.cut_watches()
    await until(lambda: fake_kube.open_watches == 1)
    fake_kube.patch("apps/v1", "Deployment", "media", "jellyfin", {"spec": {"replicas": 5}})
    await until(lambda: seen["jellyfin"].seen[-1:] == [5])
    assert seen["jellyfin"].seen.count(1) == 1
    assert watch.relists == 0
    # one more GET: the resumed watch, not a new list
    assert fake_kube.count(method="GET", path_contains="/deployments") == lists_before + 1


async def test_410_gone_relists_and_misses_no_change(fake_kube: FakeKube, running_watch) -> None:
    fake_kube.put(deployment("jellyfin", replicas=1))
    fake_kube.put(deployment("plex", replicas=1))
    watch, seen = running_watch("jellyfin", "plex")
    await until(lambda: watch.synced and fake_kube.open_watches == 1)
    fake_kube.controller = False
    fake_kube.compact()
    fake_kube.patch("apps/v1", "Deployment", "media", "jellyfin", {"spec": {"replicas": 7}})
    fake_kube.delete("apps/v1", "Deployment", "media", "plex")
    await fake_kube.cut_watches()
    await until(lambda: watch.relists >= 1 and seen["plex"].seen[-1:] == [None])
    await until(lambda: seen["jellyfin"].seen[-1:] == [7])
    assert seen["jellyfin"].seen == [1, 7]
    assert seen["plex"].seen == [1, None]


async def test_api_errors_back_off_then_recover(fake_kube: FakeKube, running_watch) -> None:
    fake_kube.put(deployment("jellyfin", replicas=1))
    fake_kube.fail_next(3, status=500, method="GET", path_contains="/deployments")
    watch, seen = running_watch("jellyfin")
    await until(lambda: watch.synced)
    assert seen["jellyfin"].seen == [1]
    assert watch.restarts >= 3
    assert watch.healthy


async def test_many_listeners_share_one_watch_request(fake_kube: FakeKube, running_watch) -> None:
    names = [f"app-{n}" for n in range(50)]
    for name in names[:25]:
        fake_kube.put(deployment(name))
    watch, seen = running_watch(*names)
    await until(lambda: watch.synced and fake_kube.open_watches == 1)
    assert fake_kube.max_open_watches == 1
    assert [seen[n].seen for n in names[25:]] == [[None]] * 25


async def test_410_in_answer_to_opening_the_watch_relists(
    fake_kube: FakeKube, running_watch
) -> None:
    fake_kube.put(deployment("jellyfin", replicas=1))
    watch, seen = running_watch("jellyfin")
    await until(lambda: watch.synced and fake_kube.open_watches == 1)
    fake_kube.controller = False
    lists_before = fake_kube.count(method="GET", path_contains="/deployments")
    fake_kube.fail_next(1, status=410, method="GET", path_contains="/deployments")
    await fake_kube.cut_watches()  # the resumed watch is the request answered with 410
    await until(lambda: watch.relists == 1 and fake_kube.open_watches == 1)
    # the refused watch, a new list, and a watch from the list's version
    assert fake_kube.count(method="GET", path_contains="/deployments") == lists_before + 3
    fake_kube.patch("apps/v1", "Deployment", "media", "jellyfin", {"spec": {"replicas": 3}})
    await until(lambda: seen["jellyfin"].seen[-1:] == [3])
    assert seen["jellyfin"].seen == [1, 3]


async def test_failures_are_reported_naming_the_bindings_and_the_recovery_too(
    fake_kube: FakeKube, client: KubeClient, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[str | None] = []
    watch = ResourceWatch(
        client,
        DEPLOYMENT,
        "media",
        backoff=Backoff(initial=0.01, maximum=0.05),
        serves=["Deployment media/jellyfin", "Deployment media/plex"],
        report=reports.append,
    )
    fake_kube.fail_next(2, status=403, method="GET", path_contains="/deployments")
    task = asyncio.create_task(watch.run())
    try:
        await until(lambda: watch.synced)
    finally:
        task.cancel()
    failure = "watch Deployment in namespace media: GET /apis/apps/v1/namespaces/media/deployments"
    assert len(reports) == 3
    assert all(report and report.startswith(failure) for report in reports[:2])
    assert reports[2] is None
    assert (
        "watch Deployment in namespace media (Deployment media/jellyfin, Deployment media/plex): "
        "GET /apis/apps/v1/namespaces/media/deployments: injected failure: HTTP 403"
    ) in caplog.text


def test_log_lines_count_the_bindings_when_there_are_many() -> None:
    assert describe_bindings(["a", "b", "c"]) == "a, b, c"
    assert describe_bindings([f"binding {n}" for n in range(120)]) == "120 bindings"


class RecordingBackoff(Backoff):
    """A real backoff that keeps every delay it handed out."""

    def __init__(self) -> None:
        super().__init__(initial=0.01, maximum=10.0)
        self.delays: list[float] = []

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.delays.append(delay)
        return delay


async def test_a_stream_that_delivered_events_starts_the_backoff_afresh_when_cut(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    fake_kube.put(deployment("jellyfin"))
    backoff = RecordingBackoff()
    watch = ResourceWatch(client, DEPLOYMENT, "media", backoff=backoff)
    seen = Recorder()
    watch.add_listener("media", "jellyfin", seen)
    task = asyncio.create_task(watch.run())
    try:
        for replicas in range(1, 6):
            await until(lambda: fake_kube.open_watches == 1)
            fake_kube.patch(
                "apps/v1", "Deployment", "media", "jellyfin", {"spec": {"replicas": replicas}}
            )
            await until(lambda r=replicas: seen.seen[-1:] == [r])  # type: ignore[misc]
            await fake_kube.cut_watches()
        await until(lambda: fake_kube.open_watches == 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert watch.restarts >= 5
    # Each cut follows a stream that worked: never the doubled delays of repeated failures.
    assert max(backoff.delays, default=0.0) < 0.02

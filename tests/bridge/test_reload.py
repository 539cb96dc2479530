"""Live reload end to end: a new file applied in place, through mosquitto and the fake API.

Covered: under a steady stream of commands, reloads (a file change and a reload request
as SIGHUP makes it) change, add and remove bindings with no command lost and none applied
twice, and the watch stays the one shared watch; a binding added to a running watch gets
its object's state, a removed one clears its retained state and its discovery configs; a
broken file is refused with its problems (file:line) logged and shown in /api/status, and
the old one keeps running; a file that changes what takes a restart is refused naming the
setting; a file written again with the same content applies nothing; `/api/status` shows
the digest and load time of the file in use.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.bridge.service import Service
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

NS = "media"
TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cmd-${match.input}
  namespace: media
data:
  version: "VERSION"
"""


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas},
    }


def launcher(name: str, template: str) -> str:
    """A binding of Deployment `name` that launches a ConfigMap per payload on `<name>/run`."""
    return (
        f"  - resource: Deployment\n    namespace: {NS}\n    name: {name}\n"
        f"    action:\n      topic: {name}/run\n      launch: !relpath {template}\n"
    )


def watcher(name: str, *, retain: bool = True) -> str:
    return (
        f"  - resource: Deployment\n    namespace: {NS}\n    name: {name}\n"
        f"    watch:\n      topic: {name}/replicas\n      locus: spec.replicas\n"
        f"      retain: {'true' if retain else 'false'}\n"
    )


class Files:
    """The test's config file, written again in place as a user (or a ConfigMap) would."""

    def __init__(self, tmp_path: Path, mosquitto: Mosquitto, fake: FakeKube, prefix: str) -> None:
        self.folder, self.mosquitto, self.fake, self.prefix = tmp_path, mosquitto, fake, prefix
        for version in ("1", "2"):
            (tmp_path / f"v{version}.yaml").write_text(TEMPLATE.replace("VERSION", version))

    def write(self, bindings: str, extra: str = "") -> Path:
        return write_config(
            self.folder,
            f"homeassistant:\n  discovery-prefix: {self.prefix}/ha\n{extra}bindings:\n{bindings}",
            broker=self.mosquitto,
            fake=self.fake,
            prefix=self.prefix,
            client_id="reloads",
        )


def launched(fake: FakeKube) -> list[str]:
    """The names of the ConfigMaps POSTed, in order (a second POST of one is a duplicate)."""
    return [
        r.body["metadata"]["name"]
        for r in fake.requests
        if r.method == "POST" and r.path.endswith("/configmaps")
    ]


async def reloaded(service: Service, count: int) -> None:
    await until(lambda: service.reloader.reloads >= count, seconds=10)


async def test_reloads_under_a_steady_command_stream_lose_no_command_and_apply_none_twice(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment("plex"))
    fake_kube.put(deployment("sonarr", replicas=2))
    files = Files(tmp_path, mosquitto, fake_kube, mqtt_prefix)
    config = files.write(launcher("plex", "v1.yaml") + watcher("plex"))
    sent: list[str] = []

    async def stream(count: int) -> None:
        for n in range(count):
            sent.append(f"{n:04d}")
            await mqtt_probe.publish(f"{mqtt_prefix}/plex/run", sent[-1])
            await asyncio.sleep(0.01)

    async with running_service(config) as service:
        watches = dict(service.watches)
        assert len(watches) == 1
        await until(lambda: fake_kube.open_watches == 1)
        fake_kube.max_open_watches = 1
        stream_task = asyncio.create_task(stream(300))
        await until(lambda: len(sent) > 40)
        # 1: the file changes: the plex action's template changes, a binding is added
        files.write(launcher("plex", "v2.yaml") + watcher("plex") + watcher("sonarr"))
        await reloaded(service, 1)
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/sonarr/replicas", timeout=10) == "2"
        await until(lambda: len(sent) > 120)
        # 2: SIGHUP's way: sonarr goes again, plex's watch is dropped
        files.write(launcher("plex", "v2.yaml") + watcher("sonarr"))
        service.reloader.request()
        await reloaded(service, 2)
        await stream_task
        await until(lambda: len(launched(fake_kube)) >= len(sent), seconds=15)
        await asyncio.sleep(0.2)  # a duplicate, were there one, would be sent by now
        assert launched(fake_kube) == [f"cmd-{n}" for n in sent]  # each once, in order
        assert service.counters.failed == 0
        versions = [
            fake_kube.get("v1", "ConfigMap", NS, f"cmd-{n}")["data"]["version"] for n in sent
        ]
        assert versions[0] == "1"
        assert versions[-1] == "2"
        assert versions == sorted(versions)  # the new template from the reload on, no going back
        assert list(service.watches) == list(watches)  # still the one shared watch
        assert fake_kube.max_open_watches == 1  # never a second connection meanwhile
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/plex/replicas") == "1"
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/plex/replicas") == ""  # cleared


async def test_a_removed_binding_clears_its_retained_state_and_its_entities(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment("plex", replicas=3))
    fake_kube.put(deployment("sonarr"))
    files = Files(tmp_path, mosquitto, fake_kube, mqtt_prefix)
    config = files.write(watcher("plex") + watcher("sonarr"))
    async with running_service(config) as service:
        plex = f"Deployment {NS}/plex"
        config_topic, _ = await mqtt_probe.next_config(f"{mqtt_prefix}/ha/sensor/", plex)
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/plex/replicas") == "3"
        files.write(watcher("sonarr"))
        await reloaded(service, 1)
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/plex/replicas") == ""
        await mqtt_probe.until_text(config_topic, "", timeout=10)  # the config cleared
        assert [b.spec.name for b in service.bindings] == ["sonarr"]
    async with MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/#"]) as late:
        assert await late.next_text(f"{mqtt_prefix}/sonarr/replicas") == "1"
        await late.quiet(f"{mqtt_prefix}/plex/replicas", within=0.3)


async def test_a_broken_file_is_refused_and_the_one_in_use_keeps_running(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_kube.put(deployment("plex", replicas=2))
    files = Files(tmp_path, mosquitto, fake_kube, mqtt_prefix)
    config = files.write(watcher("plex"))
    async with running_service(config) as service:
        before = service.status()["config"]
        assert before["digest"]
        assert before["loaded_at"]
        assert before["refused"] is None
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/plex/replicas") == "2"
        text = config.read_text()
        with caplog.at_level(logging.ERROR, logger="mqtt_kube.bridge.reload"):
            config.write_text(text.replace("retain: true", "retian: true"))
            await until(lambda: service.status()["config"]["refused"] is not None, seconds=10)
        refused = service.status()["config"]["refused"]
        line = text.splitlines().index("      retain: true") + 1
        assert any(f"{config}:{line}:" in problem for problem in refused["problems"]), refused
        assert f"{config}:{line}:" in caplog.text
        assert "refused" in caplog.text
        assert service.status()["config"]["digest"] == before["digest"]  # still the old one
        fake_kube.patch("apps/v1", "Deployment", NS, "plex", {"spec": {"replicas": 4}})
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/plex/replicas") == "4"

        config.write_text(text + watcher("sonarr"))  # fixed, and one more binding
        await reloaded(service, 1)
        after = service.status()["config"]
        assert after["refused"] is None
        assert after["digest"] != before["digest"]
        assert [b["binding"] for b in service.status()["bindings"]] == [
            f"Deployment {NS}/plex",
            f"Deployment {NS}/sonarr",
        ]


async def test_a_change_that_takes_a_restart_is_refused_naming_the_setting(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = Files(tmp_path, mosquitto, fake_kube, mqtt_prefix)
    config = files.write(watcher("plex"))
    async with running_service(config) as service:
        with caplog.at_level(logging.ERROR, logger="mqtt_kube.bridge.reload"):
            config.write_text(config.read_text().replace("keepalive: 5", "keepalive: 7"))
            await until(lambda: service.status()["config"]["refused"] is not None, seconds=10)
        (problem,) = service.status()["config"]["refused"]["problems"]
        assert problem == "mqtt.keepalive changed: that takes a restart of mqtt-kube"
        assert problem in caplog.text
        assert service.reloader.reloads == 0


async def test_the_same_content_written_again_applies_nothing(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    files = Files(tmp_path, mosquitto, fake_kube, mqtt_prefix)
    config = files.write(watcher("plex"))
    async with running_service(config) as service:
        config.write_text(config.read_text())
        await until(lambda: service.reloader.checks >= 1, seconds=10)
        assert service.reloader.reloads == 0
        config.write_text(config.read_text() + "# a comment\n")  # a change: this one applies
        await reloaded(service, 1)
        status = json.dumps(service.status()["config"])
        assert config.name in status

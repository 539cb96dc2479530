"""Home Assistant discovery at run time, against a real mosquitto.

Covered: what the broker retains for a config using every component is exactly the reviewed
snapshot; configs are published retained, once, skipped when the broker already holds them,
and published again after a broker restart lost them; two instances on one broker announce
disjoint unique_ids and topics; Home Assistant's birth (`online`, live) republishes every
config and then every state, a retained birth does not; a restart without a binding, or
with its discovery turned off, clears exactly that binding's configs while another
instance's configs and a foreign config under our node id stay; the whole service end to
end: a switch command sent the way Home Assistant sends it scales the Deployment in the
fake API and the state follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mqtt_kube import __version__
from mqtt_kube.bridge.stateboard import StateBoard
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config
from mqtt_kube.homeassistant.lifecycle import HomeAssistantDiscovery
from mqtt_kube.homeassistant.plan import build_plan
from mqtt_kube.mqtt.connection import MqttConnection
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.paths import CONFIGS, SNAPSHOTS
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

HOMELAB = CONFIGS / "discovery" / "homelab.yaml"
SNAPSHOT = SNAPSHOTS / "discovery-homelab.json"
JELLYFIN = """\
  - namespace: media
    resource: Deployment
    name: jellyfin
    patch:
      topic: jellyfin/power/set
      locus: spec.replicas
      values: {"ON": 1, "OFF": 0}
    watch:
      locus: status.availableReplicas
      topic: jellyfin/power/state
      retain: true
      values: {1: "ON", ~: "OFF"}
"""
SONARR = """\
  - namespace: media
    resource: Deployment
    name: sonarr
    watch:
      locus: status.readyReplicas
      topic: sonarr/ready
"""
RADARR = """\
  - namespace: media
    resource: Deployment
    name: radarr
    watch:
      locus: status.readyReplicas
      topic: radarr/ready
"""


@dataclass
class Running:
    discovery: HomeAssistantDiscovery
    board: StateBoard
    mqtt: MqttConnection


def make_config(
    folder: Path, *, broker: Mosquitto, prefix: str, client_id: str, bindings: str
) -> Config:
    """A config on the test broker; discovery under `<prefix>/ha`, so tests never meet."""
    path = folder / f"{client_id}-{secrets.token_hex(2)}.yaml"
    path.write_text(
        f"mqtt:\n  host: {broker.host}\n  port: {broker.port}\n  client-id: {client_id}\n"
        f"  topic-prefix: {prefix}/{client_id}\n"
        f"homeassistant:\n  discovery-prefix: {prefix}/ha\n  birth-topic: {prefix}/ha/status\n"
        f"bindings:\n{bindings}"
    )
    return load_config(path)


@contextlib.asynccontextmanager
async def running_discovery(config: Config) -> AsyncIterator[Running]:
    """Connection, state board and discovery as the service wires them, until the first scan."""
    handlers: list[HomeAssistantDiscovery] = []
    mqtt = MqttConnection(config.mqtt, on_message=lambda message: handlers[0].on_message(message))
    board = StateBoard(mqtt)
    mqtt.add_connect_hook(board.republish)
    discovery = HomeAssistantDiscovery.from_config(config, mqtt=mqtt, board=board, state_delay=0.05)
    handlers.append(discovery)
    tasks = [
        asyncio.create_task(mqtt.run(), name="mqtt"),
        asyncio.create_task(board.run(), name="board"),
        asyncio.create_task(discovery.run(), name="discovery"),
    ]
    try:
        await until(lambda: discovery.scans >= 1 or any(t.done() for t in tasks))
        for task in tasks:
            if task.done():
                task.result()
        yield Running(discovery, board, mqtt)
    finally:
        await mqtt.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def retained_configs(broker: Mosquitto, prefix: str) -> dict[str, dict[str, Any]]:
    """Every non-empty retained config under `<prefix>/ha`, as a fresh subscriber sees it."""
    return await retained_under(broker, f"{prefix}/ha")


async def retained_under(broker: Mosquitto, discovery_prefix: str) -> dict[str, dict[str, Any]]:
    """Every non-empty retained config under a discovery prefix, as a fresh subscriber sees it."""
    topics = [f"{discovery_prefix}/+/+/+/config"]
    async with MqttProbe.connect(broker, subscribe=topics) as probe:
        await asyncio.sleep(0.3)
        return {m.topic: json.loads(m.payload) for m in probe.history if m.retain and m.payload}


def config_messages(probe: MqttProbe, prefix: str) -> list[str]:
    return [m.topic for m in probe.history if m.topic.startswith(f"{prefix}/ha/")]


async def test_the_broker_retains_exactly_the_reviewed_configs_of_every_component(
    mosquitto: Mosquitto,
) -> None:
    homelab = load_config(HOMELAB)  # its own broker: the real prefix, topics and client-id
    config = replace(homelab, mqtt=replace(homelab.mqtt, host=mosquitto.host, port=mosquitto.port))
    reviewed = json.loads(SNAPSHOT.read_text().replace("<version>", __version__))
    assert {entity.component for entity in build_plan(config).entities} == {
        "switch",
        "number",
        "binary_sensor",
        "sensor",
        "button",
    }
    async with running_discovery(config):
        pass
    assert await retained_under(mosquitto, "homeassistant") == reviewed


async def test_configs_are_published_retained_once_and_skipped_when_the_broker_has_them(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    config = make_config(
        tmp_path, broker=mosquitto, prefix=mqtt_prefix, client_id="kube-a", bindings=JELLYFIN
    )
    expected = {topic: json.loads(p) for topic, p in build_plan(config).messages().items()}
    async with MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/ha/#"]) as probe:
        async with running_discovery(config):
            await until(lambda: len(config_messages(probe, mqtt_prefix)) >= len(expected))
        assert sorted(config_messages(probe, mqtt_prefix)) == sorted(expected)
        assert await retained_configs(mosquitto, mqtt_prefix) == expected

        probe.history.clear()
        async with running_discovery(config) as again:
            assert again.discovery.scans == 1
        assert config_messages(probe, mqtt_prefix) == []  # unchanged: nothing published


async def test_a_broker_that_lost_its_retained_configs_gets_them_all_again(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    config = make_config(
        tmp_path, broker=mosquitto, prefix=mqtt_prefix, client_id="kube-a", bindings=JELLYFIN
    )
    expected = {topic: json.loads(p) for topic, p in build_plan(config).messages().items()}
    async with running_discovery(config) as running:
        mosquitto.restart()  # no persistence: every retained message is gone
        await until(lambda: running.discovery.scans >= 2, seconds=15)
        assert await retained_configs(mosquitto, mqtt_prefix) == expected


async def test_two_instances_on_one_broker_never_share_a_unique_id_or_a_topic(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    first, second = (
        make_config(
            tmp_path, broker=mosquitto, prefix=mqtt_prefix, client_id=name, bindings=JELLYFIN
        )
        for name in ("kube-a", "kube-b")
    )
    async with running_discovery(first), running_discovery(second):
        retained = await retained_configs(mosquitto, mqtt_prefix)
    plans = [build_plan(first), build_plan(second)]
    topics = [set(plan.messages()) for plan in plans]
    unique_ids = [{e.unique_id for e in plan.entities} for plan in plans]
    assert not topics[0] & topics[1]
    assert not unique_ids[0] & unique_ids[1]
    assert set(retained) == topics[0] | topics[1]
    assert {c["unique_id"] for c in retained.values()} == unique_ids[0] | unique_ids[1]


async def test_home_assistant_birth_republishes_every_config_then_every_state(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    config = make_config(
        tmp_path, broker=mosquitto, prefix=mqtt_prefix, client_id="kube-a", bindings=JELLYFIN
    )
    configs = build_plan(config).messages()
    state = f"{mqtt_prefix}/kube-a/jellyfin/power/state"
    async with (
        MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/#"]) as probe,
        running_discovery(config) as running,
    ):
        running.board.set(state, "ON", qos=1, retain=False)
        assert await probe.next_text(state) == "ON"
        await until(lambda: len(config_messages(probe, mqtt_prefix)) >= len(configs))
        # The first configs are followed by every state; that round is over, and all it
        # published is in, once a message sent after it comes back.
        await until(lambda: running.discovery.state_rounds >= 1)
        await probe.publish(f"{mqtt_prefix}/fence", "")
        await probe.next(f"{mqtt_prefix}/fence")
        probe.clear()
        probe.history.clear()

        await probe.publish(f"{mqtt_prefix}/ha/status", "online")
        assert await probe.next_text(state) == "ON"
        seen = [m.topic for m in probe.history]
        assert set(configs) <= set(seen)
        assert max(seen.index(topic) for topic in configs) < seen.index(state)
        for topic, payload in configs.items():
            assert (await probe.next(topic)).payload.decode() == payload


async def test_a_retained_birth_message_is_not_a_home_assistant_start(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    config = make_config(
        tmp_path, broker=mosquitto, prefix=mqtt_prefix, client_id="kube-a", bindings=JELLYFIN
    )
    configs = build_plan(config).messages()
    async with MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/ha/#"]) as probe:
        await probe.publish(f"{mqtt_prefix}/ha/status", "online", retain=True)
        async with running_discovery(config):
            await until(lambda: len(config_messages(probe, mqtt_prefix)) >= len(configs) + 1)
            await asyncio.sleep(0.3)
        published = [t for t in config_messages(probe, mqtt_prefix) if t in configs]
        assert sorted(published) == sorted(configs)  # each once: no second announcement


async def test_a_restart_clears_the_configs_of_removed_and_switched_off_bindings_only(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    before = make_config(
        tmp_path,
        broker=mosquitto,
        prefix=mqtt_prefix,
        client_id="kube-a",
        bindings=JELLYFIN + SONARR + RADARR,
    )
    other = make_config(
        tmp_path, broker=mosquitto, prefix=mqtt_prefix, client_id="kube-b", bindings=SONARR
    )
    after = make_config(
        tmp_path,
        broker=mosquitto,
        prefix=mqtt_prefix,
        client_id="kube-a",
        bindings=JELLYFIN + RADARR + "    homeassistant: false\n",
    )
    plan = build_plan(before)
    foreign = f"{plan.prefix}/sensor/{plan.node_id}/handmade/config"
    async with MqttProbe.connect(mosquitto, subscribe=[f"{mqtt_prefix}/ha/#"]) as probe:
        await probe.publish(foreign, json.dumps({"unique_id": "someone-else"}), retain=True)
        async with running_discovery(before), running_discovery(other):
            pass
        assert set(await retained_configs(mosquitto, mqtt_prefix)) == (
            set(plan.messages()) | set(build_plan(other).messages()) | {foreign}
        )

        probe.history.clear()
        async with running_discovery(after):
            pass
        kept = set(build_plan(after).messages())
        removed = set(plan.messages()) - kept
        assert {e.device for e in plan.entities if e.topic in removed} == {
            "Deployment media/sonarr",
            "Deployment media/radarr",
        }
        cleared = [m.topic for m in probe.history if m.payload == b""]
        assert sorted(cleared) == sorted(removed)
        assert not [m for m in probe.history if m.topic in kept]  # unchanged: not republished

    assert set(await retained_configs(mosquitto, mqtt_prefix)) == (
        kept | set(build_plan(other).messages()) | {foreign}
    )


async def test_a_switch_pressed_the_way_home_assistant_does_scales_the_deployment(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "jellyfin", "namespace": "media"},
            "spec": {"replicas": 0},
        }
    )
    body = f"homeassistant:\n  discovery-prefix: {mqtt_prefix}/ha\nbindings:\n{JELLYFIN}"
    path = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="e2e"
    )
    async with running_service(path) as service:
        assert service.discovery is not None
        await until(lambda: service.discovery is not None and service.discovery.scans >= 1)
        switches = [
            c
            for topic, c in (await retained_configs(mosquitto, mqtt_prefix)).items()
            if topic.split("/")[-4] == "switch"
        ]
        assert len(switches) == 1
        switch = switches[0]
        assert await mqtt_probe.next_text(switch["state_topic"]) == switch["state_off"]

        await mqtt_probe.publish(switch["command_topic"], switch["payload_on"])
        assert await mqtt_probe.next_text(switch["state_topic"]) == switch["state_on"]
        deployment = fake_kube.get("apps/v1", "Deployment", "media", "jellyfin")
        assert deployment is not None
        assert deployment["spec"]["replicas"] == 1

        await mqtt_probe.publish(switch["command_topic"], switch["payload_off"])
        assert await mqtt_probe.next_text(switch["state_topic"]) == switch["state_off"]

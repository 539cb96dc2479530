"""mqtt-kube against a real Home Assistant Core, once per selected tier (`--ha-tiers`).

The service runs in-process against the fake Kubernetes API and the broker of a real,
onboarded Home Assistant with the MQTT integration; everything is judged by what Home
Assistant's own APIs say (states, entity and device registries, service calls).

Covered: the Jellyfin switch appears, `switch.turn_on`/`turn_off` scale the Deployment and
the state follows; a non-retained sensor has its value right after a first start; a
connection that dies without a clean disconnect makes the entities `unavailable` (Last
Will); a binding removed from the configuration leaves Home Assistant; two instances on
one broker keep their own devices and entities; every component of the reviewed discovery
config registers with the name, category, device, icon and classes announced. No test may
make Home Assistant refuse a discovery payload (its log is checked after each test).
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.homeassistant.plan import Entity, build_plan
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.hacore.api import HaApi
from mqtt_kube.testing.hacore.instance import HomeAssistant
from tests.support.broker_fixtures import TcpProxy
from tests.support.paths import CONFIGS
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

pytestmark = pytest.mark.usefixtures("nothing_refused")

NAMESPACE = "media"
HOMELAB = CONFIGS / "discovery" / "homelab.yaml"
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
SONARR_REPLICAS = """\
  - namespace: media
    resource: Deployment
    name: sonarr
    watch:
      locus: spec.replicas
      topic: sonarr/replicas
"""


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"replicas": replicas},
    }


def replicas(fake: FakeKube, name: str) -> object:
    found = fake.get("apps/v1", "Deployment", NAMESPACE, name)
    return None if found is None else found["spec"]["replicas"]


class Instance:
    """One mqtt-kube configuration on the Home Assistant's broker, and its entities."""

    def __init__(
        self,
        folder: Path,
        ha: HomeAssistant,
        fake: FakeKube,
        bindings: str,
        *,
        name: str,
        broker_port: int | None = None,
        files: tuple[Path, ...] = (),
    ) -> None:
        suffix = secrets.token_hex(3)
        folder = folder / name
        folder.mkdir(exist_ok=True)
        for file in files:  # what the bindings name by relative path
            shutil.copyfile(file, folder / file.name)
        self.client_id = f"{name}-{suffix}"
        self.path = write_config(
            folder,
            f"homeassistant: true\nbindings:\n{bindings}",
            broker=ha.broker,
            fake=fake,
            prefix=f"test/{name}-{suffix}",
            client_id=self.client_id,
        )
        if broker_port is not None:  # through a relay in front of the broker
            text = self.path.read_text()
            self.path.write_text(
                text.replace(f"port: {ha.broker.port}\n", f"port: {broker_port}\n")
            )
        self.entities = build_plan(load_config(self.path)).entities

    def entity(self, component: str, name: str | None = None) -> Entity:
        (found,) = [
            e
            for e in self.entities
            if e.component == component and (name is None or name in e.unique_id)
        ]
        return found


async def entity_id(api: HaApi, entity: Entity) -> str:
    """The entity_id Home Assistant registered for `entity`, once it has."""

    async def registered(api: HaApi) -> str | None:
        return (await api.entity_ids([entity.unique_id])).get(entity.unique_id)

    found: str = await api.wait_for(registered, what=f"{entity.unique_id} is not registered")
    return found


async def available(api: HaApi, entity_id: str) -> dict[str, Any]:
    """The state object of `entity_id` once Home Assistant has it available."""

    async def check(api: HaApi) -> dict[str, Any] | None:
        state = (await api.states()).get(entity_id)
        return state if state is not None and state["state"] != "unavailable" else None

    found: dict[str, Any] = await api.wait_for(check, what=f"{entity_id} is not available")
    return found


async def test_the_jellyfin_switch_scales_the_deployment_and_follows_it(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(deployment("jellyfin", 0))
    instance = Instance(tmp_path, home_assistant, fake_kube, JELLYFIN, name="kube")
    async with running_service(instance.path), home_assistant.api() as api:
        switch = await entity_id(api, instance.entity("switch"))
        assert switch.startswith("switch.")
        await api.wait_for_state(switch, "off")

        await api.call_service("switch", "turn_on", entity_id=switch)
        await until(lambda: replicas(fake_kube, "jellyfin") == 1, seconds=15)
        await api.wait_for_state(switch, "on")

        await api.call_service("switch", "turn_off", entity_id=switch)
        await until(lambda: replicas(fake_kube, "jellyfin") == 0, seconds=15)
        await api.wait_for_state(switch, "off")


async def test_a_non_retained_sensor_shows_its_value_right_after_a_first_start(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(deployment("sonarr", 2))
    instance = Instance(tmp_path, home_assistant, fake_kube, SONARR_REPLICAS, name="kube")
    async with running_service(instance.path), home_assistant.api() as api:
        sensor = await entity_id(api, instance.entity("sensor"))
        await api.wait_for_state(sensor, "2")


async def test_a_connection_that_dies_uncleanly_makes_the_entities_unavailable(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(deployment("jellyfin", 1))
    broker = home_assistant.broker
    async with TcpProxy(broker.host, broker.port) as relay:
        instance = Instance(
            tmp_path, home_assistant, fake_kube, JELLYFIN, name="kube", broker_port=relay.port
        )
        async with running_service(instance.path), home_assistant.api() as api:
            switch = await entity_id(api, instance.entity("switch"))
            await api.wait_for_state(switch, "on")
            await relay.cut()  # no DISCONNECT: the broker publishes the Last Will
            await api.wait_for_state(switch, "unavailable")


async def test_a_binding_removed_from_the_configuration_leaves_home_assistant(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(deployment("jellyfin", 0))
    fake_kube.put(deployment("sonarr", 1))
    both = Instance(tmp_path, home_assistant, fake_kube, JELLYFIN + SONARR_REPLICAS, name="kube")
    async with running_service(both.path), home_assistant.api() as api:
        switch = await entity_id(api, both.entity("switch"))
        sensor = await entity_id(api, both.entity("sensor", "sonarr"))
        await api.wait_for_state(sensor, "1")

    # The same instance (client-id, prefix) restarted without the sonarr binding.
    both.path.write_text(both.path.read_text().replace(SONARR_REPLICAS, ""))
    async with running_service(both.path), home_assistant.api() as api:

        async def sensor_gone(api: HaApi) -> bool:
            registered = await api.entity_ids([both.entity("sensor", "sonarr").unique_id])
            return not registered and sensor not in await api.states()

        await api.wait_for(sensor_gone, what=f"{sensor} is still there")
        await api.wait_for_state(switch, "off")


async def test_two_instances_on_one_broker_keep_their_own_devices_and_entities(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(deployment("jellyfin", 0))
    first = Instance(tmp_path, home_assistant, fake_kube, JELLYFIN, name="kube-a")
    second = Instance(tmp_path, home_assistant, fake_kube, JELLYFIN, name="kube-b")
    async with (
        running_service(first.path),
        running_service(second.path),
        home_assistant.api() as api,
    ):
        switches = [await entity_id(api, i.entity("switch")) for i in (first, second)]
        assert switches[0] != switches[1]
        registry = {e["entity_id"]: e for e in await api.entity_registry()}
        devices = {registry[s]["device_id"] for s in switches}
        assert len(devices) == 2
        assert None not in devices
        identifiers = {
            tuple(map(tuple, d["identifiers"]))
            for d in await api.device_registry()
            if d["id"] in devices
        }
        assert len(identifiers) == 2
        for switch in switches:
            await api.wait_for_state(switch, "off")

        await api.call_service("switch", "turn_on", entity_id=switches[0])
        await until(lambda: replicas(fake_kube, "jellyfin") == 1, seconds=15)
        for switch in switches:  # one Deployment: both instances see it scaled
            await api.wait_for_state(switch, "on")


async def test_every_component_registers_as_announced(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    bindings = HOMELAB.read_text().split("\nbindings:\n", 1)[1]
    instance = Instance(
        tmp_path,
        home_assistant,
        fake_kube,
        bindings,
        name="homelab",
        files=(HOMELAB.parent / "backup-job.yaml",),
    )
    wanted = {entity.unique_id: entity for entity in instance.entities}
    async with running_service(instance.path), home_assistant.api() as api:

        async def all_registered(api: HaApi) -> list[dict[str, Any]]:
            entries = [e for e in await api.entity_registry() if e["unique_id"] in wanted]
            return entries if len(entries) == len(wanted) else []

        entries = await api.wait_for(all_registered, what="not every entity is registered")
        devices = {device["id"]: device for device in await api.device_registry()}
        bridge = await entity_id(api, instance.entity("binary_sensor", "connectivity"))
        await api.wait_for_state(bridge, "on")  # the instance's own device: connected
        for entry in entries:
            entity = wanted[entry["unique_id"]]
            payload = entity.payload
            assert entry["entity_id"].split(".")[0] == entity.component
            assert entry["original_name"] == payload["name"]
            assert entry["entity_category"] == payload.get("entity_category")
            enabled = payload.get("enabled_by_default", True)
            assert entry["disabled_by"] == (None if enabled else "integration")
            device = devices[entry["device_id"]]
            assert device["identifiers"] == [["mqtt", *payload["device"]["identifiers"]]]
            assert device["name"] == payload["device"]["name"]
            via = payload["device"].get("via_device")
            if via is not None:
                assert devices[device["via_device_id"]]["identifiers"] == [["mqtt", via]]
            if enabled:
                state = await available(api, entry["entity_id"])
                for key in ("icon", "device_class", "unit_of_measurement"):
                    assert state["attributes"].get(key) == payload.get(key), (state, key)

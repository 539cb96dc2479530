"""What Home Assistant shows of discovery, judged by a real Home Assistant Core.

The service runs in-process against the fake Kubernetes API and the broker of a real,
onboarded Home Assistant (`--ha-tiers`), with a discover entry over a namespace and no
binding of its own. Annotating a running Deployment makes its switch (on its own device,
named by the `mqtt-kube.io/name` annotation) and restart button appear, the switch works
from Home Assistant; removing the annotation removes them from Home Assistant; annotated
again and then deleted, they go again. No payload may be refused.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.config.discover import choice_of, found_binding
from mqtt_kube.config.load import load_config
from mqtt_kube.homeassistant.plan import Entity, binding_entities
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.hacore.api import HaApi
from mqtt_kube.testing.hacore.instance import HomeAssistant
from tests.support.kube_objects import deployment
from tests.support.service_harness import running_service, write_config

pytestmark = pytest.mark.usefixtures("nothing_refused")

NS = "media"
ANNOTATIONS = {"mqtt-kube.io/recipe": "power,restart", "mqtt-kube.io/name": "Jellyfin"}


def expected_entities(path: Path, body: dict[str, Any]) -> list[Entity]:
    """The entities the annotated object should get, worked out from the config alone."""
    config = load_config(path)
    choice = choice_of(config.discover[0], body)
    assert choice is not None
    found = found_binding(config.discover[0], choice, prefix=config.mqtt.topic_prefix)
    assert found.binding is not None
    return binding_entities(config, found.binding)[0]


async def registered(api: HaApi, entities: list[Entity]) -> dict[str, str]:
    """unique_id → entity_id, once every entity is in Home Assistant's registry."""

    async def all_there(api: HaApi) -> dict[str, str]:
        ids = await api.entity_ids([entity.unique_id for entity in entities])
        return ids if len(ids) == len(entities) else {}

    return await api.wait_for(all_there, what="not every found entity is registered")


async def gone(api: HaApi, entity_ids: dict[str, str]) -> None:
    async def none_left(api: HaApi) -> bool:
        still = await api.entity_ids(list(entity_ids))
        states = await api.states()
        return not still and not any(e in states for e in entity_ids.values())

    await api.wait_for(none_left, what="the found entities are still in Home Assistant")


async def test_an_annotated_deployment_appears_in_home_assistant_and_goes_again(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(deployment("jellyfin", replicas=2))
    suffix = secrets.token_hex(3)
    path = write_config(
        tmp_path,
        f"homeassistant: true\ndiscover:\n  - resource: Deployment\n    namespace: {NS}\n",
        broker=home_assistant.broker,
        fake=fake_kube,
        prefix=f"test/discover-{suffix}",
        client_id=f"discover-{suffix}",
    )
    annotated = deployment("jellyfin", replicas=2, annotations=ANNOTATIONS)
    entities = expected_entities(path, annotated)
    assert {(e.component, e.name) for e in entities} >= {("switch", None), ("button", "Restart")}
    (switch_entity,) = [e for e in entities if e.component == "switch"]

    async with running_service(path), home_assistant.api() as api:
        meta = {"metadata": {"annotations": ANNOTATIONS}}
        fake_kube.patch("apps/v1", "Deployment", NS, "jellyfin", meta)
        shown = await registered(api, entities)
        devices = {d["id"]: d for d in await api.device_registry()}
        entries = [e for e in await api.entity_registry() if e["unique_id"] in shown]
        assert {devices[e["device_id"]]["name"] for e in entries} == {"Jellyfin"}
        switch = shown[switch_entity.unique_id]
        await api.wait_for_state(switch, "on")
        await api.call_service("switch", "turn_off", entity_id=switch)
        await api.wait_for_state(switch, "off")
        found = fake_kube.get("apps/v1", "Deployment", NS, "jellyfin")
        assert found is not None
        assert found["spec"]["replicas"] == 0

        unannotate = {"metadata": {"annotations": dict.fromkeys(ANNOTATIONS)}}
        fake_kube.patch("apps/v1", "Deployment", NS, "jellyfin", unannotate)
        await gone(api, shown)

        fake_kube.patch("apps/v1", "Deployment", NS, "jellyfin", meta)
        shown = await registered(api, entities)
        fake_kube.delete("apps/v1", "Deployment", NS, "jellyfin")
        await gone(api, shown)

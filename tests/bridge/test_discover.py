"""Discovery end to end: objects found by annotation or entry, through mosquitto and the fake API.

Covered: annotating a running Deployment adds its switch (discovery config, state, a working
command) without touching the file, removing the annotation clears it, deleting the object
clears it (retained states and configs); an entry with a recipe takes every object in scope
and its selector (set-based too) picks which; the annotation wins over the entry's recipe;
name and icon annotations reach the device; a wrong annotation is logged naming the object
and the annotation and nothing else breaks; found objects share the one watch of their
namespace with the file's bindings; an object with its own binding in the file is left to it;
a reload hands an object between the file and discovery, and adds and changes entries
through the same watch (never a second connection).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mqtt_kube.bridge.service import Service
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.kube_objects import NS, deployment
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

RECIPE = "mqtt-kube.io/recipe"


def annotate(fake: FakeKube, name: str, value: str | None, **more: str | None) -> None:
    annotations = {RECIPE: value, **{k.replace("_", "/", 1): v for k, v in more.items()}}
    fake.patch("apps/v1", "Deployment", NS, name, {"metadata": {"annotations": annotations}})


def configure(tmp_path: Path, body: str, mosquitto: Mosquitto, fake: FakeKube, prefix: str) -> Path:
    head = f"homeassistant:\n  discovery-prefix: {prefix}/ha\n"
    return write_config(
        tmp_path, head + body, broker=mosquitto, fake=fake, prefix=prefix, client_id="finder"
    )


def one_deployment_watch(service: Service) -> None:
    assert list(service.watches) == [("Deployment", "apps/v1", NS, None)]


async def test_annotating_a_running_deployment_adds_its_switch_and_removing_it_clears_it(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment("jellyfin", replicas=2))
    fake_kube.put(deployment("sonarr"))
    body = (
        f"discover:\n  - resource: Deployment\n    namespace: {NS}\n"
        f"bindings:\n  - resource: Deployment\n    namespace: {NS}\n    name: sonarr\n"
        "    recipe: power\n"
    )
    base = f"{mqtt_prefix}/deployment/{NS}/jellyfin"
    config = configure(tmp_path, body, mosquitto, fake_kube, mqtt_prefix)
    async with running_service(config) as service:
        assert await mqtt_probe.next_text(f"{mqtt_prefix}/deployment/{NS}/sonarr/power/state")
        assert [b.spec.name for b in service.bindings] == ["sonarr"]  # jellyfin: no annotation

        annotate(fake_kube, "jellyfin", "power,restart")
        device = f"Deployment {NS}/jellyfin"
        switch, entity = await mqtt_probe.next_config(f"{mqtt_prefix}/ha/switch/", device)
        assert entity["command_topic"] == f"{base}/power/set"
        button, _ = await mqtt_probe.next_config(f"{mqtt_prefix}/ha/button/", device)
        assert await mqtt_probe.next_text(f"{base}/power/state", timeout=10) == "ON"
        one_deployment_watch(service)  # found through the watch the file's binding has

        fake_kube.clear_requests()
        await mqtt_probe.publish(f"{base}/power/set", "OFF")
        assert await mqtt_probe.next_text(f"{base}/power/state") == "OFF"
        patches = [r.path for r in fake_kube.requests if r.method == "PATCH"]
        assert patches == [f"/apis/apps/v1/namespaces/{NS}/deployments/jellyfin"]

        annotate(fake_kube, "jellyfin", None)  # the annotation removed
        await mqtt_probe.until_text(switch, "", timeout=10)
        await mqtt_probe.until_text(button, "", timeout=10)
        await until(lambda: [b.spec.name for b in service.bindings] == ["sonarr"])
        assert f"{base}/power/set" not in service.router

        annotate(fake_kube, "jellyfin", "power")
        assert json.loads(await mqtt_probe.next_text(switch, timeout=10))["unique_id"]
        fake_kube.delete("apps/v1", "Deployment", NS, "jellyfin")
        await mqtt_probe.until_text(switch, "", timeout=10)
        await until(lambda: [b.spec.name for b in service.bindings] == ["sonarr"])
        one_deployment_watch(service)

    async with MqttProbe.connect(mosquitto, subscribe=[f"{base}/#", f"{mqtt_prefix}/ha/#"]) as late:
        await late.quiet(switch, within=0.5)  # nothing retained: the config was cleared
        assert not [m for m in late.history if m.topic.startswith(base) and m.payload]


async def test_an_entry_with_a_recipe_takes_what_its_selector_matches_and_annotations_win(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment("plex", labels={"tier": "media"}))
    fake_kube.put(
        deployment(
            "radarr",
            labels={"tier": "arr"},
            annotations={
                RECIPE: "power",
                "mqtt-kube.io/name": "Radarr",
                "mqtt-kube.io/icon": "mdi:movie",
            },
        )
    )
    fake_kube.put(deployment("db", labels={"tier": "data"}))
    fake_kube.put(deployment("legacy", labels={"tier": "media", "legacy": "yes"}))
    body = (
        f"discover:\n  - resource: Deployment\n    namespaces: [{NS}]\n"
        "    selector: tier in (media, arr), !legacy\n    recipe: [power, restart]\n"
    )
    config = configure(tmp_path, body, mosquitto, fake_kube, mqtt_prefix)
    async with running_service(config) as service:
        await until(lambda: len(service.bindings) == 2, seconds=10)
        found = {b.spec.name: b.spec for b in service.bindings}
        assert sorted(found) == ["plex", "radarr"]
        assert found["plex"].recipes == ("power", "restart")
        assert found["radarr"].recipes == ("power",)  # the annotation wins over the entry
        _, switch = await mqtt_probe.next_config(f"{mqtt_prefix}/ha/switch/", "Radarr")
        assert switch["icon"] == "mdi:movie"
        assert service.status()["bindings"][1]["binding"] == f"Deployment {NS}/radarr"

        fake_kube.patch(
            "apps/v1", "Deployment", NS, "db", {"metadata": {"labels": {"tier": "media"}}}
        )
        await until(lambda: len(service.bindings) == 3)  # it starts to match
        fake_kube.patch(
            "apps/v1", "Deployment", NS, "db", {"metadata": {"labels": {"legacy": "1"}}}
        )
        await until(lambda: len(service.bindings) == 2)  # and stops
        one_deployment_watch(service)


async def test_a_wrong_annotation_is_logged_naming_the_object_and_breaks_nothing(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_kube.put(deployment("plex", annotations={RECIPE: "power,cronjob"}))
    fake_kube.put(deployment("sonarr", annotations={RECIPE: "power", "mqtt-kube.io/icon": ""}))
    fake_kube.put(deployment("radarr", annotations={RECIPE: "power"}))
    body = f"discover:\n  - resource: Deployment\n    namespace: {NS}\n"
    config = configure(tmp_path, body, mosquitto, fake_kube, mqtt_prefix)
    with caplog.at_level(logging.ERROR, logger="mqtt_kube"):
        async with running_service(config) as service:
            radarr = f"{mqtt_prefix}/deployment/{NS}/radarr/power/state"
            assert await mqtt_probe.next_text(radarr, timeout=10) == "ON"
            assert [b.spec.name for b in service.bindings] == ["radarr"]
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert any(
                m.startswith(f"discover: Deployment {NS}/plex: annotation {RECIPE}:")
                and "cronjob" in m
                for m in errors
            ), errors
            assert any(
                m.startswith(f"discover: Deployment {NS}/sonarr: annotation mqtt-kube.io/icon:")
                for m in errors
            ), errors
            annotate(fake_kube, "plex", "power")  # fixed: it takes part now
            await until(lambda: len(service.bindings) == 2)


async def test_an_object_with_its_own_binding_in_the_file_is_left_to_it(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment("plex", annotations={RECIPE: "power"}))
    body = (
        f"discover:\n  - resource: Deployment\n    namespace: {NS}\n"
        f"bindings:\n  - resource: Deployment\n    namespace: {NS}\n    name: plex\n"
        "    recipe: restart\n"
    )
    config = configure(tmp_path, body, mosquitto, fake_kube, mqtt_prefix)
    async with running_service(config) as service:
        await until(lambda: service.finders.finders[0].found != {})
        assert [b.spec.recipes for b in service.bindings] == [("restart",)]


async def test_a_reload_hands_an_object_between_the_file_and_discovery(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment("plex", annotations={RECIPE: "power"}))
    entry = f"discover:\n  - resource: Deployment\n    namespace: {NS}\n"
    own = (
        f"bindings:\n  - resource: Deployment\n    namespace: {NS}\n    name: plex\n"
        "    recipe: restart\n"
    )
    config = configure(tmp_path, entry + own, mosquitto, fake_kube, mqtt_prefix)
    async with running_service(config) as service:
        assert [b.spec.recipes for b in service.bindings] == [("restart",)]
        assert service.live.found == []
        config.write_text(config.read_text().replace(own, ""))  # the file lets it go
        await until(
            lambda: [b.spec.recipes for b in service.live.found] == [("power",)], seconds=10
        )
        assert service.live.explicit == []
        state = f"{mqtt_prefix}/deployment/{NS}/plex/power/state"
        assert await mqtt_probe.next_text(state, timeout=10) == "ON"
        config.write_text(config.read_text() + own)  # and takes it back
        await until(lambda: service.live.found == [], seconds=10)
        assert [b.spec.recipes for b in service.bindings] == [("restart",)]
        one_deployment_watch(service)
        assert fake_kube.max_open_watches == 1


async def test_a_reload_adds_and_changes_entries_through_the_same_watch(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_prefix: str,
) -> None:
    fake_kube.put(deployment("plex"))
    fake_kube.put(deployment("sonarr", labels={"app": "sonarr", "tier": "arr"}))
    own = f"bindings:\n  - resource: Deployment\n    namespace: {NS}\n    name: plex\n"
    own += "    recipe: [power]\n"  # its watch is the one the entry will look through
    config = configure(tmp_path, own, mosquitto, fake_kube, mqtt_prefix)
    async with running_service(config) as service:
        await until(lambda: fake_kube.open_watches == 1)
        fake_kube.max_open_watches = 1
        entry = (
            f"discover:\n  - resource: Deployment\n    namespace: {NS}\n"
            "    selector: tier=arr\n    recipe: RECIPE\n"
        )
        config.write_text(config.read_text() + entry.replace("RECIPE", "power"))
        await until(lambda: [b.spec.recipes for b in service.live.found] == [("power",)])
        config.write_text(
            config.read_text().replace("recipe: power\n", "recipe: [power, restart]\n")
        )
        await until(
            lambda: [b.spec.recipes for b in service.live.found] == [("power", "restart")],
            seconds=10,
        )
        assert [b.spec.name for b in service.live.found] == ["sonarr"]
        one_deployment_watch(service)
        assert fake_kube.max_open_watches == 1

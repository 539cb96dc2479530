"""What Home Assistant shows for each recipe, judged by a real Home Assistant Core.

The service runs in-process against the fake Kubernetes API and the broker of a real,
onboarded Home Assistant (`--ha-tiers`). For each recipe: every entity registers on the
binding's one device, with the names the recipe gives (the main switch or binary sensor
named by the device alone), and its state follows a change made at the fake API at once;
the switches and buttons pressed in Home Assistant do what the recipe says: `power` scales
to 0 and back to the recorded 3, `restart` sets `restartedAt`, `cronjob` suspends and runs
now, `node` cordons, `job` runs its template. No payload may be refused (checked after each
test).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.homeassistant.plan import Entity, build_plan
from mqtt_kube.kube.recipe_requests import REPLICAS_ANNOTATION, RESTARTED_AT
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.hacore.api import HaApi
from mqtt_kube.testing.hacore.instance import HomeAssistant
from tests.support.kube_objects import deployment
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

pytestmark = pytest.mark.usefixtures("nothing_refused")

NS = "media"


class Recipes:
    """One mqtt-kube instance of recipe bindings on Home Assistant's broker."""

    def __init__(self, folder: Path, ha: HomeAssistant, fake: FakeKube, bindings: str) -> None:
        suffix = secrets.token_hex(3)
        self.client_id = f"recipes-{suffix}"
        self.path = write_config(
            folder,
            f"homeassistant: true\nbindings:\n{bindings}",
            broker=ha.broker,
            fake=fake,
            prefix=f"test/recipes-{suffix}",
            client_id=self.client_id,
        )
        self.entities = [
            e
            for e in build_plan(load_config(self.path)).entities
            if "connectivity" not in e.unique_id
        ]

    async def shown(self, api: HaApi) -> dict[tuple[str, str | None], str]:
        """(component, entity name) → entity_id, once all are registered on one device whose
        name is the binding's; each registered with the name it was announced with."""
        wanted = {entity.unique_id: entity for entity in self.entities}

        async def all_registered(api: HaApi) -> list[dict[str, Any]]:
            entries = [e for e in await api.entity_registry() if e["unique_id"] in wanted]
            return entries if len(entries) == len(wanted) else []

        entries = await api.wait_for(all_registered, what="not every entity is registered")
        devices = {device["id"]: device for device in await api.device_registry()}
        (device,) = {entry["device_id"] for entry in entries}
        shown: dict[tuple[str, str | None], str] = {}
        for entry in entries:
            entity: Entity = wanted[entry["unique_id"]]
            assert entry["original_name"] == entity.name
            assert devices[device]["name"] == entity.device
            shown[(entity.component, entity.name)] = entry["entity_id"]
        return shown


async def press(api: HaApi, button: str) -> None:
    """Press a button in Home Assistant, again until Home Assistant takes the press.

    A button announced a moment ago may be in the registry before it handles a press. A
    press it handles is done when the service call answers (the REST API waits for it) and
    shows as the button's state, the time of the press; one it did not take left the state
    as it was, and nothing was published.
    """
    before = await api.state(button)

    async def taken(api: HaApi) -> bool:
        await api.call_service("button", "press", entity_id=button)
        return await api.state(button) != before

    await api.wait_for(taken, what=f"{button} takes no press")


async def friendly(api: HaApi, entity_id: str) -> str:
    state = (await api.states())[entity_id]
    name: str = state["attributes"]["friendly_name"]
    return name


async def test_power_and_restart_show_a_switch_named_by_the_device_a_button_and_two_sensors(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(deployment("jellyfin", replicas=3))
    instance = Recipes(
        tmp_path,
        home_assistant,
        fake_kube,
        f"  - namespace: {NS}\n    resource: Deployment\n    name: jellyfin\n"
        "    recipe: [power, restart]\n    homeassistant: {name: Jellyfin, icon: mdi:filmstrip}\n",
    )

    def jellyfin() -> dict[str, Any]:
        found = fake_kube.get("apps/v1", "Deployment", NS, "jellyfin")
        assert found is not None
        return found

    async with running_service(instance.path), home_assistant.api() as api:
        shown = await instance.shown(api)
        assert set(shown) == {
            ("switch", None),
            ("button", "Restart"),
            ("sensor", "Ready replicas"),
            ("sensor", "Desired replicas"),
        }
        switch, ready = shown[("switch", None)], shown[("sensor", "Ready replicas")]
        desired = shown[("sensor", "Desired replicas")]
        await api.wait_for_state(switch, "on")
        await api.wait_for_state(ready, "3")
        assert await friendly(api, switch) == "Jellyfin"
        assert await friendly(api, ready) == "Jellyfin Ready replicas"
        assert (await api.states())[switch]["attributes"]["icon"] == "mdi:filmstrip"

        fake_kube.patch("apps/v1", "Deployment", NS, "jellyfin", {"spec": {"replicas": 2}})
        await api.wait_for_state(desired, "2")
        await api.wait_for_state(ready, "2")

        await api.call_service("switch", "turn_off", entity_id=switch)
        await api.wait_for_state(switch, "off")
        await api.wait_for_state(ready, "0")
        assert jellyfin()["metadata"]["annotations"] == {REPLICAS_ANNOTATION: "2"}
        await api.call_service("switch", "turn_on", entity_id=switch)
        await api.wait_for_state(switch, "on")
        await api.wait_for_state(desired, "2")

        await press(api, shown[("button", "Restart")])
        await until(
            lambda: (
                RESTARTED_AT
                in (jellyfin()["spec"]["template"]["metadata"].get("annotations") or {})
            ),
            seconds=15,
        )


async def test_cronjob_shows_a_schedule_switch_run_now_and_the_last_times(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "backup", "namespace": NS},
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "b", "image": "example/backup:1"}],
                            }
                        }
                    }
                },
            },
        }
    )
    instance = Recipes(
        tmp_path,
        home_assistant,
        fake_kube,
        f"  - namespace: {NS}\n    resource: CronJob\n    name: backup\n    recipe: cronjob\n"
        "    homeassistant: {name: Backup}\n",
    )
    async with running_service(instance.path) as service, home_assistant.api() as api:
        shown = await instance.shown(api)
        assert set(shown) == {
            ("switch", None),
            ("button", "Run now"),
            ("sensor", "Last schedule"),
            ("sensor", "Last success"),
        }
        switch = shown[("switch", None)]
        await api.wait_for_state(switch, "on")
        assert await friendly(api, switch) == "Backup"
        last = shown[("sensor", "Last schedule")]
        await api.wait_for_state(last, "unknown")
        fake_kube.patch(
            "batch/v1",
            "CronJob",
            NS,
            "backup",
            {"status": {"lastScheduleTime": "2026-01-02T03:00:00Z"}},
        )
        await api.wait_for_state(last, "2026-01-02T03:00:00+00:00")
        assert (await api.states())[last]["attributes"]["device_class"] == "timestamp"

        await api.call_service("switch", "turn_off", entity_id=switch)
        await api.wait_for_state(switch, "off")
        assert fake_kube.get("batch/v1", "CronJob", NS, "backup")["spec"]["suspend"] is True
        fake_kube.patch("batch/v1", "CronJob", NS, "backup", {"spec": {"suspend": False}})
        await api.wait_for_state(switch, "on")

        await press(api, shown[("button", "Run now")])
        await until(lambda: service.counters.launches + service.counters.failed > 0, seconds=15)
        assert len(fake_kube.objects("batch/v1", "Job", NS)) == 1
        assert (service.counters.launches, service.counters.failed) == (1, 0)


async def test_node_shows_a_schedulable_switch_and_a_ready_sensor(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "pi-1"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    instance = Recipes(
        tmp_path,
        home_assistant,
        fake_kube,
        "  - resource: Node\n    name: pi-1\n    recipe: node\n",
    )
    async with running_service(instance.path), home_assistant.api() as api:
        shown = await instance.shown(api)
        assert set(shown) == {("switch", None), ("binary_sensor", "Ready")}
        switch, ready = shown[("switch", None)], shown[("binary_sensor", "Ready")]
        await api.wait_for_state(switch, "on")
        await api.wait_for_state(ready, "on")
        assert await friendly(api, switch) == "Node pi-1"
        assert await friendly(api, ready) == "Node pi-1 Ready"

        fake_kube.patch(
            "v1",
            "Node",
            None,
            "pi-1",
            {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        )
        await api.wait_for_state(ready, "off")
        fake_kube.patch("v1", "Node", None, "pi-1", {"spec": {"unschedulable": True}})
        await api.wait_for_state(switch, "off")  # cordoned with kubectl, say
        await api.call_service("switch", "turn_on", entity_id=switch)
        await api.wait_for_state(switch, "on")
        assert "unschedulable" not in fake_kube.get("v1", "Node", None, "pi-1")["spec"]
        await api.call_service("switch", "turn_off", entity_id=switch)
        await until(
            lambda: fake_kube.get("v1", "Node", None, "pi-1")["spec"].get("unschedulable") is True,
            seconds=15,
        )
        await api.wait_for_state(switch, "off")


async def test_job_shows_run_and_stop_buttons_and_its_status(
    home_assistant: HomeAssistant, fake_kube: FakeKube, tmp_path: Path
) -> None:
    (tmp_path / "job.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: ${binding.name}\nspec:\n"
        "  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: run, image: busybox}]\n"
    )
    instance = Recipes(
        tmp_path,
        home_assistant,
        fake_kube,
        f"  - namespace: {NS}\n    resource: Job\n    name: nightly\n    recipe: job\n"
        "    launch: !relpath job.yaml\n    homeassistant: {name: Nightly backup}\n",
    )
    async with running_service(instance.path) as service, home_assistant.api() as api:
        shown = await instance.shown(api)
        assert set(shown) == {
            ("binary_sensor", None),
            ("button", "Run"),
            ("button", "Stop"),
            ("sensor", "Succeeded"),
            ("sensor", "Failed"),
            ("sensor", "Start time"),
            ("sensor", "Completion time"),
        }
        running, succeeded = shown[("binary_sensor", None)], shown[("sensor", "Succeeded")]
        assert await friendly(api, running) == "Nightly backup"
        await press(api, shown[("button", "Run")])
        await api.wait_for_state(running, "on")
        await api.wait_for_state(succeeded, "0")
        fake_kube.complete_job(NS, "nightly")
        await api.wait_for_state(succeeded, "1")
        await api.wait_for_state(running, "off")
        await press(api, shown[("button", "Stop")])
        await until(lambda: fake_kube.get("batch/v1", "Job", NS, "nightly") is None, seconds=15)
        await api.wait_for_state(running, "unknown")
        assert (service.counters.launches, service.counters.deletes) == (1, 1)
        assert service.counters.failed == 0

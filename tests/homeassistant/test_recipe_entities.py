"""The discovery plan of recipe bindings: which entities, named how, announcing what.

Covered: `power` gives a switch that is the device's main entity (no name of its own),
commanding `power/set` and showing `power/state`, with the recipe's icon unless the
binding's own overrides it, and two named sensors; `restart` alone has no main entity, so
its button keeps its name, and overrides beyond `name` are noted as left out; `cronjob`'s
timestamps carry their device class; unique ids rest on the object and the recipe part,
so they do not change with the topic base.
"""

from __future__ import annotations

from pathlib import Path

from mqtt_kube.config.load import load_config
from mqtt_kube.homeassistant.plan import DiscoveryPlan, Entity, build_plan

HEAD = "mqtt:\n  client-id: plan\n  topic-prefix: home\nhomeassistant: true\nbindings:\n"


def plan(tmp_path: Path, bindings: str) -> DiscoveryPlan:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + bindings)
    return build_plan(load_config(path))


def by_name(found: DiscoveryPlan) -> dict[tuple[str, str | None], Entity]:
    return {
        (e.component, e.name): e for e in found.entities if e.source != "mqtt.availability-topic"
    }


def test_power_is_a_main_switch_with_two_named_sensors(tmp_path: Path) -> None:
    found = by_name(
        plan(
            tmp_path,
            "  - namespace: media\n    resource: Deployment\n    name: jellyfin\n"
            "    recipe: power\n    homeassistant: {name: Jellyfin}\n",
        )
    )
    assert set(found) == {
        ("switch", None),
        ("sensor", "Ready replicas"),
        ("sensor", "Desired replicas"),
    }
    switch = found[("switch", None)]
    base = "home/deployment/media/jellyfin"
    assert switch.device == "Jellyfin"
    assert {key: switch.payload[key] for key in ("command_topic", "state_topic", "icon")} == {
        "command_topic": f"{base}/power/set",
        "state_topic": f"{base}/power/state",
        "icon": "mdi:power",
    }
    assert (switch.payload["payload_on"], switch.payload["payload_off"]) == ("ON", "OFF")
    assert switch.payload["optimistic"] is False
    assert switch.unique_id == "mqtt-kube:plan:Deployment/media/jellyfin:command:power"
    assert found[("sensor", "Ready replicas")].payload["state_topic"] == f"{base}/replicas/ready"


def test_the_binding_icon_overrides_the_recipe_icon_on_the_main_entity(tmp_path: Path) -> None:
    found = by_name(
        plan(
            tmp_path,
            "  - namespace: media\n    resource: Deployment\n    name: jellyfin\n"
            "    recipe: power\n    homeassistant: {icon: mdi:filmstrip}\n",
        )
    )
    assert found[("switch", None)].payload["icon"] == "mdi:filmstrip"


def test_restart_alone_has_no_main_entity_and_notes_overrides_it_cannot_apply(
    tmp_path: Path,
) -> None:
    found = plan(
        tmp_path,
        "  - namespace: media\n    resource: DaemonSet\n    name: agent\n"
        "    recipe: restart\n    homeassistant: {name: Agent, icon: mdi:robot}\n",
    )
    (button,) = by_name(found).values()
    assert (button.component, button.name, button.device) == ("button", "Restart", "Agent")
    assert button.payload["payload_press"] == "PRESS"
    assert button.payload["icon"] == "mdi:restart"
    assert found.notes == (
        "bindings[0].homeassistant.icon: DaemonSet media/agent has no main entity (its "
        "recipes name every entity); left out",
    )


def test_cronjob_times_are_timestamps_and_unique_ids_ignore_the_topic_base(
    tmp_path: Path,
) -> None:
    binding = "  - namespace: batch\n    resource: CronJob\n    name: backup\n    recipe: cronjob\n"
    default = by_name(plan(tmp_path, binding))
    moved = by_name(plan(tmp_path, binding + "    topic: jobs/backup\n"))
    assert default[("sensor", "Last schedule")].payload["device_class"] == "timestamp"
    assert (
        default[("button", "Run now")].payload["command_topic"]
        == "home/cronjob/batch/backup/run/press"
    )
    assert moved[("button", "Run now")].payload["command_topic"] == "home/jobs/backup/run/press"
    assert {key: e.unique_id for key, e in default.items()} == {
        key: e.unique_id for key, e in moved.items()
    }

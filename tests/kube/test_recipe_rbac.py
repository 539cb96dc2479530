"""`mqtt-kube rbac` for recipes: the rules each recipe needs, and no rule more.

Covered: `power` patches the object itself (its annotation cannot go through /scale) and
only the named one; `restart` patches the named object of any of its kinds, and alone
needs no watch; `cronjob`
patches its CronJob and creates Jobs in its namespace, without delete; `node` patches the
named Node through a ClusterRole; and, end to end, every request a service running every
recipe sends while each command is used is allowed by the rendered RBAC (as the API
server's RBAC authorizer decides), and every rule rendered is used by some request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mqtt_kube.config.load import load_config
from mqtt_kube.kube.rbac import render_rbac
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.rbac_rules import assert_least_privilege, documents, find, press_in_turn, rule
from tests.support.service_harness import running_service, write_config

BINDINGS = """\
bindings:
  - namespace: media
    resource: Deployment
    name: jellyfin
    recipe: [power, restart]
  - namespace: media
    resource: DaemonSet
    name: agent
    recipe: restart
  - namespace: batch
    resource: CronJob
    name: backup
    recipe: cronjob
  - resource: Node
    name: pi-1
    recipe: node
"""


def rbac(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "config.yaml"
    path.write_text("mqtt:\n  client-id: rbac-recipes\n" + BINDINGS)
    return documents(render_rbac(load_config(path)))


def test_power_and_restart_patch_the_named_objects_themselves(tmp_path: Path) -> None:
    role = find(rbac(tmp_path), "Role", "media")
    assert role["rules"] == [
        rule("apps", "daemonsets", ["patch"], ["agent"]),  # restart alone watches nothing
        rule("apps", "deployments", ["list", "watch"]),
        rule("apps", "deployments", ["patch"], ["jellyfin"]),
    ]


def test_cronjob_patches_its_cronjob_and_creates_jobs_beside_it(tmp_path: Path) -> None:
    role = find(rbac(tmp_path), "Role", "batch")
    assert role["rules"] == [
        rule("batch", "cronjobs", ["list", "watch"]),
        rule("batch", "cronjobs", ["patch"], ["backup"]),
        rule("batch", "jobs", ["create"]),
    ]


def test_node_patches_the_named_node_cluster_wide(tmp_path: Path) -> None:
    role = find(rbac(tmp_path), "ClusterRole")
    assert role["rules"] == [
        rule("", "nodes", ["list", "watch"]),
        rule("", "nodes", ["patch"], ["pi-1"]),
    ]


async def test_every_request_of_every_recipe_is_allowed_and_every_rule_is_used(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    template = {
        "metadata": {"labels": {"app": "x"}},
        "spec": {"containers": [{"name": "x", "image": "example/x:1"}]},
    }
    workload = {"selector": {"matchLabels": {"app": "x"}}, "template": template}
    for kind, name in (("Deployment", "jellyfin"), ("DaemonSet", "agent")):
        meta = {"name": name, "namespace": "media"}
        fake_kube.put({"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": workload})
    job_template = {"template": {"spec": {**template["spec"], "restartPolicy": "Never"}}}
    fake_kube.put(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "backup", "namespace": "batch"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": job_template}},
        }
    )
    fake_kube.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pi-1"}})
    config = write_config(
        tmp_path, BINDINGS, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="rbac"
    )
    docs = documents(render_rbac(load_config(config)))
    presses = [
        ("deployment/media/jellyfin/power/set", "OFF"),
        ("deployment/media/jellyfin/power/set", "ON"),
        ("deployment/media/jellyfin/restart/press", "PRESS"),
        ("daemonset/media/agent/restart/press", "PRESS"),
        ("cronjob/batch/backup/run/press", "PRESS"),
        ("cronjob/batch/backup/schedule/set", "OFF"),
        ("node/pi-1/schedulable/set", "OFF"),
    ]
    async with running_service(config) as service:
        await mqtt_probe.next_text(f"{mqtt_prefix}/deployment/media/jellyfin/power/state")
        await press_in_turn(service, mqtt_probe, mqtt_prefix, presses)
    assert_least_privilege(docs, fake_kube.requests)

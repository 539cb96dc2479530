"""`mqtt-kube rbac` for discovery entries: list/watch exactly where they look, writes only
where their recipes write.

Covered: an entry with a namespace gets a Role there (no ClusterRole), with list/watch and
the patch its recipes send on any object of its kind there (it cannot name objects it has
yet to find); `namespaces` gives one Role per namespace; an entry without a namespace gets a
ClusterRole; an entry without recipes gets what every recipe of its kind an annotation may
name needs, `restart` alone no Job rights; and, end to end, every request a service sends
for the objects it found (watching, power, restart, Run now) is allowed by the rendered RBAC
as the API server's authorizer decides, and every rule is used.
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
from tests.support.waiting import until

HEAD = "mqtt:\n  client-id: rbac\n"


def rendered(tmp_path: Path, body: str) -> list[dict[str, Any]]:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + body)
    return documents(render_rbac(load_config(path)))


def test_an_entry_in_one_namespace_gets_a_role_there_and_nothing_cluster_wide(
    tmp_path: Path,
) -> None:
    docs = rendered(
        tmp_path, "discover:\n  - resource: Deployment\n    namespace: media\n    recipe: power\n"
    )
    assert [d["kind"] for d in docs] == ["Role", "RoleBinding"]
    role = find(docs, "Role", "media")
    assert role["rules"] == [rule("apps", "deployments", ["list", "watch", "patch"])]


def test_namespaces_give_a_role_each_and_no_namespace_a_cluster_role(tmp_path: Path) -> None:
    docs = rendered(
        tmp_path,
        "discover:\n  - resource: CronJob\n    namespaces: [batch, ops]\n    recipe: cronjob\n"
        "  - resource: DaemonSet\n    recipe: restart\n",
    )
    for namespace in ("batch", "ops"):
        assert find(docs, "Role", namespace)["rules"] == [
            rule("batch", "cronjobs", ["list", "watch", "patch"]),
            rule("batch", "jobs", ["create"]),
        ]
    assert find(docs, "ClusterRole")["rules"] == [
        rule("apps", "daemonsets", ["list", "watch", "patch"])
    ]


def test_an_entry_without_recipes_gets_what_an_annotation_may_ask_for(tmp_path: Path) -> None:
    docs = rendered(tmp_path, "discover:\n  - resource: DaemonSet\n    namespace: infra\n")
    assert find(docs, "Role", "infra")["rules"] == [
        rule("apps", "daemonsets", ["list", "watch", "patch"])
    ]


async def test_every_request_for_found_objects_is_allowed_and_every_rule_is_used(
    tmp_path: Path,
    mosquitto: Mosquitto,
    fake_kube: FakeKube,
    mqtt_probe: MqttProbe,
    mqtt_prefix: str,
) -> None:
    pod = {
        "metadata": {"labels": {"app": "x"}},
        "spec": {"containers": [{"name": "x", "image": "example/x:1"}]},
    }
    spec = {"selector": {"matchLabels": {"app": "x"}}, "template": pod}
    fake_kube.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "jellyfin",
                "namespace": "media",
                "annotations": {"mqtt-kube.io/recipe": "power,restart"},
            },
            "spec": spec,
        }
    )
    job = {"template": {"spec": {**pod["spec"], "restartPolicy": "Never"}}}
    fake_kube.put(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "backup", "namespace": "batch"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": job}},
        }
    )
    body = (
        "bindings: []\ndiscover:\n  - resource: Deployment\n    namespace: media\n"
        "  - resource: CronJob\n    namespace: batch\n    recipe: cronjob\n"
    )
    config = write_config(
        tmp_path, body, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="rbac"
    )
    docs = documents(render_rbac(load_config(config)))
    presses = [
        ("deployment/media/jellyfin/power/set", "OFF"),
        ("deployment/media/jellyfin/restart/press", "PRESS"),
        ("cronjob/batch/backup/run/press", "PRESS"),
        ("cronjob/batch/backup/schedule/set", "OFF"),
    ]
    async with running_service(config) as service:
        await until(lambda: len(service.bindings) == 2, seconds=10)
        await mqtt_probe.next_text(f"{mqtt_prefix}/deployment/media/jellyfin/power/state")
        await press_in_turn(service, mqtt_probe, mqtt_prefix, presses)
    assert_least_privilege(docs, fake_kube.requests)

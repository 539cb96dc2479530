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
from mqtt_kube.kube.permissions import DISCOVERY_URLS
from mqtt_kube.kube.rbac import render_rbac
from mqtt_kube.testing.fakekube import FakeKube, RecordedRequest
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.kube.test_rbac import documents, find, rule
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

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
# What every authenticated client may read in a cluster (the system:discovery and
# system:public-info-viewer ClusterRoles), so no rule of mqtt-kube's has to grant it.
PUBLIC_URLS = frozenset(DISCOVERY_URLS)

Grant = tuple[str | None, str, str, str]  # (namespace or None: cluster, group, resource, verb)


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


def attributes(request: RecordedRequest) -> tuple[Grant, str | None] | None:
    """What the RBAC authorizer checks for a resource request: the grant and the object name;
    None for a non-resource URL."""
    parts = request.path.strip("/").split("/")
    if parts[0] == "api" and len(parts) > 2:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] if len(rest) < 3 else f"{rest[0]}/{rest[2]}"
    name = rest[1] if len(rest) > 1 else None
    selector = request.query.get("fieldSelector", "")
    if name is None and selector.startswith("metadata.name="):
        name = selector.partition("=")[2]
    if request.method == "GET":
        verb = "get" if len(rest) > 1 else ("watch" if request.query.get("watch") else "list")
    else:
        single = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
        verb = single[request.method]
        if request.method == "DELETE" and len(rest) == 1:
            verb = "deletecollection"
    return (namespace, group, resource, verb), name


def granted(docs: list[dict[str, Any]]) -> dict[Grant, frozenset[str] | None]:
    """Every (scope, group, resource, verb) the rendered Roles and ClusterRoles grant."""
    grants: dict[Grant, frozenset[str] | None] = {}
    for doc in docs:
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        scope = doc["metadata"].get("namespace")
        for item in doc["rules"]:
            names = item.get("resourceNames")
            for group in item["apiGroups"]:
                for resource in item["resources"]:
                    for verb in item["verbs"]:
                        grants[(scope, group, resource, verb)] = (
                            None if names is None else frozenset(names)
                        )
    return grants


def allowed_by(
    grants: dict[Grant, frozenset[str] | None], grant: Grant, name: str | None
) -> Grant | None:
    """The grant that allows the request (a namespaced one, or the cluster-wide one)."""
    namespace, group, resource, verb = grant
    for scope in (namespace, None) if namespace else (None,):
        key = (scope, group, resource, verb)
        if key in grants:
            names = grants[key]
            if names is None or name in names:
                return key
    return None


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
        for count, (topic, payload) in enumerate(presses, start=1):
            await mqtt_probe.publish(f"{mqtt_prefix}/{topic}", payload)
            await until(
                lambda count=count: service.counters.patches + service.counters.launches == count
            )
        assert service.counters.failed == 0
    grants = granted(docs)
    used: set[Grant] = set()
    for request in fake_kube.requests:
        found = attributes(request)
        if found is None:
            assert request.path in PUBLIC_URLS, request
            continue
        key = allowed_by(grants, *found)
        assert key is not None, f"{request.method} {request.path} {request.query} is forbidden"
        used.add(key)
    assert set(grants) == used  # least privilege: no rule that no request needed

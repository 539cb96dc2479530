"""Least-privilege watches: where they list and watch, and the RBAC `mqtt-kube rbac` grants.

Covered: a kind spanning two namespaces stays in namespaced Roles by default (a binding in
one more namespace adds a Role, never a ClusterRole); `watch-scope: auto` (the earlier default)
loads as `namespace` with a warning naming the line; `watch-scope: object` grants list and
watch on the named objects (`resourceNames`) and watches each one with a `metadata.name`
field selector, seeing none of its neighbours; lists come in pages (`limit`/`continue`)
and the object on the last page is found.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import KubernetesSettings
from mqtt_kube.core.backoff import Backoff
from mqtt_kube.core.kinds import BUILTIN_KINDS
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.kube.rbac import render_rbac
from mqtt_kube.kube.watch import LIST_PAGE, ResourceWatch
from mqtt_kube.testing.fakekube import FakeKube
from tests.support.rbac_rules import documents, find, rule
from tests.support.waiting import until

TWO_NAMESPACES = """\
mqtt: {client-id: scope-test}
%s
bindings:
  - {namespace: media, resource: Secret, name: jf-key, watch: {locus: data, topic: a}}
  - {namespace: media, resource: Secret, name: plex-key, watch: {locus: data, topic: b}}
  - {namespace: home, resource: Secret, name: hass-key, watch: {locus: data, topic: c}}
  - {resource: Node, name: node-1, watch: {locus: spec.unschedulable, topic: d}}
"""


def rbac(tmp_path: Path, scope: str = "") -> list[dict[str, Any]]:
    path = tmp_path / "config.yaml"
    path.write_text(TWO_NAMESPACES % scope)
    return documents(render_rbac(load_config(path)))


def test_secrets_in_two_namespaces_are_listed_in_those_namespaces_only(tmp_path: Path) -> None:
    docs = rbac(tmp_path)
    assert find(docs, "Role", "media")["rules"] == [rule("", "secrets", ["list", "watch"])]
    assert find(docs, "Role", "home")["rules"] == [rule("", "secrets", ["list", "watch"])]
    # only the cluster-scoped kind goes cluster-wide
    assert find(docs, "ClusterRole")["rules"] == [rule("", "nodes", ["list", "watch"])]


def test_auto_loads_as_namespace_with_a_warning_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(TWO_NAMESPACES % "kubernetes: {watch-scope: auto}")
    config = load_config(path)
    assert config.kubernetes.watch_scope == "namespace"
    (warning,) = config.warnings
    assert warning.startswith(f"{path}:2: kubernetes.watch-scope: `auto` is no longer a scope")
    assert "watch-scope: cluster" in warning
    assert rbac(tmp_path, "kubernetes: {watch-scope: auto}") == rbac(tmp_path)


def test_the_object_scope_names_the_objects_it_lists_and_watches(tmp_path: Path) -> None:
    docs = rbac(tmp_path, "kubernetes: {watch-scope: object}")
    assert find(docs, "Role", "media")["rules"] == [
        rule("", "secrets", ["list", "watch"], ["jf-key", "plex-key"])
    ]
    assert find(docs, "Role", "home")["rules"] == [
        rule("", "secrets", ["list", "watch"], ["hass-key"])
    ]
    assert find(docs, "ClusterRole")["rules"] == [rule("", "nodes", ["list", "watch"], ["node-1"])]


def secret(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "media"},
        "data": {"key": value},
    }


@pytest.fixture
async def client(fake_kube: FakeKube, tmp_path: Path) -> AsyncIterator[KubeClient]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    client = await KubeClient.connect(KubernetesSettings(kubeconfig=str(kubeconfig)))
    yield client
    await client.close()


async def test_an_object_watch_selects_its_object_by_name_and_sees_no_neighbour(
    fake_kube: FakeKube, client: KubeClient
) -> None:
    fake_kube.put(secret("jf-key", "YQ=="))
    fake_kube.put(secret("other", "Yg=="))
    watch = ResourceWatch(client, BUILTIN_KINDS["Secret"], "media", name="jf-key")
    seen: list[object] = []
    watch.add_listener("media", "jf-key", lambda body: seen.append(body and body["data"]))
    task = asyncio.create_task(watch.run())
    try:
        await until(lambda: fake_kube.open_watches == 1)
        fake_kube.put(secret("other", "Yw=="))
        fake_kube.put(secret("jf-key", "ZA=="))
        await until(lambda: len(seen) == 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert seen == [{"key": "YQ=="}, {"key": "ZA=="}]
    requests = [r for r in fake_kube.requests if r.path == "/api/v1/namespaces/media/secrets"]
    assert {r.query.get("fieldSelector") for r in requests} == {"metadata.name=jf-key"}
    assert watch.events == 1  # the neighbour's change never reached it


async def test_a_big_namespace_is_listed_in_pages(fake_kube: FakeKube, client: KubeClient) -> None:
    fake_kube.controller = False
    for index in range(2 * LIST_PAGE + 1):
        fake_kube.put(secret(f"s-{index:05d}", "YQ=="))
    watch = ResourceWatch(
        client, BUILTIN_KINDS["Secret"], "media", backoff=Backoff(initial=0.01, maximum=0.05)
    )
    seen: list[object] = []
    last = f"s-{2 * LIST_PAGE:05d}"
    watch.add_listener("media", last, lambda body: seen.append(body and body["metadata"]["name"]))
    task = asyncio.create_task(watch.run())
    try:
        await until(lambda: watch.synced)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert seen == [last]
    lists = [r.query for r in fake_kube.requests if r.method == "GET" and "watch" not in r.query]
    assert [query.get("limit") for query in lists] == [str(LIST_PAGE)] * 3
    assert ["continue" in query for query in lists] == [False, True, True]

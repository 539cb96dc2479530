"""The RBAC a config renders, read back: its documents, one Role or ClusterRole, a rule as
it should read; and the API server's RBAC authorizer restated, to check that every request a
running service sent is allowed by the rendered rules and that every rule was needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from mqtt_kube.bridge.service import Service
from mqtt_kube.kube.permissions import DISCOVERY_URLS
from mqtt_kube.testing.fakekube import RecordedRequest
from tests.support.broker_fixtures import MqttProbe
from tests.support.waiting import until

# What every authenticated client may read in a cluster (the system:discovery and
# system:public-info-viewer ClusterRoles), so no rule of mqtt-kube's has to grant it.
PUBLIC_URLS = frozenset(DISCOVERY_URLS)

Grant = tuple[str | None, str, str, str]  # (namespace or None: cluster, group, resource, verb)


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(docs: list[dict[str, Any]], kind: str, namespace: str | None = None) -> dict[str, Any]:
    matches = [
        doc for doc in docs if doc["kind"] == kind and doc["metadata"].get("namespace") == namespace
    ]
    assert len(matches) == 1, f"expected one {kind} in {namespace}, got {len(matches)}"
    return matches[0]


def rule(
    group: str, resource: str, verbs: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    built: dict[str, Any] = {"apiGroups": [group], "resources": [resource]}
    if names is not None:
        built["resourceNames"] = names
    built["verbs"] = verbs
    return built


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


async def press_in_turn(
    service: Service, probe: MqttProbe, prefix: str, presses: list[tuple[str, str]]
) -> None:
    """Publish each (topic under `prefix`, payload), each once the one before has patched or
    launched; none failed."""
    for count, (topic, payload) in enumerate(presses, start=1):
        await probe.publish(f"{prefix}/{topic}", payload)
        await until(
            lambda count=count: service.counters.patches + service.counters.launches == count
        )
    assert service.counters.failed == 0


def assert_least_privilege(docs: list[dict[str, Any]], requests: Iterable[RecordedRequest]) -> None:
    """Every request is allowed by the rendered rules (or is to a public URL), and every rule
    rendered allowed some request."""
    grants = granted(docs)
    used: set[Grant] = set()
    for request in requests:
        found = attributes(request)
        if found is None:
            assert request.path in PUBLIC_URLS, request
            continue
        key = allowed_by(grants, *found)
        assert key is not None, f"{request.method} {request.path} {request.query} is forbidden"
        used.add(key)
    assert set(grants) == used  # least privilege: no rule that no request needed

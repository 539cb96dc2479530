"""API discovery in the fake Kubernetes API server: /version, /api, /apis and resource lists.

What the real client reads to resolve a kind it does not know: the group versions on
offer and, per group version, the resources with their verbs and subresources.
"""

from __future__ import annotations

from typing import Any, Final

from mqtt_kube.testing.fakekube_resources import StatusError
from mqtt_kube.testing.fakekube_store import Store

JsonObject = dict[str, Any]

_VERSION: Final = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-fakekube",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def discovery(store: Store, segments: list[str], method: str, *, host: str) -> JsonObject:
    if method != "GET":
        raise StatusError.method_not_allowed()
    if segments == ["version"]:
        return dict(_VERSION)
    if segments == ["api"]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }
    groups = [
        {
            "name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
            "preferredVersion": {
                "groupVersion": f"{group}/{versions[0]}",
                "version": versions[0],
            },
        }
        for group, versions in _group_versions(store).items()
        if group
    ]
    if segments == ["apis"]:
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    for group in groups:
        if group["name"] == segments[1]:
            return {"kind": "APIGroup", "apiVersion": "v1", **group}
    raise StatusError.no_route()


def resource_list(store: Store, api_version: str) -> JsonObject:
    resources = [
        entry
        for resource in store.resources()
        if resource.api_version == api_version
        for entry in resource.discovery()
    ]
    if not resources:
        raise StatusError.no_route()
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version,
        "resources": resources,
    }


def _group_versions(store: Store) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for resource in store.resources():
        versions = groups.setdefault(resource.group, [])
        if resource.version not in versions:
            versions.append(resource.version)
    return groups

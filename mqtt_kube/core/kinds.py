"""The built-in Kubernetes kinds mqtt-kube knows without asking the API server.

Any other kind is named by `apiVersion` + kind in the config and resolved at run time
through API discovery (see `mqtt_kube.kube.client`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindInfo:
    """Where a kind lives in the API: enough to build its URLs."""

    kind: str
    api_version: str  # "v1" for the core group, else "group/version"
    plural: str
    namespaced: bool = True
    scalable: bool = False  # has a /scale subresource
    status: bool = True  # has a /status subresource (else `status` is part of the object)

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def collection_path(self, namespace: str | None = None) -> str:
        """URL path of the collection, in one namespace or across all of them."""
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{name}"


BUILTIN_KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("Deployment", "apps/v1", "deployments", scalable=True),
        KindInfo("StatefulSet", "apps/v1", "statefulsets", scalable=True),
        KindInfo("ReplicaSet", "apps/v1", "replicasets", scalable=True),
        KindInfo("DaemonSet", "apps/v1", "daemonsets"),
        KindInfo("Job", "batch/v1", "jobs"),
        KindInfo("CronJob", "batch/v1", "cronjobs"),
        KindInfo("Pod", "v1", "pods"),
        KindInfo("Service", "v1", "services"),
        KindInfo("ConfigMap", "v1", "configmaps", status=False),
        KindInfo("Secret", "v1", "secrets", status=False),
        KindInfo("PersistentVolumeClaim", "v1", "persistentvolumeclaims"),
        KindInfo("Node", "v1", "nodes", namespaced=False),
        KindInfo("Namespace", "v1", "namespaces", namespaced=False),
        KindInfo("Lease", "coordination.k8s.io/v1", "leases", status=False),
    )
}

_BY_LOWER = {name.lower(): info for name, info in BUILTIN_KINDS.items()}


def builtin_kind(kind: str, api_version: str | None = None) -> KindInfo | None:
    """The built-in kind named `kind` (any case), if `api_version` is absent or its own."""
    info = _BY_LOWER.get(kind.lower())
    if info is None or (api_version is not None and api_version != info.api_version):
        return None
    return info

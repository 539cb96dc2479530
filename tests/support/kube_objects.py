"""Objects the tests put into the fake API server: a workload (Deployment, StatefulSet,
DaemonSet) complete enough for the typed client models, the selectors and the recipes.
"""

from __future__ import annotations

from typing import Any

NS = "media"


def workload(
    kind: str,
    name: str,
    *,
    namespace: str = NS,
    replicas: int | None = 1,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An apps/v1 `kind` labelled `app: name` (or `labels`), its pods too; without
    `spec.replicas` when `replicas` is None (a DaemonSet has none)."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": labels or {"app": name},
    }
    if annotations:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": name, "image": f"example/{name}:1"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec}


def deployment(
    name: str,
    *,
    namespace: str = NS,
    replicas: int = 1,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`workload` of kind Deployment."""
    return workload(
        "Deployment",
        name,
        namespace=namespace,
        replicas=replicas,
        labels=labels,
        annotations=annotations,
    )

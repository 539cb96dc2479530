"""Create objects rendered from launch templates, and delete what a binding launched.

Every launched object carries two labels — `app.kubernetes.io/managed-by: mqtt-kube` and
a label naming the binding — so that `delete` can find all of them with one
deletecollection per kind, even across restarts, without listing anything else.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Final

from mqtt_kube.core.errors import NotFound
from mqtt_kube.core.kinds import KindInfo
from mqtt_kube.kube.client import JsonObject, KubeClient

logger = logging.getLogger(__name__)

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "mqtt-kube"
BINDING_LABEL: Final = "mqtt-kube/binding"
_DELETE_OPTIONS: Final = {
    "kind": "DeleteOptions",
    "apiVersion": "v1",
    "propagationPolicy": "Background",
}
_LABEL_VALUE_MAX: Final = 63


def binding_label_value(kind: str, name: str) -> str:
    """A valid label value naming a binding: `<kind>.<name>`, hashed when too long."""
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{kind.lower()}.{name}").strip("-_.")
    if len(value) <= _LABEL_VALUE_MAX:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{value[: _LABEL_VALUE_MAX - 11].rstrip('-_.')}-{digest}"


def launch_labels(kind: str, name: str) -> dict[str, str]:
    """The labels `launch` puts on every object it creates for a binding."""
    return {MANAGED_BY_LABEL: MANAGED_BY, BINDING_LABEL: binding_label_value(kind, name)}


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


async def create_object(
    client: KubeClient, *, kind: KindInfo, namespace: str | None, body: JsonObject
) -> JsonObject:
    """POST one rendered object into its collection."""
    return await client.request("POST", kind.collection_path(namespace), body=body)


async def delete_object(
    client: KubeClient, *, kind: KindInfo, namespace: str | None, name: str
) -> bool:
    """Delete one object with background propagation; False when it was already gone."""
    try:
        await client.request(
            "DELETE", kind.object_path(name, namespace), body=_DELETE_OPTIONS, missing_ok=True
        )
    except NotFound:
        return False
    return True


async def delete_labelled(
    client: KubeClient, *, kind: KindInfo, namespace: str | None, labels: dict[str, str]
) -> None:
    """Delete every object of `kind` in `namespace` that carries all of `labels`."""
    await client.request(
        "DELETE",
        kind.collection_path(namespace),
        query={"labelSelector": label_selector(labels), "propagationPolicy": "Background"},
        body=_DELETE_OPTIONS,
    )

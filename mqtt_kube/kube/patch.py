"""Set one field of an object with exactly one API request.

Never read-modify-write: `spec.replicas` of a scalable kind goes to the /scale
subresource, a field under `status` to /status, and any other field is a JSON merge patch
built from the locus alone (a JSON patch `replace` when the path crosses a list index).
"""

from __future__ import annotations

from mqtt_kube.core.kinds import KindInfo
from mqtt_kube.core.locus import Locus
from mqtt_kube.kube.client import JSON_PATCH, MERGE_PATCH, JsonObject, KubeClient


def patch_request(
    *, kind: KindInfo, namespace: str | None, name: str, locus: Locus, value: object
) -> tuple[str, str, object]:
    """The (path, content type, body) of the one request that sets `locus` to `value`."""
    path = kind.object_path(name, namespace)
    field_path = locus.field_path or ()
    if locus.is_replicas and kind.scalable:
        return f"{path}/scale", MERGE_PATCH, {"spec": {"replicas": value}}
    if field_path and field_path[0] == "status":
        path = f"{path}/status"
    if any(isinstance(step, int) for step in field_path):
        return path, JSON_PATCH, locus.json_patch(value)
    return path, MERGE_PATCH, locus.merge_patch(value)


async def patch_field(
    client: KubeClient,
    *,
    kind: KindInfo,
    namespace: str | None,
    name: str,
    locus: Locus,
    value: object,
) -> JsonObject:
    """Set `locus` of the named object to `value`; returns what the API server answered."""
    path, content_type, body = patch_request(
        kind=kind, namespace=namespace, name=name, locus=locus, value=value
    )
    return await client.request("PATCH", path, body=body, content_type=content_type)

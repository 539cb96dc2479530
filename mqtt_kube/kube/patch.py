"""Set one field of an object with exactly one API request.

Never read-modify-write: `spec.replicas` of a scalable kind goes to the /scale
subresource, a field under `status` to /status where API discovery lists it (else it is
part of the object), and any other field is a JSON merge patch built from the locus alone.
Every patch asks for strict field validation, so a field the API does not know is refused
(422) instead of dropped while the answer says 200.

A path that crosses a list index needs a JSON patch (RFC 6902), built by `Locus.json_patch`:
`add` of the leaf, which also adds a missing key. When a parent of the leaf is missing too
(no `limits` yet under `resources`), the binding's last watched copy of the object (if it
watches it) says which, and the patch adds that parent with the leaf inside, guarded by a
`test` that the nearest parent that exists is still as watched. If it is not (the object
changed meanwhile), the server refuses the whole patch and nothing is overwritten; the
request is `guarded`, so the binding may build it again from a newer copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from mqtt_kube.core.kinds import KindInfo
from mqtt_kube.core.locus import Locus
from mqtt_kube.kube.client import JSON_PATCH, MERGE_PATCH, JsonObject, KubeClient

STRICT: Final = {"fieldValidation": "Strict"}


class GuardedRequest(Protocol):
    """A request that may carry a guard: it fails once the object has changed since watched."""

    @property
    def guarded(self) -> bool: ...


@dataclass(frozen=True)
class PatchRequest:
    """The one request that sets a field: where, how, and what."""

    path: str
    content_type: str
    body: object
    guarded: bool = False  # a JSON patch whose `test` fails when the object has changed


def patch_request(
    *,
    kind: KindInfo,
    namespace: str | None,
    name: str,
    locus: Locus,
    value: object,
    seen: JsonObject | None = None,
) -> PatchRequest:
    """The request that sets `locus` to `value`; `seen` is the last watched copy, if any."""
    path = kind.object_path(name, namespace)
    field_path = locus.field_path or ()
    if locus.is_replicas and kind.scalable:
        return PatchRequest(f"{path}/scale", MERGE_PATCH, {"spec": {"replicas": value}})
    if field_path and field_path[0] == "status" and kind.status:
        path = f"{path}/status"
    if any(isinstance(step, int) for step in field_path):
        operations = locus.json_patch(value, seen=seen)
        return PatchRequest(path, JSON_PATCH, operations, guarded=operations[0]["op"] == "test")
    return PatchRequest(path, MERGE_PATCH, locus.merge_patch(value))


async def send_patch(client: KubeClient, request: PatchRequest) -> JsonObject:
    """Send the request (with strict field validation); returns what the API server answered."""
    return await client.request(
        "PATCH",
        request.path,
        query=STRICT,
        body=request.body,
        content_type=request.content_type,
    )

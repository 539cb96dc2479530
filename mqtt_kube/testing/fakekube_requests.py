"""Requests and responses of the fake Kubernetes API server, apart from any state.

The request log's entries, bodies read as the real server reads them, Status responses, a
patch applied by its Content-Type, DeleteOptions, and the Scale view.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from mqtt_kube.testing.fakekube_ops import json_patch, merge_patch
from mqtt_kube.testing.fakekube_resources import StatusError

JsonObject = dict[str, Any]

MERGE_PATCH: Final = "application/merge-patch+json"
STRATEGIC_PATCH: Final = "application/strategic-merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"
_PROPAGATION: Final = ("Foreground", "Background", "Orphan")
_TRUE: Final = frozenset({"1", "t", "true"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    query: dict[str, str]
    content_type: str | None
    body: Any  # parsed JSON, or None (no body, or not JSON)
    token: str | None = None  # the bearer token it carried
    headers: Mapping[str, str] = field(default_factory=dict)


def is_true(value: str | None) -> bool:
    return value is not None and value.lower() in _TRUE


def json_response(body: object, status: int = 200, *, warnings: Sequence[str] = ()) -> web.Response:
    """A JSON answer; each of `warnings` becomes a `Warning` header."""
    response = web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
    )
    for warning in warnings:
        response.headers.add("Warning", warning)
    return response


def parse_body(raw: bytes) -> tuple[bool, Any]:
    """(parsed, value): whether the body is JSON, and its value (None without a body)."""
    if not raw:
        return False, None
    try:
        return True, json.loads(raw)
    except ValueError:
        return False, None


def object_body(parsed: bool, body: Any) -> JsonObject:
    if not parsed or not isinstance(body, dict):
        raise StatusError.bad_request("the request body must be a JSON object")
    return body


def scale_view(obj: JsonObject) -> JsonObject:
    """An object's autoscaling/v1 Scale, as GET .../scale answers."""
    metadata = obj["metadata"]
    spec = obj.get("spec") or {}
    status: JsonObject = {"replicas": (obj.get("status") or {}).get("replicas", 0)}
    match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    if match_labels:
        status["selector"] = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": status,
    }


def patched(
    recorded: RecordedRequest, target: JsonObject, *, parsed: bool, custom: bool
) -> JsonObject:
    """`target` with the request's patch applied, by its Content-Type."""
    content_type = recorded.content_type or ""
    if content_type not in (MERGE_PATCH, STRATEGIC_PATCH, JSON_PATCH) or (
        custom and content_type == STRATEGIC_PATCH
    ):
        raise StatusError.unsupported_media_type(content_type)
    if not parsed:
        raise StatusError.bad_request(f"error decoding patch: the {content_type} body is not JSON")
    if content_type == JSON_PATCH:
        return json_patch(target, recorded.body)
    if not isinstance(recorded.body, dict):
        raise StatusError.bad_request(f"a {content_type} body must be a JSON object")
    patched = merge_patch(target, recorded.body)
    assert isinstance(patched, dict)  # a dict patched with a dict stays a dict
    return patched


def delete_options(recorded: RecordedRequest) -> JsonObject:
    """DeleteOptions from the body; propagationPolicy (body or query) must be known."""
    options = recorded.body if isinstance(recorded.body, dict) else {}
    policy = recorded.query.get("propagationPolicy") or options.get("propagationPolicy")
    if policy is not None and policy not in _PROPAGATION:
        raise StatusError.invalid(
            kind="DeleteOptions",
            name="",
            group="meta.k8s.io",
            field="propagationPolicy",
            problem=f'Unsupported value: "{policy}": supported values: '
            + ", ".join(f'"{p}"' for p in _PROPAGATION),
        )
    return options

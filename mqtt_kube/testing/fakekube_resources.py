"""What the fake Kubernetes API server serves, and how it says no.

`Resource` describes one served resource (built-in or registered like a CRD) and builds its
discovery entries; `StatusError` is every refusal, carrying the `Status` body the real API
server would send (reason, message and details in the same words), so a client sees the
same failures it would see against a cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from mqtt_kube.core.kinds import BUILTIN_KINDS
from mqtt_kube.testing.fakekube_schema import ANY, FieldTree, builtin_tree, has_status

JsonObject = dict[str, Any]

VERBS: Final = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS: Final = ["get", "patch", "update"]
_REASONS: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class Resource:
    """One served resource: where it lives, its kind, and which subresources it has."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    status: bool = True  # has a /status subresource
    scale: bool = False  # has a /scale subresource
    custom: bool = False  # registered like a CRD: no strategic merge patch
    tree: FieldTree = field(default=ANY, compare=False)  # the fields its objects may have

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        return (self.api_version, self.plural)

    @property
    def qualified(self) -> str:
        """`deployments.apps`, or `pods` for the core group, as messages name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def details(self, name: str) -> JsonObject:
        details: JsonObject = {"name": name, "kind": self.plural}
        if self.group:
            details["group"] = self.group
        return details

    def discovery(self) -> list[JsonObject]:
        """This resource's entries in its group version's APIResourceList."""
        entries: list[JsonObject] = [
            {
                "name": self.plural,
                "singularName": self.kind.lower(),
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": list(VERBS),
            }
        ]
        if self.scale:
            entries.append(
                {
                    "name": f"{self.plural}/scale",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": list(SUBRESOURCE_VERBS),
                }
            )
        if self.status:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": list(SUBRESOURCE_VERBS),
                }
            )
        return entries


def builtin_resources() -> list[Resource]:
    """The kinds of `mqtt_kube.core.kinds.BUILTIN_KINDS`, with the subresources they really have.

    A kind has /status exactly when its type has a `status` field (ConfigMap, Secret and
    Lease have none).
    """
    resources = []
    for info in BUILTIN_KINDS.values():
        tree = builtin_tree(info.kind, info.version)
        resources.append(
            Resource(
                group=info.group,
                version=info.version,
                kind=info.kind,
                plural=info.plural,
                namespaced=info.namespaced,
                status=has_status(tree),
                scale=info.scalable,
                tree=tree,
            )
        )
    return resources


class StatusError(Exception):
    """A refusal of the API server, sent as a Kubernetes `Status` body with its HTTP code."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: JsonObject | None = None,
        note: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details
        self.note = note or message  # for the fake's own log: what the body may not say

    def status(self) -> JsonObject:
        """The `Status` object the real API server sends for this error."""
        body: JsonObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    @classmethod
    def for_code(cls, code: int) -> StatusError:
        """A generic error with this HTTP status, as fault injection sends."""
        reason = _REASONS.get(code, "Unknown")
        return cls(code, f"injected failure: HTTP {code} {reason}", reason=reason, details={})

    @classmethod
    def bad_request(cls, message: str) -> StatusError:
        return cls(400, message)

    @classmethod
    def unauthorized(cls) -> StatusError:
        return cls(401, "Unauthorized")

    @classmethod
    def no_route(cls) -> StatusError:
        return cls(404, "the server could not find the requested resource", details={})

    @classmethod
    def not_found(cls, resource: Resource, name: str) -> StatusError:
        return cls(404, f'{resource.qualified} "{name}" not found', details=resource.details(name))

    @classmethod
    def method_not_allowed(cls) -> StatusError:
        return cls(
            405, "the server does not allow this method on the requested resource", details={}
        )

    @classmethod
    def already_exists(cls, resource: Resource, name: str) -> StatusError:
        return cls(
            409,
            f'{resource.qualified} "{name}" already exists',
            reason="AlreadyExists",
            details=resource.details(name),
        )

    @classmethod
    def conflict(cls, resource: Resource, name: str, why: str) -> StatusError:
        return cls(
            409,
            f'Operation cannot be fulfilled on {resource.qualified} "{name}": {why}',
            details=resource.details(name),
        )

    @classmethod
    def expired(cls, message: str) -> StatusError:
        return cls(410, message)

    @classmethod
    def unsupported_media_type(cls, content_type: str) -> StatusError:
        return cls(
            415,
            f"the body of the request was in an unknown format ({content_type or 'none'}) - "
            "accepted media types include: application/json-patch+json, "
            "application/merge-patch+json, application/strategic-merge-patch+json",
        )

    @classmethod
    def invalid(cls, *, kind: str, name: str, group: str, field: str, problem: str) -> StatusError:
        """422 for one bad field: `Deployment.apps "x" is invalid: spec.replicas: ...`."""
        qualified = f"{kind}.{group}" if group else kind
        details: JsonObject = {
            "name": name,
            "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": problem, "field": field}],
        }
        if group:
            details["group"] = group
        return cls(422, f'{qualified} "{name}" is invalid: {field}: {problem}', details=details)

    @classmethod
    def unprocessable(cls, message: str) -> StatusError:
        """422 for a JSON patch the server cannot apply.

        The real server keeps the reason to itself: its message is always the same sentence
        and its details are empty, whatever operation failed (`message` goes to our log).
        """
        return cls(
            422,
            "the server rejected our request due to an error in our request",
            details={},
            note=message,
        )

    @classmethod
    def invalid_patch(cls, patched: JsonObject, problem: str) -> StatusError:
        """422 for a patched object the server cannot decode (an unknown field, strictly)."""
        cause = (
            f"Invalid value: {json.dumps(json.dumps(patched, separators=(',', ':')))}: {problem}"
        )
        return cls(
            422,
            f'"" is invalid: patch: {cause}',
            details={
                "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "patch"}]
            },
        )


def deleted_status(resource: Resource, obj: JsonObject) -> JsonObject:
    """The `Status` a successful DELETE of one object answers with."""
    metadata = obj.get("metadata") or {}
    details = resource.details(str(metadata.get("name", "")))
    details["uid"] = metadata.get("uid", "")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }

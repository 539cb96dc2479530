"""Admission in the fake Kubernetes API server: what it checks and defaults on every write.

The real API server refuses a wrong kind or apiVersion for the URL, a namespace that
contradicts the URL or is no RFC 1123 label, negative or non-integer replicas, a Job name
longer than 63 characters, and owner references that lack a field or name two controllers;
it defaults `spec.replicas` and a CronJob's `spec.suspend`, and always reports a
DaemonSet's four status counts. It drops the
fields a kind does not have, with a `Warning` header, or refuses them under
`fieldValidation=Strict` (`fakekube_schema` knows the fields). So does this.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from mqtt_kube.testing.fakekube_resources import Resource, StatusError
from mqtt_kube.testing.fakekube_schema import (
    DIRECTIVES,
    Directive,
    FieldTree,
    pruned,
    strict_message,
    unknown_fields,
    warning_header,
)

JsonObject = dict[str, Any]

NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAMESPACE: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_JOB_NAME_MAX: Final = 63
_OWNER_KEYS: Final = (("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid"))
_REPLICATED: Final = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})
# The real API server always sends these DaemonSet status counts, even at zero.
_DAEMONSET_REQUIRED: Final = (
    "currentNumberScheduled",
    "desiredNumberScheduled",
    "numberMisscheduled",
    "numberReady",
)


def type_meta_checked(resource: Resource, obj: JsonObject) -> JsonObject:
    """Check kind and apiVersion against the resource; a copy of the metadata to edit."""
    for key, expected in (("apiVersion", resource.api_version), ("kind", resource.kind)):
        given = obj.get(key)
        if given is not None and given != expected:
            raise StatusError.invalid(
                kind=resource.kind,
                name=str((obj.get("metadata") or {}).get("name", "")),
                group=resource.group,
                field=key,
                problem=f'Invalid value: "{given}": must be {expected} for this URL',
            )
        obj[key] = expected
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise StatusError.invalid(
            kind=resource.kind,
            name="",
            group=resource.group,
            field="metadata",
            problem="Invalid value: must be an object",
        )
    return dict(metadata)


def settled_namespace(resource: Resource, metadata: JsonObject, url: str | None) -> str:
    if not resource.namespaced:
        metadata.pop("namespace", None)
        return ""
    given = metadata.get("namespace")
    if url is not None and given and given != url:
        raise StatusError.invalid(
            kind=resource.kind,
            name=str(metadata.get("name", "")),
            group=resource.group,
            field="metadata.namespace",
            problem=f'Invalid value: "{given}": does not match the namespace of the '
            f'request ("{url}")',
        )
    namespace = str(url or given or "default")
    if len(namespace) > 63 or not _NAMESPACE.match(namespace):
        raise StatusError.invalid(
            kind=resource.kind,
            name=str(metadata.get("name", "")),
            group=resource.group,
            field="metadata.namespace",
            problem=f'Invalid value: "{namespace}": not a lowercase RFC 1123 label',
        )
    return namespace


def default_and_validate(resource: Resource, obj: JsonObject) -> None:
    """What the real API server defaults and checks for the kinds the product scales or
    creates, and the owner references of any object."""
    check_owner_references(resource, obj)
    if resource.custom:
        return
    if resource.kind == "Job" and len(obj["metadata"]["name"]) > _JOB_NAME_MAX:
        # A Job's name becomes the `batch.kubernetes.io/job-name` label of its pods.
        name = obj["metadata"]["name"]
        raise StatusError.invalid(
            kind=resource.kind,
            name=name,
            group=resource.group,
            field="metadata.name",
            problem=f'Invalid value: "{name}": must be no more than {_JOB_NAME_MAX} characters',
        )
    if resource.kind == "CronJob":
        spec = obj.get("spec")
        spec = dict(spec) if isinstance(spec, dict) else {}
        spec.setdefault("suspend", False)
        obj["spec"] = spec
    if resource.kind in _REPLICATED:
        spec = obj.get("spec")
        spec = dict(spec) if isinstance(spec, dict) else {}
        spec.setdefault("replicas", 1)
        obj["spec"] = spec
        check_replicas(
            spec["replicas"],
            kind=resource.kind,
            name=obj["metadata"]["name"],
            group=resource.group,
        )
    elif resource.kind == "DaemonSet":
        status = dict(obj.get("status") or {})
        for key in _DAEMONSET_REQUIRED:
            status.setdefault(key, 0)
        obj["status"] = status


def check_owner_references(resource: Resource, obj: JsonObject) -> None:
    """422 for an owner reference without apiVersion, kind, name or uid, or a second
    controller, in the real server's words."""
    name = str(obj["metadata"].get("name", ""))
    controllers = []
    for ref in obj["metadata"].get("ownerReferences") or []:
        for key, what in _OWNER_KEYS:
            if not (ref.get(key) if isinstance(ref, dict) else None):
                raise StatusError.invalid(
                    kind=resource.kind,
                    name=name,
                    group=resource.group,
                    field=f"metadata.ownerReferences.{key}",
                    problem=f'Invalid value: "": {what} must not be empty',
                )
        if ref.get("controller") is True:
            controllers.append(f"{ref['kind']}/{ref['name']}")
    if len(controllers) > 1:
        raise StatusError.invalid(
            kind=resource.kind,
            name=name,
            group=resource.group,
            field="metadata.ownerReferences",
            problem='Only one reference can have Controller set to true. Found "true" in '
            f"references for {' and '.join(controllers)}",
        )


def check_replicas(value: object, *, kind: str, name: str, group: str) -> None:
    """422 unless `spec.replicas` is an integer of at least 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        problem = f"Invalid value: {json.dumps(value)}: must be an integer"
    elif value < 0:
        problem = f"Invalid value: {value}: must be greater than or equal to 0"
    else:
        return
    raise StatusError.invalid(
        kind=kind, name=name, group=group, field="spec.replicas", problem=problem
    )


def field_validation(query: dict[str, str]) -> Directive:
    """The request's `fieldValidation`, refused with 400 when the server does not know it."""
    given = query.get("fieldValidation") or "Warn"  # the real server's default
    for known in DIRECTIVES:
        if given == known:
            return known
    supported = ", ".join(f'"{d}"' for d in DIRECTIVES)
    raise StatusError.bad_request(
        f'fieldValidation: Unsupported value: "{given}": supported values: {supported}'
    )


def known_fields_only(
    obj: JsonObject,
    *,
    tree: FieldTree,
    kind: str,
    version: str,
    directive: Directive,
    patch: bool,
) -> tuple[JsonObject, list[str]]:
    """`obj` without the fields `tree` does not have, and the `Warning` headers to send.

    Under `Strict` an unknown field is refused instead: a patch with 422 (the patched
    object does not decode), a body sent whole with 400, in the real server's words.
    """
    paths = unknown_fields(tree, obj)
    if not paths:
        return obj, []
    if directive == "Strict":
        problem = strict_message(paths)
        if patch:
            raise StatusError.invalid_patch(obj, problem)
        raise StatusError.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {kind}: {problem}'
        )
    warnings = [] if directive == "Ignore" else [warning_header(path) for path in paths]
    return pruned(obj, paths), warnings

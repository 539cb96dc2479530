"""The HTTP face of the fake Kubernetes API server: routing, verbs, watch streams, faults.

One catch-all aiohttp handler parses the URL the way the real API server lays it out
(discovery, collections, objects, /scale and /status), so every unknown path or verb still
gets a Kubernetes `Status` body. Around it sit what tests and benchmarks need to observe and
disturb the server: the request log, injected failures, latency, and watch streams that
can be counted and cut.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from mqtt_kube.testing.fakekube_ops import FieldSelector, LabelSelector, json_patch, merge_patch
from mqtt_kube.testing.fakekube_resources import (
    Resource,
    StatusError,
    deleted_status,
)
from mqtt_kube.testing.fakekube_store import (
    ERROR,
    Store,
    UpdatePart,
    Watcher,
    check_replicas,
    encode_event,
    without_type,
)

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]

MERGE_PATCH: Final = "application/merge-patch+json"
STRATEGIC_PATCH: Final = "application/strategic-merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"
CUT_TIMEOUT: Final = 2.0  # seconds to wait for cut streams' handlers to return
_PROPAGATION: Final = ("Foreground", "Background", "Orphan")
_TRUE: Final = frozenset({"1", "t", "true"})
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


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    query: dict[str, str]
    content_type: str | None
    body: Any  # parsed JSON, or None (no body, or not JSON)


@dataclass
class _Fault:
    remaining: int
    status: int
    method: str | None
    path_contains: str | None

    def matches(self, request: RecordedRequest) -> bool:
        return (self.method is None or self.method == request.method) and (
            self.path_contains is None or self.path_contains in request.path
        )


@dataclass(frozen=True)
class _Stream:
    task: asyncio.Task[Any] | None
    transport: asyncio.Transport | None


@dataclass(frozen=True)
class _Target:
    """Where a resource URL points: a collection, an object, or an object's subresource."""

    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None


def _is_true(value: str | None) -> bool:
    return value is not None and value.lower() in _TRUE


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
    )


def _parse_body(raw: bytes) -> tuple[bool, Any]:
    """(parsed, value): whether the body is JSON, and its value (None without a body)."""
    if not raw:
        return False, None
    try:
        return True, json.loads(raw)
    except ValueError:
        return False, None


def _object_body(parsed: bool, body: Any) -> JsonObject:
    if not parsed or not isinstance(body, dict):
        raise StatusError.bad_request("the request body must be a JSON object")
    return body


def _scale_view(obj: JsonObject) -> JsonObject:
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


class KubeHttp:
    """Serves a `Store` over HTTP as the real API server would, and records every request."""

    def __init__(self, store: Store, *, token: str | None) -> None:
        self.store = store
        self.token = token
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        self.watch_requests = 0
        self.max_open_watches = 0
        self._faults: list[_Fault] = []
        self._streams: dict[Watcher, _Stream] = {}

    @property
    def open_watches(self) -> int:
        return len(self._streams)

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        return app

    # Observation and fault injection

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many recorded requests have this method and a path containing this text."""
        return sum(
            1
            for request in self.requests
            if (method is None or request.method == method)
            and (path_contains is None or path_contains in request.path)
        )

    def clear_requests(self) -> None:
        self.requests.clear()

    def fail_next(
        self,
        count: int,
        *,
        status: int = 500,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next `count` matching requests with `status` and a Status body."""
        if count < 1 or not 400 <= status <= 599:
            raise ValueError(
                f"fail_next needs count >= 1 and an error status, not {count}, {status}"
            )
        self._faults.append(_Fault(count, status, method, path_contains))

    async def cut_watches(self) -> None:
        """Drop every open watch connection mid-stream, as a broken network would."""
        streams = list(self._streams.items())
        self._streams.clear()
        for watcher, stream in streams:
            self.store.close_watch(watcher)
            watcher.cut()
            if stream.transport is not None:
                stream.transport.abort()
        tasks = [stream.task for _, stream in streams if stream.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CUT_TIMEOUT)

    # Request handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parsed, body = _parse_body(await request.read())
        content_type = request.headers.get("Content-Type")
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            content_type=content_type.split(";")[0].strip().lower() if content_type else None,
            body=body,
        )
        self.requests.append(recorded)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        try:
            self._authorize(request)
            self._inject_fault(recorded)
            return await self._route(request, recorded, parsed=parsed)
        except StatusError as exc:
            return _json(exc.status(), exc.code)
        except Exception as exc:
            logger.exception("fake API server failed on %s %s", request.method, request.path)
            return _json(StatusError(500, f"fake API server error: {exc}").status(), 500)

    def _authorize(self, request: web.Request) -> None:
        expected = None if self.token is None else f"Bearer {self.token}"
        if expected is not None and request.headers.get("Authorization") != expected:
            raise StatusError.unauthorized()

    def _inject_fault(self, request: RecordedRequest) -> None:
        for fault in self._faults:
            if fault.matches(request):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                raise StatusError.for_code(fault.status)

    async def _route(
        self, request: web.Request, recorded: RecordedRequest, *, parsed: bool
    ) -> web.StreamResponse:
        segments = [segment for segment in request.path.split("/") if segment]
        method = request.method
        if segments in (["version"], ["api"], ["apis"]) or (
            segments[:1] == ["apis"] and len(segments) == 2
        ):
            return _json(self._discovery(segments, method, host=request.host))
        if segments[:2] == ["api", "v1"]:
            api_version, rest = "v1", segments[2:]
        elif segments[:1] == ["apis"] and len(segments) >= 3:
            api_version, rest = f"{segments[1]}/{segments[2]}", segments[3:]
        else:
            raise StatusError.no_route()
        if not rest:
            if method != "GET":
                raise StatusError.method_not_allowed()
            return _json(self._resource_list(api_version))
        target = self._resolve(api_version, rest)
        if target.name is None:
            return await self._collection(request, recorded, target, parsed=parsed)
        if target.subresource == "scale":
            return self._scale(recorded, target, parsed=parsed)
        return self._object(recorded, target, parsed=parsed)

    def _resolve(self, api_version: str, rest: list[str]) -> _Target:
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            inner = self.store.by_plural(api_version, rest[2])
            if inner is not None and inner.namespaced:
                namespace, rest = rest[1], rest[2:]
        resource = self.store.by_plural(api_version, rest[0])
        if resource is None or len(rest) > 3:
            raise StatusError.no_route()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if name is not None and resource.namespaced and namespace is None:
            raise StatusError.no_route()
        if subresource is not None and not (
            (subresource == "scale" and resource.scale)
            or (subresource == "status" and resource.status)
        ):
            raise StatusError.no_route()
        return _Target(resource, namespace, name, subresource)

    # Discovery

    def _group_versions(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for resource in self.store.resources():
            versions = groups.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)
        return groups

    def _discovery(self, segments: list[str], method: str, *, host: str) -> JsonObject:
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
            for group, versions in self._group_versions().items()
            if group
        ]
        if segments == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        for group in groups:
            if group["name"] == segments[1]:
                return {"kind": "APIGroup", "apiVersion": "v1", **group}
        raise StatusError.no_route()

    def _resource_list(self, api_version: str) -> JsonObject:
        resources = [
            entry
            for resource in self.store.resources()
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

    # Collections

    async def _collection(
        self, request: web.Request, recorded: RecordedRequest, target: _Target, *, parsed: bool
    ) -> web.StreamResponse:
        resource, namespace = target.resource, target.namespace
        query = recorded.query
        if recorded.method == "GET":
            labels = LabelSelector.parse(query.get("labelSelector", ""))
            fields = FieldSelector.parse(query.get("fieldSelector", ""))
            if _is_true(query.get("watch")):
                return await self._watch(request, target, labels=labels, fields=fields)
            items = self.store.items(resource, namespace, labels=labels, fields=fields)
            return _json(self._list(resource, items))
        if resource.namespaced and namespace is None:
            raise StatusError.method_not_allowed()
        if recorded.method == "POST":
            body = _object_body(parsed, recorded.body)
            created = self.store.create(
                resource, body, namespace=namespace, keep_status=not resource.status
            )
            return _json(created, 201)
        if recorded.method == "DELETE":
            self._delete_options(recorded)
            labels = LabelSelector.parse(query.get("labelSelector", ""))
            fields = FieldSelector.parse(query.get("fieldSelector", ""))
            doomed = self.store.items(resource, namespace, labels=labels, fields=fields)
            deleted = [
                self.store.delete(
                    resource, obj["metadata"].get("namespace"), obj["metadata"]["name"]
                )
                for obj in doomed
            ]
            return _json(self._list(resource, deleted))
        raise StatusError.method_not_allowed()

    def _list(self, resource: Resource, items: list[JsonObject]) -> JsonObject:
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": self.store.resource_version},
            "items": [without_type(obj) for obj in items],
        }

    async def _watch(
        self,
        request: web.Request,
        target: _Target,
        *,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> web.StreamResponse:
        self.watch_requests += 1
        query = request.query
        since = self._int_param(query, "resourceVersion") or None  # "0": start from now
        timeout = self._int_param(query, "timeoutSeconds") or None
        watcher = Watcher(
            target.resource,
            target.namespace,
            labels=labels,
            fields=fields,
            bookmarks=_is_true(query.get("allowWatchBookmarks")),
        )
        expired: StatusError | None = None
        try:
            self.store.open_watch(watcher, since)
        except StatusError as exc:
            expired = exc
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        if expired is not None:
            # As the real server does: 200, then one ERROR event carrying the 410 Status.
            await response.prepare(request)
            await response.write(encode_event(ERROR, expired.status()))
            await response.write_eof()
            return response
        self._streams[watcher] = _Stream(asyncio.current_task(), request.transport)
        self.max_open_watches = max(self.max_open_watches, self.open_watches)
        cut = False
        try:
            await response.prepare(request)
            async with asyncio.timeout(timeout):
                while (line := await watcher.queue.get()) is not None:
                    await response.write(line)
            cut = True
        except TimeoutError:
            pass  # timeoutSeconds reached: end the stream cleanly
        except ConnectionError:
            cut = True  # the client went away
        finally:
            self.store.close_watch(watcher)
            self._streams.pop(watcher, None)
        if not cut:
            await response.write_eof()
        return response

    @staticmethod
    def _int_param(query: Any, name: str) -> int:
        value = query.get(name)
        if value is None or value == "":
            return 0
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            raise StatusError.bad_request(
                f"{name}: Invalid value: {value!r}: must be a number >= 0"
            )
        return number

    # Objects and subresources

    def _object(
        self, recorded: RecordedRequest, target: _Target, *, parsed: bool
    ) -> web.StreamResponse:
        resource, namespace, name = target.resource, target.namespace, str(target.name)
        part: UpdatePart = "status" if target.subresource == "status" else "main"
        method = recorded.method
        if method not in ("GET", "PUT", "PATCH") and (method != "DELETE" or target.subresource):
            raise StatusError.method_not_allowed()
        current = self.store.get(resource, namespace, name)
        if current is None:
            raise StatusError.not_found(resource, name)
        if method == "GET":
            return _json(current)
        if method == "DELETE":
            preconditions = self._delete_options(recorded).get("preconditions")
            deleted = self.store.delete(
                resource,
                namespace,
                name,
                preconditions=preconditions if isinstance(preconditions, dict) else None,
            )
            return _json(deleted_status(resource, deleted))
        if method == "PUT":
            body = _object_body(parsed, recorded.body)
        else:
            body = self._patched(recorded, current, parsed=parsed, custom=resource.custom)
        updated = self.store.update(resource, namespace, name, body, part=part, check_version=True)
        return _json(updated)

    def _scale(
        self, recorded: RecordedRequest, target: _Target, *, parsed: bool
    ) -> web.StreamResponse:
        resource, namespace, name = target.resource, target.namespace, str(target.name)
        if recorded.method not in ("GET", "PUT", "PATCH"):
            raise StatusError.method_not_allowed()
        current = self.store.get(resource, namespace, name)
        if current is None:
            raise StatusError.not_found(resource, name)
        view = _scale_view(current)
        if recorded.method == "GET":
            return _json(view)
        if recorded.method == "PUT":
            scale = _object_body(parsed, recorded.body)
        else:
            scale = self._patched(recorded, view, parsed=parsed, custom=False)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        check_replicas(replicas, kind="Scale", name=name, group="autoscaling")
        metadata = dict(current["metadata"])
        given_version = (scale.get("metadata") or {}).get("resourceVersion")
        if given_version:
            metadata["resourceVersion"] = given_version
        body = {
            **current,
            "metadata": metadata,
            "spec": {**(current.get("spec") or {}), "replicas": replicas},
        }
        updated = self.store.update(
            resource, namespace, name, body, part="main", check_version=True
        )
        return _json(_scale_view(updated))

    @staticmethod
    def _patched(
        recorded: RecordedRequest, target: JsonObject, *, parsed: bool, custom: bool
    ) -> JsonObject:
        """`target` with the request's patch applied, by its Content-Type."""
        content_type = recorded.content_type or ""
        if content_type not in (MERGE_PATCH, STRATEGIC_PATCH, JSON_PATCH) or (
            custom and content_type == STRATEGIC_PATCH
        ):
            raise StatusError.unsupported_media_type(content_type)
        if not parsed:
            raise StatusError.bad_request(
                f"error decoding patch: the {content_type} body is not JSON"
            )
        if content_type == JSON_PATCH:
            return json_patch(target, recorded.body)
        if not isinstance(recorded.body, dict):
            raise StatusError.bad_request(f"a {content_type} body must be a JSON object")
        patched = merge_patch(target, recorded.body)
        assert isinstance(patched, dict)  # a dict patched with a dict stays a dict
        return patched

    @staticmethod
    def _delete_options(recorded: RecordedRequest) -> JsonObject:
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

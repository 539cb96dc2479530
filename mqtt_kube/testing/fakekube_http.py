"""The HTTP face of the fake Kubernetes API server: routing, verbs, watch streams, faults.

One catch-all aiohttp handler parses the URL the way the real API server lays it out
(discovery, collections, objects, /scale and /status), so every unknown path or verb still
gets a Kubernetes `Status` body. Around it sit what tests and benchmarks need to observe and
disturb the server: the request log, injected failures, latency, and watch streams that
can be counted and cut.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from mqtt_kube.testing.fakekube_admission import check_replicas
from mqtt_kube.testing.fakekube_discovery import discovery, resource_list
from mqtt_kube.testing.fakekube_ops import FieldSelector, LabelSelector
from mqtt_kube.testing.fakekube_requests import (
    Fault,
    RecordedRequest,
    delete_options,
    is_true,
    json_response,
    object_body,
    parse_body,
    patched,
    scale_view,
)
from mqtt_kube.testing.fakekube_resources import (
    Resource,
    StatusError,
    deleted_status,
)
from mqtt_kube.testing.fakekube_store import Store, UpdatePart
from mqtt_kube.testing.fakekube_watchers import ERROR, Watcher, encode_event, without_type

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]

CUT_TIMEOUT: Final = 2.0  # seconds to wait for cut streams' handlers to return


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


class KubeHttp:
    """Serves a `Store` over HTTP as the real API server would, and records every request."""

    def __init__(self, store: Store, *, token: str | None) -> None:
        self.store = store
        self.token = token
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        self.watch_requests = 0
        self.max_open_watches = 0
        self._faults: list[Fault] = []
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
        self._faults.append(Fault(count, status, method, path_contains))

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
        parsed, body = parse_body(await request.read())
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
            return json_response(exc.status(), exc.code)
        except Exception as exc:
            logger.exception("fake API server failed on %s %s", request.method, request.path)
            return json_response(StatusError(500, f"fake API server error: {exc}").status(), 500)

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
            return json_response(discovery(self.store, segments, method, host=request.host))
        if segments[:2] == ["api", "v1"]:
            api_version, rest = "v1", segments[2:]
        elif segments[:1] == ["apis"] and len(segments) >= 3:
            api_version, rest = f"{segments[1]}/{segments[2]}", segments[3:]
        else:
            raise StatusError.no_route()
        if not rest:
            if method != "GET":
                raise StatusError.method_not_allowed()
            return json_response(resource_list(self.store, api_version))
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

    # Collections

    async def _collection(
        self, request: web.Request, recorded: RecordedRequest, target: _Target, *, parsed: bool
    ) -> web.StreamResponse:
        resource, namespace = target.resource, target.namespace
        query = recorded.query
        if recorded.method == "GET":
            labels = LabelSelector.parse(query.get("labelSelector", ""))
            fields = FieldSelector.parse(query.get("fieldSelector", ""))
            if is_true(query.get("watch")):
                return await self._watch(request, target, labels=labels, fields=fields)
            items = self.store.items(resource, namespace, labels=labels, fields=fields)
            return json_response(self._list(resource, items))
        if resource.namespaced and namespace is None:
            raise StatusError.method_not_allowed()
        if recorded.method == "POST":
            body = object_body(parsed, recorded.body)
            created = self.store.create(
                resource, body, namespace=namespace, keep_status=not resource.status
            )
            return json_response(created, 201)
        if recorded.method == "DELETE":
            delete_options(recorded)
            labels = LabelSelector.parse(query.get("labelSelector", ""))
            fields = FieldSelector.parse(query.get("fieldSelector", ""))
            doomed = self.store.items(resource, namespace, labels=labels, fields=fields)
            deleted = [
                self.store.delete(
                    resource, obj["metadata"].get("namespace"), obj["metadata"]["name"]
                )
                for obj in doomed
            ]
            return json_response(self._list(resource, deleted))
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
            bookmarks=is_true(query.get("allowWatchBookmarks")),
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
            return json_response(current)
        if method == "DELETE":
            preconditions = delete_options(recorded).get("preconditions")
            deleted = self.store.delete(
                resource,
                namespace,
                name,
                preconditions=preconditions if isinstance(preconditions, dict) else None,
            )
            return json_response(deleted_status(resource, deleted))
        if method == "PUT":
            body = object_body(parsed, recorded.body)
        else:
            body = patched(recorded, current, parsed=parsed, custom=resource.custom)
        updated = self.store.update(resource, namespace, name, body, part=part, check_version=True)
        return json_response(updated)

    def _scale(
        self, recorded: RecordedRequest, target: _Target, *, parsed: bool
    ) -> web.StreamResponse:
        resource, namespace, name = target.resource, target.namespace, str(target.name)
        if recorded.method not in ("GET", "PUT", "PATCH"):
            raise StatusError.method_not_allowed()
        current = self.store.get(resource, namespace, name)
        if current is None:
            raise StatusError.not_found(resource, name)
        view = scale_view(current)
        if recorded.method == "GET":
            return json_response(view)
        if recorded.method == "PUT":
            scale = object_body(parsed, recorded.body)
        else:
            scale = patched(recorded, view, parsed=parsed, custom=False)
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
        return json_response(scale_view(updated))

"""The HTTP face of the fake Kubernetes API server: routing, verbs, pages, faults.

One catch-all aiohttp handler parses the URL the way the real API server lays it out
(discovery, collections, objects, /scale and /status), so every unknown path or verb still
gets a Kubernetes `Status` body. Around it sit what tests and benchmarks need to observe and
disturb the server: the request log, bearer tokens, injected failures, held requests,
latency, and watch streams (`fakekube_streams`) that can be counted and cut.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from mqtt_kube.testing.fakekube_admission import (
    check_replicas,
    field_validation,
    known_fields_only,
)
from mqtt_kube.testing.fakekube_discovery import discovery, resource_list
from mqtt_kube.testing.fakekube_guards import Faults, Hangs, Tokens
from mqtt_kube.testing.fakekube_ops import FieldSelector, LabelSelector
from mqtt_kube.testing.fakekube_pages import Continue, one_page
from mqtt_kube.testing.fakekube_requests import (
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
from mqtt_kube.testing.fakekube_schema import model_tree
from mqtt_kube.testing.fakekube_store import Store, UpdatePart
from mqtt_kube.testing.fakekube_streams import WatchStreams, int_param
from mqtt_kube.testing.fakekube_watchers import without_type

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]

SCALE_TREE: Final = model_tree("V1Scale")


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
        self.tokens = Tokens(token)
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        self.streams = WatchStreams(store)
        self._faults = Faults()
        self._hangs = Hangs()

    @property
    def token(self) -> str | None:
        """The first bearer token the server accepts (None: it accepts any request)."""
        return self.tokens.first

    @property
    def open_watches(self) -> int:
        return self.streams.open

    @property
    def max_open_watches(self) -> int:
        return self.streams.max_open

    @max_open_watches.setter
    def max_open_watches(self, value: int) -> None:
        self.streams.max_open = value

    @property
    def watch_requests(self) -> int:
        return self.streams.requests

    @watch_requests.setter
    def watch_requests(self, value: int) -> None:
        self.streams.requests = value

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
        self._faults.add(count, status=status, method=method, path_contains=path_contains)

    def hang(
        self,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        token: str | None = None,
    ) -> None:
        """Hold every matching request without an answer until `release_hung()`.

        `token` picks the requests of one client (the bearer token it sends).
        """
        self._hangs.add(method=method, path_contains=path_contains, token=token)

    def release_hung(self) -> None:
        """Answer the held requests (late) and hold no more."""
        self._hangs.release()

    @property
    def hanging(self) -> int:
        """How many requests are held right now."""
        return self._hangs.held

    async def cut_watches(self) -> None:
        """Drop every open watch connection mid-stream, as a broken network would."""
        await self.streams.cut()

    # Request handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parsed, body = parse_body(await request.read())
        content_type = request.headers.get("Content-Type")
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            content_type=content_type.split(";")[0].strip().lower() if content_type else None,
            body=body,
            token=bearer if scheme == "Bearer" else None,
            headers=dict(request.headers),
        )
        self.requests.append(recorded)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        try:
            self.tokens.check(request.headers.get("Authorization"))
            await self._hangs.wait(recorded)
            self._faults.inject(recorded)
            return await self._route(request, recorded, parsed=parsed)
        except StatusError as exc:
            logger.debug("%s %s: %d %s", request.method, request.path, exc.code, exc.note)
            return json_response(exc.status(), exc.code)
        except Exception as exc:
            logger.exception("fake API server failed on %s %s", request.method, request.path)
            return json_response(StatusError(500, f"fake API server error: {exc}").status(), 500)

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
                return await self.streams.serve(
                    request, resource, namespace, labels=labels, fields=fields
                )
            return json_response(self._list(resource, namespace, query, labels, fields))
        if resource.namespaced and namespace is None:
            raise StatusError.method_not_allowed()
        if recorded.method == "POST":
            body, warnings = known_fields_only(
                object_body(parsed, recorded.body),
                tree=resource.tree,
                kind=resource.kind,
                version=resource.version,
                directive=field_validation(query),
                patch=False,
            )
            created = self.store.create(
                resource, body, namespace=namespace, keep_status=not resource.status
            )
            return json_response(created, 201, warnings=warnings)
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
            return json_response(self._listing(resource, deleted))
        raise StatusError.method_not_allowed()

    def _list(
        self,
        resource: Resource,
        namespace: str | None,
        query: dict[str, str],
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> JsonObject:
        """A list, or one page of it with `limit` and `continue` (`fakekube_pages`)."""
        limit = int_param(query, "limit")
        token = query.get("continue")
        if token:
            if query.get("resourceVersion"):
                raise StatusError.bad_request(
                    "specifying resource version is not allowed when using continue"
                )
            where = Continue.decode(token)
            version, after = where.resource_version, where.after
            items = self.store.items_at(resource, namespace, version, labels=labels, fields=fields)
        else:
            version, after = int(self.store.resource_version), None
            items = self.store.items(resource, namespace, labels=labels, fields=fields)
        page, metadata = one_page(
            items,
            resource_version=version,
            after=after,
            limit=limit,
            counted=not labels and not fields,
        )
        return self._listing(resource, page, metadata)

    def _listing(
        self, resource: Resource, items: list[JsonObject], metadata: JsonObject | None = None
    ) -> JsonObject:
        if metadata is None:
            metadata = {"resourceVersion": self.store.resource_version}
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": metadata,
            "items": [without_type(obj) for obj in items],
        }

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
        body, warnings = known_fields_only(
            body,
            tree=resource.tree,
            kind=resource.kind,
            version=resource.version,
            directive=field_validation(recorded.query),
            patch=method == "PATCH",
        )
        updated = self.store.update(resource, namespace, name, body, part=part, check_version=True)
        return json_response(updated, warnings=warnings)

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
        scale, warnings = known_fields_only(
            scale,
            tree=SCALE_TREE,
            kind="Scale",
            version="v1",
            directive=field_validation(recorded.query),
            patch=recorded.method == "PATCH",
        )
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
        return json_response(scale_view(updated), warnings=warnings)

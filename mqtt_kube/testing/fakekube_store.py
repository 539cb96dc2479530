"""The memory of the fake Kubernetes API server: objects, resourceVersions, history, watchers.

Every write goes through `Store._write`, which bumps the one global resourceVersion, keeps
the event in a bounded history (so a watch can resume from an older version, or get 410
once that version is forgotten) and hands it to the open watches of that resource. Stored
objects are never changed in place: a write builds a new dict, copying only along the path
it changes, so lists and watch events can share them without copying.
"""

from __future__ import annotations

import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal

from mqtt_kube.testing.fakekube_admission import (
    NAME,
    default_and_validate,
    settled_namespace,
    type_meta_checked,
)
from mqtt_kube.testing.fakekube_ops import FieldSelector, LabelSelector
from mqtt_kube.testing.fakekube_pages import EXPIRED_CONTINUE
from mqtt_kube.testing.fakekube_resources import Resource, StatusError, builtin_resources
from mqtt_kube.testing.fakekube_watchers import (
    ADDED,
    BOOKMARK,
    DELETED,
    MODIFIED,
    Event,
    Watcher,
    encode_event,
    now_rfc3339,
)

JsonObject = dict[str, Any]
ResourceKey = tuple[str, str]  # (apiVersion, plural)
UpdatePart = Literal["all", "main", "status"]
WriteListener = Callable[[Resource, str, str], None]  # (resource, namespace, name)


_GENERATED_CHARS: Final = "bcdfghjklmnpqrstvwxz2456789"  # what the real API server draws from


class Store:
    """Objects by (apiVersion, plural, namespace, name), with history and watchers."""

    def __init__(self, *, history_limit: int) -> None:
        if history_limit < 1:
            raise ValueError(f"history_limit must be at least 1, not {history_limit}")
        self.history_limit = history_limit
        self.listeners: list[WriteListener] = []
        self._by_plural: dict[ResourceKey, Resource] = {}
        self._by_kind: dict[tuple[str, str], Resource] = {}
        self._objects: dict[ResourceKey, dict[str, dict[str, JsonObject]]] = {}
        self._watchers: dict[ResourceKey, set[Watcher]] = {}
        self._history: deque[Event] = deque()
        self._resumable_from = 0  # the oldest resourceVersion a watch may resume from
        self._version = 0
        for resource in builtin_resources():
            self.add(resource)

    @property
    def resource_version(self) -> str:
        return str(self._version)

    # Resources

    def add(self, resource: Resource) -> None:
        self._by_plural[resource.key] = resource
        self._by_kind[(resource.api_version, resource.kind)] = resource
        self._objects.setdefault(resource.key, {})

    def resources(self) -> list[Resource]:
        return list(self._by_plural.values())

    def by_plural(self, api_version: str, plural: str) -> Resource | None:
        return self._by_plural.get((api_version, plural))

    def by_kind(self, api_version: str, kind: str) -> Resource:
        resource = self._by_kind.get((api_version, kind))
        if resource is None:
            raise StatusError(
                404,
                f"the fake API server serves no kind {kind!r} in {api_version!r} "
                "(FakeKube.add_resource registers one)",
                details={},
            )
        return resource

    # Reads

    def get(self, resource: Resource, namespace: str | None, name: str) -> JsonObject | None:
        bucket = self._objects[resource.key].get((namespace or "") if resource.namespaced else "")
        return None if bucket is None else bucket.get(name)

    def items(
        self,
        resource: Resource,
        namespace: str | None,
        *,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> list[JsonObject]:
        """Stored objects of `resource` in `namespace` (None: all), sorted by namespace/name."""
        buckets = self._objects[resource.key]
        if namespace is None or not resource.namespaced:
            chosen: Iterable[dict[str, JsonObject]] = [buckets[ns] for ns in sorted(buckets)]
        else:
            chosen = [buckets.get(namespace, {})]
        found: list[JsonObject] = []
        for bucket in chosen:
            for name in sorted(bucket):
                obj = bucket[name]
                if (not labels or labels.matches(obj)) and (not fields or fields.matches(obj)):
                    found.append(obj)
        return found

    def items_at(
        self,
        resource: Resource,
        namespace: str | None,
        version: int,
        *,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> list[JsonObject]:
        """`items` as they were at resourceVersion `version`, rebuilt from the history.

        410 Expired once that version is older than the history kept (as a `continue`
        token from before a compaction gets).
        """
        if version < self._resumable_from:
            raise StatusError.expired(EXPIRED_CONTINUE)
        state = {
            (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]): obj
            for obj in self.items(resource, None)
        }
        for event in reversed(self._history):
            if event.resource_version <= version:
                break
            if event.resource.key != resource.key:
                continue
            key = (event.namespace, event.obj["metadata"]["name"])
            if event.type == ADDED:
                state.pop(key, None)
            elif event.prev is not None:
                state[key] = event.prev
        return [
            state[key]
            for key in sorted(state)
            if (namespace is None or not resource.namespaced or key[0] == namespace)
            and labels.matches(state[key])
            and fields.matches(state[key])
        ]

    # Writes

    def create(
        self, resource: Resource, body: JsonObject, *, namespace: str | None, keep_status: bool
    ) -> JsonObject:
        """Admit a new object; `namespace` is the request's (None: the body's, or default)."""
        obj = dict(body)
        metadata = type_meta_checked(resource, obj)
        namespace = settled_namespace(resource, metadata, namespace)
        name = str(metadata.get("name") or "")
        if not name:
            prefix = metadata.get("generateName")
            if not prefix or not isinstance(prefix, str):
                raise StatusError.invalid(
                    kind=resource.kind,
                    name="",
                    group=resource.group,
                    field="metadata.name",
                    problem="Required value: name or generateName is required",
                )
            name = self._generate_name(resource, namespace, prefix)
        if len(name) > 253 or not NAME.match(name):
            raise StatusError.invalid(
                kind=resource.kind,
                name=name,
                group=resource.group,
                field="metadata.name",
                problem=f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist '
                "of lower case alphanumeric characters, '-' or '.', and must start and end "
                "with an alphanumeric character",
            )
        if self.get(resource, namespace, name) is not None:
            raise StatusError.already_exists(resource, name)
        metadata.pop("resourceVersion", None)
        metadata.update(
            name=name, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1
        )
        if namespace:
            metadata["namespace"] = namespace
        obj["metadata"] = metadata
        if not keep_status:
            obj.pop("status", None)
        default_and_validate(resource, obj)
        return self._write(resource, ADDED, obj, None)

    def update(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: JsonObject,
        *,
        part: UpdatePart,
        check_version: bool,
    ) -> JsonObject:
        """Replace an object: all of it, all but its status, or only its status.

        A write that changes nothing keeps the resourceVersion and sends no event, as the
        real API server does.
        """
        old = self.get(resource, namespace, name)
        if old is None:
            raise StatusError.not_found(resource, name)
        obj = dict(body)
        metadata = type_meta_checked(resource, obj)
        for key, current in (("name", name), ("namespace", old["metadata"].get("namespace"))):
            given = metadata.get(key)
            if given is not None and given != current:
                raise StatusError.invalid(
                    kind=resource.kind,
                    name=name,
                    group=resource.group,
                    field=f"metadata.{key}",
                    problem=f'Invalid value: "{given}": field is immutable',
                )
        old_metadata = old["metadata"]
        given_version = metadata.get("resourceVersion")
        if check_version and given_version and given_version != old_metadata["resourceVersion"]:
            raise StatusError.conflict(
                resource,
                name,
                "the object has been modified; please apply your changes to the latest "
                "version and try again",
            )
        if part == "status":
            obj = {**old, "status": obj.get("status")}
            metadata = dict(old_metadata)
        elif part == "main" and resource.status:
            obj["status"] = old.get("status")
        if obj.get("status") is None:
            obj.pop("status", None)
        for key in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion"):
            if key in old_metadata:
                metadata[key] = old_metadata[key]
        spec_changed = obj.get("spec") != old.get("spec")
        metadata["generation"] = old_metadata.get("generation", 1) + (1 if spec_changed else 0)
        obj["metadata"] = metadata
        default_and_validate(resource, obj)
        if obj == old:
            return old
        return self._write(resource, MODIFIED, obj, old)

    def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        *,
        preconditions: JsonObject | None = None,
    ) -> JsonObject:
        """Remove an object at once; returns its last state (with the deleting version)."""
        old = self.get(resource, namespace, name)
        if old is None:
            raise StatusError.not_found(resource, name)
        for key in ("uid", "resourceVersion"):
            wanted = (preconditions or {}).get(key)
            actual = old["metadata"].get(key)
            if wanted is not None and wanted != actual:
                raise StatusError.conflict(
                    resource,
                    name,
                    f"Precondition failed: {key} in precondition: {wanted}, "
                    f"{key} in object meta: {actual}",
                )
        return self._write(resource, DELETED, dict(old), old)

    def _write(
        self, resource: Resource, event_type: str, obj: JsonObject, prev: JsonObject | None
    ) -> JsonObject:
        self._version += 1
        obj["metadata"] = {**obj["metadata"], "resourceVersion": str(self._version)}
        namespace = obj["metadata"].get("namespace", "")
        name = obj["metadata"]["name"]
        bucket = self._objects[resource.key].setdefault(namespace, {})
        if event_type == DELETED:
            del bucket[name]
            if not bucket:
                del self._objects[resource.key][namespace]
        else:
            bucket[name] = obj
        event = Event(self._version, resource, event_type, namespace, obj, prev)
        if len(self._history) >= self.history_limit:
            self._resumable_from = self._history.popleft().resource_version
        self._history.append(event)
        for watcher in self._watchers.get(resource.key, ()):
            watcher.offer(event)
        for listener in self.listeners:
            listener(resource, namespace, name)
        return obj

    def compact(self) -> None:
        """Forget the history: resuming from any version seen so far gets 410 Expired.

        The resourceVersion moves on (without an event), so that a list made after the
        compaction gives a version a watch can start from, as on a real cluster.
        """
        self._history.clear()
        self._version += 1
        self._resumable_from = self._version

    # Watches

    def open_watch(self, watcher: Watcher, since: int | None) -> None:
        """Queue the watch's first events and register it for the next ones.

        `since` None: a synthetic ADDED per existing object; else every event after it,
        or 410 Expired when that version is older than the history kept.
        """
        if since is not None and since < self._resumable_from:
            raise StatusError.expired(f"too old resource version: {since} ({self._resumable_from})")
        if since is None:
            for obj in self.items(
                watcher.resource, watcher.namespace, labels=watcher.labels, fields=watcher.fields
            ):
                watcher.queue.put_nowait(encode_event(ADDED, obj))
        else:
            key = watcher.resource.key
            for event in self._history:
                if event.resource_version > since and event.resource.key == key:
                    watcher.offer(event)
        self._watchers.setdefault(watcher.resource.key, set()).add(watcher)

    def close_watch(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.resource.key, set()).discard(watcher)

    def send_bookmarks(self) -> None:
        """Queue a BOOKMARK at the current resourceVersion on every watch that allows them."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                if watcher.bookmarks:
                    resource = watcher.resource
                    bookmark = {
                        "kind": resource.kind,
                        "apiVersion": resource.api_version,
                        "metadata": {"resourceVersion": str(self._version)},
                    }
                    watcher.queue.put_nowait(encode_event(BOOKMARK, bookmark))

    def _generate_name(self, resource: Resource, namespace: str, prefix: str) -> str:
        while True:
            name = prefix + "".join(secrets.choice(_GENERATED_CHARS) for _ in range(5))
            if self.get(resource, namespace, name) is None:
                return name

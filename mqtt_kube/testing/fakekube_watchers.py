"""Watch streams of the fake Kubernetes API server: events, and what each watcher sees.

A write becomes one `Event`, encoded once per event type; each open `Watcher` queues the
line its selectors make of it (an object leaving a label selection is a DELETED for that
watcher, as on the real server).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from mqtt_kube.testing.fakekube_ops import FieldSelector, LabelSelector
from mqtt_kube.testing.fakekube_resources import Resource

JsonObject = dict[str, Any]

ADDED: Final = "ADDED"
MODIFIED: Final = "MODIFIED"
DELETED: Final = "DELETED"
BOOKMARK: Final = "BOOKMARK"
ERROR: Final = "ERROR"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_event(event_type: str, obj: JsonObject) -> bytes:
    """One watch event as the single line the stream carries."""
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def without_type(obj: JsonObject) -> JsonObject:
    """A list item: the real API server leaves kind and apiVersion out of each item."""
    return {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}


def _with_version(obj: JsonObject, resource_version: int) -> JsonObject:
    result = dict(obj)
    result["metadata"] = {**obj["metadata"], "resourceVersion": str(resource_version)}
    return result


@dataclass(slots=True)
class Event:
    """One write, as kept in the history and offered to watchers."""

    resource_version: int
    resource: Resource
    type: str
    namespace: str
    obj: JsonObject  # the new state; for DELETED the last state with the new resourceVersion
    prev: JsonObject | None
    _lines: dict[str, bytes] = field(default_factory=dict)

    def line(self, event_type: str) -> bytes:
        """The encoded event as a watcher with selectors sees it (encoded once per type)."""
        cached = self._lines.get(event_type)
        if cached is None:
            obj = self.obj
            if event_type == DELETED and self.type == MODIFIED and self.prev is not None:
                obj = _with_version(self.prev, self.resource_version)  # left the selection
            cached = self._lines[event_type] = encode_event(event_type, obj)
        return cached


class Watcher:
    """One open watch stream: what it selects, and the queue of lines to send."""

    def __init__(
        self,
        resource: Resource,
        namespace: str | None,
        *,
        labels: LabelSelector,
        fields: FieldSelector,
        bookmarks: bool,
    ) -> None:
        self.resource = resource
        self.namespace = namespace  # None: every namespace (or a cluster-scoped resource)
        self.labels = labels
        self.fields = fields
        self.bookmarks = bookmarks
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()  # None: cut the stream
        self._filtered = bool(labels) or bool(fields)

    def selects(self, obj: JsonObject) -> bool:
        return self.labels.matches(obj) and self.fields.matches(obj)

    def offer(self, event: Event) -> None:
        """Queue the event as this watcher sees it, if it sees it at all."""
        if self.namespace is not None and event.namespace != self.namespace:
            return
        if not self._filtered:
            self.queue.put_nowait(event.line(event.type))
            return
        before = event.prev is not None and self.selects(event.prev)
        if event.type == DELETED:
            seen = DELETED if before else None
        elif self.selects(event.obj):
            seen = MODIFIED if before else ADDED
        else:
            seen = DELETED if before else None
        if seen is not None:
            self.queue.put_nowait(event.line(seen))

    def cut(self) -> None:
        """Drop what is queued and wake the stream so that it ends at once."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

"""One shared list+watch per (kind, namespace), fanned out to the objects' listeners.

However many bindings name objects of one kind in one namespace, the API server sees a
single list followed by a single long watch (or, with `watch-scope: object`, one per
object, by a `metadata.name` field selector). The loop follows the API's rules: list in
pages of `LIST_PAGE` items (`limit`/`continue`, so a big namespace never needs one huge
answer), watch from the list's resourceVersion with bookmarks, resume from the last
resourceVersion seen after a dropped stream or a server-side timeout, list again on 410
Gone, and back off with jitter on errors. resourceVersions are opaque strings, never
compared as numbers. `restarts` counts streams reopened after an error, not the renewal
of a stream the server ended on time.

Listeners are plain callables that must not block: they get the object's current body, or
None while it does not exist. They are called once after the first list (the start-up
state), then only when the object changes. Listeners come and go while the watch runs
(live reload, discovery); `refresh()` lists again so that new ones get their object's
state. A collection listener (discovery) sees every object of the collection: each listed
one and each event, before the objects' own listeners, so it may add listeners for them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from mqtt_kube.core.backoff import Backoff
from mqtt_kube.core.errors import Gone, KubeError
from mqtt_kube.core.jsondecode import decode_fast, loads
from mqtt_kube.core.kinds import KindInfo
from mqtt_kube.kube.client import JsonObject, KubeClient

logger = logging.getLogger(__name__)

ObjectKey = tuple[str | None, str]  # (namespace, name); namespace None when cluster-scoped
ObjectListener = Callable[[JsonObject | None], None]
HealthReport = Callable[[str | None], None]  # the error when the watch fails; None once healthy


class CollectionListener(Protocol):
    """Told of every object of the collection (discovery); must not block."""

    def on_object(self, key: ObjectKey, body: JsonObject | None) -> None: ...

    def on_listed(self, keys: set[ObjectKey]) -> None:
        """A list has just been delivered: these objects exist, no other does."""


WATCH_TIMEOUT_SECONDS: Final = 300  # asked of the server; it ends the stream, we resume
READ_SLACK_SECONDS: Final = 60  # silence beyond the server's timeout means a dead link
NAMED_AT_MOST: Final = 3  # log lines name this many bindings, and count more
LIST_PAGE: Final = 500  # items per page of a list, as client-go's informers ask


class _Expired(Exception):
    """The resourceVersion we hold is too old: list again."""


def describe_bindings(labels: Sequence[str]) -> str:
    """The bindings a log line is about: their names, or their count when there are many."""
    if len(labels) > NAMED_AT_MOST:
        return f"{len(labels)} bindings"
    return ", ".join(labels)


def object_key(body: JsonObject) -> ObjectKey:
    metadata = body.get("metadata") or {}
    return metadata.get("namespace"), str(metadata.get("name", ""))


class ResourceWatch:
    """Keeps the bound objects of one kind in one namespace (or all) up to date."""

    def __init__(
        self,
        client: KubeClient,
        kind: KindInfo,
        namespace: str | None,
        *,
        name: str | None = None,  # only this object (a field selector), else all of them
        timeout_seconds: int = WATCH_TIMEOUT_SECONDS,
        backoff: Backoff | None = None,
        serves: Sequence[str] = (),  # labels of the bindings it serves, for log lines
        report: HealthReport | None = None,  # told of each failure, and of the recovery
    ) -> None:
        self._client = client
        self.kind = kind
        self.namespace = namespace if kind.namespaced else None
        self.name = name
        self._selector = {} if name is None else {"fieldSelector": f"metadata.name={name}"}
        self._timeout_seconds = timeout_seconds
        self._backoff = backoff or Backoff()
        self._serves = f" ({describe_bindings(serves)})" if serves else ""
        self._report = report
        self._bound: dict[ObjectKey, _Bound] = {}  # the objects listened to
        self._collection: list[CollectionListener] = []
        self._fresh: set[ObjectKey] = set()  # listened to since the last list
        self._stream: asyncio.Timeout | None = None  # the open stream's guard, for refresh()
        self._relist = False  # refresh() asked for a list
        self._resource_version: str | None = None
        self.synced = False  # the first list has been delivered
        self.healthy = False  # the last list or stream opened without error
        self.last_error: str | None = None
        self.restarts = 0  # streams reopened after an error
        self.relists = 0
        self.events = 0

    @property
    def label(self) -> str:
        where = f"namespace {self.namespace}" if self.namespace else "all namespaces"
        if self.name is not None:
            return f"{self.kind.kind} {self.name} in {where}"
        return f"{self.kind.kind} in {where}"

    def add_listener(self, namespace: str | None, name: str, listener: ObjectListener) -> None:
        key = (namespace if self.kind.namespaced else None, name)
        bound = self._bound.get(key)
        if bound is None:
            bound = self._bound[key] = _Bound()
        bound.listeners = (*bound.listeners, listener)
        self._fresh.add(key)

    def remove_listener(self, namespace: str | None, name: str, listener: ObjectListener) -> None:
        key = (namespace if self.kind.namespaced else None, name)
        bound = self._bound.get(key)
        if bound is None:
            return
        if listener in bound.listeners:
            rest = list(bound.listeners)
            rest.remove(listener)
            bound.listeners = tuple(rest)
        if not bound.listeners:
            del self._bound[key]
            self._fresh.discard(key)

    def add_collection_listener(self, listener: CollectionListener) -> None:
        self._collection.append(listener)

    def remove_collection_listener(self, listener: CollectionListener) -> None:
        if listener in self._collection:
            self._collection.remove(listener)

    def refresh(self) -> None:
        """List again soon (ending the open stream): new listeners get their objects' state."""
        if not self.synced:
            return  # the first list is still to come
        self._relist = True
        if self._stream is not None:
            self._stream.reschedule(asyncio.get_running_loop().time())

    async def run(self) -> None:
        """List and watch forever; never raises except on cancellation."""
        while True:
            try:
                if self._relist:
                    self._relist = False
                    self._resource_version = None
                if self._resource_version is None:
                    await self._list()
                    if self._relist:
                        continue
                opened = time.monotonic()
                lines = await self._watch()
                if self._relist:
                    continue
                if not lines and time.monotonic() - opened < self._timeout_seconds:
                    # A stream that closes early without a line is a server in trouble.
                    self.restarts += 1
                    await asyncio.sleep(self._backoff.next_delay())
            except (_Expired, Gone):  # told in the stream, or in answer to opening it
                logger.info("watch %s: resourceVersion expired, listing again", self.label)
                self._resource_version = None
                self.relists += 1
            except KubeError as exc:
                self.restarts += 1
                self._fail(str(exc))
                await asyncio.sleep(self._backoff.next_delay())

    def _fail(self, message: str) -> None:
        self.healthy = False
        self.last_error = message
        logger.warning("watch %s%s: %s", self.label, self._serves, message)
        if self._report is not None:
            self._report(f"watch {self.label}: {message}")

    def _healthy(self) -> None:
        """A list or a stream has just succeeded; report the recovery after a failure."""
        failed = self.last_error is not None
        self.healthy = True
        self.last_error = None
        if failed and self._report is not None:
            self._report(None)

    async def _list(self) -> None:
        """List every page (410 on a page: list again from the first, in `run`)."""
        path = self.kind.collection_path(self.namespace)
        seen: dict[ObjectKey, JsonObject] = {}
        listed: set[ObjectKey] = set()
        query = {**self._selector, "limit": str(LIST_PAGE)}
        version: str | None = None
        while True:
            body = await self._client.request("GET", path, query=query)
            metadata = body.get("metadata") or {}
            if version is None:
                version = str(metadata.get("resourceVersion") or "")  # the same on every page
            for item in body.get("items") or []:
                key = object_key(item)
                if self.kind.namespaced and key[0] is None:
                    key = (self.namespace, key[1])
                if self._collection:
                    listed.add(key)
                    self._tell_collection(key, item)
                if key in self._bound:
                    seen[key] = item
            token = metadata.get("continue")
            if not token:
                break
            query = {**self._selector, "limit": str(LIST_PAGE), "continue": str(token)}
        for listener in list(self._collection):
            listener.on_listed(listed)
        fresh, self._fresh = self._fresh, set()
        for key in list(self._bound):
            found = seen.get(key)
            found_version = (
                None if found is None else (found.get("metadata") or {}).get("resourceVersion")
            )
            self._deliver(key, found, found_version, force=not self.synced or key in fresh)
        self._resource_version = version
        self.synced = True
        self._healthy()
        self._backoff.reset()

    async def _watch(self) -> int:
        """Follow one watch stream until the server ends it; the number of lines read."""
        query = {
            **self._selector,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self._timeout_seconds),
        }
        if self._resource_version:
            query["resourceVersion"] = self._resource_version
        path = self.kind.collection_path(self.namespace)
        read_timeout = self._timeout_seconds + READ_SLACK_SECONDS
        count = 0
        try:
            async with asyncio.timeout(None) as guard:
                self._stream = guard
                count = await self._follow(path, query, read_timeout)
        except TimeoutError:
            if not self._relist:
                raise
        finally:
            self._stream = None
        if count:
            self._backoff.reset()
        return count

    async def _follow(self, path: str, query: dict[str, str], read_timeout: float) -> int:
        count = 0
        async with self._client.open_stream(path, query=query, read_timeout=read_timeout) as stream:
            self._healthy()
            # Read what has arrived and split it here: a readline() per event costs more
            # than the rest of handling it when changes stream in fast.
            partial: list[bytes] = []
            async for chunk in stream.iter_any():
                if b"\n" not in chunk:
                    partial.append(chunk)  # an event larger than one read
                    continue
                lines = chunk.split(b"\n")
                if partial:
                    partial.append(lines[0])
                    lines[0] = b"".join(partial)
                partial = [lines.pop()]
                if lines:
                    count += self._handle_lines(lines)
                if count:
                    self._backoff.reset()  # this stream works: a cut later starts afresh
            count += self._handle_lines([b"".join(partial)])
        return count

    def _handle_lines(self, lines: list[bytes]) -> int:
        """Handle each event of `lines` in turn; the number of events (blank lines are none).

        Every event comes through here, in batches of what one read brought: the common
        case (a change of a bound object) is kept to plain dict work in this one loop,
        _deliver's checks inlined.
        """
        count = 0
        bound_objects = self._bound
        for line in lines:
            if not line.strip():
                continue
            count += 1
            try:
                try:
                    event: dict[str, Any] = decode_fast(line)
                except ValueError:
                    event = loads(line)  # what orjson refuses and `json` may still read
                kind = event["type"]
                body: JsonObject = event["object"]
                metadata = body.get("metadata") or {}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise KubeError(f"unreadable watch event: {line[:200]!r}") from exc
            if kind == "ERROR":
                if body.get("code") == 410:
                    raise _Expired
                raise KubeError(f"watch error {body.get('code')}: {body.get('message')}")
            version = metadata.get("resourceVersion")
            if version:
                self._resource_version = version if type(version) is str else str(version)
            if kind == "BOOKMARK":
                continue
            self.events += 1
            name = metadata.get("name", "")
            key = (metadata.get("namespace"), name if type(name) is str else str(name))
            if self._collection:
                self._tell_collection(key, None if kind == "DELETED" else body)
            bound = bound_objects.get(key)
            if bound is None:
                continue
            if kind == "DELETED":
                self._deliver(key, None, None, force=False)
                continue
            if bound.version == version:
                continue
            bound.version = version
            for listener in bound.listeners:  # a tuple: listeners may join or leave meanwhile
                try:
                    listener(body)
                except Exception:
                    logger.exception("listener of %s %s/%s failed", self.kind.kind, *key)
        return count

    def _tell_collection(self, key: ObjectKey, body: JsonObject | None) -> None:
        for listener in list(self._collection):
            try:
                listener.on_object(key, body)
            except Exception:
                logger.exception("discovery of %s %s/%s failed", self.kind.kind, key[0], key[1])

    def _deliver(
        self, key: ObjectKey, body: JsonObject | None, version: str | None, *, force: bool
    ) -> None:
        """Hand `body` (at `version`) to the object's listeners, unless they have seen it."""
        bound = self._bound.get(key)
        if bound is None or (not force and bound.version == version):
            return
        bound.version = version
        for listener in bound.listeners:
            try:
                listener(body)
            except Exception:
                logger.exception("listener of %s %s/%s failed", self.kind.kind, key[0], key[1])


class _Bound:
    """The listeners of one object, and the resourceVersion they were last given."""

    __slots__ = ("listeners", "version")

    def __init__(self) -> None:
        self.listeners: tuple[ObjectListener, ...] = ()
        self.version: str | None = ""  # "": nothing given yet; None: told it does not exist

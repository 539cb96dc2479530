"""Watch streams of the fake Kubernetes API server: open, counted, and cut on demand.

A watch request becomes a chunked response fed from its `Watcher`'s queue until the client
goes away, `timeoutSeconds` pass, or a test cuts every stream (`cut`), as a broken network
would. A watch from a resourceVersion older than the history gets what the real server
sends: 200, then one ERROR event carrying the 410 Status.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from mqtt_kube.testing.fakekube_ops import FieldSelector, LabelSelector
from mqtt_kube.testing.fakekube_requests import is_true
from mqtt_kube.testing.fakekube_resources import Resource, StatusError
from mqtt_kube.testing.fakekube_store import Store
from mqtt_kube.testing.fakekube_watchers import ERROR, Watcher, encode_event

CUT_TIMEOUT: Final = 2.0  # seconds to wait for cut streams' handlers to return


@dataclass(frozen=True)
class _Stream:
    task: asyncio.Task[Any] | None
    transport: asyncio.Transport | None


def int_param(query: Any, name: str) -> int:
    """A query parameter that must be a whole number >= 0 (0 when absent)."""
    value = query.get(name)
    if value is None or value == "":
        return 0
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise StatusError.bad_request(f"{name}: Invalid value: {value!r}: must be a number >= 0")
    return number


class WatchStreams:
    """The open watch streams of one server."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._streams: dict[Watcher, _Stream] = {}
        self.requests = 0  # watch requests served
        self.max_open = 0

    @property
    def open(self) -> int:
        return len(self._streams)

    async def serve(
        self,
        request: web.Request,
        resource: Resource,
        namespace: str | None,
        *,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> web.StreamResponse:
        self.requests += 1
        query = request.query
        since = int_param(query, "resourceVersion") or None  # "0": start from now
        timeout = int_param(query, "timeoutSeconds") or None
        watcher = Watcher(
            resource,
            namespace,
            labels=labels,
            fields=fields,
            bookmarks=is_true(query.get("allowWatchBookmarks")),
        )
        expired: StatusError | None = None
        try:
            self._store.open_watch(watcher, since)
        except StatusError as exc:
            expired = exc
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        if expired is not None:
            await response.prepare(request)
            await response.write(encode_event(ERROR, expired.status()))
            await response.write_eof()
            return response
        self._streams[watcher] = _Stream(asyncio.current_task(), request.transport)
        self.max_open = max(self.max_open, self.open)
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
            self._store.close_watch(watcher)
            self._streams.pop(watcher, None)
        if not cut:
            await response.write_eof()
        return response

    async def cut(self) -> None:
        """Drop every open watch connection mid-stream."""
        streams = list(self._streams.items())
        self._streams.clear()
        for watcher, stream in streams:
            self._store.close_watch(watcher)
            watcher.cut()
            if stream.transport is not None:
                stream.transport.abort()
        tasks = [stream.task for _, stream in streams if stream.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CUT_TIMEOUT)

"""The shared watches, joined and left by bindings (and discovery entries) while running.

One `ResourceWatch` per `WatchKey`, as `watch_groups` has always decided; what is new is
that the bindings of a key may change while its watch runs (a live reload, an object found
or lost by discovery). A key's watch starts with its first member and stops with its last;
a binding that joins a running watch without knowing its object yet asks the watch to list
again, so it gets its state without a request of its own. Each watch first resolves its
kind (built in, or through API discovery, retrying); a binding without a namespace whose
kind is namespaced is left out with its error kept under `kind`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from mqtt_kube.bridge.binding import KIND_ERROR, WATCH_ERROR, Binding
from mqtt_kube.config.model import WatchKey
from mqtt_kube.core.backoff import Backoff
from mqtt_kube.core.errors import KubeError, WrongScope
from mqtt_kube.core.kinds import KindInfo
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.kube.watch import CollectionListener, ResourceWatch, describe_bindings

logger = logging.getLogger(__name__)


@dataclass
class _Group:
    key: WatchKey
    bindings: list[Binding] = field(default_factory=list)
    collection: list[CollectionListener] = field(default_factory=list)
    watch: ResourceWatch | None = None
    task: asyncio.Task[None] | None = None

    @property
    def empty(self) -> bool:
        return not self.bindings and not self.collection

    def report(self, error: str | None) -> None:
        """A shared watch's error on its bindings (for /api/status), or its recovery.

        It is kept apart from the bindings' other errors: a failing command does not hide
        it, and its recovery does not hide theirs."""
        for binding in self.bindings:
            if error is None:
                binding.clear_error(WATCH_ERROR)
            else:
                binding.set_error(WATCH_ERROR, error)


class WatchPool:
    """Every shared watch, by key; `watches` is what /api/ready and /metrics look at."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._groups: dict[WatchKey, _Group] = {}
        self.watches: dict[WatchKey, ResourceWatch | None] = {}  # None: not started yet
        self._tasks: asyncio.TaskGroup | None = None

    def __len__(self) -> int:
        return len(self._groups)

    def join(self, key: WatchKey, binding: Binding, *, known: bool = False) -> None:
        """`binding` follows its object through the watch of `key`. `known`: it already has
        its object's state (taken over in a reload, or handed over by discovery)."""
        group = self._group(key)
        group.bindings.append(binding)
        watch = group.watch
        if watch is None:
            if group.task is not None and group.task.done():
                group.task = None  # it found nothing to watch before: try again with this one
                self._start(group)
            return  # the watch's task adds it once the kind is resolved
        if self._attach(group, watch.kind, binding) and not known:
            watch.refresh()

    def leave(self, key: WatchKey, binding: Binding) -> None:
        group = self._groups.get(key)
        if group is None or binding not in group.bindings:
            return
        group.bindings.remove(binding)
        if group.watch is not None:
            group.watch.remove_listener(binding.namespace, binding.spec.name, binding.on_object)
        self._stop_if_empty(group)

    def join_collection(self, key: WatchKey, listener: CollectionListener) -> None:
        """`listener` sees every object of the watch of `key` (a discovery entry)."""
        group = self._group(key)
        group.collection.append(listener)
        if group.watch is not None:
            group.watch.add_collection_listener(listener)
            group.watch.refresh()

    def leave_collection(self, key: WatchKey, listener: CollectionListener) -> None:
        group = self._groups.get(key)
        if group is None or listener not in group.collection:
            return
        group.collection.remove(listener)
        if group.watch is not None:
            group.watch.remove_collection_listener(listener)
        self._stop_if_empty(group)

    def start(self, tasks: asyncio.TaskGroup) -> None:
        """Run the watches (those of now and those to come) as tasks of `tasks`."""
        self._tasks = tasks
        for group in self._groups.values():
            self._start(group)

    def stop(self) -> None:
        """Cancel every watch task; the pool starts none after this."""
        self._tasks = None
        for group in self._groups.values():
            if group.task is not None:
                group.task.cancel()

    def _group(self, key: WatchKey) -> _Group:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key)
            self.watches[key] = None
            self._start(group)
        return group

    def _start(self, group: _Group) -> None:
        if self._tasks is not None and group.task is None:
            group.task = self._tasks.create_task(self._watch(group), name=f"watch {group.key}")

    def _stop_if_empty(self, group: _Group) -> None:
        if not group.empty:
            return
        del self._groups[group.key]
        self.watches.pop(group.key, None)
        if group.task is not None:
            group.task.cancel()

    def _attach(self, group: _Group, kind: KindInfo, binding: Binding) -> bool:
        try:
            binding.adopt(kind)
        except WrongScope as exc:
            binding.set_error(KIND_ERROR, str(exc))
            logger.error("%s: %s", binding.spec.label, exc)
            return False
        assert group.watch is not None
        group.watch.add_listener(binding.namespace, binding.spec.name, binding.on_object)
        return True

    async def _watch(self, group: _Group) -> None:
        """Resolve the kind (retrying), then run the shared watch of this group."""
        kind_name, api_version, namespace, name = group.key
        backoff = Backoff()
        while True:
            try:
                kind = await self._client.resolve_kind(kind_name, api_version)
                break
            except KubeError as exc:
                group.report(str(exc))
                labels = [binding.spec.label for binding in group.bindings]
                logger.warning("%s: %s", describe_bindings(labels) or kind_name, exc)
                await asyncio.sleep(backoff.next_delay())
        group.report(None)
        watch = ResourceWatch(
            self._client,
            kind,
            namespace,
            name=name,
            serves=[binding.spec.label for binding in group.bindings],
            report=group.report,
        )
        group.watch = watch
        attached = [binding for binding in group.bindings if self._attach(group, kind, binding)]
        for listener in group.collection:
            watch.add_collection_listener(listener)
        if not attached and not group.collection:
            self.watches.pop(group.key, None)  # nothing to watch: not a reason to stay unready
            group.watch = None
            return
        self.watches[group.key] = watch
        await watch.run()

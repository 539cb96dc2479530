"""Discovery entries at run time: objects found, each a binding, and lost again.

A `Finder` listens to every object of the shared watches its entry looks through (it adds
no watch of its own). On each object it works out what the object asks for (labels,
annotations: cheap, on every event) and only when that changes builds the binding, adds
it through `LiveBindings` (routes, entities, states) or removes the one it had. An object
that stops matching, loses its annotation or is deleted takes its binding with it. A
problem in an object's annotations is logged once, naming the object and the annotation,
and only that object is left out.
"""

from __future__ import annotations

import dataclasses
import logging

from mqtt_kube.bridge.binding import Binding
from mqtt_kube.bridge.live import LiveBindings, object_id
from mqtt_kube.bridge.watchpool import WatchPool
from mqtt_kube.config.discover import Choice, EntryBindings, choice_of
from mqtt_kube.config.model import Config, DiscoverSpec, WatchKey, discover_keys
from mqtt_kube.kube.client import JsonObject
from mqtt_kube.kube.watch import ObjectKey

logger = logging.getLogger(__name__)


class _Scope:
    """One of a finder's watches, as the collection listener registered there."""

    def __init__(self, finder: Finder, key: WatchKey) -> None:
        self.finder = finder
        self.key = key

    def on_object(self, key: ObjectKey, body: JsonObject | None) -> None:
        self.finder.on_object(self.key, key, body)

    def on_listed(self, keys: set[ObjectKey]) -> None:
        self.finder.on_listed(self.key, keys)


class Finder:
    """One `discover:` entry: the objects it found and the binding of each."""

    def __init__(self, entry: DiscoverSpec, *, live: LiveBindings, pool: WatchPool) -> None:
        self.entry = entry
        self._live = live
        self._pool = pool
        self._scopes = [_Scope(self, key) for key in discover_keys(live.config, entry)]
        self._bindings = EntryBindings()  # what the entry's objects become, read once a shape
        # per object: what it asked for, and its binding (None: it asked for something wrong)
        self.found: dict[tuple[WatchKey, ObjectKey], tuple[Choice, Binding | None]] = {}

    def start(self) -> None:
        for scope in self._scopes:
            self._pool.join_collection(scope.key, scope)

    def stop(self) -> None:
        for scope in self._scopes:
            self._pool.leave_collection(scope.key, scope)
        for _, binding in self.found.values():
            if binding is not None:
                self._live.remove_found(binding)
        self.found.clear()

    def refresh(self) -> None:
        """Look at every object again (the file's own bindings changed)."""
        explicit = self._live.explicit_objects()
        for place, (_, binding) in list(self.found.items()):
            if binding is None:
                del self.found[place]  # left out before (perhaps for the file's own binding)
            elif object_id(binding.spec) in explicit:
                self._live.remove_found(binding)
                del self.found[place]
        for scope in self._scopes:
            watch = self._pool.watches.get(scope.key)
            if watch is not None:
                watch.refresh()

    def on_object(self, key: WatchKey, obj: ObjectKey, body: JsonObject | None) -> None:
        place = (key, obj)
        choice = None if body is None else choice_of(self.entry, body)
        current = self.found.get(place)
        if current is not None and current[0] == choice:
            return  # asks for what it asked before: its binding follows it by itself
        if current is not None:
            del self.found[place]
            if current[1] is not None:
                self._live.remove_found(current[1])
        if choice is None:
            return
        found = self._bindings.found(self.entry, choice, prefix=self._live.config.mqtt.topic_prefix)
        for problem in found.problems:
            logger.error("discover: %s", problem)
        binding = None
        if found.binding is not None:
            binding = self._live.add_found(found.binding, key)
        self.found[place] = (choice, binding)

    def on_listed(self, key: WatchKey, objects: set[ObjectKey]) -> None:
        for place, (_, binding) in list(self.found.items()):
            if place[0] == key and place[1] not in objects:
                del self.found[place]
                if binding is not None:
                    self._live.remove_found(binding)


class Finders:
    """Every discovery entry of the file in use."""

    def __init__(self, config: Config, *, live: LiveBindings, pool: WatchPool) -> None:
        self._live = live
        self._pool = pool
        self.finders = [Finder(entry, live=live, pool=pool) for entry in config.discover]
        for finder in self.finders:
            finder.start()

    def reload(self, config: Config, *, rescan: bool) -> None:
        """The entries of a new file: unchanged ones keep what they found, changed ones find
        their objects again; with `rescan` (the file's own bindings name other objects now)
        every entry looks again, for objects the file took or let go."""
        old = {_same(finder.entry): finder for finder in self.finders}
        finders = []
        for entry in config.discover:
            finder = old.pop(_same(entry), None)
            if finder is None:
                finder = Finder(entry, live=self._live, pool=self._pool)
                finder.start()
            else:
                finder.entry = entry
                if rescan:
                    finder.refresh()
            finders.append(finder)
        for finder in old.values():
            finder.stop()
        self.finders = finders


def _same(entry: DiscoverSpec) -> DiscoverSpec:
    """The entry without its place in the file: moving it is no change."""
    return dataclasses.replace(entry, where="")

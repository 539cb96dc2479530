"""The bindings running now, and the one way to add, change and remove them.

Start-up, a live reload and discovery all go through `LiveBindings`. A binding comes with
its command routes (and their subscriptions), its place in a shared watch, its state
topics and its Home Assistant entities, and goes with all of them: routes and
subscriptions dropped, retained states and discovery configs cleared. A reload keeps what
stays: a topic that is still routed keeps its subscription, its queue and its worker (only
the handler behind it changes), so a steady stream of commands loses none and applies
none twice; a binding of the same object takes over what the old one knew of it, so no
list is needed and unchanged states are not published again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from mqtt_kube.bridge.binding import Binding
from mqtt_kube.bridge.commands import CommandHandler, CommandRouter
from mqtt_kube.bridge.metrics import CommandCounters
from mqtt_kube.bridge.recipe_commands import run_command
from mqtt_kube.bridge.stateboard import StateBoard
from mqtt_kube.bridge.watchpool import WatchPool
from mqtt_kube.config.model import BindingSpec, Config, RetainedPolicy, WatchKey, watch_key
from mqtt_kube.homeassistant.lifecycle import HomeAssistantDiscovery
from mqtt_kube.homeassistant.plan import binding_entities, build_plan
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.mqtt.connection import MqttConnection

logger = logging.getLogger(__name__)

ObjectId = tuple[str, str | None, str]  # (kind, namespace, name)


def object_id(spec: BindingSpec) -> ObjectId:
    return (spec.kind, spec.namespace, spec.name)  # the reader spells a built-in kind canonically


def command_topics(spec: BindingSpec) -> list[str]:
    return (
        [p.topic for p in spec.patch]
        + [a.topic for a in spec.action]
        + [c.topic for c in spec.command]
    )


def all_topics(spec: BindingSpec) -> list[str]:
    return [w.topic for w in spec.watch] + command_topics(spec)


class LiveBindings:
    """The bindings of the file and those discovery found, with everything they own."""

    def __init__(
        self,
        config: Config,
        *,
        client: KubeClient,
        board: StateBoard,
        counters: CommandCounters,
        router: CommandRouter,
        mqtt: MqttConnection,
        pool: WatchPool,
        discovery: HomeAssistantDiscovery | None,
    ) -> None:
        self.config = config
        self._client = client
        self._board = board
        self._counters = counters
        self._router = router
        self._mqtt = mqtt
        self._pool = pool
        self._discovery = discovery
        self.explicit: list[Binding] = []
        self.found: list[Binding] = []  # in the order they were found
        self._keys: dict[int, WatchKey] = {}  # id(binding) → its watch
        self._entities: dict[int, list[str]] = {}  # id(found binding) → its config topics
        self._owners: dict[str, Binding] = {}  # every topic of a live binding → the binding
        for spec in config.bindings:
            binding = self._new(spec)
            self.explicit.append(binding)
            self._add(binding, known=False, key=watch_key(config, spec))
        self._explicit_ids = frozenset(object_id(spec) for spec in config.bindings)

    @property
    def all(self) -> list[Binding]:
        return [*self.explicit, *self.found]

    def explicit_objects(self) -> frozenset[ObjectId]:
        """The objects the file binds itself (discovery leaves them to it)."""
        return self._explicit_ids

    # -- found by discovery ------------------------------------------------------------

    def add_found(self, spec: BindingSpec, key: WatchKey) -> Binding | None:
        """A binding for an object discovery found; None (logged) when it cannot be one."""
        if object_id(spec) in self.explicit_objects():
            logger.info("discover: %s has its own binding in the file; left to it", spec.label)
            return None
        for topic in all_topics(spec):
            owner = self._owners.get(topic)
            if owner is not None:
                logger.error(
                    "discover: %s left out: its topic %s is %s's already",
                    spec.label,
                    topic,
                    owner.spec.label,
                )
                return None
        binding = self._new(spec)
        self.found.append(binding)
        self._add(binding, known=True, key=key)
        if self._discovery is not None:
            entities, notes = binding_entities(self.config, spec)
            for note in notes:  # said per found object, so not a warning for each of many
                logger.info("discovery: %s", note)
            self._entities[id(binding)] = [entity.topic for entity in entities]
            self._discovery.change(
                {entity.topic: entity.encoded() for entity in entities},
                states=[watch.topic for watch in spec.watch],
            )
        logger.info("discover: %s added", spec.label)
        return binding

    def remove_found(self, binding: Binding) -> None:
        if binding not in self.found:
            return
        self.found.remove(binding)
        self._remove(binding, keep=set())
        topics = self._entities.pop(id(binding), [])
        if self._discovery is not None and topics:
            self._discovery.change(dict.fromkeys(topics))
        logger.info("discover: %s removed", binding.spec.label)

    # -- a new file --------------------------------------------------------------------

    def reload(self, config: Config) -> tuple[int, int, int]:
        """Run `config`'s bindings instead of the current file's: (added, changed, removed)."""
        old = {ident: b for ident, b in _identified(self.explicit)}
        fresh = _identified([self._new(spec) for spec in config.bindings])
        keep = {topic for _, b in fresh for topic in all_topics(b.spec)}
        keep.update(topic for b in self.found for topic in all_topics(b.spec))
        added = changed = 0
        wanted_states: list[str] = []
        for ident, binding in fresh:
            before = old.pop(ident, None)
            known = before is not None and binding.take_over(before)
            if before is None or before.spec.raw != binding.spec.raw:
                added += before is None
                changed += before is not None
                wanted_states += [watch.topic for watch in binding.spec.watch]
            # The new one joins before the old one leaves: a watch never loses its last member.
            self._add(binding, known=known, key=watch_key(config, binding.spec))
            if before is not None:
                self._remove(before, keep=keep)
        for before in old.values():
            self._remove(before, keep=keep)
        self.explicit = [binding for _, binding in fresh]
        self._explicit_ids = frozenset(object_id(spec) for spec in config.bindings)
        self.config = config
        if self._discovery is not None:
            self._announce(wanted_states)
        return added, changed, len(old)

    def _announce(self, states: Iterable[str]) -> None:
        assert self._discovery is not None
        before = self._discovery.plan.messages()
        plan = build_plan(self.config)
        for note in plan.notes:
            logger.warning("discovery: %s", note)
        after = plan.messages()
        changes: dict[str, str | None] = {t: None for t in before if t not in after}
        changes.update({t: p for t, p in after.items() if before.get(t) != p})
        self._discovery.plan = plan
        self._discovery.change(changes, states=states)

    # -- shared --------------------------------------------------------------------------

    def _new(self, spec: BindingSpec) -> Binding:
        return Binding(spec, client=self._client, board=self._board, counters=self._counters)

    def _add(self, binding: Binding, *, known: bool, key: WatchKey) -> None:
        spec = binding.spec
        for patch in spec.patch:
            handler = partial(binding.apply_patch, patch)
            self._route(patch.topic, handler, coalesce=True, retained=patch.retained, spec=spec)
        for action in spec.action:
            handler = partial(binding.run_action, action)
            self._route(action.topic, handler, coalesce=False, retained=action.retained, spec=spec)
        for command in spec.command:
            handler = partial(run_command, binding, command)
            power = command.operation == "power"  # a desired state: the last wins
            self._route(
                command.topic, handler, coalesce=power, retained=command.retained, spec=spec
            )
        for topic in all_topics(spec):
            self._owners[topic] = binding
        if spec.watch:
            self._keys[id(binding)] = key
            self._pool.join(key, binding, known=known)

    def _route(
        self,
        topic: str,
        handler: CommandHandler,
        *,
        coalesce: bool,
        retained: RetainedPolicy,
        spec: BindingSpec,
    ) -> None:
        self._router.add(topic, handler, coalesce=coalesce, retained=retained, label=spec.label)
        self._mqtt.add_subscription(topic, qos=1)

    def _remove(self, binding: Binding, *, keep: set[str]) -> None:
        spec = binding.spec
        for topic in command_topics(spec):
            if topic not in keep:
                self._router.remove(topic)
                self._mqtt.remove_subscription(topic)
        key = self._keys.pop(id(binding), None)
        if key is not None:
            self._pool.leave(key, binding)
        for watch in spec.watch:
            if watch.topic not in keep:
                self._board.forget(watch.topic)
        for topic in all_topics(spec):
            if self._owners.get(topic) is binding:
                del self._owners[topic]


def _identified(bindings: list[Binding]) -> list[tuple[tuple[ObjectId, int], Binding]]:
    """Each binding with its identity across reloads: its object, and which of the bindings
    of that object it is (several may name one object)."""
    seen: dict[ObjectId, int] = {}
    out = []
    for binding in bindings:
        ident = object_id(binding.spec)
        seen[ident] = seen.get(ident, 0) + 1
        out.append(((ident, seen[ident]), binding))
    return out

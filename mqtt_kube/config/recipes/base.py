"""The pieces every recipe is made of: its place in the file, its topics, its associations.

A recipe is a function of a `RecipeTarget` (the object, its topic base, where it was
named) that fills an `Expansion` with the ordinary associations a binding could have
written by hand (watches, patches, actions), plus the computed commands
(`CommandSpec`) that no map can express. Each association gets a stable leaf topic under
the binding's topic base, and an `EntityHint` saying how Home Assistant should show it.
A recipe's loci and value maps are the same for every object it applies to, so each is
compiled once and shared (both are immutable): thousands of bindings with one recipe,
written in the file or found by discovery, compile its lambda once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mqtt_kube.config.collisions import Role
from mqtt_kube.config.model import (
    ActionSpec,
    CommandOperation,
    CommandSpec,
    EntityHint,
    PatchSpec,
    RetainedPolicy,
    WatchSpec,
)
from mqtt_kube.core.locus import Locus
from mqtt_kube.core.template import LaunchTemplate
from mqtt_kube.core.valuemap import ValueMap

# What a power switch or a Node's and CronJob's switch publish as state, and accept.
ON = "ON"
OFF = "OFF"
PRESS = "PRESS"  # what a recipe's button sends


@dataclass(frozen=True)
class RecipeTarget:
    """The object a binding's recipes act on, and where their topics go."""

    kind: str  # the built-in kind's own spelling: "Deployment"
    name: str
    namespace: str | None
    base: str  # the topic base, prefix already joined: "home/kube/deployment/media/x"
    where: str  # "bindings[0].recipe", for logs and `mqtt-kube check`
    launch: LaunchTemplate | None = None  # the binding's `launch:` (the job recipe's)

    def topic(self, leaf: str) -> str:
        return f"{self.base}/{leaf}"


@dataclass
class Expansion:
    """What a binding's recipes add to it, in the order they were named."""

    watch: list[WatchSpec] = field(default_factory=list)
    patch: list[PatchSpec] = field(default_factory=list)
    action: list[ActionSpec] = field(default_factory=list)
    command: list[CommandSpec] = field(default_factory=list)

    def topics(self) -> list[tuple[Role, str]]:
        """(role, topic) of every association, for the collision check."""
        found: list[tuple[Role, str]] = [("watch", spec.topic) for spec in self.watch]
        found += [("patch", spec.topic) for spec in self.patch]
        found += [("action", spec.topic) for spec in self.action]
        found += [("patch", spec.topic) for spec in self.command]
        return found


def _values(values: dict[Any, Any] | None) -> ValueMap:
    """The compiled map of a recipe's `values`, shared by every binding that uses it."""
    if values is None:
        return _compiled(())
    # Keyed with the types: 0 and False (or 1 and True) are equal keys, not equal maps.
    return _compiled(tuple((type(k), k, type(v), v) for k, v in values.items()))


@lru_cache(maxsize=256)
def _compiled(items: tuple[tuple[type, Any, type, Any], ...]) -> ValueMap:
    return ValueMap.from_config({k: v for _, k, _, v in items} if items else None)


@lru_cache(maxsize=256)
def _locus(text: str) -> Locus:
    return Locus.parse(text)


class Builder:
    """Adds one recipe's associations to an expansion, each named after its recipe."""

    def __init__(self, target: RecipeTarget, recipe: str, into: Expansion) -> None:
        self.target = target
        self.recipe = recipe
        self.into = into

    def _where(self, role: str) -> str:
        return f"{self.target.where}[{self.recipe}].{role}"

    def watch(
        self,
        locus: str,
        leaf: str,
        hint: EntityHint,
        values: dict[Any, Any] | None = None,
    ) -> WatchSpec:
        spec = WatchSpec(
            where=self._where(f"watch {leaf}"),
            locus=_locus(locus),
            topic=self.target.topic(leaf),
            values=_values(values),
            retain=True,  # a state: a new subscriber should see it at once
            hint=hint,
        )
        self.into.watch.append(spec)
        return spec

    def patch(self, locus: str, leaf: str, values: dict[Any, Any], hint: EntityHint) -> PatchSpec:
        spec = PatchSpec(
            where=self._where(f"patch {leaf}"),
            topic=self.target.topic(leaf),
            locus=_locus(locus),
            values=_values(values),
            hint=hint,
        )
        self.into.patch.append(spec)
        return spec

    def command(
        self,
        operation: CommandOperation,
        leaf: str,
        values: dict[Any, Any],
        hint: EntityHint,
        *,
        retained: RetainedPolicy = "ignore",
        state: WatchSpec | None = None,
    ) -> CommandSpec:
        spec = CommandSpec(
            where=self._where(f"command {leaf}"),
            topic=self.target.topic(leaf),
            operation=operation,
            values=_values(values),
            retained=retained,
            state=state,
            hint=hint,
        )
        self.into.command.append(spec)
        return spec

    def action(
        self, leaf: str, values: dict[Any, Any], hint: EntityHint, *, launch: LaunchTemplate
    ) -> ActionSpec:
        spec = ActionSpec(
            where=self._where(f"action {leaf}"),
            topic=self.target.topic(leaf),
            launch=launch,
            values=_values(values),
            raw={"topic": self.target.topic(leaf)},
            hint=hint,
        )
        self.into.action.append(spec)
        return spec

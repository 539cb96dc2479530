"""The `bindings:` list as BindingSpecs: each binding's head, kind and associations.

A mistake in one binding or association is recorded and the walk goes on, so every
binding's mistakes are reported together. Every topic is kept with its path, for
`mqtt_kube.config.collisions` to refuse the ones that collide.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from mqtt_kube.config import validators as v
from mqtt_kube.config.collisions import Role, TopicUse
from mqtt_kube.config.model import ActionSpec, BindingSpec, PatchSpec, WatchSpec
from mqtt_kube.config.problems import Problems
from mqtt_kube.config.recipes import (
    Expansion,
    RecipeError,
    RecipeTarget,
    expand,
    recipe_names,
    topic_base,
)
from mqtt_kube.config.schemas import (
    ACTION_OUTPUTS,
    ASSOCIATION_SCHEMAS,
    ASSOCIATIONS,
    BINDING_SCHEMA,
    CONF_ACTION,
    CONF_BINDINGS,
    CONF_HOMEASSISTANT,
    CONF_LAUNCH,
    CONF_LOCUS,
    CONF_PATCH,
    CONF_RECIPE,
    CONF_TOPIC,
    CONF_VALUES,
    CONF_WATCH,
)
from mqtt_kube.config.yaml_file import LineDict, LineList, PathPart, format_path, plain
from mqtt_kube.core.kinds import BUILTIN_KINDS, builtin_kind
from mqtt_kube.core.locus import Locus
from mqtt_kube.core.template import LaunchTemplate
from mqtt_kube.core.valuemap import ValueMap


class BindingsReader:
    """Reads the bindings of one file into specs, reporting into its `Problems`."""

    def __init__(self, problems: Problems, *, prefix: str | None) -> None:
        self.problems = problems
        self.prefix = prefix
        self.topics: list[TopicUse] = []

    def read(self, value: Any) -> tuple[BindingSpec, ...]:
        if value is None:
            return ()  # missing: ROOT_SCHEMA said so; `bindings: []` or `~` is an empty list
        if not isinstance(value, LineList):
            self.problems.problem(
                [CONF_BINDINGS], f"expected a list of bindings, got {v.describe(value)}"
            )
            return ()
        built = (self._binding(item, index) for index, item in enumerate(value))
        return tuple(binding for binding in built if binding is not None)

    def _binding(self, item: Any, index: int) -> BindingSpec | None:
        where: list[PathPart] = [CONF_BINDINGS, index]
        raw = plain(item)
        if isinstance(item, LineDict):
            for key in ASSOCIATIONS:
                if isinstance(item.get(key), LineDict):
                    item[key] = _listed(item[key])
        head = self.problems.check(BINDING_SCHEMA, item, where)
        associations = {
            key: self._associations(item.get(key), [*where, key])
            for key in ASSOCIATIONS
            if isinstance(item, Mapping)
        }
        if head is None:
            return None
        kind, api_version = self._kind(head, where)
        watch = associations.get(CONF_WATCH, ())
        patch = associations.get(CONF_PATCH, ())
        action = associations.get(CONF_ACTION, ())
        if kind is None:
            return None
        recipes, base, expansion = self._recipes(head, kind, where)
        return BindingSpec(
            where=format_path(where),
            kind=kind,
            name=head["name"],
            namespace=head.get("namespace"),
            api_version=api_version,
            watch=(
                *expansion.watch,
                *(spec for spec in watch if isinstance(spec, WatchSpec)),
            ),
            patch=(
                *expansion.patch,
                *(spec for spec in patch if isinstance(spec, PatchSpec)),
            ),
            action=(
                *expansion.action,
                *(spec for spec in action if isinstance(spec, ActionSpec)),
            ),
            command=tuple(expansion.command),
            recipes=recipes,
            topic=base,
            homeassistant=head.get(CONF_HOMEASSISTANT),
            raw=raw,
        )

    def _recipes(
        self, head: dict[str, Any], kind: str, where: list[PathPart]
    ) -> tuple[tuple[str, ...], str | None, Expansion]:
        """The binding's recipes, its topic base and what they add (nothing on a mistake)."""
        value = head.get(CONF_RECIPE)
        if value is None:
            for key in (CONF_TOPIC, CONF_LAUNCH):
                if head.get(key) is not None:
                    self.problems.problem(
                        [*where, key], f"`{key}:` on a binding belongs to its recipes: add one"
                    )
            return (), None, Expansion()
        base = v.join_topic(
            self.prefix,
            topic_base(kind, head.get("namespace"), head["name"], given=head.get(CONF_TOPIC)),
        )
        target = RecipeTarget(
            kind=kind,
            name=head["name"],
            namespace=head.get("namespace"),
            base=base,
            where=format_path([*where, CONF_RECIPE]),
            launch=head.get(CONF_LAUNCH),
        )
        try:
            names = recipe_names(plain(value))
            expansion = expand(names, target)
        except RecipeError as exc:
            place: list[PathPart] = [*where, exc.key]
            if exc.key == CONF_RECIPE and exc.index is not None:
                place.append(exc.index)
            self.problems.problem(place, str(exc))
            return (), None, Expansion()
        place = [*where, CONF_RECIPE]
        for role, topic in expansion.topics():
            if self.problems.check(v.check_topic, topic, place) is not None:
                self.topics.append(TopicUse(role, topic, (*place, role)))
        return names, base, expansion

    def _kind(self, head: dict[str, Any], where: list[PathPart]) -> tuple[str | None, str | None]:
        kind: str = head["resource"]
        api_version: str | None = head.get("apiVersion")
        namespace = head.get("namespace")
        info = builtin_kind(kind, api_version)
        if info is None:
            if api_version is None:
                self.problems.problem([*where, "resource"], unknown_kind(kind))
                return None, None
            return kind, api_version
        if info.namespaced and not namespace:
            self.problems.problem(
                [*where, "namespace"], f"{info.kind} is namespaced: add its namespace"
            )
        if not info.namespaced and namespace:
            self.problems.problem(
                [*where, "namespace"], f"{info.kind} is cluster-scoped: remove the namespace"
            )
        return info.kind, api_version

    def _associations(
        self, value: Any, where: list[PathPart]
    ) -> tuple[WatchSpec | PatchSpec | ActionSpec | None, ...]:
        if value is None:
            return ()
        key = where[-1]
        if not isinstance(value, LineList):
            self.problems.problem(
                where, f"expected a {key} mapping or a list of them, got {v.describe(value)}"
            )
            return ()
        schema = ASSOCIATION_SCHEMAS[str(key)]
        specs = []
        for index, item in enumerate(value):
            place = [*where, index]
            spec = self.problems.check(schema, item, place)
            if spec is not None:
                specs.append(self._association(str(key), spec, item, place))
        return tuple(specs)

    def _association(
        self,
        key: str,
        spec: dict[str, Any],
        item: LineDict,
        where: list[PathPart],
    ) -> WatchSpec | PatchSpec | ActionSpec | None:
        topic = v.join_topic(self.prefix, spec[CONF_TOPIC])
        if self.problems.check(v.check_topic, topic, [*where, CONF_TOPIC]) is None:
            return None
        role: Role = "watch" if key == CONF_WATCH else "patch" if key == CONF_PATCH else "action"
        self.topics.append(TopicUse(role, topic, (*where, CONF_TOPIC)))
        values: ValueMap = spec.get(CONF_VALUES) or ValueMap.from_config(None)
        if values.uses_format:
            self.problems.warn(
                [*where, CONF_VALUES, "format"],
                "'format' has no effect (the original ignored it too); it can be removed",
            )
        place = format_path(where)
        if key == CONF_WATCH:
            qos, retain = spec.get("qos"), spec.get("retain")
            return WatchSpec(
                where=place,
                locus=spec[CONF_LOCUS],
                topic=topic,
                values=values,
                qos=1 if qos is None else qos,
                retain=bool(retain),
            )
        if key == CONF_PATCH:
            locus: Locus = spec[CONF_LOCUS]
            if not locus.field_path:
                self.problems.problem(
                    [*where, CONF_LOCUS],
                    f"a patch locus must name one field (like spec.replicas), not a query: "
                    f"{locus.expression!r}",
                )
                return None
            return PatchSpec(
                where=place,
                topic=topic,
                locus=locus,
                values=values,
                retained=spec.get("retained") or "apply",
            )
        launch: LaunchTemplate | None = spec.get(CONF_LAUNCH)
        long_form = isinstance(item.get(CONF_VALUES), Mapping) and v.is_long_form(item[CONF_VALUES])
        map_path: list[PathPart] = [*where, CONF_VALUES, *(["map"] if long_form else [])]
        for entry in values.entries:
            if entry.output not in ACTION_OUTPUTS:
                # A warning, not a problem: the original's own README maps "STOP" to
                # "create", and configs written for it must keep loading.
                self.problems.warn(
                    [*map_path, entry.key],
                    "an action maps payloads to 'launch' or 'delete', "
                    f"not {v.describe(entry.output)}; such payloads will be ignored",
                )
        launches = not values.has_map or any(e.output == "launch" for e in values.entries)
        if launches and launch is None:
            self.problems.problem(
                [*where, CONF_LAUNCH],
                "required: a template file to launch (the map has 'launch', or there is no map)",
            )
        return ActionSpec(
            where=place,
            topic=topic,
            launch=launch,
            values=values,
            retained=spec.get("retained") or "ignore",
            raw=plain(item),
        )


def _listed(item: LineDict) -> LineList:
    """A single association mapping, as the one-item list it stands for."""
    listed = LineList([item])
    listed.line = item.line
    listed.lines = [item.line or 0]
    return listed


def unknown_kind(kind: str) -> str:
    """The problem of a kind that is not built in and has no apiVersion, with a close match."""
    message = f"unknown kind {kind!r}: add apiVersion for a custom resource"
    close = difflib.get_close_matches(kind, list(BUILTIN_KINDS), n=1)
    if close:
        message += f" (or did you mean the built-in {close[0]!r}?)"
    return message

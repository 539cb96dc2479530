"""The `discover:` list, and the binding each found object becomes.

An entry names a kind, where to look (`namespace`, `namespaces`, or every namespace), an
optional label selector and optional recipes. An object in scope takes part when the entry
names a recipe or the object carries the `mqtt-kube.io/recipe` annotation; when both are
there the annotation wins (the object's owner said what it wants). `choice_of` reads what
an object asks for (on every event, so it is cheap); `found_binding` turns that into the
raw mapping a user would have written under `bindings:` and reads it with the same
`BindingsReader`, so a found object is held to every rule of the file; its problems name
the object and the annotation they came from. `EntryBindings` gives the same bindings
without reading each found object again: what objects of one namespace asking for the
same recipes and overrides become is read once, and only what depends on the name (the
name's check, the recipes' topics) is redone for each object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import voluptuous as vol

from mqtt_kube.config import validators as v
from mqtt_kube.config.bindings import BindingsReader, unknown_kind
from mqtt_kube.config.model import BindingSpec, DiscoverSpec
from mqtt_kube.config.problems import Problems
from mqtt_kube.config.recipes import RECIPES, RecipeTarget, expand, topic_base
from mqtt_kube.config.schemas import CONF_BINDINGS, CONF_DISCOVER, CONF_RECIPE
from mqtt_kube.config.selector import parse_selector
from mqtt_kube.config.yaml_file import LineDict, LineList, PathPart, format_path, plain
from mqtt_kube.core.errors import ConfigProblem
from mqtt_kube.core.kinds import builtin_kind

RECIPE_ANNOTATION: Final = "mqtt-kube.io/recipe"
NAME_ANNOTATION: Final = "mqtt-kube.io/name"
ICON_ANNOTATION: Final = "mqtt-kube.io/icon"
_ANNOTATED: Final = {"recipe": RECIPE_ANNOTATION, "name": NAME_ANNOTATION, "icon": ICON_ANNOTATION}


def _selector(value: Any) -> str:
    text = v.nonempty_text(value)
    try:
        parse_selector(text)
    except ValueError as exc:
        raise vol.Invalid(f"not a label selector: {exc}") from None
    return text


def _namespaces(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise vol.Invalid(f"expected a list of namespaces, got {v.describe(value)}")
    return tuple(v.namespace_name(item) for item in value)


DISCOVER_SCHEMA = v.Strict(
    {
        vol.Required("resource"): v.nonempty_text,
        vol.Optional("apiVersion"): v.optional(v.api_version_name),
        vol.Optional("namespace"): v.optional(v.namespace_name),
        vol.Optional("namespaces"): v.optional(_namespaces),
        vol.Optional("selector"): v.optional(_selector),
        vol.Optional("recipe"): v.optional(v.text_list),
    },
    what="a discover entry",
)


def read_discover(
    problems: Problems, value: Any, *, prefix: str | None
) -> tuple[DiscoverSpec, ...]:
    """The entries of `discover:`, every mistake recorded in `problems`."""
    if value is None:
        return ()
    if not isinstance(value, LineList):
        problems.problem([CONF_DISCOVER], f"expected a list of entries, got {v.describe(value)}")
        return ()
    entries = (
        _entry(problems, item, [CONF_DISCOVER, index], prefix) for index, item in enumerate(value)
    )
    return tuple(entry for entry in entries if entry is not None)


def _entry(
    problems: Problems, item: Any, where: list[PathPart], prefix: str | None
) -> DiscoverSpec | None:
    spec = problems.check(DISCOVER_SCHEMA, item, where)
    if spec is None:
        return None
    kind: str = spec["resource"]
    api_version: str | None = spec.get("apiVersion")
    info = builtin_kind(kind, api_version)
    if info is None and api_version is None:
        problems.problem([*where, "resource"], unknown_kind(kind))
        return None
    namespaced = info.namespaced if info is not None else True
    one, many = spec.get("namespace"), spec.get("namespaces")
    if one and many:
        problems.problem([*where, "namespaces"], "give namespace or namespaces, not both")
        return None
    namespaces = (one,) if one else many
    if not namespaced and namespaces:
        problems.problem(
            [*where, "namespace" if one else "namespaces"],
            f"{info and info.kind} is cluster-scoped: remove it",
        )
        return None
    entry = DiscoverSpec(
        where=format_path(where),
        kind=info.kind if info is not None else kind,
        api_version=api_version,
        namespaces=namespaces,
        selector=parse_selector(spec.get("selector") or ""),
        recipe=tuple(spec.get("recipe") or ()),
    )
    if entry.recipe:
        # The entry's recipes on a stand-in object: a wrong name is refused now, at its line.
        probe = _raw(entry, "example", "default" if namespaced else None, entry.recipe, {})
        _, found = _read(probe, prefix=prefix, source=problems.source)
        for problem in found:
            if problem.path.startswith("bindings[0].recipe"):
                problems.problem([*where, "recipe"], problem.message)
    return entry


@dataclass(frozen=True)
class Choice:
    """What an object's labels and annotations ask of one entry (cheap to compare: it is
    worked out on every event, the binding only when it changes)."""

    namespace: str | None
    name: str
    recipes: tuple[str, ...]
    overrides: tuple[tuple[str, str], ...] = ()  # homeassistant name, icon
    annotated: bool = False  # the recipes came from the annotation


@dataclass(frozen=True)
class Found:
    """What one object of a discovery entry becomes: a binding, or why it is not one."""

    binding: BindingSpec | None
    problems: tuple[str, ...] = ()


def choice_of(entry: DiscoverSpec, body: Mapping[str, Any]) -> Choice | None:
    """What `body` asks of `entry`; None when it does not take part."""
    metadata = body.get("metadata") or {}
    if not entry.selector.matches(metadata.get("labels")):
        return None
    annotations: Mapping[str, Any] = metadata.get("annotations") or {}
    annotated = annotations.get(RECIPE_ANNOTATION)
    if annotated is not None:
        text = str(annotated).strip()
        if not text:
            return None  # an empty annotation leaves the object out, whatever the entry says
        # Empty names between commas stay, so the reader refuses them as in the file.
        recipes = tuple(part.strip() for part in text.split(","))
    else:
        recipes = entry.recipe
    if not recipes:
        return None
    overrides = tuple(
        (key, str(annotations[annotation]))
        for key, annotation in _ANNOTATED.items()
        if key != "recipe" and annotation in annotations
    )
    namespace = metadata.get("namespace")
    name = str(metadata.get("name", ""))
    return Choice(namespace, name, recipes, overrides, annotated is not None)


def found_binding(entry: DiscoverSpec, choice: Choice, *, prefix: str | None) -> Found:
    """The binding `choice` makes, read as if it were written under `bindings:`."""
    raw = _raw(entry, choice.name, choice.namespace, choice.recipes, dict(choice.overrides))
    label = (
        f"{entry.kind} {choice.namespace}/{choice.name}"
        if choice.namespace
        else f"{entry.kind} {choice.name}"
    )
    binding, found = _read(raw, prefix=prefix, source=label)
    if found or binding is None:
        return Found(None, tuple(_explain(p, label, entry, choice.annotated) for p in found))
    return Found(dataclasses.replace(binding, where=entry.where))  # where it came from


_STAND_IN: Final = "x"  # the name a shape is read with: short, and valid everywhere
_SHAPES_KEPT: Final = 256  # per-object overrides (a name annotation) make shapes of one
Shape = tuple[str | None, str | None, tuple[str, ...], tuple[tuple[str, str], ...]]


class EntryBindings:
    """`found_binding` for the objects of one entry, each shape read once.

    A shape is what the binding depends on besides the object's name: the topic prefix,
    the namespace, the recipes and the overrides. Its binding is read once, with a stand-in
    name, by the same `BindingsReader` as the file's; each object then gets that binding
    with its own name and the topics of its own topic base. A shape with a problem, or a
    name that fails a check the stand-in passed, is read in full (`found_binding`), so the
    problems are those a full read names.
    """

    def __init__(self) -> None:
        self._shapes: dict[tuple[DiscoverSpec, Shape], BindingSpec | None] = {}

    def found(self, entry: DiscoverSpec, choice: Choice, *, prefix: str | None) -> Found:
        shape: Shape = (prefix, choice.namespace, choice.recipes, choice.overrides)
        key = (entry, shape)
        if key not in self._shapes:
            if len(self._shapes) >= _SHAPES_KEPT:
                self._shapes.clear()
            raw = _raw(entry, _STAND_IN, choice.namespace, choice.recipes, dict(choice.overrides))
            self._shapes[key], _ = _read(raw, prefix=prefix, source="")
        spec = self._shapes[key]
        named = None if spec is None else _named(spec, choice.name, prefix=prefix)
        if named is None:
            return found_binding(entry, choice, prefix=prefix)
        return Found(dataclasses.replace(named, where=entry.where))


def _named(spec: BindingSpec, name: str, *, prefix: str | None) -> BindingSpec | None:
    """`spec` (a found binding read with the stand-in name) for the object `name`, as the
    reader would give it; None when the name or one of its topics fails a check."""
    try:
        v.object_name(name)
        base = v.join_topic(prefix, topic_base(spec.kind, spec.namespace, name))
        target = RecipeTarget(
            kind=spec.kind,
            name=name,
            namespace=spec.namespace,
            base=base,
            where=format_path([CONF_BINDINGS, 0, CONF_RECIPE]),
        )
        expansion = expand(spec.recipes, target)
        for _, topic in expansion.topics():
            v.check_topic(topic)
    except (vol.Invalid, ValueError):
        return None
    raw = plain(spec.raw)
    raw["name"] = name
    overrides = spec.homeassistant
    return dataclasses.replace(
        spec,
        name=name,
        topic=base,
        watch=tuple(expansion.watch),
        patch=tuple(expansion.patch),
        action=tuple(expansion.action),
        command=tuple(expansion.command),
        homeassistant=dict(overrides) if isinstance(overrides, dict) else overrides,
        raw=raw,
    )


def stand_ins(entry: DiscoverSpec, *, prefix: str | None) -> list[BindingSpec]:
    """A binding like those the entry may make, one per namespace it looks in (a name
    stands in for the objects it will find), with every recipe it may apply: its own, or,
    without any, each recipe of its kind that an annotation can ask for. For `mqtt-kube
    rbac`, which grants what these would do on any object of the entry's scope."""
    recipes = entry.recipe or tuple(
        name
        for name, recipe in RECIPES.items()
        if entry.kind in recipe.kinds and not recipe.needs_launch
    )
    if not recipes:
        return []
    info = builtin_kind(entry.kind, entry.api_version)
    namespaced = info.namespaced if info is not None else True
    places: tuple[str | None, ...] = (entry.namespaces or ("default",)) if namespaced else (None,)
    specs = []
    for namespace in places:
        spec, _ = _read(_raw(entry, "x", namespace, recipes, {}), prefix=prefix, source="")
        if spec is not None:
            specs.append(spec)
    return specs


def _raw(
    entry: DiscoverSpec,
    name: str,
    namespace: str | None,
    recipes: tuple[str, ...],
    overrides: dict[str, Any],
) -> dict[str, Any]:
    raw: dict[str, Any] = {"resource": entry.kind, "name": name, "recipe": list(recipes)}
    if entry.api_version is not None:
        raw["apiVersion"] = entry.api_version
    if namespace:
        raw["namespace"] = namespace
    if overrides:
        raw["homeassistant"] = overrides
    return raw


def _read(
    raw: dict[str, Any], *, prefix: str | None, source: str
) -> tuple[BindingSpec | None, list[ConfigProblem]]:
    """`raw` read as the one item of a `bindings:` list."""
    item = _lined(raw)
    listed = LineList([item])
    listed.lines = [0]
    problems = Problems(listed, source=source, problems=[])
    reader = BindingsReader(problems, prefix=prefix)
    bindings = reader.read(listed)
    if problems.problems or not bindings:
        return None, problems.sorted()
    return bindings[0], []


def _lined(data: Any) -> Any:
    """Plain data as the loader's LineDict/LineList (without lines), as the reader expects."""
    if isinstance(data, dict):
        lined = LineDict({key: _lined(value) for key, value in data.items()})
        return lined
    if isinstance(data, list):
        items = LineList([_lined(item) for item in data])
        items.lines = [0] * len(items)
        return items
    return plain(data)


def _explain(problem: ConfigProblem, label: str, entry: DiscoverSpec, annotated: bool) -> str:
    """A problem of a found object, named by the object and what it came from."""
    path = problem.path.removeprefix("bindings[0]").lstrip(".")
    head = path.split(".", 1)[0].split("[", 1)[0]
    if head == "recipe" and annotated:
        return f"{label}: annotation {RECIPE_ANNOTATION}: {problem.message}"
    if head == "homeassistant":
        key = path.split(".")[1] if "." in path else ""
        annotation = _ANNOTATED.get(key)
        if annotation is not None:
            return f"{label}: annotation {annotation}: {problem.message}"
    where = f" {path}:" if path else ""
    return f"{label} (found by {entry.where}):{where} {problem.message}"

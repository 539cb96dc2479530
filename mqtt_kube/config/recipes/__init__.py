"""Recipes: ready-made associations a binding names instead of writing maps.

`recipe: power` or `recipe: [power, restart]` on a binding expands, here in the config
layer, into the watches, patches, actions and computed commands the binding would
otherwise need, each on a stable leaf topic under the binding's topic base (`topic:`,
by default `<kind>/<namespace>/<name>`, under `mqtt.topic-prefix`). The bridge runs them
like any association, and `mqtt-kube rbac` derives its rules from them.

Bindings, the file's own and those discovery makes of the objects it finds, go through
`mqtt_kube.config.bindings`, which calls `recipe_names`, `topic_base` and `expand` with
their places.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from mqtt_kube.config.recipes.base import Builder, Expansion, RecipeTarget
from mqtt_kube.config.recipes.batch import cronjob, job
from mqtt_kube.config.recipes.node import node
from mqtt_kube.config.recipes.workloads import power, restart

__all__ = [
    "RECIPES",
    "Expansion",
    "Recipe",
    "RecipeError",
    "RecipeTarget",
    "expand",
    "recipe_names",
    "topic_base",
]


@dataclass(frozen=True)
class Recipe:
    """One recipe: the kinds it applies to, and what it adds."""

    kinds: tuple[str, ...]
    build: Callable[[Builder], None]
    needs_launch: bool = False


RECIPES: Final[dict[str, Recipe]] = {
    "power": Recipe(("Deployment", "StatefulSet"), power),
    "restart": Recipe(("Deployment", "StatefulSet", "DaemonSet"), restart),
    "cronjob": Recipe(("CronJob",), cronjob),
    "job": Recipe(("Job",), job, needs_launch=True),
    "node": Recipe(("Node",), node),
}


class RecipeError(ValueError):
    """A recipe that cannot apply; `key` is the binding key it concerns, `index` the name's."""

    def __init__(self, message: str, *, key: str = "recipe", index: int | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.index = index


def recipe_names(value: object) -> tuple[str, ...]:
    """The names of `recipe: power` or `recipe: [power, restart]`, each known and once.

    Also reads the comma-separated form annotations use (`power,restart`).
    """
    if isinstance(value, str):
        names: list[object] = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        names = list(value)
    else:
        raise RecipeError(f"expected a recipe name or a list of them ({_known()})")
    if not names:
        raise RecipeError(f"an empty list names no recipe ({_known()})")
    seen: set[str] = set()
    for index, name in enumerate(names):
        at = index if isinstance(value, list) else None
        if not isinstance(name, str) or name not in RECIPES:
            raise RecipeError(f"unknown recipe {name!r} ({_known()})", index=at)
        if name in seen:
            raise RecipeError(f"recipe {name!r} is named twice", index=at)
        seen.add(name)
    return tuple(str(name) for name in names)


def topic_base(kind: str, namespace: str | None, name: str, *, given: str | None = None) -> str:
    """A binding's topic base before the prefix: `given`, or `<kind>/<namespace>/<name>`."""
    if given:
        return given.strip("/")
    parts = [kind.lower(), *([namespace] if namespace else []), name]
    return "/".join(parts)


def expand(names: tuple[str, ...], target: RecipeTarget) -> Expansion:
    """The associations `names` add to the binding of `target`; RecipeError if one cannot."""
    for index, name in enumerate(names):
        recipe = RECIPES[name]
        if target.kind not in recipe.kinds:
            fitting = ", ".join(n for n, r in RECIPES.items() if target.kind in r.kinds)
            raise RecipeError(
                f"recipe {name!r} is for {' and '.join(recipe.kinds)}, not {target.kind} "
                f"(for {target.kind}: {fitting or 'none'})",
                index=index,
            )
        if recipe.needs_launch and target.launch is None:
            raise RecipeError(
                f"recipe {name!r} needs the binding's `launch:`, the template of the {target.kind} "
                "to run (launch: !relpath job.yaml)",
                index=index,
            )
    if target.launch is not None and not any(RECIPES[n].needs_launch for n in names):
        raise RecipeError(
            "`launch:` on a binding is the job recipe's template; without it, write the "
            "template in an action (action: {topic: ..., launch: ...})",
            key="launch",
        )
    expansion = Expansion()
    for name in names:
        RECIPES[name].build(Builder(target, name, expansion))
    return expansion


def _known() -> str:
    return "known: " + ", ".join(RECIPES)

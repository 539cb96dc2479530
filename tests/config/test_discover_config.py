"""The `discover:` list and label selectors, in the config layer (nothing runs).

Covered: every key of an entry; `namespace` and `namespaces`; a file with only a discover
list; mistakes refused with their file:line (unknown kind, both namespace keys, a namespace
on a cluster-scoped kind, a recipe its kind cannot take, a selector that is not one, an
unknown key) while the rest is still read; label selectors as `kubectl -l` writes them
(equality, inequality, exists, `!key`, `in`, `notin`, prefixed keys) and the ones it
refuses; what an object asks for (the entry's recipes, the annotation's, which wins, the
name and icon annotations, a selector that does not match); the binding a found object
becomes, read by the same reader; its problems named by object and annotation; the watch
keys of an entry in each watch scope.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.config.discover import Choice, choice_of, found_binding
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config, DiscoverSpec, discover_keys
from mqtt_kube.config.selector import parse_selector
from mqtt_kube.core.errors import ConfigError

HEAD = "mqtt:\n  client-id: kube\n  topic-prefix: home/kube\n"


def load(tmp_path: Path, body: str, head: str = HEAD) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(head + body)
    return load_config(path)


def problems(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    return [f"{p.line}: {p.path}: {p.message}" for p in caught.value.problems]


def obj(name: str, **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "media", **metadata}}


def test_every_key_of_an_entry_is_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "discover:\n  - resource: deployment\n    namespaces: [media, tools]\n"
        "    selector: app in (a, b)\n    recipe: [power, restart]\n"
        "  - resource: StatefulSet\n    namespace: db\n  - resource: Node\n    recipe: node\n",
    )
    first, second, third = config.discover
    assert config.bindings == ()
    assert (first.kind, first.namespaces, first.recipe) == (
        "Deployment",
        ("media", "tools"),
        ("power", "restart"),
    )
    assert first.selector.text == "app in (a, b)"
    assert (second.namespaces, second.recipe) == (("db",), ())
    assert (third.kind, third.namespaces) == ("Node", None)
    assert first.where == "discover[0]"


def test_mistakes_in_entries_are_refused_with_their_lines(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "bindings:\n  - resource: Deployment\n    namespace: media\n    name: ok\n"
        "    recipe: powr\n"
        "discover:\n"
        "  - resource: Widget\n"  # 7
        "  - resource: Deployment\n    namespace: a\n    namespaces: [b]\n"  # 8-10
        "  - resource: Node\n    namespace: x\n"  # 11-12
        "  - resource: CronJob\n    recipe: power\n"  # 13-14
        "  - resource: Deployment\n    selector: 'a in (b'\n"  # 15-16
        "  - resource: Deployment\n    recipes: power\n",  # 17-18
    )
    assert found[0].startswith("8: bindings[0].recipe: ")  # the bindings are still read
    assert found[1:] == [
        "10: discover[0].resource: unknown kind 'Widget': add apiVersion for a custom resource",
        "13: discover[1].namespaces: give namespace or namespaces, not both",
        "15: discover[2].namespace: Node is cluster-scoped: remove it",
        f"17: discover[3].recipe: {found[4].split(': ', 2)[2]}",
        "19: discover[4].selector: not a label selector: a '(' without its ')' in 'a in (b'",
        "21: discover[5].recipes: unknown key 'recipes' in a discover entry "
        "(did you mean 'recipe'?)",
    ]
    assert "'power' is for Deployment and StatefulSet, not CronJob" in found[4]


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app", {"app": ""}, True),
        ("!legacy", {"legacy": "yes"}, False),
        ("tier in (a, b)", {"tier": "b"}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
        ("tier notin (a,b)", {}, True),
        (
            "app.kubernetes.io/name=x, tier in (a)",
            {"app.kubernetes.io/name": "x", "tier": "a"},
            True,
        ),
        ("", {}, True),
    ],
)
def test_label_selectors_match_as_the_api_server_does(
    selector: str, labels: dict[str, str], matches: bool
) -> None:
    assert parse_selector(selector).matches(labels) is matches


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("a in ()", "a set needs at least one value"),
        ("=x", "'=x' is not a label key"),
        ("a b", "'a b' is not a label key"),
        ("a=b c", "'b c' is not a label value"),
        ("a)", "a ')' without its '('"),
    ],
)
def test_what_is_not_a_selector_is_refused_naming_why(selector: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_selector(selector)


ENTRY = DiscoverSpec(where="discover[0]", kind="Deployment", namespaces=("media",))
RECIPE = "mqtt-kube.io/recipe"


def test_the_annotation_wins_over_the_entry_and_brings_name_and_icon() -> None:
    entry = DiscoverSpec(
        where="discover[0]", kind="Deployment", recipe=("power",), selector=parse_selector("app")
    )
    annotations = {
        "mqtt-kube.io/recipe": " restart , power ",
        "mqtt-kube.io/name": "Plex",
        "mqtt-kube.io/icon": "mdi:plex",
    }
    plain = choice_of(entry, obj("a", labels={"app": "a"}))
    assert plain == Choice("media", "a", ("power",))
    chosen = choice_of(entry, obj("b", labels={"app": "b"}, annotations=annotations))
    assert chosen == Choice(
        "media", "b", ("restart", "power"), (("name", "Plex"), ("icon", "mdi:plex")), True
    )
    assert choice_of(entry, obj("c", annotations=annotations)) is None  # no `app` label
    assert choice_of(ENTRY, obj("d")) is None  # neither the entry nor the object names one
    assert choice_of(ENTRY, obj("e", annotations={"mqtt-kube.io/recipe": ""})) is None
    # An empty annotation leaves the object out of an entry that names recipes, too.
    assert choice_of(entry, obj("f", labels={"app": "f"}, annotations={RECIPE: " "})) is None


def test_a_found_object_is_read_as_a_binding_of_the_file_would_be() -> None:
    choice = choice_of(ENTRY, obj("plex", annotations={"mqtt-kube.io/recipe": "power"}))
    assert choice is not None
    found = found_binding(ENTRY, choice, prefix="home/kube")
    assert found.problems == ()
    binding = found.binding
    assert binding is not None
    assert (binding.kind, binding.namespace, binding.name) == ("Deployment", "media", "plex")
    assert binding.topic == "home/kube/deployment/media/plex"
    assert binding.recipes == ("power",)
    assert binding.where == "discover[0]"  # in /api/status and log lines
    assert [c.topic for c in binding.command] == ["home/kube/deployment/media/plex/power/set"]


@pytest.mark.parametrize(
    ("annotations", "start", "detail"),
    [
        (
            {"mqtt-kube.io/recipe": "power,cronjob"},
            "Deployment media/plex: annotation mqtt-kube.io/recipe: ",
            "'cronjob' is for CronJob",
        ),
        (
            {"mqtt-kube.io/recipe": "power,,restart"},
            "Deployment media/plex: annotation mqtt-kube.io/recipe: ",
            "unknown recipe ''",
        ),
        (
            {"mqtt-kube.io/recipe": " , "},
            "Deployment media/plex: annotation mqtt-kube.io/recipe: ",
            "unknown recipe ''",
        ),
        (
            {"mqtt-kube.io/recipe": "power", "mqtt-kube.io/icon": ""},
            "Deployment media/plex: annotation mqtt-kube.io/icon: ",
            "may not be empty",
        ),
    ],
)
def test_problems_of_a_found_object_name_it_and_the_annotation(
    annotations: dict[str, str], start: str, detail: str
) -> None:
    choice = choice_of(ENTRY, obj("plex", annotations=annotations))
    assert choice is not None
    found = found_binding(ENTRY, choice, prefix=None)
    assert found.binding is None
    (problem,) = found.problems
    assert problem.startswith(start)
    assert detail in problem


@pytest.mark.parametrize(
    ("scope", "entry", "keys"),
    [
        ("namespace", "namespaces: [a, b]", [("a",), ("b",)]),
        ("cluster", "namespaces: [a, b]", [(None,)]),
        ("object", "namespace: a", [("a",)]),
        ("namespace", "selector: x", [(None,)]),
    ],
)
def test_an_entry_looks_through_the_watches_of_its_namespaces(
    tmp_path: Path, scope: str, entry: str, keys: list[tuple[str | None]]
) -> None:
    config = load(
        tmp_path,
        f"kubernetes:\n  watch-scope: {scope}\ndiscover:\n  - resource: Deployment\n    {entry}\n",
    )
    assert discover_keys(config, config.discover[0]) == [
        ("Deployment", "apps/v1", namespace, None) for (namespace,) in keys
    ]

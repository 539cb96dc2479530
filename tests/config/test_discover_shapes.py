"""Found objects' bindings read once per shape: the same bindings as reading each in full.

Covered: `EntryBindings` gives, for every kind with a recipe, namespace or none, prefix or
none, overrides or none and a recipe from the entry or the annotation, exactly the binding
(every field, its raw mapping included) and the problems that `found_binding` gives by
reading the object in full; a name that fails a check the stand-in passed (not an object
name, a topic too long), a shape with a problem (a recipe its kind cannot take) and an
unknown recipe come out as the full read says, naming the object; objects of one shape
share the compiled value maps, and each gets topics of its own.
"""

from __future__ import annotations

import pytest

from mqtt_kube.config.discover import Choice, EntryBindings, found_binding
from mqtt_kube.config.model import DiscoverSpec

SHAPES = [
    ("Deployment", "media", ("power", "restart")),
    ("StatefulSet", "db", ("power",)),
    ("DaemonSet", "kube-system", ("restart",)),
    ("CronJob", "batch", ("cronjob",)),
    ("Node", None, ("node",)),
    ("Deployment", "media", ("cronjob",)),  # a recipe the kind cannot take
    ("Deployment", "media", ("job",)),  # a recipe that needs a launch template
    ("Deployment", "media", ("nonesuch",)),
]
NAMES = ["plex", "app-0001", "a%b", ".", "x" * 70_000]
OVERRIDES = [(), (("name", "Plex"),), (("icon", "mdi:movie"), ("name", "Plex"))]


@pytest.mark.parametrize(("kind", "namespace", "recipes"), SHAPES)
@pytest.mark.parametrize("prefix", [None, "home/kube", "home/"])
def test_each_object_gets_what_a_full_read_gives(
    kind: str, namespace: str | None, recipes: tuple[str, ...], prefix: str | None
) -> None:
    entry = DiscoverSpec(
        where="discover[2]", kind=kind, namespaces=(namespace,) if namespace else None
    )
    shapes = EntryBindings()
    for name in NAMES:
        for overrides in OVERRIDES:
            for annotated in (True, False):
                choice = Choice(namespace, name, recipes, overrides, annotated)
                expected = found_binding(entry, choice, prefix=prefix)
                assert shapes.found(entry, choice, prefix=prefix) == expected
                assert shapes.found(entry, choice, prefix=prefix) == expected  # shape kept


def test_a_bad_name_is_named_as_a_full_read_names_it() -> None:
    entry = DiscoverSpec(where="discover[0]", kind="Deployment", namespaces=("media",))
    shapes = EntryBindings()
    good = shapes.found(entry, Choice("media", "plex", ("power",)), prefix="home")
    bad = shapes.found(entry, Choice("media", "a%b", ("power",)), prefix="home")
    assert good.binding is not None
    assert not good.problems
    assert bad.binding is None
    assert bad.problems == (
        "Deployment media/a%b (found by discover[0]): name: 'a%b' is not a Kubernetes object name",
    )


def test_objects_of_one_shape_share_the_maps_and_have_their_own_topics() -> None:
    entry = DiscoverSpec(where="discover[0]", kind="Deployment", namespaces=("media",))
    shapes = EntryBindings()
    one = shapes.found(entry, Choice("media", "one", ("power",)), prefix="home").binding
    two = shapes.found(entry, Choice("media", "two", ("power",)), prefix="home").binding
    assert one is not None
    assert two is not None
    assert [w.topic for w in one.watch] == [
        "home/deployment/media/one/power/state",
        "home/deployment/media/one/replicas/ready",
        "home/deployment/media/one/replicas/desired",
    ]
    assert [c.topic for c in two.command] == ["home/deployment/media/two/power/set"]
    assert two.command[0].state is two.watch[0]  # the switch's state is its own watch
    assert all(a.values is b.values for a, b in zip(one.watch, two.watch, strict=True))
    assert (one.name, one.raw["name"], two.name, two.raw["name"]) == ("one", "one", "two", "two")

"""`Locus.json_patch`: the one JSON patch that sets a field, from what is known of the object.

Covered: `add` of the leaf (also when it exists), with or without a known copy; a missing
parent added with the leaf inside after a `test` of the nearest parent that exists; a
missing list element never invented; a list element itself replaced; a missing top-level
field guarded by the resourceVersion.
"""

from __future__ import annotations

from typing import Any

import pytest

from mqtt_kube.core.locus import Locus

LIMITS = "spec.template.spec.containers[0].resources.limits.memory"
LEAF = "/spec/template/spec/containers/0/resources/limits/memory"


def seen(resources: dict[str, Any] | None, *, containers: int = 1) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app"}
    if resources is not None:
        container["resources"] = resources
    return {
        "metadata": {"name": "app", "resourceVersion": "42"},
        "spec": {"template": {"spec": {"containers": [container] * containers}}},
    }


@pytest.mark.parametrize(
    "copy",
    [
        pytest.param(None, id="nothing-known"),
        pytest.param(seen({"limits": {}}), id="parent-present"),
        pytest.param(seen({"limits": {"memory": "1Gi", "cpu": "1"}}), id="leaf-present"),
        pytest.param(seen(None, containers=0), id="list-element-missing"),
    ],
)
def test_the_leaf_is_added_when_its_parent_exists_or_nothing_better_is_known(
    copy: dict[str, Any] | None,
) -> None:
    assert Locus.parse(LIMITS).json_patch("2Gi", seen=copy) == [
        {"op": "add", "path": LEAF, "value": "2Gi"}
    ]


def test_a_missing_parent_is_added_with_the_leaf_after_a_test_of_the_nearest_one() -> None:
    assert Locus.parse(LIMITS).json_patch("2Gi", seen=seen({"requests": {"cpu": "1"}})) == [
        {
            "op": "test",
            "path": "/spec/template/spec/containers/0/resources",
            "value": {"requests": {"cpu": "1"}},
        },
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/resources/limits",
            "value": {"memory": "2Gi"},
        },
    ]
    assert Locus.parse(LIMITS).json_patch("2Gi", seen=seen(None))[1] == {
        "op": "add",
        "path": "/spec/template/spec/containers/0/resources",
        "value": {"limits": {"memory": "2Gi"}},
    }


def test_a_list_element_is_replaced_and_a_missing_top_field_is_guarded_by_the_version() -> None:
    assert Locus.parse("spec.args[1]").json_patch("x") == [
        {"op": "replace", "path": "/spec/args/1", "value": "x"}
    ]
    assert Locus.parse("data.things[0].name").json_patch("x", seen=seen(None)) == [
        {"op": "add", "path": "/data/things/0/name", "value": "x"}  # `things` is a list
    ]
    assert Locus.parse("extra.block.key").json_patch(
        1, seen={"metadata": {"resourceVersion": "7"}}
    )[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}

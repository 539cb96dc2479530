"""JSONPath loci: parsing, reading, and the patches that write one field.

Covered: the forms the configs use (with and without `$.`, quoted keys with dots and
slashes, list indices, filters), the plain-path detection behind the fast path, reads that
match nothing/one/several, agreement of the fast path with jsonpath-ng on random data,
bad syntax with a clear message, merge patches and JSON patches (pointer escaping), and
the refusals: list indices in merge patches, non-plain paths, the whole object.
"""

from __future__ import annotations

import contextlib
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from mqtt_kube.core.locus import Locus

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "jellyfin",
        "labels": {"app.kubernetes.io/name": "jellyfin", "tier": "media"},
    },
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {"name": "jellyfin", "image": "jellyfin/jellyfin:10.9"},
                    {"name": "sidecar", "image": "busybox"},
                ]
            }
        },
    },
    "status": {
        "availableReplicas": 1,
        "observedGeneration": None,
        "conditions": [
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "False"},
        ],
    },
}


@pytest.mark.parametrize(
    ("expression", "field_path", "value"),
    [
        ("status.availableReplicas", ("status", "availableReplicas"), 1),
        ("$.status.availableReplicas", ("status", "availableReplicas"), 1),
        ("$.spec.replicas", ("spec", "replicas"), 1),
        ("$.status", ("status",), DEPLOYMENT["status"]),
        ("$", (), DEPLOYMENT),
        (
            "metadata.labels['app.kubernetes.io/name']",
            ("metadata", "labels", "app.kubernetes.io/name"),
            "jellyfin",
        ),
        (
            'metadata.labels."app.kubernetes.io/name"',
            ("metadata", "labels", "app.kubernetes.io/name"),
            "jellyfin",
        ),
        (
            "spec.template.spec.containers[0].image",
            ("spec", "template", "spec", "containers", 0, "image"),
            "jellyfin/jellyfin:10.9",
        ),
        (
            "spec.template.spec.containers[1].name",
            ("spec", "template", "spec", "containers", 1, "name"),
            "sidecar",
        ),
        (
            "spec.template.spec.containers[5].name",
            ("spec", "template", "spec", "containers", 5, "name"),
            None,
        ),
        ("status.observedGeneration", ("status", "observedGeneration"), None),
        ("status.missing.deeper", ("status", "missing", "deeper"), None),
        ("spec.replicas.deeper", ("spec", "replicas", "deeper"), None),
        ("metadata[0]", ("metadata", 0), None),
        ("status.conditions[?(@.type=='Available')].status", None, "True"),
        ("status.conditions[?(@.type=='Gone')].status", None, None),
        ("status.conditions[*].type", None, ["Available", "Progressing"]),
        ("spec.template.spec.containers[-1].name", None, "sidecar"),
        ("$..image", None, ["jellyfin/jellyfin:10.9", "busybox"]),
    ],
)
def test_a_locus_reads_its_field(
    expression: str, field_path: tuple[str | int, ...] | None, value: object
) -> None:
    locus = Locus.parse(expression)
    assert locus.expression == expression
    assert locus.field_path == field_path
    assert locus.read(DEPLOYMENT) == value


def test_a_locus_reads_nothing_from_a_missing_object_part() -> None:
    locus = Locus.parse("status.availableReplicas")
    assert locus.read({"status": {}}) is None
    assert locus.read({"status": None}) is None
    assert locus.read({}) is None


def test_find_first_takes_the_first_of_several_matches_and_reads_any_json() -> None:
    assert Locus.parse("status.conditions[*].type").find_first(DEPLOYMENT) == "Available"
    assert Locus.parse("$.action").find_first({"action": "RUN"}) == "RUN"
    assert Locus.parse("$.action").find_first("RUN") is None
    assert Locus.parse("[1]").find_first([10, 20]) == 20


@pytest.mark.parametrize(
    ("expression", "is_replicas"),
    [
        ("spec.replicas", True),
        ("$.spec.replicas", True),
        ("spec['replicas']", True),
        ("status.replicas", False),
        ("spec.replicas.x", False),
        ("spec", False),
    ],
)
def test_only_spec_replicas_counts_as_replicas(expression: str, is_replicas: bool) -> None:
    assert Locus.parse(expression).is_replicas is is_replicas


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("status.", "invalid JSONPath 'status.'"),
        ("a[", "invalid JSONPath 'a['"),
        ("$$", "invalid JSONPath '$$'"),
        ("}", "Unexpected character"),
        ("a['x]", "invalid JSONPath"),
        ("", "non-empty string"),
        ("   ", "non-empty string"),
    ],
)
def test_bad_syntax_is_a_value_error_naming_the_expression(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match="JSONPath") as caught:
        Locus.parse(expression)
    assert problem in str(caught.value)


def test_syntax_jsonpath_ng_is_dropping_is_refused_rather_than_warned_about() -> None:
    with pytest.raises(ValueError, match=r"'a\|b' uses deprecated syntax"):
        Locus.parse("a|b")


def test_a_locus_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty string, not 3"):
        Locus.parse(3)  # type: ignore[arg-type]


def test_loci_are_values_usable_as_keys() -> None:
    assert Locus.parse("spec.replicas") == Locus.parse("spec.replicas")
    assert hash(Locus.parse("spec.replicas")) == hash(Locus.parse("spec.replicas"))
    assert Locus.parse("spec.replicas") != Locus.parse("$.spec.replicas")
    assert len({Locus.parse("a"), Locus.parse("a"), Locus.parse("b")}) == 2


@pytest.mark.parametrize(
    ("expression", "value", "patch"),
    [
        ("spec.replicas", 0, {"spec": {"replicas": 0}}),
        ("$.spec.suspend", True, {"spec": {"suspend": True}}),
        (
            "metadata.labels['app.kubernetes.io/name']",
            None,
            {"metadata": {"labels": {"app.kubernetes.io/name": None}}},
        ),
        ("data", {"k": "v"}, {"data": {"k": "v"}}),
    ],
)
def test_a_merge_patch_sets_only_that_field(expression: str, value: object, patch: object) -> None:
    assert Locus.parse(expression).merge_patch(value) == patch


@pytest.mark.parametrize(
    ("expression", "pointer"),
    [
        ("spec.replicas", "/spec/replicas"),
        ("spec.template.spec.containers[0].image", "/spec/template/spec/containers/0/image"),
        ("metadata.labels['app.kubernetes.io/name']", "/metadata/labels/app.kubernetes.io~1name"),
        ("metadata.annotations['a~b/c']", "/metadata/annotations/a~0b~1c"),
    ],
)
def test_a_json_patch_adds_that_field_which_also_replaces_it(expression: str, pointer: str) -> None:
    assert Locus.parse(expression).json_patch("x") == [{"op": "add", "path": pointer, "value": "x"}]


@pytest.mark.parametrize(
    ("expression", "method", "problem"),
    [
        ("spec.template.spec.containers[0].image", "merge_patch", "crosses a list index"),
        ("status.conditions[?(@.type=='Ready')].status", "merge_patch", "not a plain chain"),
        ("status.conditions[?(@.type=='Ready')].status", "json_patch", "not a plain chain"),
        ("$..image", "json_patch", "not a plain chain"),
        ("$", "merge_patch", "names the whole object"),
        ("$", "json_patch", "names the whole object"),
    ],
)
def test_patches_are_refused_where_they_cannot_set_one_field(
    expression: str, method: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        getattr(Locus.parse(expression), method)(1)


_KEYS = st.sampled_from(["a", "b", "spec", "x.y"])
_JSON = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=12,
)
_STEP = st.one_of(_KEYS.map(lambda k: f"['{k}']"), st.integers(0, 3).map(lambda i: f"[{i}]"))


@settings(max_examples=150)
@given(document=_JSON, steps=st.lists(_STEP, min_size=1, max_size=4))
def test_the_fast_path_agrees_with_jsonpath_ng(document: object, steps: list[str]) -> None:
    expression = "$" + "".join(steps)
    locus = Locus.parse(expression)
    assert locus.field_path is not None
    found = [datum.value for datum in parse_jsonpath(expression).find(document)]
    assert locus.find_first(document) == (found[0] if found else None)


@settings(max_examples=250)
@given(st.text(alphabet=string.ascii_lowercase[:4] + "$.[]()?@='\"*01-: ,|&\\`~", max_size=16))
def test_any_text_parses_or_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        Locus.parse(text)

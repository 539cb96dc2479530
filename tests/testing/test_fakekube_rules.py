"""The fake API server's pure rules (label and field selectors, merge and JSON patches) and its
standalone command's input files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.testing.fakekube import StatusError
from mqtt_kube.testing.fakekube_cli import load_objects, main
from mqtt_kube.testing.fakekube_ops import FieldSelector, LabelSelector, json_patch, merge_patch

# Pure rules


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app=", {"app": ""}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app=web,tier=front", {"app": "web", "tier": "front"}, True),
        ("app=web,tier=front", {"app": "web"}, False),
        ("tier in (front, edge)", {"tier": "edge"}, True),
        ("tier in (front,edge),app", {"tier": "edge"}, False),
        ("tier notin (front)", {}, True),
        ("tier notin (front)", {"tier": "front"}, False),
        ("tier", {"tier": ""}, True),
        ("!tier", {"tier": ""}, False),
        ("example.com/owner=me", {"example.com/owner": "me"}, True),
    ],
)
def test_label_selectors_match_as_the_api_server_does(
    selector: str, labels: dict[str, str], expected: bool
) -> None:
    obj = {"metadata": {"labels": labels}}
    assert LabelSelector.parse(selector).matches(obj) is expected


@pytest.mark.parametrize("selector", ["=web", "a in (b", "app=we b", "a,,b", "Bad Key=x"])
def test_a_bad_label_selector_is_refused_naming_it(selector: str) -> None:
    with pytest.raises(StatusError, match="labelSelector") as raised:
        LabelSelector.parse(selector)
    assert raised.value.code == 400


def test_field_selectors_match_name_and_namespace() -> None:
    obj = {"metadata": {"name": "a", "namespace": "b"}}
    assert FieldSelector.parse("metadata.name=a,metadata.namespace==b").matches(obj)
    assert not FieldSelector.parse("metadata.name!=a").matches(obj)
    with pytest.raises(StatusError, match=r"field label not supported: spec\.x"):
        FieldSelector.parse("spec.x=1")


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        (
            {"a": 1, "b": {"c": 2, "d": 3}},
            {"b": {"c": None, "e": 4}},
            {"a": 1, "b": {"d": 3, "e": 4}},
        ),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": 1}}, {"a": 5}, {"a": 5}),
    ],
)
def test_merge_patch_follows_rfc_7386(
    target: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    original = json.dumps(target)
    assert merge_patch(target, patch) == expected
    assert json.dumps(target) == original  # the target is not changed


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        ([{"op": "add", "path": "/l/-", "value": 3}], {"l": [1, 2, 3], "m": {"a/b": 1}}),
        ([{"op": "add", "path": "/l/0", "value": 0}], {"l": [0, 1, 2], "m": {"a/b": 1}}),
        ([{"op": "remove", "path": "/m/a~1b"}], {"l": [1, 2], "m": {}}),
        ([{"op": "replace", "path": "/l/1", "value": 9}], {"l": [1, 9], "m": {"a/b": 1}}),
        ([{"op": "move", "from": "/l", "path": "/n"}], {"m": {"a/b": 1}, "n": [1, 2]}),
        ([{"op": "copy", "from": "/l/0", "path": "/m/c"}], {"l": [1, 2], "m": {"a/b": 1, "c": 1}}),
    ],
)
def test_json_patch_follows_rfc_6902(
    operations: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    assert json_patch({"l": [1, 2], "m": {"a/b": 1}}, operations) == expected


@pytest.mark.parametrize(
    ("operations", "code"),
    [
        ([{"op": "test", "path": "/a", "value": 2}], 422),
        ([{"op": "replace", "path": "/missing", "value": 1}], 422),
        ([{"op": "add", "path": "/l/7", "value": 1}], 422),
        ([{"op": "jump", "path": "/a"}], 400),
        ([{"op": "add", "path": "a", "value": 1}], 400),
        ([{"op": "add", "path": "/a"}], 400),
        ("not a list", 400),
    ],
)
def test_a_json_patch_that_cannot_apply_is_refused(operations: object, code: int) -> None:
    with pytest.raises(StatusError) as raised:
        json_patch({"a": 1, "l": []}, operations)
    assert raised.value.code == code


def test_objects_load_from_a_multi_document_file_with_lists(tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n"
    )
    assert [obj["metadata"]["name"] for obj in load_objects(path)] == ["a", "b"]


def test_the_command_names_the_file_and_document_of_a_bad_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\n---\njust: text\n")
    assert main(["--objects", str(path), "--port", "0"]) == 2
    assert f"{path}: document 2: not a Kubernetes object" in capsys.readouterr().err


def test_the_command_names_the_file_and_object_the_server_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_A_Name}\n")
    assert main(["--objects", str(path), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert f'{path}: object 1: ConfigMap "Not_A_Name" is invalid: metadata.name' in error

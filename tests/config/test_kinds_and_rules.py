"""The kind and namespace of a binding, the patch and action rules, and how bindings share
watches.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import WatchKey, watch_groups
from tests.support.config_files import jellyfin, load, only_problem, problems, write

# --- kinds and namespaces


@pytest.mark.parametrize(
    ("binding", "kind", "namespace", "api_version"),
    [
        ("namespace: a\n    resource: Deployment", "Deployment", "a", None),
        ("namespace: a\n    resource: deployment", "Deployment", "a", None),
        ("namespace: a\n    resource: DAEMONSET", "DaemonSet", "a", None),
        ("namespace: a\n    resource: Job\n    apiVersion: batch/v1", "Job", "a", "batch/v1"),
        ("resource: Node", "Node", None, None),
        ("resource: Namespace", "Namespace", None, None),
        (
            "namespace: a\n    resource: Foo\n    apiVersion: example.com/v1",
            "Foo",
            "a",
            "example.com/v1",
        ),
        (
            "resource: Cluster\n    apiVersion: example.com/v1beta1",
            "Cluster",
            None,
            "example.com/v1beta1",
        ),
    ],
)
def test_the_kind_of_a_binding(
    folder: Path, binding: str, kind: str, namespace: str | None, api_version: str | None
) -> None:
    config = load(folder, f"bindings:\n  - {binding}\n    name: x\n")
    spec = config.bindings[0]
    assert (spec.kind, spec.namespace, spec.api_version) == (kind, namespace, api_version)


@pytest.mark.parametrize(
    ("binding", "where", "message"),
    [
        (
            "resource: Foo",
            "bindings[0].resource",
            "unknown kind 'Foo': add apiVersion for a custom resource",
        ),
        (
            "resource: Deploymnet\n    namespace: a",
            "bindings[0].resource",
            "unknown kind 'Deploymnet': add apiVersion for a custom resource"
            " (or did you mean the built-in 'Deployment'?)",
        ),
        (
            "resource: Deployment",
            "bindings[0].namespace",
            "Deployment is namespaced: add its namespace",
        ),
        (
            "resource: Node\n    namespace: a",
            "bindings[0].namespace",
            "Node is cluster-scoped: remove the namespace",
        ),
        (
            "resource: Foo\n    apiVersion: example.com",
            "bindings[0].apiVersion",
            "expected group/version like apps/v1 (or v1 for the core group), got 'example.com'",
        ),
        (
            "resource: Pod\n    namespace: Media",
            "bindings[0].namespace",
            "'Media' is not a namespace name: lowercase letters, digits and '-', at most 63",
        ),
        (
            "resource: Pod\n    namespace: a\n    name: a/b",
            "bindings[0].name",
            "'a/b' is not a Kubernetes object name",
        ),
    ],
)
def test_kind_and_namespace_rules(folder: Path, binding: str, where: str, message: str) -> None:
    text = f"bindings:\n  - {binding}\n"
    if "name: " not in binding.replace("namespace: ", ""):
        text += "    name: x\n"
    found = only_problem(folder, text)
    assert found[0::2] == (where, message)


# --- patch and action rules


def test_a_patch_locus_must_name_one_field(folder: Path) -> None:
    text = jellyfin("""
    patch:
      topic: set
      locus: "status.conditions[?(@.type=='Ready')].status"
    """)
    where, line, message = only_problem(folder, text)
    assert (where, line) == ("bindings[0].patch[0].locus", 7)
    assert message.startswith("a patch locus must name one field")


@pytest.mark.parametrize(
    ("action", "found"),
    [
        (
            "values: {RUN: launch}",
            [("bindings[0].action[0].launch", 6, "required: a template file to launch")],
        ),
        (
            "retained: ignore",
            [("bindings[0].action[0].launch", 6, "required: a template file to launch")],
        ),
        (
            "launch: !relpath missing.yaml",
            [("bindings[0].action[0].launch", 7, "missing.yaml")],
        ),
    ],
)
def test_action_rules(folder: Path, action: str, found: list[tuple[str, int, str]]) -> None:
    text = jellyfin(f"    action:\n      - topic: cmd\n        {action}\n")
    got = problems(folder, text)
    assert [(where, line) for where, line, _ in got] == [(w, n) for w, n, _ in found]
    for (_, _, message), (_, _, expected) in zip(got, found, strict=True):
        assert expected in message


@pytest.mark.parametrize(
    ("values", "where", "found"),
    [
        ("{map: {RUN: launch, STOP: create}}", "values.map.STOP", "not 'create'"),
        ("{RUN: 1}", "values.RUN", "not the number 1"),
    ],
)
def test_an_action_output_other_than_launch_or_delete_loads_with_a_warning(
    folder: Path, values: str, where: str, found: str
) -> None:
    text = jellyfin(
        f"    action:\n      - topic: cmd\n        values: {values}\n"
        "        launch: !relpath job.yaml\n"
    )
    config = load(folder, text)
    (warning,) = config.warnings
    assert f":7: bindings[0].action[0].{where}: an action maps payloads to" in warning
    assert f"{found}; such payloads will be ignored" in warning


def test_an_action_that_only_deletes_needs_no_template(folder: Path) -> None:
    config = load(folder, jellyfin("    action: {topic: cmd, values: {STOP: delete}}\n"))
    assert config.bindings[0].action[0].launch is None


def test_format_in_values_is_accepted_with_a_warning(folder: Path) -> None:
    text = jellyfin("""
    watch:
      locus: status.replicas
      topic: replicas
      values:
        format: "{}"
        map: {1: "ON"}
    """)
    path = write(folder, text)
    config = load_config(path)
    assert config.warnings == (
        f"{path}:9: bindings[0].watch[0].values.format: "
        "'format' has no effect (the original ignored it too); it can be removed",
    )


WATCHED = """
kubernetes: {watch-scope: %s}
bindings:
  - {namespace: media, resource: Deployment, name: a, watch: {locus: spec.replicas, topic: a}}
  - {namespace: media, resource: deployment, apiVersion: apps/v1, name: b,
     watch: {locus: spec.replicas, topic: b}}
  - {namespace: home, resource: Deployment, name: c, watch: {locus: spec.replicas, topic: c}}
  - {namespace: home, resource: Job, name: d, watch: {locus: status, topic: d}}
  - {namespace: home, resource: Job, name: e, patch: {locus: spec.suspend, topic: e}}
  - {resource: Node, name: f, watch: {locus: status, topic: f}}
"""


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        pytest.param(
            "namespace",
            {
                ("Deployment", "apps/v1", "media", None): ["a", "b"],
                ("Deployment", "apps/v1", "home", None): ["c"],
                ("Job", "batch/v1", "home", None): ["d"],  # e watches nothing
                ("Node", "v1", None, None): ["f"],  # cluster-scoped: watched cluster-wide
            },
            id="namespace",
        ),
        pytest.param(
            "auto",  # the earlier default, now the same as namespace
            {
                ("Deployment", "apps/v1", "media", None): ["a", "b"],
                ("Deployment", "apps/v1", "home", None): ["c"],
                ("Job", "batch/v1", "home", None): ["d"],
                ("Node", "v1", None, None): ["f"],
            },
            id="auto",
        ),
        pytest.param(
            "cluster",
            {
                ("Deployment", "apps/v1", None, None): ["a", "b", "c"],
                ("Job", "batch/v1", None, None): ["d"],
                ("Node", "v1", None, None): ["f"],
            },
            id="cluster",
        ),
        pytest.param(
            "object",
            {
                ("Deployment", "apps/v1", "media", "a"): ["a"],
                ("Deployment", "apps/v1", "media", "b"): ["b"],
                ("Deployment", "apps/v1", "home", "c"): ["c"],
                ("Job", "batch/v1", "home", "d"): ["d"],
                ("Node", "v1", None, "f"): ["f"],
            },
            id="object",
        ),
    ],
)
def test_watch_groups_share_one_watch_per_resolved_kind_and_scope(
    folder: Path, scope: str, expected: dict[WatchKey, list[str]]
) -> None:
    groups = watch_groups(load(folder, WATCHED % scope))
    assert {key: [spec.name for spec in specs] for key, specs in groups.items()} == expected

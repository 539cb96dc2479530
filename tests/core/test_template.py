"""Launch templates: rendering and the object's shape.

Covered: the Job templates of the original-forms config (tests/compat), the context (`binding`,
`action` with attribute and item access, `uid`, `match` with json and regex groups,
comparisons on payload values), namespace and labels, the required fields, load errors with
path and line, and rendering errors. Hostile payloads are in test_template_hostile.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mqtt_kube.core.errors import TemplateError
from mqtt_kube.core.template import LaunchTemplate
from tests.support.launch_templates import OURS, render_with, template_file
from tests.support.paths import ORIGINAL_JOB, ORIGINAL_SYNC_JOB


def test_the_original_forms_job_template_renders_with_uid_binding_and_match() -> None:
    template = LaunchTemplate.load(str(ORIGINAL_JOB))
    assert template.path == str(ORIGINAL_JOB)
    job = template.render(
        binding={"namespace": "batch", "resource": "Job", "name": "nightly-backup"},
        action={"topic": "backup/cmd", "launch": str(ORIGINAL_JOB)},
        match={"input": '{"action": "RUN"}', "value": "RUN"},
        namespace="batch",
        labels=OURS,
        uid="0a1b2c3d",
    )
    assert job == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "nightly-backup",
            "namespace": "batch",
            "annotations": {
                "house.example/run": "run-0a1b2c3d",
                "house.example/requested-with": '{"action": "RUN"}',
            },
            "labels": OURS,
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "nightly-backup",
                            "image": "busybox",
                            "command": ["sh", "-c", "echo backing up batch"],
                            "resources": {"limits": {"memory": "16Mi", "cpu": "20m"}},
                        }
                    ],
                }
            },
        },
    }


def test_the_original_forms_sync_template_takes_a_regex_group_and_the_action() -> None:
    template = LaunchTemplate.load(str(ORIGINAL_SYNC_JOB))
    action = {"topic": "sonarr/sync", "launch": str(ORIGINAL_SYNC_JOB)}
    job = template.render(
        binding={"namespace": "media", "resource": "Deployment", "name": "sonarr"},
        action=action,
        match={"input": "sync films", "value": "sync films", "library": "films"},
        namespace="media",
        labels=OURS,
        uid="0a1b2c3d",
    )
    assert job["metadata"] == {
        "generateName": "sonarr-sync-",
        "namespace": "media",
        "labels": {"house.example/library": "films", **OURS},
    }
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["sync", "--library", "films", "--action", "sonarr/sync"]


CONTEXT_TEMPLATE = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: ${binding.name}-${uid}
  labels:
    tier: batch
    app.kubernetes.io/managed-by: someone-else
  annotations:
    prefix: ${binding['topic-prefix']}
    topic: ${action.topic}
    input: ${match.input}
    value: ${match.value}
    action: ${match.json.action}
    count: ${match.json.count}
    first: ${match.json['items'][0]}
    nothing: ${match.json.nothing}
    flag: ${match.json.flag}
    whole: ${match.json}
    group: ${match.who}
% if match.json.action == "RUN":
    chosen: run
% endif
% if match.json.action != "RUN":
    chosen: other
% endif
    length: ${len(match.who)}
"""


def test_templates_see_binding_action_uid_and_the_match(tmp_path: Path) -> None:
    template = template_file(tmp_path, CONTEXT_TEMPLATE)
    match = {
        "input": '{"action": "RUN", "count": 2}',
        "value": "RUN",
        "json": {"action": "RUN", "count": 2, "items": ["a", "b"], "nothing": None, "flag": False},
        "who": "alice",
    }
    job = render_with(template, match)
    assert job["metadata"] == {
        "name": "example-wget-0a1b2c3d",
        "namespace": "demo",
        "labels": {"tier": "batch", **OURS},
        "annotations": {
            "prefix": "t",
            "topic": "example/cmd",
            "input": '{"action": "RUN", "count": 2}',
            "value": "RUN",
            "action": "RUN",
            "count": 2,
            "first": "a",
            "nothing": None,
            "flag": False,
            "whole": '{"action":"RUN","count":2,"flag":false,"items":["a","b"],"nothing":null}',
            "group": "alice",
            "chosen": "run",
            "length": 5,
        },
    }


def test_uid_is_eight_fresh_lowercase_hex_characters_when_not_given(tmp_path: Path) -> None:
    template = template_file(
        tmp_path, "kind: Job\napiVersion: batch/v1\nmetadata: {name: j-${uid}}\n"
    )
    names = {
        template.render(binding={}, action={}, match={}, namespace="ns", labels={})["metadata"][
            "name"
        ]
        for _ in range(5)
    }
    assert len(names) == 5
    assert all(re.fullmatch(r"j-[0-9a-f]{8}", name) for name in names)


@pytest.mark.parametrize(
    ("namespace", "template_namespace", "result"),
    [
        ("demo", None, "demo"),
        ("demo", "demo", "demo"),
        (None, None, None),
        (None, "elsewhere", "elsewhere"),
    ],
)
def test_the_namespace_is_the_bindings(
    tmp_path: Path, namespace: str | None, template_namespace: str | None, result: str | None
) -> None:
    own = f", namespace: {template_namespace}" if template_namespace else ""
    template = template_file(tmp_path, f"apiVersion: v1\nkind: Pod\nmetadata: {{name: x{own}}}\n")
    metadata = render_with(template, {}, namespace=namespace)["metadata"]
    assert metadata.get("namespace") == result


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: other}\n",
            "the template sets namespace 'other', but the binding is in 'demo'",
        ),
        ("apiVersion: v1\nmetadata: {name: x}\n", "the rendered object has no kind"),
        ("kind: Pod\nmetadata: {name: x}\n", "the rendered object has no apiVersion"),
        ("apiVersion: v1\nkind: ''\nmetadata: {name: x}\n", "has no kind"),
        ("apiVersion: v1\nkind: Pod\n", "neither metadata.name nor generateName"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: ''}\n", "neither metadata.name"),
        ("apiVersion: v1\nkind: Pod\nmetadata: [x]\n", "metadata must be a mapping"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x, labels: [a]}\n",
            "labels must be a mapping",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n---\nkind: Secret\n",
            "exactly one YAML document, not 2",
        ),
        ("", "exactly one YAML document, not 0"),
        ("# nothing\n", "exactly one YAML document, not 0"),
        ("- kind: Pod\n", "must render a YAML mapping"),
        ("just text\n", "must render a YAML mapping"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n", "not valid YAML"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nx: !!python/name:os.system ''\n",
            "not valid YAML",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nx: !!binary aGk=\n",
            "not plain JSON data",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nx: ${nope}\n",
            "NameError: 'nope' is not defined",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nx: ${match.json.missing}\n",
            "AttributeError: no key 'missing' here (it has: present)",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n\nx: ${1 // 0}\n",
            ":5: rendering failed: ZeroDivisionError",
        ),
    ],
)
def test_a_template_that_cannot_give_one_object_is_a_template_error(
    tmp_path: Path, text: str, problem: str
) -> None:
    template = template_file(tmp_path, text)
    with pytest.raises(TemplateError, match=re.escape(problem)) as caught:
        render_with(template, {"input": "x", "json": {"present": 1}})
    assert str(caught.value).startswith(template.path)


def test_generate_name_is_enough(tmp_path: Path) -> None:
    template = template_file(
        tmp_path, "apiVersion: v1\nkind: Pod\nmetadata: {generateName: run-}\n"
    )
    assert render_with(template, {})["metadata"]["generateName"] == "run-"


def test_yaml_words_read_as_kubectl_reads_them_and_dates_stay_text(tmp_path: Path) -> None:
    template = template_file(
        tmp_path,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"
        "data: {a: yes, b: off, c: 2024-05-01, d: true, e: ${True}, f: ${None}}\n",
    )
    assert render_with(template, {})["data"] == {
        "a": True,
        "b": False,
        "c": "2024-05-01",
        "d": True,
        "e": True,
        "f": None,
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("kind: Job\nmetadata:\n  name: ${binding.name\n", ":3: "),
        ("kind: Job\n% if x:\nmetadata: {}\n", ":2: "),
        ("kind: Job\n% for x in:\n% endfor\n", ":2: "),
        ("kind: Job\n<%include file='x.yaml'\n", ":2: "),
    ],
)
def test_a_mako_syntax_error_names_the_file_and_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(TemplateError) as caught:
        LaunchTemplate.load(str(path))
    assert str(caught.value).startswith(f"{path}{problem}")


def test_a_missing_template_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(TemplateError, match=re.escape(f"{path}: cannot read the template")):
        LaunchTemplate.load(str(path))


def test_a_template_that_is_not_utf8_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: Job \xe9\n")
    with pytest.raises(TemplateError, match="is not UTF-8 text"):
        LaunchTemplate.load(str(path))


def test_templates_compare_by_path_and_content(tmp_path: Path) -> None:
    first = template_file(tmp_path, "kind: Job\n")
    again = LaunchTemplate.load(first.path)
    other = template_file(tmp_path, "kind: Pod\n", name="other.yaml")
    assert first == again
    assert hash(first) == hash(again)
    assert first != other

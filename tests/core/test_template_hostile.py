"""Hostile payloads in launch templates, table-driven: each one lands inside a scalar (the
exact resulting object is asserted), deep inside JSON too, or is refused with a
TemplateError when it would become a key, a tag or a protected field.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mqtt_kube.core.errors import TemplateError
from tests.support.launch_templates import OURS, render_with, template_file

HOSTILE_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data:
  plain: ${match.input}
  double: "${match.input}"
  single: '${match.input}'
  inline: got ${match.input} here
  block: |
    ${match.input}
  listed: [${match.input}]
"""


def _scalars(payload: str, plain: object) -> dict[str, object]:
    return {
        "plain": plain,
        "double": payload,
        "single": payload,
        "inline": f"got {payload} here",
        "block": f"{payload}\n",
        "listed": [plain],
    }


@pytest.mark.parametrize(
    ("payload", "plain"),
    [
        ("RUN", "RUN"),
        ("x\nkind: Secret", "x\nkind: Secret"),
        ("x\n  extra: key", "x\n  extra: key"),
        ("a: b", "a: b"),
        ("!!python/object/apply:os.system ['id']", "!!python/object/apply:os.system ['id']"),
        ("!!binary aGVsbG8=", "!!binary aGVsbG8="),
        ("---\nkind: Pod", "---\nkind: Pod"),
        ("...\n---\nkind: Pod\n", "...\n---\nkind: Pod\n"),
        ("it's \"quoted\" both 'ways'", "it's \"quoted\" both 'ways'"),
        ('"', '"'),
        ("'", "'"),
        ("{a: 1}", "{a: 1}"),
        ("[1, 2]", "[1, 2]"),
        ("}]{[", "}]{["),
        ("${binding.name} ${uid}", "${binding.name} ${uid}"),
        ("<% import os %>", "<% import os %>"),
        ("<%include file='/etc/passwd'/>", "<%include file='/etc/passwd'/>"),
        ("% if True:", "% if True:"),
        ("&anchor *alias", "&anchor *alias"),
        ("# comment", "# comment"),
        ("- item", "- item"),
        ("|\n  block", "|\n  block"),
        ("\ttab\r\n", "\ttab\r\n"),
        ("ünïcødé 🚀", "ünïcødé 🚀"),
        ("mqk" + "0" * 32 + "x0z", "mqk" + "0" * 32 + "x0z"),
        ("3", 3),
        ("-12", -12),
        ("007", 7),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("FALSE", False),
        ("null", None),
        ("~", None),
        ("", None),
        ("yes", "yes"),
        ("off", "off"),
        ("0x1F", "0x1F"),
        ("1:30", "1:30"),
        ("1_000", "1_000"),
        ("2024-05-01", "2024-05-01"),
        (".inf", ".inf"),
        ("1e999", "1e999"),
        ("A" * 100_000, "A" * 100_000),
        ("x\n" * 10_000, "x\n" * 10_000),
    ],
)
def test_a_hostile_payload_only_ever_becomes_a_scalar(
    tmp_path: Path, payload: str, plain: object
) -> None:
    template = template_file(tmp_path, HOSTILE_TEMPLATE)
    rendered = render_with(template, {"input": payload})
    assert rendered == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "demo", "labels": OURS},
        "data": _scalars(payload, plain),
    }


def test_payload_strings_deep_inside_json_stay_scalars(tmp_path: Path) -> None:
    template = template_file(
        tmp_path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n"
        "data:\n  deep: ${match.json.a.b[1].c}\n  whole: ${match.json.a}\n",
    )
    hostile = "v\nkind: Secret\n---\n!!python/name:os.system"
    rendered = render_with(template, {"json": {"a": {"b": [0, {"c": hostile}], "k\nx: y": 1}}})
    assert rendered["data"] == {
        "deep": hostile,
        "whole": '{"b":[0,{"c":"v\\nkind: Secret\\n---\\n!!python/name:os.system"}],"k\\nx: y":1}',
    }


@pytest.mark.parametrize(
    ("text", "match", "problem"),
    [
        (
            "apiVersion: v1\nkind: ${match.input}\nmetadata: {name: x}\n",
            {"input": "Secret"},
            "a payload may not set kind",
        ),
        (
            "apiVersion: v1\nkind: Config${match.input}\nmetadata: {name: x}\n",
            {"input": "Map"},
            "a payload may not set kind",
        ),
        (
            "apiVersion: ${match.input}\nkind: Pod\nmetadata: {name: x}\n",
            {"input": "v1"},
            "a payload may not set apiVersion",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: '${match.input}'}\n",
            {"input": "demo"},
            "a payload may not set metadata.namespace",
        ),
        (
            "base: &m {name: x, namespace: '${match.input}'}\n"
            "apiVersion: v1\nkind: Pod\nmetadata: *m\n",
            {"input": "demo"},
            "a payload may not set metadata.namespace",
        ),
        (
            "apiVersion: v1\nkind: Pod\n"
            "metadata:\n  <<: {namespace: '${match.input}'}\n  name: x\n",
            {"input": "demo"},
            "a payload may not set metadata.namespace",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n${match.input}: 1\n",
            {"input": "spec"},
            "a payload may not name keys",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels:\n"
            "% for k, v in match.json.items():\n    ${k}: ${v}\n% endfor\n",
            {"json": {"kind": "Secret"}},
            "a payload may not name keys",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\ndata: {'x-${match.input}': 1}\n",
            {"input": "a"},
            "a payload may not name keys",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\ndata: !${match.input} 1\n",
            {"input": "a"},
            "a payload may not name a YAML tag",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: '${match.input.upper()}'}\n",
            {"input": "a"},
            "can only be inserted as it is",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: '${match.input[:3]}'}\n",
            {"input": "abcdef"},
            "can only be inserted as it is",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: '${'-'.join(match.input)}'}\n",
            {"input": "abc"},
            "rendering failed: TypeError",
        ),
    ],
)
def test_payloads_in_keys_tags_or_protected_fields_are_refused(
    tmp_path: Path, text: str, match: dict[str, object], problem: str
) -> None:
    template = template_file(tmp_path, text)
    with pytest.raises(TemplateError, match=re.escape(problem)) as caught:
        render_with(template, match)
    assert str(template.path) in str(caught.value)


def test_an_explicit_tag_in_the_template_is_kept_for_a_payload(tmp_path: Path) -> None:
    template = template_file(
        tmp_path,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"
        "data: {text: !!str '${match.input}', plain: !!str ${match.input},"
        " n: !!int ${match.input}}\n",
    )
    assert render_with(template, {"input": "3"})["data"] == {"text": "3", "plain": "3", "n": 3}
    with pytest.raises(TemplateError, match="cannot be read"):
        render_with(template, {"input": "three"})

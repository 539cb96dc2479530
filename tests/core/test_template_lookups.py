"""Launch templates: what a name in `${...}` reads, and which YAML words are booleans.

Covered: a JSON key of the payload named like a mapping method (`items`, `keys`, `values`,
`get`) reads the key, and the methods still work where the payload has no such key; the
operator's own config keys (`action.values`) read the same way; template text reads
`yes`/`no`/`on`/`off` as booleans, as kubectl does, while a payload inserted alone keeps
them as text and the configuration file keeps `ON:` as a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.config.yaml_file import load_yaml
from mqtt_kube.core.template import LaunchTemplate

HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
LABELS = {"app.kubernetes.io/managed-by": "mqtt-kube"}


def _render(tmp_path: Path, body: str, match: dict[str, object], **config: Any) -> Any:
    path = tmp_path / "job.yaml"
    path.write_text(HEAD + body)
    return LaunchTemplate.load(str(path)).render(
        binding=config.get("binding", {"name": "x"}),
        action=config.get("action", {"topic": "t"}),
        match=match,
        namespace="demo",
        labels=LABELS,
        uid="0a1b2c3d",
    )


@pytest.mark.parametrize("key", ["items", "keys", "values", "get"])
def test_a_json_key_named_like_a_mapping_method_reads_the_key(tmp_path: Path, key: str) -> None:
    body = f"data:\n  picked: ${{match.json.{key}}}\n"
    rendered = _render(tmp_path, body, {"json": {key: "from-the-payload"}})
    assert rendered["data"] == {"picked": "from-the-payload"}


def test_the_mapping_methods_still_work_where_the_payload_has_no_such_key(
    tmp_path: Path,
) -> None:
    body = (
        "data:\n"
        "  count: ${len(list(match.json.items()))}\n"
        "  b: ${match.json.get('b')}\n"
        "  fallback: ${match.json.get('missing', 'none')}\n"
        "  values: ${len(match.json.values())}\n"
    )
    rendered = _render(tmp_path, body, {"json": {"a": "1", "b": "two"}})
    assert rendered["data"] == {"count": 2, "b": "two", "fallback": "none", "values": 2}


def test_a_config_key_named_like_a_mapping_method_reads_the_key(tmp_path: Path) -> None:
    body = "data:\n  keys: ${action.keys}\n  count: ${len(action)}\n"
    rendered = _render(tmp_path, body, {}, action={"topic": "t", "keys": "k1"})
    assert rendered["data"] == {"keys": "k1", "count": 2}


def test_template_text_reads_yes_no_on_off_as_booleans_like_kubectl(tmp_path: Path) -> None:
    body = (
        "spec:\n  hostNetwork: yes\n  a: no\n  b: On\n  c: OFF\n  d: True\n"
        "  e: 2024-05-01\n  f: '='\n  g: 'yes'\n"
    )
    rendered = _render(tmp_path, body, {})
    assert rendered["spec"] == {
        "hostNetwork": True,
        "a": False,
        "b": True,
        "c": False,
        "d": True,
        "e": "2024-05-01",
        "f": "=",
        "g": "yes",
    }


@pytest.mark.parametrize("payload", ["yes", "no", "on", "OFF"])
def test_a_payload_inserted_alone_keeps_yes_no_on_off_as_text(tmp_path: Path, payload: str) -> None:
    rendered = _render(tmp_path, "data:\n  word: ${match.input}\n", {"input": payload})
    assert rendered["data"] == {"word": payload}


def test_the_configuration_file_still_keeps_on_off_yes_no_as_text(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("values: {ON: 1, off: 0, yes: y, No: n, true: t}\n")
    data, problems = load_yaml(path)
    assert problems == []
    assert dict(data["values"]) == {"ON": 1, "off": 0, "yes": "y", "No": "n", True: "t"}

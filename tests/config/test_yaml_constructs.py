"""The configuration file's loader builds mappings and lists in one go: what it must still do.

Merge keys, `=` keys, duplicates, tags and plain scalars as before; a recursive alias is one
problem with its line (it used to exhaust the recursion limit).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from mqtt_kube.config.yaml_file import LineDict, LineList, line_of, load_yaml


def _load(tmp_path: Path, text: str) -> tuple[object, list[tuple[str, int | None, str]]]:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    data, problems = load_yaml(path)
    return data, [(p.path, p.line, p.message) for p in problems]


def test_a_recursive_alias_is_one_problem_with_its_line(tmp_path: Path) -> None:
    data, problems = _load(
        tmp_path,
        """\
        mqtt:
          host: 127.0.0.1
        bindings: &loop
          - name: x
            again: *loop
        """,
    )
    assert data is None
    assert problems == [("", 3, "YAML: found unconstructable recursive node")]


def test_merge_keys_merge_and_only_own_keys_count_as_given_twice(tmp_path: Path) -> None:
    data, problems = _load(
        tmp_path,
        """\
        base: &base {namespace: media, resource: Deployment}
        one:
          <<: *base
          namespace: other
          namespace: again
        two:
          <<: *base
          name: x
        """,
    )
    assert isinstance(data, LineDict)
    assert data["one"] == {"namespace": "again", "resource": "Deployment"}
    assert data["two"] == {"namespace": "media", "resource": "Deployment", "name": "x"}
    assert problems == [("one.namespace", 5, "this key is given twice")]


def test_plain_scalars_keep_their_types_and_lines(tmp_path: Path) -> None:
    data, problems = _load(
        tmp_path,
        """\
        list:
          - on
          - 3
          - "3"
          - true
          - 2.5
          - null
          - 1/state
          - 3
        "=": value
        """,
    )
    assert problems == []
    assert isinstance(data, LineDict)
    items = data["list"]
    assert isinstance(items, LineList)
    assert items == ["on", 3, "3", True, 2.5, None, "1/state", 3]
    assert items.lines == [2, 3, 4, 5, 6, 7, 8, 9]
    assert data["="] == "value"
    assert line_of(data, ("list", 6)) == 8


def test_tags_in_mappings_and_lists_still_give_their_problems(tmp_path: Path) -> None:
    data, problems = _load(
        tmp_path,
        """\
        mqtt:
          password: !nope x
          tokens:
            - !env MQTT_KUBE_SURELY_UNSET_VARIABLE
        """,
    )
    assert isinstance(data, LineDict)
    assert data["mqtt"]["tokens"] == [None]
    assert [(path, line) for path, line, _ in problems] == [
        ("mqtt.password", 2),
        ("mqtt.tokens[0]", 4),
    ]
    assert "MQTT_KUBE_SURELY_UNSET_VARIABLE is not set" in problems[1][2]

"""The configuration built from the parser's events is the one the node-based loader builds.

Covered: plain mappings, lists (block and flow), every implicit scalar of the dialect
(`on`/`off`/`yes`/`no` as text, true/false, null, numbers, an empty value), quoted and
multi-line strings, a scalar document, nested lists of mappings, a key given twice (its
problem and line), numbers and null as keys; and that what the event path leaves to the
node loader (tags, anchors and aliases, merge keys, a mapping as a key, two documents, an
empty file, a YAML error) still comes out as that loader reads it, problems included.
Every mapping and list is compared with its lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mqtt_kube.config.yaml_file import (
    _UNUSUAL,
    ConfigLoader,
    LineDict,
    LineList,
    _plain_data,
    load_yaml,
)

PLAIN = [
    "a: 1\nb: [x, 'y', \"z\"]\nc:\n  - d: on\n    e: off\n  - {f: yes, g: no}\n",
    "t: true\nf: False\nn: ~\nm:\ne: ''\nfl: 1.5\nneg: -3\nhex: 0x1F\nts: 2024-01-02\n",
    "text: |\n  two\n  lines\nfolded: >\n  one\n  line\nlong: 'a\n  b'\n",
    "just a scalar\n",
    "---\nbindings:\n  - name: a\n    watch:\n      - {locus: spec.replicas, topic: t}\n...\n",
    "a: 1\nb: 2\na: 3\n",  # a key given twice
    "1: one\n~: nothing\n2.5: x\ntrue: yes\n",
    "- a\n- [b, [c, {d: e}]]\n- {}\n- []\n",
]
UNUSUAL = [
    "a: !env MQTT_KUBE_SURELY_UNSET\n",
    "a: !nonesuch x\n",
    "base: &b {x: 1}\nother: *b\n",
    "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",
    "? {a: 1}\n: value\n",
    "a: 1\n---\nb: 2\n",
    "",
    "# only a comment\n",
    "a: [1, 2\n",
    "a: *missing\n",
    "a: !!str 12\n",
]


def by_nodes(path: Path) -> object:
    """What the node-based loader builds (the reference)."""
    loader = ConfigLoader(path.read_text(), base_dir=path.parent)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, LineDict):
        assert isinstance(b, LineDict)
        return (
            list(a) == list(b)
            and (a.line, a.lines, a.key_problems) == (b.line, b.lines, b.key_problems)
            and all(same(a[key], b[key]) for key in a)
        )
    if isinstance(a, LineList):
        assert isinstance(b, LineList)
        return (
            len(a) == len(b)
            and (a.line, a.lines) == (b.line, b.lines)
            and all(same(x, y) for x, y in zip(a, b, strict=True))
        )
    return a == b


@pytest.mark.parametrize("text", PLAIN)
def test_a_plain_file_is_built_as_the_node_loader_builds_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    data, _ = load_yaml(path)
    assert _plain_data(text, tmp_path)[0] is not _UNUSUAL  # built from the events
    assert same(data, by_nodes(path))


def test_a_key_given_twice_is_a_problem_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    data, problems = load_yaml(path)
    assert data == {"a": 3, "b": 2}
    assert [(p.path, p.message, p.line) for p in problems] == [("a", "this key is given twice", 3)]


@pytest.mark.parametrize("text", UNUSUAL)
def test_what_the_events_leave_is_read_by_the_node_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    data, problems = load_yaml(path)
    assert _plain_data(text, tmp_path)[0] is _UNUSUAL  # left to the node loader
    try:
        expected = by_nodes(path)
    except yaml.YAMLError:  # load_yaml names it as a problem
        assert data is None
        assert len(problems) == 1
        assert problems[0].message.startswith("YAML: ")
        return
    # A value a tag could not give is None in load_yaml, and its problem is kept.
    if isinstance(expected, LineDict) and type(expected.get("a")).__name__ == "Failed":
        assert data == {"a": None}
        assert [p.path for p in problems] == ["a"]
        return
    assert same(data, expected)

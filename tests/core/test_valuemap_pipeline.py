"""A value map's pipeline and its errors: transform, then jsonpath, then the map; the `format`
key flagged; the compiled map described; failing transforms and payloads that are not JSON;
payloads as data, never code; every compile-time mistake (bad regex, bad lambda, non-
callable transform, unknown format fields...) with the key it is under.
"""

from __future__ import annotations

from typing import Any

import pytest

from mqtt_kube.core.errors import ValueMapError, ValueMapSpecError
from mqtt_kube.core.valuemap import MapEntry, Match, ValueMap


@pytest.mark.parametrize(
    ("spec", "value", "output", "context"),
    [
        (
            {"transform": "lambda v: int(v) * 2"},
            "21",
            42,
            {"input": "21", "value": 42},
        ),
        (
            {"transform": "lambda v: v.strip().upper()", "map": {"ON": 1}},
            " on\n",
            1,
            {"input": " on\n", "value": "ON"},
        ),
        (
            {"jsonpath": "$.action"},
            '{"action": "RUN", "n": 2}',
            "RUN",
            {
                "input": '{"action": "RUN", "n": 2}',
                "json": {"action": "RUN", "n": 2},
                "value": "RUN",
            },
        ),
        (
            {"jsonpath": "$.missing", "map": {None: "nothing"}},
            "{}",
            "nothing",
            {"input": "{}", "json": {}, "value": None},
        ),
        (
            {"jsonpath": "$.items[*].name"},
            '{"items": [{"name": "a"}, {"name": "b"}]}',
            "a",
            None,
        ),
        (
            {"jsonpath": "$.phase"},
            {"phase": "Running"},
            "Running",
            {"input": {"phase": "Running"}, "json": {"phase": "Running"}, "value": "Running"},
        ),
        (
            {"jsonpath": "$.action"},
            b'{"action": "RUN"}',
            "RUN",
            {"input": '{"action": "RUN"}', "json": {"action": "RUN"}, "value": "RUN"},
        ),
        (
            {"transform": "lambda v: '{\"a\": ' + v + '}'", "jsonpath": "$.a"},
            "7",
            7,
            {"input": "7", "json": {"a": 7}, "value": 7},
        ),
        (
            {"jsonpath": "$.a", "map": {1: "one"}, "format": "{}"},
            '{"a": 1}',
            "one",
            None,
        ),
    ],
)
def test_transform_then_jsonpath_then_map(
    spec: dict[str, Any], value: object, output: object, context: dict[str, object] | None
) -> None:
    match = ValueMap.from_config(spec).match(value)
    assert match is not None
    assert match.output == output
    if context is not None:
        assert match.context == context


def test_the_format_key_is_accepted_and_flagged() -> None:
    assert ValueMap.from_config({"format": "{value}", "map": {1: "a"}}).uses_format
    assert not ValueMap.from_config({"map": {1: "a"}}).uses_format


def test_the_compiled_map_describes_its_parts() -> None:
    values = ValueMap.from_config(
        {"transform": "lambda v: v", "jsonpath": "$.action", "map": {"RUN": "launch"}}
    )
    assert values.has_map
    assert values.transform_source == "lambda v: v"
    assert values.jsonpath == "$.action"
    assert values.entries == (MapEntry(key="RUN", output="launch", form="literal"),)
    assert values != ValueMap.from_config({"jsonpath": "$.action", "map": {"RUN": "launch"}})


@pytest.mark.parametrize(
    ("spec", "value", "problem"),
    [
        (
            {"transform": "lambda v: int(v)"},
            "abc",
            r"transform 'lambda v: int\(v\)' failed on 'abc': ValueError",
        ),
        ({"transform": "lambda v: v / 0"}, 1, "ZeroDivisionError"),
        ({"transform": "lambda v: nope(v)"}, "x", "NameError: name 'nope' is not defined"),
        ({"jsonpath": "$.action"}, "RUN", "payload 'RUN' is not JSON"),
        ({"jsonpath": "$.action"}, "", "payload '' is not JSON"),
        ({"jsonpath": "$.action"}, '{"action": ', "is not JSON"),
        ({"jsonpath": "$.action"}, b"\xff\xfe", "is not UTF-8 text"),
    ],
)
def test_a_failed_transform_or_json_parse_is_a_value_map_error(
    spec: dict[str, Any], value: object, problem: str
) -> None:
    with pytest.raises(ValueMapError, match=problem):
        ValueMap.from_config(spec).match(value)


def test_payloads_are_data_for_expressions_never_code() -> None:
    values = ValueMap.from_config({"transform": "lambda v: v", "map": {"lambda v: v == 'x'": 1}})
    hostile = "__import__('os').system('touch /tmp/pwned')"
    assert values.match(hostile) is None
    assert ValueMap.from_config({"transform": "lambda v: v"}).match(hostile) == Match(
        output=hostile, context={"input": hostile, "value": hostile}
    )


@pytest.mark.parametrize(
    ("spec", "key", "problem"),
    [
        ({"map": {"re:(": 1}}, "map['re:(']", r"bad regular expression 're:\(': missing \)"),
        ({"re:[a-": 1}, "['re:[a-']", "bad regular expression 're:\\[a-'"),
        (
            {"map": {"re:(?P<input>.*)": 1}},
            "map['re:(?P<input>.*)']",
            "group 'input', which is reserved",
        ),
        (
            {"map": {"lambda v: v >": 1}},
            "map['lambda v: v >']",
            "lambda 'lambda v: v >' is not valid Python",
        ),
        ({"map": {"lambda: True": 1}}, "map['lambda: True']", "cannot be called with one argument"),
        ({"map": {"lambda v: nope(v)": 1}}, None, None),  # a NameError only once called: no match
        ({"transform": "lambda v:"}, "transform", "transform 'lambda v:' is not valid Python"),
        ({"transform": "42"}, "transform", "gives int, not a function of one argument"),
        ({"transform": "'text'"}, "transform", "gives str, not a function"),
        ({"transform": "lambda a, b: a"}, "transform", "cannot be called with one argument"),
        ({"transform": "undefined_name"}, "transform", "cannot be evaluated: NameError"),
        ({"transform": "__import__('os')"}, "transform", "gives module, not a function"),
        ({"transform": 3}, "transform", "must be a Python expression in a string, not int"),
        ({"jsonpath": "$.["}, "jsonpath", r"invalid JSONPath '\$\.\['"),
        ({"jsonpath": ["$.a"]}, "jsonpath", "must be a JSONPath string, not list"),
        ({"map": ["ON", "OFF"]}, "map", "map must be a mapping of input to output, not list"),
        ({"map": {"ON": 1}, "topic": "x"}, "topic", "unknown key 'topic' in values"),
        (
            {"map": {"x": "{nope}"}},
            "map['x']",
            r"output '\{nope\}' uses 'nope'; the context has only: input, value",
        ),
        ({"map": {"x": "{json}"}}, "map['x']", "uses 'json'"),
        ({"map": {"x": "{}"}}, "map['x']", "uses a positional field"),
        ({"map": {"x": "{0}"}}, "map['x']", "uses a positional field"),
        ({"map": {"x": "{"}}, "map['x']", "is not a valid format string"),
        ({"map": {"x": "}"}}, "map['x']", "is not a valid format string"),
        ({"re:(?P<n>a)": "{m}"}, "['re:(?P<n>a)']", "the context has only: input, n, value"),
        ({(1, 2): "x"}, "[(1, 2)]", "a map key must be text, a number, a boolean or ~, not tuple"),
    ],
)
def test_mistakes_in_a_values_block_are_found_at_load_with_their_key(
    spec: dict[Any, Any], key: str | None, problem: str | None
) -> None:
    if key is None:
        assert ValueMap.from_config(spec).match("x") is None
        return
    with pytest.raises(ValueMapSpecError, match=problem) as caught:
        ValueMap.from_config(spec)
    assert caught.value.key == key
    assert isinstance(caught.value, ValueError)


def test_values_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ValueMapSpecError, match="values must be a mapping, not list"):
        ValueMap.from_config(["ON"])  # type: ignore[arg-type]

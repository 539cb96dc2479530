"""Value mapping: the `values:` block of an association, compiled and matched.

Covered: every `values:` block of the original-forms config (tests/compat, read from the
file) and the original README's examples, both ways of writing `values`, the identity map,
literal keys (text against numbers, `~` against None and the empty payload, booleans never
equal to 1), `re:` keys with named groups, `lambda` keys (exceptions are no match), file
order, format string outputs and non-string outputs, transform → jsonpath → map order, and
the errors: failing transforms, payloads that are not JSON, and every compile-time mistake
(bad regex, bad lambda, non-callable transform, unknown format fields...) with the key it
is under.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mqtt_kube.core.errors import ValueMapError, ValueMapSpecError
from mqtt_kube.core.valuemap import MapEntry, Match, ValueMap
from tests.support.paths import ORIGINAL_CONFIG

NO_MATCH = object()


class _OriginalLoader(yaml.SafeLoader):
    """Enough of the config loader to read the original-forms file: `!relpath` kept as text."""


_OriginalLoader.add_constructor("!relpath", lambda loader, node: loader.construct_scalar(node))


def _original_values() -> dict[str, Any]:
    """Every `values:` block of the original-forms config, by where it is."""
    config = yaml.load(ORIGINAL_CONFIG.read_text(), Loader=_OriginalLoader)  # noqa: S506
    blocks = {}
    for b, binding in enumerate(config["bindings"]):
        for kind in ("watch", "patch", "action"):
            for a, association in enumerate(binding.get(kind, [])):
                blocks[f"bindings[{b}].{kind}[{a}]"] = association.get("values")
    return blocks


ORIGINAL_VALUES = _original_values()


def _outcome(values: ValueMap, value: object) -> object:
    match = values.match(value)
    return NO_MATCH if match is None else match.output


@pytest.mark.parametrize(
    ("where", "value", "output"),
    [
        # plex: patch spec.replicas from ON/OFF
        ("bindings[0].patch[0]", "ON", 1),
        ("bindings[0].patch[0]", "OFF", 0),
        ("bindings[0].patch[0]", "on", NO_MATCH),
        ("bindings[0].patch[0]", "1", NO_MATCH),
        # plex: watch status.availableReplicas (the map written without `map:`)
        ("bindings[0].watch[0]", 1, "ON"),
        ("bindings[0].watch[0]", None, "OFF"),
        ("bindings[0].watch[0]", 0, NO_MATCH),
        ("bindings[0].watch[0]", 2, NO_MATCH),
        ("bindings[0].watch[0]", True, NO_MATCH),
        # nightly-backup: the whole status, no values
        ("bindings[1].watch[0]", {"active": 1}, {"active": 1}),
        ("bindings[1].watch[0]", None, None),
        # status.failed: ~ → ~, lambda v: v > 0 → FAILED
        ("bindings[1].watch[1]", None, None),
        ("bindings[1].watch[1]", 1, "FAILED"),
        ("bindings[1].watch[1]", 3, "FAILED"),
        ("bindings[1].watch[1]", 0, NO_MATCH),
        # status.active / status.succeeded
        ("bindings[1].watch[2]", None, None),
        ("bindings[1].watch[2]", 1, "RUNNING"),
        ("bindings[1].watch[2]", 2, NO_MATCH),
        ("bindings[1].watch[3]", 1, "DONE"),
        ("bindings[1].watch[3]", None, None),
        # startTime: a regex with named groups, a format-string output
        ("bindings[1].watch[4]", "2024-05-01T10:00:00Z", "2024-05-01 at 10:00"),
        ("bindings[1].watch[4]", "soon", NO_MATCH),
        # the action: {"action": "RUN"} launches, {"action": "STOP"} deletes
        ("bindings[1].action[0]", '{"action": "RUN"}', "launch"),
        ("bindings[1].action[0]", '{"action":"STOP"}', "delete"),
        ("bindings[1].action[0]", '{"action": "PAUSE"}', NO_MATCH),
        ("bindings[1].action[0]", "{}", NO_MATCH),
        ("bindings[1].action[0]", '"RUN"', NO_MATCH),
        # sonarr: a transform before the map
        ("bindings[2].patch[0]", " on ", 1),
        ("bindings[2].patch[0]", "Off", 0),
        ("bindings[2].patch[0]", "maybe", NO_MATCH),
        # sonarr: `{input}` in the output
        ("bindings[2].watch[0]", 3, "3 wanted"),
        ("bindings[2].watch[0]", None, "none wanted"),
        # sonarr: an action selected by a regex, matched from the start
        ("bindings[2].action[0]", "sync tv", "launch"),
        ("bindings[2].action[0]", "sync TV", NO_MATCH),
        ("bindings[2].action[0]", "resync tv", NO_MATCH),
    ],
)
def test_the_original_forms_values_blocks_map_as_the_original_did(
    where: str, value: object, output: object
) -> None:
    assert _outcome(ValueMap.from_config(ORIGINAL_VALUES[where]), value) == output


def test_the_original_forms_config_has_the_blocks_the_table_expects() -> None:
    assert len(ORIGINAL_VALUES) == 11
    assert ORIGINAL_VALUES["bindings[1].action[0]"]["jsonpath"] == "$.action"


# The original README's examples, as it writes them.
README_WATCH = {1: "ON", None: "OFF"}  # `values:` itself is the map
README_PATCH = {"map": {"ON": 1, "OFF": 0}}
README_ACTION = {"map": {"RUN": "launch", "STOP": "delete"}}
README_ACTION_TYPO = {"map": {"RUN": "launch", "STOP": "create"}}


@pytest.mark.parametrize(
    ("spec", "value", "output"),
    [
        (README_WATCH, 1, "ON"),
        (README_WATCH, None, "OFF"),
        (README_WATCH, "", "OFF"),
        (README_PATCH, "ON", 1),
        (README_PATCH, "OFF", 0),
        (README_ACTION, "RUN", "launch"),
        (README_ACTION, "STOP", "delete"),
        (README_ACTION, "run", NO_MATCH),
        (README_ACTION_TYPO, "STOP", "create"),  # the caller refuses anything but launch/delete
    ],
)
def test_the_original_readme_examples_map_as_documented(
    spec: dict[Any, Any], value: object, output: object
) -> None:
    assert _outcome(ValueMap.from_config(spec), value) == output


def test_values_written_as_the_map_itself_equal_values_with_a_map_key() -> None:
    short = ValueMap.from_config({1: "ON", None: "OFF"})
    long = ValueMap.from_config({"map": {1: "ON", None: "OFF"}})
    assert short == long
    assert hash(short) == hash(long)
    assert short.entries == (
        MapEntry(key=1, output="ON", form="literal"),
        MapEntry(key=None, output="OFF", form="literal"),
    )


@pytest.mark.parametrize("spec", [None, {}, {"map": {}}, {"map": None}])
def test_no_map_passes_the_value_through(spec: dict[str, Any] | None) -> None:
    values = ValueMap.from_config(spec)
    assert not values.has_map
    assert values.entries == ()
    assert values.match("42") == Match(output="42", context={"input": "42", "value": "42"})
    assert values.match(None) == Match(output=None, context={"input": None, "value": None})


@pytest.mark.parametrize(
    ("key", "value", "matches"),
    [
        # text keys
        ("ON", "ON", True),
        ("ON", "on", False),
        ("ON", "ON ", False),
        ("1", "1", True),
        ("1", 1, True),
        ("true", True, True),
        ("", None, True),
        ("", "", True),
        # integer keys: an MQTT payload is text
        (1, 1, True),
        (1, "1", True),
        (1, " 1\n", True),
        (1, "1.0", True),
        (1, 1.0, True),
        (1, "01", True),
        (1, 2, False),
        (1, "one", False),
        (1, "1_0", False),
        (1, True, False),
        (0, False, False),
        (1, "true", False),
        (1, None, False),
        # float keys
        (1.5, "1.5", True),
        (1.5, 1.5, True),
        (1.5, "1.50", True),
        (1.5, "1.6", False),
        (1.5, "nan", False),
        # ~ matches None and the empty payload
        (None, None, True),
        (None, "", True),
        (None, 0, False),
        (None, "null", False),
        (None, False, False),
        # boolean keys match booleans and their text, never 1/0
        (True, True, True),
        (True, "true", True),
        (True, "True", True),
        (True, 1, False),
        (True, "1", False),
        (True, False, False),
        (False, False, True),
        (False, "false", True),
        (False, 0, False),
        (False, None, False),
        (False, "", False),
    ],
)
def test_literal_keys_match_by_meaning_not_by_python_equality(
    key: object, value: object, matches: bool
) -> None:
    values = ValueMap.from_config({"map": {key: "hit"}})
    assert values.entries[0].form == "literal"
    assert (values.match(value) is not None) is matches


@pytest.mark.parametrize(
    ("key", "value", "groups"),
    [
        ("re:abc", "abcdef", {}),
        ("re:abc$", "abcdef", None),
        ("re:def", "abcdef", None),  # re.match: from the start
        (r"re:\d+", 42, {}),
        (r"re:\d+", None, None),
        ("re:", "", {}),
        ("re:true", True, {}),
        (r"re:(?P<verb>[a-z]+) (?P<n>\d+)?", "scale ", {"verb": "scale", "n": None}),
        (r"re:(?P<verb>[a-z]+) (?P<n>\d+)", "scale 3", {"verb": "scale", "n": "3"}),
    ],
)
def test_regex_keys_match_from_the_start_and_add_named_groups(
    key: str, value: object, groups: dict[str, object] | None
) -> None:
    values = ValueMap.from_config({"map": {key: "hit"}})
    assert values.entries[0].form == "regex"
    match = values.match(value)
    if groups is None:
        assert match is None
    else:
        assert match is not None
        assert match.context == {"input": value, "value": value, **groups}


@pytest.mark.parametrize(
    ("key", "value", "matches"),
    [
        ("lambda v: v > 0", 1, True),
        ("lambda v: v > 0", 0, False),
        ("lambda v: v > 0", "5", False),  # TypeError: no match
        ("lambda v: int(v) > 0", "5", True),
        ("lambda v: int(v) > 0", "five", False),
        ("lambda v: len(v) == 3", "abc", True),
        ("lambda v: json.loads(v)['n'] == 2", '{"n": 2}', True),
        ("lambda v: re.fullmatch('[a-f]+', v)", "cafe", True),
        ("lambda v: v", "", False),
        ("lambda value: value is None", None, True),
    ],
)
def test_lambda_keys_are_predicates_whose_errors_are_no_match(
    key: str, value: object, matches: bool
) -> None:
    values = ValueMap.from_config({"map": {key: "hit"}})
    assert values.entries[0].form == "lambda"
    assert (values.match(value) is not None) is matches


def test_a_failing_lambda_is_no_match_and_is_handed_to_the_caller() -> None:
    values = ValueMap.from_config({"map": {"lambda v: v > 0": "hit", "re:t": "text"}})
    failures: list[tuple[str, object, str]] = []
    match = values.match(
        "text", on_predicate_error=lambda key, v, exc: failures.append((key, v, type(exc).__name__))
    )
    assert match is not None
    assert match.output == "text"
    assert failures == [("lambda v: v > 0", "text", "TypeError")]


def test_entries_are_tried_in_file_order_and_the_first_match_wins() -> None:
    values = ValueMap.from_config(
        {"map": {"re:S": "starts with S", "STOP": "stop", "lambda v: True": "anything"}}
    )
    assert _outcome(values, "STOP") == "starts with S"
    assert _outcome(values, "GO") == "anything"
    assert [e.form for e in values.entries] == ["regex", "literal", "lambda"]


@pytest.mark.parametrize(
    ("spec", "value", "output"),
    [
        ({"re:(?P<name>[a-z]+)": "{name}-job"}, "backup", "backup-job"),
        ({"re:.*": "got {input}"}, "x", "got x"),
        ({"re:.*": "{value!r}"}, "x", "'x'"),
        ({"re:.*": "{{literal}} {input}"}, "x", "{literal} x"),
        ({"lambda v: True": "{input:>4}"}, "7", "   7"),
        ({"map": {"re:.*": "{json[a]}/{value}"}, "jsonpath": "$.b"}, '{"a": 1, "b": 2}', "1/2"),
        ({"ON": 1}, "ON", 1),
        ({"ON": 1.5}, "ON", 1.5),
        ({"ON": True}, "ON", True),
        ({"ON": None}, "ON", None),
        ({"ON": [1, 2]}, "ON", [1, 2]),
        ({"ON": {"a": 1}}, "ON", {"a": 1}),
    ],
)
def test_string_outputs_are_format_strings_and_others_are_used_as_is(
    spec: dict[Any, Any], value: object, output: object
) -> None:
    assert _outcome(ValueMap.from_config(spec), value) == output


def test_a_format_that_fails_at_run_time_is_a_value_map_error_naming_the_output() -> None:
    values = ValueMap.from_config({"lambda v: True": "{value:d}"})
    assert _outcome(values, 3) == "3"
    with pytest.raises(ValueMapError, match=r"output '\{value:d\}' cannot be formatted"):
        values.match("three")


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

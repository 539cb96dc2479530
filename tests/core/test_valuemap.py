"""How a value map matches: literal keys (text against numbers, `~` against None and the empty
payload, booleans never equal to 1), `re:` keys with named groups, `lambda` keys (exceptions
are no match), file order, format string outputs and non-string outputs.
"""

from __future__ import annotations

from typing import Any

import pytest

from mqtt_kube.core.errors import ValueMapError
from mqtt_kube.core.valuemap import ValueMap
from tests.support.value_maps import outcome


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
    assert outcome(values, "STOP") == "starts with S"
    assert outcome(values, "GO") == "anything"
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
    assert outcome(ValueMap.from_config(spec), value) == output


def test_a_format_that_fails_at_run_time_is_a_value_map_error_naming_the_output() -> None:
    values = ValueMap.from_config({"lambda v: True": "{value:d}"})
    assert outcome(values, 3) == "3"
    with pytest.raises(ValueMapError, match=r"output '\{value:d\}' cannot be formatted"):
        values.match("three")

"""The operator's expressions (`transform`, `lambda` keys) see Python's full builtins.

Covered: lambdas and transforms using builtins beyond a short list (`range`, `next`, `map`,
`zip`, `ord`, `enumerate`, `hex`, `sum`) match and transform as written, as in the original;
the `json` and `re` modules are there too.
"""

from __future__ import annotations

import pytest

from mqtt_kube.core.valuemap import ValueMap


@pytest.mark.parametrize(
    ("key", "payload"),
    [
        ("lambda v: int(v) in range(1, 10)", "5"),
        ("lambda v: next(iter(v)) == 'a'", "abc"),
        ("lambda v: sum(map(int, v.split(','))) > 5", "1,2,3"),
        ("lambda v: all(a < b for a, b in zip(v, v[1:]))", "abc"),
        ("lambda v: ord(v[0]) == 65", "A1"),
        ("lambda v: any(i == 2 and c == 'c' for i, c in enumerate(v))", "abc"),
        ("lambda v: hex(int(v)) == '0xff'", "255"),
        ("lambda v: json.loads(v)['on'] and re.match('x', 'x') is not None", '{"on": true}'),
    ],
)
def test_a_lambda_key_may_use_any_builtin(key: str, payload: str) -> None:
    values = ValueMap.from_config({key: "hit"})
    failures: list[Exception] = []
    match = values.match(payload, on_predicate_error=lambda _k, _v, exc: failures.append(exc))
    assert failures == []
    assert match is not None
    assert match.output == "hit"


def test_a_transform_may_use_any_builtin() -> None:
    values = ValueMap.from_config({"transform": "lambda v: sum(map(int, v.split(',')))"})
    match = values.match("1,2,3")
    assert match is not None
    assert match.output == 6

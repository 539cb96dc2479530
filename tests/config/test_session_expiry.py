"""`mqtt.session-expiry`: how long the broker keeps the session after a drop, in seconds.

Covered: the default (30 s), a value given, 0, and values refused with their line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.core.errors import ConfigError

NODE = "bindings:\n  - resource: Node\n    name: pi\n    watch: {locus: status.phase, topic: pi}\n"


def _load(tmp_path: Path, mqtt: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"mqtt:\n  host: 127.0.0.1\n{mqtt}" + NODE)
    return path


@pytest.mark.parametrize(
    ("mqtt", "expiry"),
    [("", 30), ("  session-expiry: 300\n", 300), ("  session-expiry: 0\n", 0)],
)
def test_the_session_expiry_defaults_to_30_seconds(tmp_path: Path, mqtt: str, expiry: int) -> None:
    assert load_config(_load(tmp_path, mqtt)).mqtt.session_expiry == expiry


@pytest.mark.parametrize("value", ["-1", "30s", "4294967296", "1.5"])
def test_a_session_expiry_that_is_no_whole_number_of_seconds_is_refused(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_load(tmp_path, f"  session-expiry: {value}\n"))
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("mqtt.session-expiry", 3)

"""The YAML dialect of config files: on/off/yes/no stay strings, `~` is None, `!relpath`,
`!env`, `!file`, duplicates, syntax errors, a file without bindings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.config.yaml_file import LineDict, load_yaml
from mqtt_kube.core.errors import ConfigError
from tests.support.config_files import jellyfin, load, only_problem, write

# --- the YAML dialect: booleans, None, tags, duplicates, syntax


def test_on_off_yes_no_stay_strings_and_tilde_is_none(tmp_path: Path) -> None:
    path = write(tmp_path, "ON: 1\noff: 2\nYes: 3\nNO: 4\ny: 5\ntrue: 6\nFalse: 7\n~: 8\nk: ~\n")
    data, found = load_yaml(path)
    assert found == []
    assert data == {
        "ON": 1,
        "off": 2,
        "Yes": 3,
        "NO": 4,
        "y": 5,
        True: 6,
        False: 7,
        None: 8,
        "k": None,
    }


def test_every_key_and_item_knows_its_line(tmp_path: Path) -> None:
    data, _ = load_yaml(write(tmp_path, "a:\n  b: 1\n  c:\n    - x\n    - y: 2\n"))
    assert isinstance(data, LineDict)
    assert data.lines == {"a": 1}
    assert data["a"].lines == {"b": 2, "c": 3}
    assert data["a"]["c"].lines == [4, 5]
    assert data["a"]["c"][1].lines == {"y": 5}


def test_relpath_is_made_absolute_from_the_configs_folder(folder: Path) -> None:
    sub = folder / "sub"
    sub.mkdir()
    path = write(sub, "a: !relpath ../job.yaml\nb: !relpath /etc/hosts\n")
    data, found = load_yaml(path)
    assert found == []
    assert data == {"a": str(folder / "job.yaml"), "b": "/etc/hosts"}


def test_env_and_file_give_secrets(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_KUBE_TEST_USER", "kube")
    (folder / "password.txt").write_text("s3cret\n")
    config = load(
        folder,
        """
        mqtt:
          auth:
            type: basic
            username: !env MQTT_KUBE_TEST_USER
            password: !file password.txt
        bindings: []
        """,
    )
    assert (config.mqtt.username, config.mqtt.password) == ("kube", "s3cret")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!env MQTT_KUBE_TEST_UNSET", "environment variable MQTT_KUBE_TEST_UNSET is not set"),
        ("!file missing.txt", "cannot read {folder}/missing.txt: No such file or directory"),
        ("!file .", "cannot read {folder}: Is a directory"),
        ("!env", "!env needs a name or path after it"),
        (
            "!secret x",
            "a YAML tag here (not shown: the value is a secret); quote a secret that starts with !",
        ),
    ],
)
def test_a_tag_that_fails_is_one_problem_with_its_line(
    folder: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.delenv("MQTT_KUBE_TEST_UNSET", raising=False)
    text = (
        f"mqtt:\n  auth:\n    type: basic\n    username: u\n    password: {value}\nbindings: []\n"
    )
    assert only_problem(folder, text) == (
        "mqtt.auth.password",
        5,
        message.format(folder=folder),
    )


def test_an_unknown_tag_outside_a_secret_is_named(folder: Path) -> None:
    text = "mqtt:\n  host: !secret x\nbindings: []\n"
    assert only_problem(folder, text) == (
        "mqtt.host",
        2,
        "unknown tag !secret: the tags mqtt-kube knows are !relpath, !env and !file",
    )


def test_a_duplicate_key_is_a_problem_at_its_second_line(folder: Path) -> None:
    text = jellyfin("    name: emby\n")
    assert only_problem(folder, text) == ("bindings[0].name", 5, "this key is given twice")


def test_a_yaml_syntax_error_names_its_line(folder: Path) -> None:
    path, line, message = only_problem(folder, "mqtt:\n  host: [a, b\nbindings: []\n")
    assert (path, line) == ("", 3)
    assert message.startswith("YAML: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty: it needs at least a bindings or discover list"),
        ("- a\n", "expected a mapping of sections, got a list"),
        ("mqtt: {}\n", "required, but missing (or a discover list)"),
        ("bindings: {name: x}\n", "expected a list of bindings, got a mapping"),
    ],
)
def test_a_file_without_a_bindings_list_is_refused(folder: Path, text: str, message: str) -> None:
    assert only_problem(folder, text)[2] == message


def test_a_missing_file_is_one_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory"
    ]

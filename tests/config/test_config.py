"""Loading configuration files: defaults, every key, YAML tags, kinds, topics, and problems.

Covers: the default of every key and the value each key sets; `bind`/`host`; `!relpath`,
`!env`, `!file` and their failures; on/off/yes/no staying strings and `~` being None; both
forms of `values`; single-mapping associations; topic-prefix joining and the availability
topic; port 8883 with TLS; unknown keys with a hint; the kind and namespace rules; action and
patch rules; the original example config; many problems reported at once with paths and lines.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import DEFAULT_HTTP_BIND, Config, TlsSettings, WatchKey, watch_groups
from mqtt_kube.config.yaml_file import LineDict, load_yaml
from mqtt_kube.core.errors import ConfigError
from tests.support.paths import CONFIGS, ORIGINAL_CONFIG, ORIGINAL_JOB, ORIGINAL_SYNC_JOB

JELLYFIN = """
bindings:
  - namespace: media
    resource: Deployment
    name: jellyfin
"""


def jellyfin(extra: str = "") -> str:
    """A Deployment binding with `extra` (dedented) as more of its keys, from line 5."""
    return JELLYFIN + textwrap.indent(textwrap.dedent(extra).strip("\n"), "    ") + "\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder for config files, with a launch template beside them."""
    shutil.copy(CONFIGS / "job.yaml", tmp_path / "job.yaml")
    return tmp_path


def write(folder: Path, text: str, *, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(folder: Path, text: str) -> Config:
    return load_config(write(folder, text))


def problems(folder: Path, text: str) -> list[tuple[str, int | None, str]]:
    """(path, line, message) of every problem in the file; fails if it loads."""
    path = write(folder, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert all(problem.source == str(path) for problem in caught.value.problems)
    return [(p.path, p.line, p.message) for p in caught.value.problems]


def only_problem(folder: Path, text: str) -> tuple[str, int | None, str]:
    found = problems(folder, text)
    assert len(found) == 1, found
    return found[0]


Getter = Callable[[Config], Any]

DEFAULTS: list[Any] = [
    pytest.param(lambda c: c.mqtt.host, "127.0.0.1", id="mqtt.host"),
    pytest.param(lambda c: c.mqtt.port, 1883, id="mqtt.port"),
    pytest.param(lambda c: c.mqtt.client_id, "mqtt-kube", id="mqtt.client-id"),
    pytest.param(lambda c: c.mqtt.topic_prefix, None, id="mqtt.topic-prefix"),
    pytest.param(lambda c: c.mqtt.username, None, id="mqtt.auth.username"),
    pytest.param(lambda c: c.mqtt.password, None, id="mqtt.auth.password"),
    pytest.param(lambda c: c.mqtt.tls, None, id="mqtt.tls"),
    pytest.param(lambda c: c.mqtt.keepalive, 60, id="mqtt.keepalive"),
    pytest.param(
        lambda c: c.mqtt.availability_topic,
        "mqtt-kube/mqtt-kube/status",
        id="mqtt.availability-topic",
    ),
    pytest.param(lambda c: c.mqtt.max_payload, 262144, id="mqtt.max-payload"),
    pytest.param(lambda c: c.http.bind, DEFAULT_HTTP_BIND, id="http.bind"),
    pytest.param(lambda c: c.http.port, 8080, id="http.port"),
    pytest.param(lambda c: c.http.max_connections, 100, id="http.max-connections"),
    pytest.param(lambda c: c.log_level, "INFO", id="logging.level"),
    pytest.param(lambda c: c.kubernetes.kubeconfig, None, id="kubernetes.kubeconfig"),
    pytest.param(lambda c: c.kubernetes.context, None, id="kubernetes.context"),
    pytest.param(lambda c: c.kubernetes.watch_scope, "namespace", id="kubernetes.watch-scope"),
    pytest.param(lambda c: c.homeassistant, None, id="homeassistant"),
    pytest.param(lambda c: c.bindings, (), id="bindings"),
    pytest.param(lambda c: c.warnings, (), id="warnings"),
]


@pytest.mark.parametrize(("get", "expected"), DEFAULTS)
def test_a_key_left_out_takes_its_default(folder: Path, get: Getter, expected: object) -> None:
    assert get(load(folder, "bindings: []\n")) == expected


@pytest.mark.parametrize(("get", "expected"), DEFAULTS)
def test_empty_sections_take_the_defaults_too(folder: Path, get: Getter, expected: object) -> None:
    config = load(folder, "mqtt:\nhttp:\nlogging:\nkubernetes:\nhomeassistant:\nbindings: []\n")
    assert get(config) == expected


SETTINGS: list[Any] = [
    pytest.param("mqtt: {host: broker.lan}", lambda c: c.mqtt.host, "broker.lan", id="host"),
    pytest.param("mqtt: {port: 1884}", lambda c: c.mqtt.port, 1884, id="port"),
    pytest.param("mqtt: {client-id: kube1}", lambda c: c.mqtt.client_id, "kube1", id="client"),
    pytest.param("mqtt: {client-id: 1234}", lambda c: c.mqtt.client_id, "1234", id="numeric-id"),
    pytest.param("mqtt: {keepalive: 15}", lambda c: c.mqtt.keepalive, 15, id="keepalive"),
    pytest.param("mqtt: {max-payload: 1024}", lambda c: c.mqtt.max_payload, 1024, id="payload"),
    pytest.param(
        "mqtt: {topic-prefix: home/kube/}", lambda c: c.mqtt.topic_prefix, "home/kube", id="prefix"
    ),
    pytest.param(
        "mqtt: {auth: {type: basic, username: kube, password: secret}}",
        lambda c: (c.mqtt.username, c.mqtt.password, c.mqtt.tls, c.mqtt.port),
        ("kube", "secret", None, 1883),
        id="basic-auth",
    ),
    pytest.param(
        "mqtt: {auth: {type: BASIC, username: kube}}",
        lambda c: (c.mqtt.username, c.mqtt.password),
        ("kube", None),
        id="basic-auth-without-password",
    ),
    pytest.param("mqtt: {auth: {type: none}}", lambda c: c.mqtt.username, None, id="auth-none"),
    pytest.param("mqtt: {tls: {}}", lambda c: c.mqtt.port, 8883, id="tls-port"),
    pytest.param("mqtt: {tls: true}", lambda c: c.mqtt.port, 8883, id="tls-true"),
    pytest.param("mqtt: {tls: false}", lambda c: c.mqtt.tls, None, id="tls-false"),
    *(
        pytest.param(
            f"mqtt: {{tls: {word}}}", lambda c: c.mqtt.tls, TlsSettings(), id=f"tls-{word}"
        )
        for word in ("on", "yes", "true", "ON", "Yes")
    ),
    *(
        pytest.param(f"mqtt: {{tls: {word}}}", lambda c: c.mqtt.tls, None, id=f"tls-{word}")
        for word in ("off", "no", "false", "OFF")
    ),
    pytest.param("mqtt: {tls: {}, port: 8884}", lambda c: c.mqtt.port, 8884, id="tls-own-port"),
    pytest.param(
        "mqtt: {tls: {insecure: true}}",
        lambda c: (c.mqtt.tls.cafile, c.mqtt.tls.insecure, c.mqtt.tls.certfile),
        (None, True, None),
        id="tls-insecure",
    ),
    pytest.param(
        "mqtt: {tls: {}, auth: {type: basic, username: u, password: p}}",
        lambda c: (c.mqtt.username, c.mqtt.tls.insecure, c.mqtt.port),
        ("u", False, 8883),
        id="tls-with-basic",
    ),
    pytest.param("http: {bind: 127.0.0.1}", lambda c: c.http.bind, "127.0.0.1", id="bind"),
    pytest.param("http: {host: 127.0.0.1}", lambda c: c.http.bind, "127.0.0.1", id="http-host"),
    pytest.param("http: {port: 0}", lambda c: c.http.port, 0, id="http-port-0"),
    pytest.param(
        "http: {max-connections: 10}", lambda c: c.http.max_connections, 10, id="max-conn"
    ),
    pytest.param("logging: {level: debug}", lambda c: c.log_level, "DEBUG", id="debug"),
    pytest.param("logging: {level: Warn}", lambda c: c.log_level, "WARNING", id="warn"),
    pytest.param("logging: {level: warning}", lambda c: c.log_level, "WARNING", id="warning"),
    pytest.param("logging: {level: ERROR}", lambda c: c.log_level, "ERROR", id="error"),
    pytest.param(
        "kubernetes: {kubeconfig: /etc/kube.conf, context: lab, watch-scope: cluster}",
        lambda c: (c.kubernetes.kubeconfig, c.kubernetes.context, c.kubernetes.watch_scope),
        ("/etc/kube.conf", "lab", "cluster"),
        id="kubernetes",
    ),
    pytest.param(
        "kubernetes: {watch-scope: Namespace}",
        lambda c: c.kubernetes.watch_scope,
        "namespace",
        id="watch-scope-namespace",
    ),
    pytest.param(
        "kubernetes: {watch-scope: object}",
        lambda c: c.kubernetes.watch_scope,
        "object",
        id="object",
    ),
    pytest.param(
        "kubernetes: {watch-scope: auto}",
        lambda c: (c.kubernetes.watch_scope, "`auto` is no longer a scope" in c.warnings[0]),
        ("namespace", True),
        id="auto",
    ),
    pytest.param(
        "homeassistant: true",
        lambda c: (c.homeassistant.discovery_prefix, c.homeassistant.birth_topic),
        ("homeassistant", "homeassistant/status"),
        id="homeassistant-true",
    ),
    pytest.param("homeassistant: false", lambda c: c.homeassistant, None, id="homeassistant-off"),
    pytest.param(
        "homeassistant: {discovery-prefix: ha/, birth-topic: ha/online}",
        lambda c: (c.homeassistant.discovery_prefix, c.homeassistant.birth_topic),
        ("ha", "ha/online"),
        id="homeassistant-mapping",
    ),
]


@pytest.mark.parametrize(("section", "get", "expected"), SETTINGS)
def test_a_key_sets_its_setting(folder: Path, section: str, get: Getter, expected: object) -> None:
    assert get(load(folder, f"{section}\nbindings: []\n")) == expected


def test_mtls_takes_its_files_and_implies_tls(folder: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (folder / name).write_text("-----\n")
    config = load(
        folder,
        """
        mqtt:
          auth:
            type: mtls
            cafile: !relpath ca.pem
            certfile: !relpath client.pem
            keyfile: !relpath client.key
            keyfile_password: hush
            protocols: [mqtt, x-other]
        bindings: []
        """,
    )
    tls = config.mqtt.tls
    assert tls is not None
    assert (tls.cafile, tls.certfile, tls.keyfile) == (
        str(folder / "ca.pem"),
        str(folder / "client.pem"),
        str(folder / "client.key"),
    )
    assert (tls.keyfile_password, tls.protocols, tls.insecure) == (
        "hush",
        ("mqtt", "x-other"),
        False,
    )
    assert config.mqtt.port == 8883


def test_mtls_without_a_cafile_uses_the_system_cas(folder: Path) -> None:
    (folder / "client.pem").write_text("-----\n")
    config = load(
        folder,
        """
        mqtt:
          auth: {type: mtls, certfile: !relpath client.pem, keyfile: !relpath client.pem}
        bindings: []
        """,
    )
    assert config.mqtt.tls is not None
    assert config.mqtt.tls.cafile is None


@pytest.mark.parametrize(
    ("section", "found"),
    [
        ("mqtt: {tls: {cafile: /nonexistent/ca.pem}}", [("mqtt.tls.cafile", "ca.pem")]),
        (
            "mqtt: {auth: {type: mtls, certfile: /nonexistent/c.pem, keyfile: /nonexistent/k}}",
            [("mqtt.auth.certfile", "c.pem"), ("mqtt.auth.keyfile", "k")],
        ),
    ],
)
def test_a_tls_file_must_exist(folder: Path, section: str, found: list[tuple[str, str]]) -> None:
    assert problems(folder, f"{section}\nbindings: []\n") == [
        (where, 1, f"file not found: /nonexistent/{name}") for where, name in found
    ]


def test_bind_and_host_together_are_a_problem(folder: Path) -> None:
    text = "http:\n  bind: 0.0.0.0\n  host: 127.0.0.1\nbindings: []\n"
    assert only_problem(folder, text)[:2] == ("http.host", 3)


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


# --- bindings and their associations


def test_a_config_in_the_original_forms_loads_unchanged() -> None:
    config = load_config(ORIGINAL_CONFIG)
    assert config.source == str(ORIGINAL_CONFIG)
    assert (config.mqtt.host, config.mqtt.client_id) == (
        "broker.home.example",
        "living-room-bridge",
    )
    assert config.mqtt.availability_topic == "house/kube/status"
    assert (config.http.bind, config.http.max_connections, config.log_level) == (
        DEFAULT_HTTP_BIND,
        10,
        "DEBUG",
    )
    prefix = "house/kube/"
    plex, job, sonarr = config.bindings
    assert (plex.label, job.label, sonarr.label) == (
        "Deployment media/plex",
        "Job batch/nightly-backup",
        "Deployment media/sonarr",
    )
    assert [(p.topic, p.locus.field_path, p.retained) for p in plex.patch] == [
        (prefix + "plex/power/set", ("spec", "replicas"), "apply")
    ]
    assert [(w.topic, w.qos, w.retain) for w in plex.watch] == [
        (prefix + "plex/power/state", 1, True)
    ]
    assert [w.topic.removeprefix(prefix) for w in job.watch] == [
        "backup/status",
        "backup/status/failed",
        "backup/status/active",
        "backup/status/succeeded",
        "backup/status/started",
    ]
    (action,) = job.action
    assert action.topic == prefix + "backup/cmd"
    assert action.launch is not None
    assert action.launch.path == str(ORIGINAL_JOB)
    assert [(e.key, e.output) for e in action.values.entries] == [
        ("RUN", "launch"),
        ("STOP", "delete"),
    ]
    assert action.retained == "ignore"
    assert action.where == "bindings[1].action[0]"
    (sync,) = sonarr.action
    assert sync.launch is not None
    assert sync.launch.path == str(ORIGINAL_SYNC_JOB)
    assert [(e.key, e.form) for e in sync.values.entries] == [
        ("re:sync (?P<library>[a-z]+)$", "regex")
    ]
    assert sonarr.patch[0].values.transform_source == "lambda v: v.strip().upper()"
    assert config.warnings == ()


def test_values_may_be_the_map_itself_or_hold_it_under_map(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        watch:
          - locus: status.availableReplicas
            topic: a
            values: {1: "ON", ~: "OFF"}
          - locus: status.availableReplicas
            topic: b
            values:
              map: {1: "ON", ~: "OFF"}
        """),
    )
    short, long = config.bindings[0].watch
    assert short.values == long.values
    assert [(e.key, e.output) for e in short.values.entries] == [(1, "ON"), (None, "OFF")]


def test_an_association_may_be_a_single_mapping(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        watch: {locus: status.replicas, topic: replicas}
        patch: {locus: spec.replicas, topic: replicas/set}
        action: {topic: cmd, launch: !relpath job.yaml}
        """),
    )
    binding = config.bindings[0]
    assert [w.where for w in binding.watch] == ["bindings[0].watch[0]"]
    assert [p.where for p in binding.patch] == ["bindings[0].patch[0]"]
    assert [a.where for a in binding.action] == ["bindings[0].action[0]"]
    assert binding.raw["watch"] == {"locus": "status.replicas", "topic": "replicas"}


def test_an_association_takes_its_defaults(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        watch: {locus: status.replicas, topic: w}
        patch: {locus: spec.replicas, topic: p}
        action: {topic: a, launch: !relpath job.yaml}
        """),
    )
    binding = config.bindings[0]
    assert (binding.watch[0].qos, binding.watch[0].retain) == (1, False)
    assert binding.patch[0].retained == "apply"
    assert binding.action[0].retained == "ignore"
    assert not binding.watch[0].values.has_map


def test_an_association_takes_what_it_is_given(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        watch: {locus: status.replicas, topic: w, qos: 0, retain: yes}
        patch: {locus: spec.replicas, topic: p, retained: ignore}
        action: {topic: a, launch: !relpath job.yaml, retained: apply}
        """),
    )
    binding = config.bindings[0]
    assert (binding.watch[0].qos, binding.watch[0].retain) == (0, True)
    assert binding.patch[0].retained == "ignore"
    assert binding.action[0].retained == "apply"


@pytest.mark.parametrize(
    ("prefix", "topic", "expected"),
    [
        (None, "a/b", "a/b"),
        (None, "/a", "/a"),
        ("home/kube", "a/b", "home/kube/a/b"),
        ("home/kube/", "a/b", "home/kube/a/b"),
        ("home/kube//", "//a/b", "home/kube/a/b"),
        ("/home", "a", "/home/a"),
    ],
)
def test_the_topic_prefix_is_joined_with_one_slash(
    folder: Path, prefix: str | None, topic: str, expected: str
) -> None:
    head = f"mqtt: {{topic-prefix: '{prefix}'}}\n" if prefix else ""
    body = f"    watch: {{locus: status.replicas, topic: '{topic}'}}\n"
    body += f"    patch: {{locus: spec.replicas, topic: '{topic}/set'}}\n"
    binding = load(folder, head + JELLYFIN.lstrip("\n") + body).bindings[0]
    assert (binding.watch[0].topic, binding.patch[0].topic) == (expected, f"{expected}/set")


@pytest.mark.parametrize(
    ("mqtt", "expected"),
    [
        ("client-id: kube1", "mqtt-kube/kube1/status"),
        ("client-id: kube1\n  topic-prefix: home/kube", "home/kube/status"),
        ("topic-prefix: home/kube/\n  availability-topic: /alive", "home/kube/alive"),
        ("availability-topic: kube/alive", "kube/alive"),
    ],
)
def test_the_availability_topic(folder: Path, mqtt: str, expected: str) -> None:
    config = load(folder, f"mqtt:\n  {mqtt}\nbindings: []\n")
    assert config.mqtt.availability_topic == expected


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ('""', "may not be empty"),
        ("/", "a topic needs at least one level besides '/'"),
        ("a/+/b", "topic 'a/+/b' contains a wildcard (+ or #); name one topic"),
        ("a/#", "topic 'a/#' contains a wildcard (+ or #); name one topic"),
        ('"a\\0b"', "a topic may not contain the NUL character"),
        ("x" * 65536, "a topic may be at most 65535 bytes long"),
        ("[a, b]", "expected text, got a list"),
    ],
)
def test_a_bad_topic_is_refused(folder: Path, topic: str, message: str) -> None:
    text = jellyfin(f"    watch:\n      locus: status.replicas\n      topic: {topic}\n")
    assert only_problem(folder, text) == ("bindings[0].watch[0].topic", 7, message)


def test_a_prefix_with_a_wildcard_is_refused(folder: Path) -> None:
    assert only_problem(folder, "mqtt:\n  topic-prefix: home/+\nbindings: []\n")[:2] == (
        "mqtt.topic-prefix",
        2,
    )


def test_a_command_topic_used_twice_is_refused(folder: Path) -> None:
    text = jellyfin("""
    patch:
      - {locus: spec.replicas, topic: power/set}
    action:
      - {topic: power/set, launch: !relpath job.yaml}
    """)
    assert only_problem(folder, text) == (
        "bindings[0].action[0].topic",
        8,
        "topic 'power/set' is already the command topic of bindings[0].patch[0]",
    )


def test_raw_keeps_the_bindings_and_actions_config_as_plain_data(folder: Path) -> None:
    config = load(
        folder,
        jellyfin("""
        action:
          topic: cmd
          launch: !relpath job.yaml
          values: {RUN: launch}
        """),
    )
    binding = config.bindings[0]
    assert binding.raw == {
        "namespace": "media",
        "resource": "Deployment",
        "name": "jellyfin",
        "action": {
            "topic": "cmd",
            "launch": str(folder / "job.yaml"),
            "values": {"RUN": "launch"},
        },
    }
    assert type(binding.raw) is dict
    assert type(binding.raw["action"]["values"]) is dict
    assert binding.action[0].raw == binding.raw["action"]
    assert type(binding.action[0].raw) is dict


# --- kinds and namespaces


@pytest.mark.parametrize(
    ("binding", "kind", "namespace", "api_version"),
    [
        ("namespace: a\n    resource: Deployment", "Deployment", "a", None),
        ("namespace: a\n    resource: deployment", "Deployment", "a", None),
        ("namespace: a\n    resource: DAEMONSET", "DaemonSet", "a", None),
        ("namespace: a\n    resource: Job\n    apiVersion: batch/v1", "Job", "a", "batch/v1"),
        ("resource: Node", "Node", None, None),
        ("resource: Namespace", "Namespace", None, None),
        (
            "namespace: a\n    resource: Foo\n    apiVersion: example.com/v1",
            "Foo",
            "a",
            "example.com/v1",
        ),
        (
            "resource: Cluster\n    apiVersion: example.com/v1beta1",
            "Cluster",
            None,
            "example.com/v1beta1",
        ),
    ],
)
def test_the_kind_of_a_binding(
    folder: Path, binding: str, kind: str, namespace: str | None, api_version: str | None
) -> None:
    config = load(folder, f"bindings:\n  - {binding}\n    name: x\n")
    spec = config.bindings[0]
    assert (spec.kind, spec.namespace, spec.api_version) == (kind, namespace, api_version)


@pytest.mark.parametrize(
    ("binding", "where", "message"),
    [
        (
            "resource: Foo",
            "bindings[0].resource",
            "unknown kind 'Foo': add apiVersion for a custom resource",
        ),
        (
            "resource: Deploymnet\n    namespace: a",
            "bindings[0].resource",
            "unknown kind 'Deploymnet': add apiVersion for a custom resource"
            " (or did you mean the built-in 'Deployment'?)",
        ),
        (
            "resource: Deployment",
            "bindings[0].namespace",
            "Deployment is namespaced: add its namespace",
        ),
        (
            "resource: Node\n    namespace: a",
            "bindings[0].namespace",
            "Node is cluster-scoped: remove the namespace",
        ),
        (
            "resource: Foo\n    apiVersion: example.com",
            "bindings[0].apiVersion",
            "expected group/version like apps/v1 (or v1 for the core group), got 'example.com'",
        ),
        (
            "resource: Pod\n    namespace: Media",
            "bindings[0].namespace",
            "'Media' is not a namespace name: lowercase letters, digits and '-', at most 63",
        ),
        (
            "resource: Pod\n    namespace: a\n    name: a/b",
            "bindings[0].name",
            "'a/b' is not a Kubernetes object name",
        ),
    ],
)
def test_kind_and_namespace_rules(folder: Path, binding: str, where: str, message: str) -> None:
    text = f"bindings:\n  - {binding}\n"
    if "name: " not in binding.replace("namespace: ", ""):
        text += "    name: x\n"
    found = only_problem(folder, text)
    assert found[0::2] == (where, message)


# --- patch and action rules


def test_a_patch_locus_must_name_one_field(folder: Path) -> None:
    text = jellyfin("""
    patch:
      topic: set
      locus: "status.conditions[?(@.type=='Ready')].status"
    """)
    where, line, message = only_problem(folder, text)
    assert (where, line) == ("bindings[0].patch[0].locus", 7)
    assert message.startswith("a patch locus must name one field")


@pytest.mark.parametrize(
    ("action", "found"),
    [
        (
            "values: {RUN: launch}",
            [("bindings[0].action[0].launch", 6, "required: a template file to launch")],
        ),
        (
            "retained: ignore",
            [("bindings[0].action[0].launch", 6, "required: a template file to launch")],
        ),
        (
            "launch: !relpath missing.yaml",
            [("bindings[0].action[0].launch", 7, "missing.yaml")],
        ),
    ],
)
def test_action_rules(folder: Path, action: str, found: list[tuple[str, int, str]]) -> None:
    text = jellyfin(f"    action:\n      - topic: cmd\n        {action}\n")
    got = problems(folder, text)
    assert [(where, line) for where, line, _ in got] == [(w, n) for w, n, _ in found]
    for (_, _, message), (_, _, expected) in zip(got, found, strict=True):
        assert expected in message


@pytest.mark.parametrize(
    ("values", "where", "found"),
    [
        ("{map: {RUN: launch, STOP: create}}", "values.map.STOP", "not 'create'"),
        ("{RUN: 1}", "values.RUN", "not the number 1"),
    ],
)
def test_an_action_output_other_than_launch_or_delete_loads_with_a_warning(
    folder: Path, values: str, where: str, found: str
) -> None:
    text = jellyfin(
        f"    action:\n      - topic: cmd\n        values: {values}\n"
        "        launch: !relpath job.yaml\n"
    )
    config = load(folder, text)
    (warning,) = config.warnings
    assert f":7: bindings[0].action[0].{where}: an action maps payloads to" in warning
    assert f"{found}; such payloads will be ignored" in warning


def test_an_action_that_only_deletes_needs_no_template(folder: Path) -> None:
    config = load(folder, jellyfin("    action: {topic: cmd, values: {STOP: delete}}\n"))
    assert config.bindings[0].action[0].launch is None


def test_format_in_values_is_accepted_with_a_warning(folder: Path) -> None:
    text = jellyfin("""
    watch:
      locus: status.replicas
      topic: replicas
      values:
        format: "{}"
        map: {1: "ON"}
    """)
    path = write(folder, text)
    config = load_config(path)
    assert config.warnings == (
        f"{path}:9: bindings[0].watch[0].values.format: "
        "'format' has no effect (the original ignored it too); it can be removed",
    )


# --- Home Assistant overrides per binding


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("false", False),
        ("true", None),
        ("~", None),
        (
            "{component: switch, name: Jellyfin, icon: 'mdi:filmstrip', enabled_by_default: no}",
            {
                "component": "switch",
                "name": "Jellyfin",
                "icon": "mdi:filmstrip",
                "enabled_by_default": False,
            },
        ),
        (
            "{device_class: connectivity, entity_category: diagnostic, state_class: measurement,"
            " unit_of_measurement: pods}",
            {
                "device_class": "connectivity",
                "entity_category": "diagnostic",
                "state_class": "measurement",
                "unit_of_measurement": "pods",
            },
        ),
        (
            "{component: number, min: 0, max: 3, step: 1, mode: slider}",
            {"component": "number", "min": 0, "max": 3, "step": 1, "mode": "slider"},
        ),
    ],
)
def test_a_binding_may_override_its_home_assistant_entity(
    folder: Path, value: str, expected: object
) -> None:
    config = load(folder, jellyfin(f"    homeassistant: {value}\n"))
    assert config.bindings[0].homeassistant == expected
    assert type(config.bindings[0].homeassistant) is type(expected)


def test_the_home_assistant_example_config_loads() -> None:
    config = load_config(CONFIGS / "discovery" / "homelab.yaml")
    assert [b.label for b in config.bindings] == [
        "Deployment media/jellyfin",
        "Deployment media/sonarr",
        "Job batch/backup",
        "Node pi-1",
        "Deployment media/hidden",
    ]
    assert config.bindings[4].homeassistant is False


# --- wrong keys, wrong types, many problems at once


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("mqtt: {hots: x}", "mqtt.hots", "unknown key 'hots' in mqtt (did you mean 'host'?)"),
        (
            "mqtt: {zzz: x}",
            "mqtt.zzz",
            "unknown key 'zzz' in mqtt; known keys: host, port, client-id, topic-prefix, auth,"
            " tls, keepalive, availability-topic, max-payload, session-expiry",
        ),
        ("htp: {}", "htp", "unknown key 'htp' in the configuration (did you mean 'http'?)"),
        (
            "http: {max-connection: 3}",
            "http.max-connection",
            "unknown key 'max-connection' in http (did you mean 'max-connections'?)",
        ),
        (
            "mqtt: {auth: {type: basic, username: u, certfile: x}}",
            "mqtt.auth.certfile",
            "certfile is a key of auth type mtls, not basic",
        ),
        (
            "mqtt: {auth: {type: token}}",
            "mqtt.auth.type",
            "must be one of none, basic, mtls; got 'token'",
        ),
        ("mqtt: {auth: {type: basic}}", "mqtt.auth.username", "required, but missing"),
        ("mqtt: {port: '1883'}", "mqtt.port", "expected a whole number, got '1883'"),
        ("mqtt: {port: 0}", "mqtt.port", "must be between 1 and 65535, got 0"),
        ("mqtt: {host: [a]}", "mqtt.host", "expected text, got a list"),
        ("mqtt: [a]", "mqtt", "expected mqtt (a mapping of keys), got a list"),
        (
            "mqtt: {tls: {insecure: maybe}}",
            "mqtt.tls.insecure",
            "expected true or false, got 'maybe'",
        ),
        (
            "mqtt: {tls: maybe}",
            "mqtt.tls",
            "expected true, false or a mapping of TLS keys, got 'maybe'",
        ),
        (
            "logging: {level: verbose}",
            "logging.level",
            "must be one of DEBUG, INFO, WARNING, ERROR; got 'verbose'",
        ),
        (
            "kubernetes: {watch-scope: all}",
            "kubernetes.watch-scope",
            "must be one of namespace, cluster, object, auto; got 'all'",
        ),
        (
            "homeassistant: {prefix: ha}",
            "homeassistant.prefix",
            "unknown key 'prefix' in homeassistant; known keys: discovery-prefix, birth-topic",
        ),
    ],
)
def test_a_wrong_key_or_value_is_named_plainly(
    folder: Path, text: str, where: str, message: str
) -> None:
    assert only_problem(folder, f"{text}\nbindings: []\n") == (where, 1, message)


@pytest.mark.parametrize(
    ("association", "where", "message"),
    [
        ("watch: {locus: a, topic: b, qos: 3}", "watch[0].qos", "must be between 0 and 2, got 3"),
        (
            "watch: {locus: a, topic: b, retian: true}",
            "watch[0].retian",
            "unknown key 'retian' in a watch (did you mean 'retain'?)",
        ),
        ("watch: {topic: b}", "watch[0].locus", "required, but missing"),
        ("watch: [a]", "watch[0]", "expected a watch (a mapping of keys), got 'a'"),
        ("watch: a", "watch", "expected a watch mapping or a list of them, got 'a'"),
        (
            "patch: {locus: a, topic: b, retained: always}",
            "patch[0].retained",
            "must be one of apply, ignore; got 'always'",
        ),
        ("patch: {topic: b}", "patch[0].locus", "required, but missing"),
        (
            "action: {locus: a, topic: b}",
            "action[0].locus",
            "unknown key 'locus' in an action; known keys: topic, values, retained, launch",
        ),
        (
            "homeassistant: {component: light}",
            "homeassistant.component",
            "must be one of switch, sensor, binary_sensor, button, number; got 'light'",
        ),
        (
            "homeassistant: {entity_category: system}",
            "homeassistant.entity_category",
            "must be one of config, diagnostic; got 'system'",
        ),
        (
            "homeassistant: {nmae: x}",
            "homeassistant.nmae",
            "unknown key 'nmae' in a binding's homeassistant overrides (did you mean 'name'?)",
        ),
        ("nmae: x", "nmae", "unknown key 'nmae' in a binding (did you mean 'name'?)"),
    ],
)
def test_a_wrong_key_or_value_in_a_binding_is_named_plainly(
    folder: Path, association: str, where: str, message: str
) -> None:
    found = only_problem(folder, jellyfin(f"    {association}\n"))
    assert found == (f"bindings[0].{where}", 5, message)


@pytest.mark.parametrize(
    ("values", "where", "start"),
    [
        ("{'re:(': 1}", "values['re:(']", "bad regular expression 're:('"),
        ("{map: {'re:(': 1}}", "values.map['re:(']", "bad regular expression 're:('"),
        ("{'lambda v: v >': 1}", "values['lambda v: v >']", "lambda 'lambda v: v >' is not valid"),
        ("{transform: 'lambda: 1', map: {}}", "values.transform", "transform 'lambda: 1'"),
        ("[1, 2]", "values", "expected a mapping (a map of inputs to outputs), got a list"),
    ],
)
def test_a_bad_value_map_is_named_with_its_entry(
    folder: Path, values: str, where: str, start: str
) -> None:
    text = jellyfin(f"    watch:\n      locus: a\n      topic: b\n      values: {values}\n")
    found = only_problem(folder, text)
    assert found[:2] == (f"bindings[0].watch[0].{where}", 8)
    assert found[2].startswith(start), found[2]


def test_every_problem_in_a_file_is_reported_at_once(folder: Path) -> None:
    shutil.copy(CONFIGS / "three-mistakes.yaml", folder / "config.yaml")
    with pytest.raises(ConfigError) as caught:
        load_config(folder / "config.yaml")
    found = [(p.path, p.line) for p in caught.value.problems]
    assert found == [
        ("bindings[0].watch[0].locus", 9),
        ("bindings[0].patch[0].retian", 14),
        ("bindings[0].patch[0].values.map['re:(ON']", 17),
    ]
    messages = [p.message for p in caught.value.problems]
    assert messages[0].startswith("invalid JSONPath 'status.[availableReplicas'")
    assert messages[1] == "unknown key 'retian' in a patch (did you mean 'retained'?)"
    assert messages[2].startswith("bad regular expression 're:(ON'")


def test_problems_in_different_sections_and_bindings_are_all_reported(folder: Path) -> None:
    found = problems(
        folder,
        """
        mqtt:
          port: many
        logging:
          level: loud
        bindings:
          - namespace: media
            resource: Deployment
            name: jellyfin
            watch:
              - {locus: a, topic: b, qos: 9}
              - {locus: a, topic: "c/#"}
          - resource: Node
            namespace: media
            name: pi
          - 12
        """,
    )
    assert [(where, line) for where, line, _ in found] == [
        ("mqtt.port", 2),
        ("logging.level", 4),
        ("bindings[0].watch[0].qos", 10),
        ("bindings[0].watch[1].topic", 11),
        ("bindings[1].namespace", 13),
        ("bindings[2]", 15),
    ]


def test_a_problem_prints_as_file_line_path_message(folder: Path) -> None:
    path = write(folder, "mqtt:\n  hots: x\nbindings: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (
        str(caught.value)
        == f"{path}:2: mqtt.hots: unknown key 'hots' in mqtt (did you mean 'host'?)"
    )


def test_loading_connects_to_nothing(folder: Path) -> None:
    # a broker and an API server that do not exist: loading must not notice
    config = load(
        folder,
        "mqtt: {host: 192.0.2.1}\nkubernetes: {kubeconfig: /nonexistent/kubeconfig}\n" + JELLYFIN,
    )
    assert config.kubernetes.kubeconfig == "/nonexistent/kubeconfig"


WATCHED = """
kubernetes: {watch-scope: %s}
bindings:
  - {namespace: media, resource: Deployment, name: a, watch: {locus: spec.replicas, topic: a}}
  - {namespace: media, resource: deployment, apiVersion: apps/v1, name: b,
     watch: {locus: spec.replicas, topic: b}}
  - {namespace: home, resource: Deployment, name: c, watch: {locus: spec.replicas, topic: c}}
  - {namespace: home, resource: Job, name: d, watch: {locus: status, topic: d}}
  - {namespace: home, resource: Job, name: e, patch: {locus: spec.suspend, topic: e}}
  - {resource: Node, name: f, watch: {locus: status, topic: f}}
"""


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        pytest.param(
            "namespace",
            {
                ("Deployment", "apps/v1", "media", None): ["a", "b"],
                ("Deployment", "apps/v1", "home", None): ["c"],
                ("Job", "batch/v1", "home", None): ["d"],  # e watches nothing
                ("Node", "v1", None, None): ["f"],  # cluster-scoped: watched cluster-wide
            },
            id="namespace",
        ),
        pytest.param(
            "auto",  # the earlier default, now the same as namespace
            {
                ("Deployment", "apps/v1", "media", None): ["a", "b"],
                ("Deployment", "apps/v1", "home", None): ["c"],
                ("Job", "batch/v1", "home", None): ["d"],
                ("Node", "v1", None, None): ["f"],
            },
            id="auto",
        ),
        pytest.param(
            "cluster",
            {
                ("Deployment", "apps/v1", None, None): ["a", "b", "c"],
                ("Job", "batch/v1", None, None): ["d"],
                ("Node", "v1", None, None): ["f"],
            },
            id="cluster",
        ),
        pytest.param(
            "object",
            {
                ("Deployment", "apps/v1", "media", "a"): ["a"],
                ("Deployment", "apps/v1", "media", "b"): ["b"],
                ("Deployment", "apps/v1", "home", "c"): ["c"],
                ("Job", "batch/v1", "home", "d"): ["d"],
                ("Node", "v1", None, "f"): ["f"],
            },
            id="object",
        ),
    ],
)
def test_watch_groups_share_one_watch_per_resolved_kind_and_scope(
    folder: Path, scope: str, expected: dict[WatchKey, list[str]]
) -> None:
    groups = watch_groups(load(folder, WATCHED % scope))
    assert {key: [spec.name for spec in specs] for key, specs in groups.items()} == expected

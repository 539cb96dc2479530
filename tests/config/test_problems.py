"""Wrong keys and types named plainly, every problem of a file reported at once as file:line
path message, and loading that connects to nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mqtt_kube.config.load import load_config
from mqtt_kube.core.errors import ConfigError
from tests.support.config_files import JELLYFIN, jellyfin, load, only_problem, problems, write
from tests.support.paths import CONFIGS

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

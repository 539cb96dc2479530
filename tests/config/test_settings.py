"""The default of every key and the value each key sets: MQTT, TLS and mTLS files, HTTP,
logging, Kubernetes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.config.model import DEFAULT_HTTP_BIND, Config, TlsSettings
from tests.support.config_files import load, only_problem, problems

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

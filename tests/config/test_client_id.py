"""The default `mqtt.client-id`: the same on every start, on every machine, for one file.

Covered: without `client-id` the id (and so the availability topic, Home Assistant's ids,
the leader Lease and the Lease RBAC grants) does not depend on the host name, so a re-created
container or pod keeps it; with a `topic-prefix` the id is made from the prefix, so two
instances on one broker that differ in prefix (as their topics must) are told apart; an
id given is used as written; `check` warns when the id is defaulted while discovery or
leader election is on, and says when two instances could not be told apart.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mqtt_kube.cli.main import main
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config
from mqtt_kube.homeassistant.plan import build_plan
from mqtt_kube.kube.leader import lease_name
from mqtt_kube.kube.rbac import render_rbac

NODE = "bindings:\n  - resource: Node\n    name: pi\n    watch: {locus: status.phase, topic: pi}\n"


@pytest.fixture(autouse=True)
def _restore_logging(restore_logging: None) -> None:
    """`main()` installs a root handler."""


def _load_on_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, *, host: str
) -> Config:
    monkeypatch.setattr(socket, "gethostname", lambda: host)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path)


@pytest.mark.parametrize(
    "head",
    ["", "mqtt: {topic-prefix: home/kube}\n", "mqtt: {topic-prefix: kube}\nhomeassistant: true\n"],
)
def test_the_default_client_id_does_not_change_with_the_host_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, head: str
) -> None:
    first = _load_on_host(monkeypatch, tmp_path, head + NODE, host="mqtt-kube-7d9f-abcde")
    second = _load_on_host(monkeypatch, tmp_path, head + NODE, host="mqtt-kube-7d9f-xyz12")
    assert first.mqtt.client_id == second.mqtt.client_id
    assert "abcde" not in first.mqtt.client_id
    assert first.mqtt.availability_topic == second.mqtt.availability_topic
    assert lease_name(first.mqtt.client_id) == lease_name(second.mqtt.client_id)
    assert render_rbac(first, leader_elect=True) == render_rbac(second, leader_elect=True)
    if first.homeassistant is not None:
        assert build_plan(first) == build_plan(second)


@pytest.mark.parametrize(
    ("head", "client_id"),
    [
        ("", "mqtt-kube"),
        ("mqtt: {topic-prefix: kube}\n", "mqtt-kube-kube"),
        ("mqtt: {topic-prefix: kube/}\n", "mqtt-kube-kube"),
        ("mqtt: {client-id: living-room}\n", "living-room"),
        ("mqtt: {client-id: living-room, topic-prefix: kube}\n", "living-room"),
    ],
)
def test_the_default_client_id_is_fixed_or_made_from_the_topic_prefix(
    tmp_path: Path, head: str, client_id: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(head + NODE)
    assert load_config(path).mqtt.client_id == client_id


def test_instances_that_differ_in_topic_prefix_get_different_default_ids(tmp_path: Path) -> None:
    ids = set()
    for prefix in ("home/kube", "home-kube", "home_kube", "lab/kube", "home/kube/2"):
        path = tmp_path / "config.yaml"
        path.write_text(f"mqtt: {{topic-prefix: {prefix}}}\n" + NODE)
        client_id = load_config(path).mqtt.client_id
        assert client_id.startswith("mqtt-kube-")
        ids.add(client_id)
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("head", "argv", "says"),
    [
        ("homeassistant: true\n", [], "Home Assistant's device and entity ids"),
        ("", ["--leader-elect"], "the leader-election Lease"),
        (
            "mqtt: {topic-prefix: kube}\nhomeassistant: true\n",
            ["--leader-elect"],
            "Home Assistant's device and entity ids and the leader-election Lease",
        ),
    ],
)
def test_check_warns_when_the_client_id_is_defaulted_with_discovery_or_leader_election(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: str, argv: list[str], says: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(head + NODE)
    assert main(["check", *argv, str(path)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {path}: mqtt.client-id: not set, so it is 'mqtt-kube")
    assert says in err
    assert err.count("\n") == 1


def test_the_warning_says_when_two_instances_could_not_be_told_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("homeassistant: true\n" + NODE)
    assert main(["check", str(path)]) == 0
    assert "two instances without topic-prefix and client-id cannot be told apart" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("head", "argv"),
    [
        ("mqtt: {client-id: kube}\nhomeassistant: true\n", ["--leader-elect"]),
        ("mqtt: {topic-prefix: kube}\n", []),
    ],
)
def test_check_does_not_warn_when_the_id_is_given_or_nothing_hangs_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: str, argv: list[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(head + NODE)
    assert main(["check", *argv, str(path)]) == 0
    assert capsys.readouterr().err == ""

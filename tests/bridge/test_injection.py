"""Template injection, end to end: hostile payloads over MQTT, the created object at the fake API.

The template tests prove the renderer on its own; this proves the whole path: a payload
published on an action topic goes through the broker, the value map and the template to a
POST, and the object the fake API server stores must have exactly the template's shape
(kind, namespace, keys, labels) with the payload verbatim inside the scalars where the
template interpolates it — whatever the payload tries: new keys or documents, YAML tags,
anchors and aliases, quote breaking, line breaks YAML knows (CR, NEL, LS/PS), Mako syntax,
or another kind or namespace. Payloads in the object's name that the API server refuses
create nothing; a template that puts a payload where it could change the kind or the
namespace is refused at render time. Nothing lands outside the binding's namespace, and no
object of another kind is ever created.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from mqtt_kube.bridge.service import Service
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

NAMESPACE: Final = "lab"
TEMPLATE: Final = """\
apiVersion: v1
kind: ConfigMap
metadata:
  generateName: inj-
  labels:
    app: injection
  annotations:
    double: "${match.input}"
    single: '${match.input}'
    plain: ${match.input}
data:
  flow: "[${match.input}]"
  block: |
    ${match.input}
  folded: >-
    ${match.input}
  list: ${match.input}
"""
JSON_TEMPLATE: Final = """\
apiVersion: v1
kind: ConfigMap
metadata:
  generateName: json-
data:
  note: "${match.json['note']}"
  whole: '${match.json}'
"""
NAMED_TEMPLATE: Final = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: named-${match.input}
data:
  from: mqtt
"""
NAMESPACE_TEMPLATE: Final = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: moved
  namespace: ${match.input}
"""
KIND_TEMPLATE: Final = """\
apiVersion: v1
kind: ${match.input}
metadata:
  name: rekinded
"""
SHAPE: Final = {
    "annotations": {"double", "single", "plain"},
    "data": {"flow", "block", "folded", "list"},
}

# (what it tries, payload)
ATTACKS: Final = [
    ("add a key", "x\nevil: true"),
    ("add a nested key", "x\n  evil: true"),
    ("add a key after a quote", 'x"\nevil: "y'),
    ("add a key after a single quote", "x'\nevil: 'y"),
    ("add a flow mapping entry", 'x", "evil": "y'),
    ("add a flow sequence item", "x], [evil"),
    ("add a document", "x\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen"),
    ("end the document", "x\n...\n---\nkind: Secret"),
    ("change the kind", "x\nkind: Secret"),
    ("change the namespace", "x\nmetadata:\n  namespace: kube-system"),
    ("a python tag", "!!python/object/apply:os.system ['touch /tmp/pwned']"),
    ("a local tag", "!Secret stolen"),
    ("a binary tag", "!!binary c2VjcmV0"),
    ("an anchor", "&a x"),
    ("an alias", "*a"),
    ("a merge key", "<<: *a"),
    ("a mapping", "{evil: true}"),
    ("a sequence", "[1, 2, 3]"),
    ("a comment", "x # evil: true"),
    ("a carriage return", "x\revil: true"),
    ("a next-line character", "x\x85evil: true"),
    ("a line separator", "x\u2028evil: true"),
    ("a paragraph separator", "x\u2029evil: true"),
    ("a tab and a key", "x\n\tevil: true"),
    ("a block scalar indicator", "|\n  evil: true"),
    ("a directive", "%YAML 1.1\n---\nevil: true"),
    ("Mako expression", "${binding}"),
    ("Mako code", "<% import os %>${os.getcwd()}"),
    ("Mako control line", "x\n% for i in range(3):\nevil: ${i}\n% endfor"),
    ("Mako comment and escape", "## x\n\\\nx"),
    ("a token look-alike", "mqk0123456789abcdef0123456789abcdefx0z"),
    ("a null byte and bidi controls", "x\x00\u202eevil"),
    ("a long payload", "evil: true\n" * 5000),
]


def config_body(folder: Path) -> str:
    templates = {
        "inject.yaml": TEMPLATE,
        "json.yaml": JSON_TEMPLATE,
        "named.yaml": NAMED_TEMPLATE,
        "namespace.yaml": NAMESPACE_TEMPLATE,
        "kind.yaml": KIND_TEMPLATE,
    }
    for name, text in templates.items():
        (folder / name).write_text(text)
    lines = [
        "bindings:",
        f"  - namespace: {NAMESPACE}",
        "    resource: ConfigMap",
        "    name: launcher",
        "    action:",
        "      - topic: inject",
        "        launch: !relpath inject.yaml",
        '        values: {map: {"re:(?s).+": launch}}',
        "      - topic: json",
        "        launch: !relpath json.yaml",
        '        values: {jsonpath: "$.action", map: {RUN: launch}}',
        "      - topic: named",
        "        launch: !relpath named.yaml",
        '        values: {map: {"re:(?s).+": launch}}',
        "      - topic: namespace",
        "        launch: !relpath namespace.yaml",
        '        values: {map: {"re:(?s).+": launch}}',
        "      - topic: kind",
        "        launch: !relpath kind.yaml",
        '        values: {map: {"re:(?s).+": launch}}',
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
async def service(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> AsyncIterator[Service]:
    config = write_config(
        tmp_path,
        config_body(tmp_path),
        broker=mosquitto,
        fake=fake_kube,
        prefix=mqtt_prefix,
        client_id="injection",
    )
    async with running_service(config) as running:
        yield running


def everything(fake: FakeKube) -> list[dict[str, Any]]:
    """Every object of every kind the fake serves that a launch could have created."""
    found = []
    for api_version, kind in (
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Pod"),
        ("v1", "Service"),
        ("batch/v1", "Job"),
        ("apps/v1", "Deployment"),
    ):
        found += fake.objects(api_version, kind)
    return found


@dataclass
class Sender:
    """Publishes on the service's command topics."""

    probe: MqttProbe
    prefix: str


async def launch(
    sender: Sender, fake: FakeKube, service: Service, topic: str, payload: str
) -> dict[str, Any] | None:
    """Publish `payload`; the object it created, or None once the command was refused."""
    before = {o["metadata"]["name"] for o in fake.objects("v1", "ConfigMap", NAMESPACE)}
    settled = service.counters.launches + service.counters.failed
    await sender.probe.publish(f"{sender.prefix}/{topic}", payload)
    await until(lambda: service.counters.launches + service.counters.failed > settled)
    created = [
        o for o in fake.objects("v1", "ConfigMap", NAMESPACE) if o["metadata"]["name"] not in before
    ]
    assert len(created) <= 1
    return created[0] if created else None


@pytest.fixture
async def sender(mosquitto: Mosquitto, mqtt_prefix: str) -> AsyncIterator[Sender]:
    async with MqttProbe.connect(mosquitto) as probe:
        yield Sender(probe, mqtt_prefix)


async def test_hostile_payloads_stay_inside_the_scalars_of_the_launched_object(
    service: Service, sender: Sender, fake_kube: FakeKube
) -> None:
    for attempt, payload in ATTACKS:
        created = await launch(sender, fake_kube, service, "inject", payload)
        assert created is not None, attempt
        metadata = created["metadata"]
        assert created["kind"] == "ConfigMap", attempt
        assert created["apiVersion"] == "v1", attempt
        assert metadata["namespace"] == NAMESPACE, attempt
        assert metadata["name"].startswith("inj-"), attempt
        assert set(created) == {"apiVersion", "kind", "metadata", "data"}, attempt
        assert set(metadata["annotations"]) == SHAPE["annotations"], attempt
        assert set(created["data"]) == SHAPE["data"], attempt
        assert metadata["labels"] == {
            "app": "injection",
            "app.kubernetes.io/managed-by": "mqtt-kube",
            "mqtt-kube/binding": "configmap.launcher",
        }, attempt
        annotations, data = metadata["annotations"], created["data"]
        assert annotations["double"] == payload, attempt
        assert annotations["single"] == payload, attempt
        assert annotations["plain"] == payload, attempt
        assert data["flow"] == f"[{payload}]", attempt
        assert data["block"] == f"{payload}\n", attempt
        assert data["folded"] == payload, attempt
        assert data["list"] == payload, attempt
    kinds = {
        (o["apiVersion"], o["kind"], o["metadata"]["namespace"]) for o in everything(fake_kube)
    }
    assert kinds == {("v1", "ConfigMap", NAMESPACE)}
    print(
        f"FIGURES injection: {len(ATTACKS)} hostile payloads end to end; objects of another "
        "shape, kind or namespace: 0"
    )


@pytest.mark.parametrize(
    ("note", "whole"),
    [
        ("x\nkind: Secret", None),
        ("', evil: '", None),
        ('"}\n---\nkind: Secret', None),
        ("ok", {"action": "RUN", "note": "ok", "x\nevil: true": "key from the payload"}),
    ],
)
async def test_jsonpath_payload_strings_stay_inside_scalars(
    service: Service, sender: Sender, fake_kube: FakeKube, note: str, whole: dict[str, str] | None
) -> None:
    document = whole or {"action": "RUN", "note": note}
    payload = json.dumps(document)
    created = await launch(sender, fake_kube, service, "json", payload)
    assert created is not None
    assert created["kind"] == "ConfigMap"
    assert created["metadata"]["namespace"] == NAMESPACE
    assert created["data"] == {
        "note": note,
        "whole": json.dumps(document, separators=(",", ":"), sort_keys=True),
    }


@pytest.mark.parametrize(
    "payload", ["ok\nnamespace: kube-system", "../../secrets", "UPPER", "x" * 300, "a b"]
)
async def test_a_payload_that_makes_an_invalid_name_creates_nothing(
    service: Service,
    sender: Sender,
    fake_kube: FakeKube,
    caplog: pytest.LogCaptureFixture,
    payload: str,
) -> None:
    assert await launch(sender, fake_kube, service, "named", payload) is None
    assert "POST /api/v1/namespaces/lab/configmaps" in caplog.text
    assert [o["metadata"]["name"] for o in everything(fake_kube)] == []


async def test_a_valid_payload_in_the_name_is_used_as_it_is(
    service: Service, sender: Sender, fake_kube: FakeKube
) -> None:
    created = await launch(sender, fake_kube, service, "named", "jellyfin-7")
    assert created is not None
    assert created["metadata"]["name"] == "named-jellyfin-7"


@pytest.mark.parametrize(("topic", "payload"), [("namespace", "kube-system"), ("kind", "Secret")])
async def test_a_template_that_lets_a_payload_pick_the_namespace_or_kind_is_refused(
    service: Service,
    sender: Sender,
    fake_kube: FakeKube,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    payload: str,
) -> None:
    fake_kube.clear_requests()
    assert await launch(sender, fake_kube, service, topic, payload) is None
    assert f"{topic}.yaml" in caplog.text
    assert [r for r in fake_kube.requests if r.method == "POST"] == []
    assert everything(fake_kube) == []

"""Button presses queued while mqtt-kube was not running launch nothing when it returns.

The whole service against the test broker and the fake API: an action binding launches a
ConfigMap per press (named after the payload). A session left by an earlier run (as earlier
versions left theirs, persistent and never expiring) holds three presses; the new run starts
a session of its own, so only the press made once it is up launches anything.
"""

from __future__ import annotations

from pathlib import Path

import aiomqtt

from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

TEMPLATE = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: press-${match.input}\n"
BODY = (
    "bindings:\n  - namespace: jobs\n    resource: ConfigMap\n    name: launcher\n"
    "    action:\n      topic: run\n      launch: !relpath press.yaml\n"
    "      values: {'re:.': launch}\n"
)


async def test_presses_queued_for_an_earlier_run_launch_nothing(
    tmp_path: Path, mosquitto: Mosquitto, fake_kube: FakeKube, mqtt_prefix: str
) -> None:
    (tmp_path / "press.yaml").write_text(TEMPLATE)
    config = write_config(
        tmp_path, BODY, broker=mosquitto, fake=fake_kube, prefix=mqtt_prefix, client_id="presses"
    )
    topic = f"{mqtt_prefix}/run"
    earlier = aiomqtt.Client(
        mosquitto.host, mosquitto.port, identifier="presses", clean_session=False
    )
    async with earlier:
        await earlier.subscribe(topic, qos=1)
    async with MqttProbe.connect(mosquitto) as probe:
        for n in (1, 2, 3):
            await probe.publish(topic, str(n))
        async with running_service(config):
            await probe.publish(topic, "after")
            await until(lambda: fake_kube.get("v1", "ConfigMap", "jobs", "press-after") is not None)
            # one worker per topic, in order: a queued press would have launched first
            names = [o["metadata"]["name"] for o in fake_kube.objects("v1", "ConfigMap", "jobs")]
            assert names == ["press-after"]

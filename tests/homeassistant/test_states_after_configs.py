"""States reach a subscriber that, like Home Assistant, subscribes only after reading a config.

Home Assistant subscribes to an entity's state topic once it has processed the entity's
discovery config. A non-retained state published before the configs (as after every
connect) is lost to it; after configs are published for the first time or changed, every
current state must be published again, after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from mqtt_kube.bridge.stateboard import StateBoard
from mqtt_kube.config.model import Config
from mqtt_kube.homeassistant.lifecycle import HomeAssistantDiscovery
from mqtt_kube.homeassistant.plan import build_plan
from mqtt_kube.mqtt.connection import MqttConnection
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.homeassistant.test_lifecycle import make_config
from tests.support.broker_fixtures import MqttProbe

REPLICAS = """\
  - namespace: media
    resource: Deployment
    name: jellyfin
    watch:
      locus: spec.replicas
      topic: jellyfin/replicas
"""
# Far longer than a loopback SUBSCRIBE takes, far shorter than the test's deadline.
STATE_DELAY = 0.5


@contextlib.asynccontextmanager
async def service_with_state(config: Config, topic: str, payload: str) -> AsyncIterator[None]:
    """Connection, state board and discovery, wired as the service does, with `topic`
    already holding `payload` (a watch that synced before the broker answered)."""
    handlers: list[HomeAssistantDiscovery] = []
    mqtt = MqttConnection(config.mqtt, on_message=lambda message: handlers[0].on_message(message))
    board = StateBoard(mqtt)
    board.set(topic, payload, qos=1, retain=False)
    discovery = HomeAssistantDiscovery.from_config(
        config, mqtt=mqtt, board=board, state_delay=STATE_DELAY
    )
    handlers.append(discovery)
    mqtt.add_connect_hook(board.republish)
    tasks = [
        asyncio.create_task(mqtt.run(), name="mqtt"),
        asyncio.create_task(board.run(), name="board"),
        asyncio.create_task(discovery.run(), name="discovery"),
    ]
    try:
        yield
    finally:
        await mqtt.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def first_config_then_state(
    broker: Mosquitto, config: Config, *, retained: dict[str, str] | None = None
) -> str:
    """Start with the state known; subscribe to its topic only once the config is seen."""
    (entity,) = [e for e in build_plan(config).entities if e.component == "sensor"]
    state_topic = entity.payload["state_topic"]
    async with MqttProbe.connect(broker) as probe:
        for topic, payload in (retained or {}).items():
            await probe.publish(topic, payload, retain=True)
        await probe.subscribe(entity.topic)
        async with service_with_state(config, state_topic, "2"):
            # the old retained config comes first, when there is one
            await probe.until_text(entity.topic, entity.encoded(), timeout=10)
            await probe.subscribe(state_topic)
            return await probe.next_text(state_topic, timeout=10)


async def test_a_first_start_publishes_the_states_again_after_the_configs(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    config = make_config(
        tmp_path, broker=mosquitto, prefix=mqtt_prefix, client_id="kube-a", bindings=REPLICAS
    )
    assert await first_config_then_state(mosquitto, config) == "2"


async def test_a_changed_config_publishes_the_states_again_after_it(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    config = make_config(
        tmp_path, broker=mosquitto, prefix=mqtt_prefix, client_id="kube-a", bindings=REPLICAS
    )
    (entity,) = [e for e in build_plan(config).entities if e.component == "sensor"]
    older = json.dumps({**entity.payload, "name": "an older name"})
    assert await first_config_then_state(mosquitto, config, retained={entity.topic: older}) == "2"

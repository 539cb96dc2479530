"""Batched MQTT socket writes against mosquitto: what one write sends arrives whole.

Publishes queued in one turn of the loop leave in one `send`; when the socket takes only
part of it, paho is told how much of each packet went out and the rest follows once the
socket is writable. Covered: a burst of large publishes, far more than a socket buffer
holds, arrives complete and in order, each acknowledged.
"""

from __future__ import annotations

import asyncio

from mqtt_kube.config.model import MqttSettings
from mqtt_kube.mqtt.connection import MqttConnection
from tests.mqtt.test_connection import Inbox, running
from tests.support.broker_fixtures import MqttProbe

PAYLOAD_BYTES = 200_000  # each larger than one read, together far more than a socket buffer
BURST = 40


async def test_a_burst_larger_than_the_socket_buffer_arrives_whole_and_in_order(
    mqtt_settings: MqttSettings, mqtt_probe: MqttProbe
) -> None:
    topic = f"{mqtt_settings.topic_prefix}/burst"
    payloads = [bytes([index]) * PAYLOAD_BYTES for index in range(BURST)]
    connection = MqttConnection(mqtt_settings, on_message=Inbox())
    async with running(connection):
        assert await connection.wait_connected(5)
        results = await asyncio.gather(
            *(connection.publish(topic, payload, qos=1) for payload in payloads)
        )
        assert results == [True] * BURST
        received = [await mqtt_probe.next(topic, timeout=10) for _ in payloads]
    assert [message.payload for message in received] == payloads
    assert connection.stats.messages_out == BURST

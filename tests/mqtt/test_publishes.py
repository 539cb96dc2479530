"""QoS 1 publishes packed by mqtt-kube and matched to their PUBACK, against a real mosquitto.

Covered: a publish the broker refuses (its ACL) answers False with a warning naming the
topic and the broker's reason, and the next publish still goes through; QoS 1 publishes and
paho's own QoS 2 ones share the broker's Receive Maximum and all arrive; packet
identifiers wrap from 65535 to 1 without a publish lost; a publish started after the link
is gone answers False at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from mqtt_kube.config.model import MqttSettings
from mqtt_kube.mqtt.connection import MqttConnection
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.mqtt.test_connection import Inbox, running
from tests.support.broker_fixtures import MqttProbe
from tests.support.mqtt_relay import MqttRelay


async def test_a_publish_the_broker_refuses_answers_false_and_names_the_topic(
    mqtt_settings: MqttSettings, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = mqtt_settings.topic_prefix
    # Anonymous clients may write under allowed/ and the availability topic, nothing else.
    acl = f"topic write {prefix}/allowed/#\ntopic write {mqtt_settings.availability_topic}\n"
    with Mosquitto(acl=acl) as broker:
        connection = MqttConnection(
            dataclasses.replace(mqtt_settings, port=broker.port), on_message=Inbox()
        )
        async with running(connection):
            assert await connection.wait_connected(5)
            with caplog.at_level(logging.WARNING, logger="mqtt_kube.mqtt.publishes"):
                assert await connection.publish(f"{prefix}/denied/x", "1") is False
            assert await connection.publish(f"{prefix}/allowed/x", "2") is True
            assert connection.stats.messages_out == 1
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals == [f"the MQTT broker refused the message on {prefix}/denied/x: Not authorized"]


async def test_qos_1_and_qos_2_publishes_share_the_receive_maximum_and_all_arrive(
    mosquitto: Mosquitto, mqtt_settings: MqttSettings, mqtt_probe: MqttProbe
) -> None:
    prefix = mqtt_settings.topic_prefix
    async with MqttRelay(mosquitto.host, mosquitto.port) as relay:
        connection = MqttConnection(
            dataclasses.replace(mqtt_settings, port=relay.port), on_message=Inbox()
        )
        async with running(connection):
            assert await connection.wait_connected(5)
            sent = await asyncio.gather(
                *(connection.publish(f"{prefix}/one/{n}", str(n), qos=1) for n in range(200)),
                *(connection.publish(f"{prefix}/two/{n}", str(n), qos=2) for n in range(30)),
            )
            assert sent == [True] * 230
            assert connection.stats.messages_out == 230
            one = [await mqtt_probe.next(f"{prefix}/one/{n}") for n in range(200)]
            two = [await mqtt_probe.next(f"{prefix}/two/{n}") for n in range(30)]
    assert [m.payload for m in one] == [str(n).encode() for n in range(200)]
    assert [m.payload for m in two] == [str(n).encode() for n in range(30)]
    # mosquitto announces a Receive Maximum of 20; both kinds count against it
    assert 1 < relay.most_in_flight <= 20


async def test_packet_identifiers_wrap_without_losing_a_publish(
    mqtt_settings: MqttSettings, mqtt_probe: MqttProbe
) -> None:
    topic = f"{mqtt_settings.topic_prefix}/wrap"
    connection = MqttConnection(mqtt_settings, on_message=Inbox())
    async with running(connection):
        assert await connection.wait_connected(5)
        client = connection._client
        assert client is not None
        client._client._last_mid = 65_500  # paho's counter, which ours are taken from
        sent = await asyncio.gather(*(connection.publish(topic, str(n)) for n in range(100)))
        assert sent == [True] * 100
        assert client._client._last_mid < 100  # it went past 65535
        received = [await mqtt_probe.next(topic) for _ in range(100)]
    assert sorted(int(m.payload) for m in received) == list(range(100))


async def test_a_publish_without_a_link_answers_false_at_once(
    mqtt_settings: MqttSettings,
) -> None:
    connection = MqttConnection(mqtt_settings, on_message=Inbox())
    future = connection.publish_soon(f"{mqtt_settings.topic_prefix}/x", "1")
    assert future.done()
    assert future.result() is False

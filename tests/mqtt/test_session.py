"""The broker session: kept across a short drop, never longer than `session-expiry`.

Against a real mosquitto (which speaks MQTT 5), and through `MqttRelay` for a broker that
speaks only MQTT 3.1.1. Covered: commands queued while mqtt-kube was away longer than the
session expiry are never delivered (the broker expired the session); commands sent during a
short drop are delivered, once each, in order; a new process never takes over commands
queued for an earlier run (a 3.1.1 persistent session, as earlier versions left it, or an MQTT
5 one); a broker without MQTT 5 gets 3.1.1 with a fresh session at start (a clean connection
closed at once, then the persistent one), and a short drop there resumes the session; the
broker's Receive Maximum bounds the publishes in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqtt_kube.config.model import MqttSettings
from mqtt_kube.core.message import Message
from mqtt_kube.mqtt.connection import MqttConnection
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.mqtt_relay import Connect, MqttRelay
from tests.support.waiting import until


class Inbox:
    """A message handler that keeps the payloads of one topic."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.payloads: list[str] = []

    def __call__(self, message: Message) -> None:
        if message.topic == self.topic:
            self.payloads.append(message.payload.decode())


@contextlib.asynccontextmanager
async def running(settings: MqttSettings, inbox: Inbox) -> AsyncIterator[MqttConnection]:
    """A connection subscribed to the inbox's topic, connected; closed on the way out."""
    connection = MqttConnection(settings, on_message=inbox)
    connection.add_subscription(inbox.topic)
    task = asyncio.create_task(connection.run(), name="mqtt under test")
    try:
        assert await connection.wait_connected(5)
        yield connection
    finally:
        async with asyncio.timeout(5):
            await connection.close()
            await task


async def press(probe: MqttProbe, inbox: Inbox, *payloads: str) -> None:
    """Publish each payload on the inbox's topic (QoS 1)."""
    for payload in payloads:
        await probe.publish(inbox.topic, payload)


async def delivered_up_to(probe: MqttProbe, inbox: Inbox, marker: str) -> list[str]:
    """Everything delivered before and with `marker`, published now: the broker hands a
    resumed session's queued messages over before anything newer, so nothing earlier can
    still come once the marker is here."""
    await probe.publish(inbox.topic, marker)
    await until(lambda: marker in inbox.payloads)
    return list(inbox.payloads)


async def test_commands_queued_longer_than_the_session_expiry_are_never_delivered(
    mosquitto: Mosquitto, mqtt_settings: MqttSettings, mqtt_prefix: str
) -> None:
    inbox = Inbox(f"{mqtt_prefix}/job/run")
    async with MqttRelay(mosquitto.host, mosquitto.port) as relay:
        settings = dataclasses.replace(mqtt_settings, port=relay.port, session_expiry=1)
        async with running(settings, inbox) as connection, MqttProbe.connect(mosquitto) as probe:
            await relay.cut()
            await until(lambda: not connection.connected)
            await press(probe, inbox, "press-1", "press-2", "press-3")
            expired = f"Expiring client {settings.client_id} due to timeout"
            await until(lambda: expired in mosquitto.log_text())
            await relay.restore()
            assert await connection.wait_connected(5)
            assert await delivered_up_to(probe, inbox, "after") == ["after"]


async def test_commands_sent_during_a_short_drop_are_delivered_once_in_order(
    mosquitto: Mosquitto, mqtt_settings: MqttSettings, mqtt_prefix: str
) -> None:
    inbox = Inbox(f"{mqtt_prefix}/job/run")
    async with MqttRelay(mosquitto.host, mosquitto.port) as relay:
        settings = dataclasses.replace(mqtt_settings, port=relay.port)
        async with running(settings, inbox) as connection, MqttProbe.connect(mosquitto) as probe:
            await relay.cut()
            await until(lambda: not connection.connected)
            await press(probe, inbox, "press-1", "press-2")
            await relay.restore()
            assert await connection.wait_connected(5)
            assert await delivered_up_to(probe, inbox, "after") == ["press-1", "press-2", "after"]
    assert [c.level for c in relay.connects] == [5, 5]
    assert [c.clean for c in relay.connects] == [True, False]


@pytest.mark.parametrize("earlier", ["MQTT 3.1.1 persistent session", "MQTT 5, expiry 1 h"])
async def test_a_new_process_never_takes_over_commands_queued_for_an_earlier_run(
    mosquitto: Mosquitto, mqtt_settings: MqttSettings, mqtt_prefix: str, earlier: str
) -> None:
    inbox = Inbox(f"{mqtt_prefix}/job/run")
    await leave_a_session(mosquitto, mqtt_settings.client_id, inbox.topic, mqtt5="5" in earlier)
    async with MqttProbe.connect(mosquitto) as probe:
        await press(probe, inbox, "press-1", "press-2", "press-3")
        async with running(mqtt_settings, inbox):
            assert await delivered_up_to(probe, inbox, "after") == ["after"]


async def test_a_broker_without_mqtt5_gets_311_and_a_fresh_session_at_start(
    mosquitto: Mosquitto,
    mqtt_settings: MqttSettings,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = Inbox(f"{mqtt_prefix}/job/run")
    await leave_a_session(mosquitto, mqtt_settings.client_id, inbox.topic, mqtt5=False)
    async with (
        MqttRelay(mosquitto.host, mosquitto.port, refuse_mqtt5=True) as relay,
        MqttProbe.connect(mosquitto) as probe,
    ):
        await press(probe, inbox, "press-1", "press-2")
        settings = dataclasses.replace(mqtt_settings, port=relay.port)
        with caplog.at_level(logging.INFO, logger="mqtt_kube.mqtt"):
            async with running(settings, inbox):
                assert await delivered_up_to(probe, inbox, "after") == ["after"]
    assert relay.connects == [Connect(5, True), Connect(4, True), Connect(4, False)]
    assert caplog.text.count("does not speak MQTT 5; using MQTT 3.1.1") == 1
    assert "connected to MQTT broker" in caplog.text
    assert "(MQTT 3.1.1)" in caplog.text


async def test_on_311_a_short_drop_resumes_the_session(
    mosquitto: Mosquitto, mqtt_settings: MqttSettings, mqtt_prefix: str
) -> None:
    inbox = Inbox(f"{mqtt_prefix}/job/run")
    async with (
        MqttRelay(mosquitto.host, mosquitto.port, refuse_mqtt5=True) as relay,
        MqttProbe.connect(mosquitto) as probe,
    ):
        settings = dataclasses.replace(mqtt_settings, port=relay.port)
        async with running(settings, inbox) as connection:
            await relay.cut()
            await until(lambda: not connection.connected)
            await press(probe, inbox, "press-1", "press-2")
            await relay.restore()
            assert await connection.wait_connected(5)
            assert await delivered_up_to(probe, inbox, "after") == ["press-1", "press-2", "after"]
    assert relay.connects[3:] == [Connect(4, False)]


async def test_the_brokers_receive_maximum_bounds_the_publishes_in_flight(
    mosquitto: Mosquitto, mqtt_settings: MqttSettings, mqtt_prefix: str
) -> None:
    inbox = Inbox(f"{mqtt_prefix}/nothing")
    async with MqttRelay(mosquitto.host, mosquitto.port) as relay:
        settings = dataclasses.replace(mqtt_settings, port=relay.port)
        async with running(settings, inbox) as connection:
            topics = [f"{mqtt_prefix}/state/{n}" for n in range(300)]
            sent = await asyncio.gather(*(connection.publish(t, "x") for t in topics))
            assert all(sent)
    # mosquitto announces a Receive Maximum of 20 (its max_inflight_messages) in CONNACK
    assert 1 < relay.most_in_flight <= 20


async def leave_a_session(broker: Mosquitto, client_id: str, topic: str, *, mqtt5: bool) -> None:
    """A session subscribed to `topic` left on the broker, as an earlier run leaves it."""
    if mqtt5:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        client = aiomqtt.Client(
            broker.host,
            broker.port,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
        )
    else:
        client = aiomqtt.Client(broker.host, broker.port, identifier=client_id, clean_session=False)
    async with client:
        await client.subscribe(topic, qos=1)

"""The MQTT connection when the broker dies while it shuts down.

Covered: `close()` while the `offline` publish waits for the broker, and the link breaks
then: `run()` returns and asyncio logs nothing ("Future exception was never retrieved …
MqttCodeError" was logged once the client object was collected).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging

import pytest

from mqtt_kube.config.model import MqttSettings
from mqtt_kube.mqtt.connection import MqttConnection
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.broker_fixtures import TcpProxy
from tests.support.waiting import until


async def close_while_the_broker_dies(settings: MqttSettings, mosquitto: Mosquitto) -> None:
    async with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        proxied = dataclasses.replace(settings, host=proxy.host, port=proxy.port)
        connection = MqttConnection(proxied, on_message=lambda message: None)
        task = asyncio.create_task(connection.run(), name="mqtt under test")
        assert await connection.wait_connected(5)
        proxy.pause()  # the `offline` publish will get no acknowledgement
        closing = asyncio.create_task(connection.close(), name="close")
        await until(lambda: not connection.connected)  # close() has begun to say offline
        await proxy.cut()  # and the broker goes away meanwhile
        async with asyncio.timeout(10):
            await closing
            await task


async def test_a_broker_dying_during_shutdown_leaves_no_unretrieved_error(
    mqtt_settings: MqttSettings, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    await close_while_the_broker_dies(mqtt_settings, mosquitto)
    gc.collect()  # the client is gone with the helper's frame: its futures are collected
    await asyncio.sleep(0)  # the loop's exception handler runs from the collected future
    never_retrieved = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert never_retrieved == []

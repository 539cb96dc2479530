"""The aiomqtt client as mqtt-kube sets it up, and how it publishes.

One client is made per connection attempt (`MqttConnection.run` is the reconnect loop):
the protocol and session its `SessionPlan` asks for (`mqtt_kube.mqtt.session`), a wide
window of QoS 1 publishes in flight (within what an MQTT 5 broker allows), the Last Will on
the availability topic, TLS when configured, and paho's socket reads and writes batched
(`mqtt_kube.mqtt.wire`). QoS 1 publishes go through `mqtt_kube.mqtt.publishes`, QoS 0
and 2 through `publish_through_paho`, which is aiomqtt's publish at a lower price.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, Final

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_kube.config.model import MqttSettings
from mqtt_kube.mqtt.deadlines import Deadlines
from mqtt_kube.mqtt.publishes import QosOnePublishes, handle_acknowledgements
from mqtt_kube.mqtt.session import MQTT5, SessionPlan
from mqtt_kube.mqtt.stats import MqttStats
from mqtt_kube.mqtt.wire import batch_socket_io

logger = logging.getLogger(__name__)

# aiomqtt logs a warning above 10 pending calls; the state board keeps hundreds in flight.
PENDING_CALLS_THRESHOLD: Final = 5000
MAX_INFLIGHT: Final = 128  # QoS 1+ publishes awaiting PUBACK at once (paho's default: 20)


class Client(aiomqtt.Client):
    """aiomqtt's client, with its QoS 1 publishes sent by `QosOnePublishes`."""

    def __init__(
        self, *args: Any, mqtt5: bool, deadlines: Deadlines, stats: MqttStats, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = deadlines  # the connection's, shared by every publish
        self.stats = stats  # the connection's counters
        self.publishes = QosOnePublishes(
            self._client, mqtt5=mqtt5, deadlines=deadlines, stats=stats
        )


def make_client(
    settings: MqttSettings,
    *,
    will_payload: str,
    tls: ssl.SSLContext | None,
    plan: SessionPlan,
    deadlines: Deadlines,
    stats: MqttStats,
) -> Client:
    """A new client for one connection attempt; `will_payload` is retained as Last Will.

    A session that outlives a drop delivers again the QoS 1 commands the broker had sent
    when the link dropped, and those it received while we were away. Measured over 60
    links cut under a 1 kHz stream: clean sessions lost 13 of ~6,200 acknowledged
    messages, a kept one none (docs/reliability.md).
    """
    mqtt5 = plan.protocol is MQTT5
    properties = None
    if mqtt5:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = plan.expiry
    client = Client(
        settings.host,
        settings.port,
        identifier=settings.client_id,
        username=settings.username,
        password=settings.password,
        keepalive=settings.keepalive,
        protocol=plan.protocol,
        # Each protocol has its own flag, and paho refuses the other one's.
        clean_session=None if mqtt5 else plan.clean,
        clean_start=plan.clean if mqtt5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
        properties=properties,
        # paho sends at most 20 QoS 1 publishes before holding the rest back, and scans
        # every held one on each acknowledgement: let the state board's window through.
        max_inflight_messages=MAX_INFLIGHT,
        will=aiomqtt.Will(settings.availability_topic, will_payload, qos=1, retain=True),
        tls_context=tls,
        mqtt5=mqtt5,
        deadlines=deadlines,
        stats=stats,
    )
    client.pending_calls_threshold = PENDING_CALLS_THRESHOLD
    _obey_receive_maximum(client)
    batch_socket_io(client)
    handle_acknowledgements(client._client, client.publishes)
    return client


def _obey_receive_maximum(client: aiomqtt.Client) -> None:
    """Keep the publishes in flight within the Receive Maximum an MQTT 5 broker announces.

    paho reads it from CONNACK but does not apply it (mosquitto says 20); a broker may
    disconnect a client that exceeds it. aiomqtt keeps the CONNACK properties to itself,
    so its paho callback is wrapped; and paho's setter refuses a change once connected, so
    the limit is set underneath it, at CONNACK, before anything of ours is in flight.
    """
    inner = client._on_connect  # what aiomqtt gives paho as its on_connect

    def on_connect(
        paho_client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        maximum = getattr(properties, "ReceiveMaximum", None)
        if isinstance(maximum, int) and 0 < maximum < MAX_INFLIGHT:
            paho_client._max_inflight_messages = maximum
        inner(paho_client, userdata, flags, reason, properties)

    client._client.on_connect = on_connect


def settle_disconnect(client: aiomqtt.Client) -> None:
    """Mark the reason of an unexpected disconnection as seen.

    aiomqtt keeps it in a future that only its message iterator reads. When the broker
    dies while we shut down, nobody iterates any more and the client's `__aexit__` returns
    early, so asyncio would log "Future exception was never retrieved … MqttCodeError"
    once the client is collected. The failure itself is already handled (a publish that
    gets no answer returns False).
    """
    disconnected = client._disconnected  # aiomqtt's own future, only to read it
    if disconnected.done() and not disconnected.cancelled():
        disconnected.exception()


def refused(code: int | ReasonCode) -> bool:
    """A SUBACK code that refuses the subscription."""
    return code.is_failure if isinstance(code, ReasonCode) else code >= 0x80


async def publish_through_paho(
    client: Client,
    topic: str,
    payload: str | bytes,
    *,
    qos: int,
    retain: bool,
) -> bool:
    """A QoS 0 or 2 publish, as aiomqtt's but waiting on one future under the deadlines.

    aiomqtt's own publish scans every pending call twice per publish and wraps the wait
    in `asyncio.wait_for`; here aiomqtt's paho callback resolves the future instead.
    False when paho refuses to send it, or as the deadlines say.
    """
    info = client._client.publish(topic, payload, qos, retain)  # aiomqtt's paho client
    if info.rc != paho.MQTT_ERR_SUCCESS:
        logger.debug("%s not published: %s", topic, paho.error_string(info.rc))
        return False
    if info.is_published():
        client.stats.messages_out += 1
        return True
    future: asyncio.Future[bool] = client._loop.create_future()
    pending = client._pending_publishes  # where aiomqtt's on_publish looks for it
    pending[info.mid] = _Acknowledgement(future)
    client.deadlines.track(future)
    try:
        sent = await future
    finally:
        pending.pop(info.mid, None)
        client.deadlines.discard(future)
    if sent:
        client.stats.messages_out += 1
    return sent


class _Acknowledgement(asyncio.Event):
    """What aiomqtt's on_publish sets for a message id; here it resolves the waiting future."""

    def __init__(self, future: asyncio.Future[bool]) -> None:
        super().__init__()
        self._future = future

    def set(self) -> None:
        if not self._future.done():
            self._future.set_result(True)

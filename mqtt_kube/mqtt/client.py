"""The aiomqtt client as mqtt-kube sets it up, and how it publishes.

One client is made per connection attempt (`MqttConnection.run` is the reconnect loop):
the protocol and session its `SessionPlan` asks for (`mqtt_kube.mqtt.session`), a wide
window of QoS 1 publishes in flight (within what an MQTT 5 broker allows), the Last Will on
the availability topic, TLS when configured, and paho's socket reads and writes batched
(`mqtt_kube.mqtt.wire`). `Acknowledgements` is aiomqtt's publish at a lower price.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Final, Literal

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttCodeError
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_kube.config.model import MqttSettings
from mqtt_kube.mqtt.session import MQTT5, SessionPlan
from mqtt_kube.mqtt.wire import batch_socket_io

# aiomqtt logs a warning above 10 pending calls; the state board keeps hundreds in flight.
PENDING_CALLS_THRESHOLD: Final = 5000
MAX_INFLIGHT: Final = 128  # QoS 1+ publishes awaiting PUBACK at once (paho's default: 20)


def make_client(
    settings: MqttSettings,
    *,
    will_payload: str,
    tls: ssl.SSLContext | None,
    plan: SessionPlan,
) -> aiomqtt.Client:
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
    client = aiomqtt.Client(
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
    )
    client.pending_calls_threshold = PENDING_CALLS_THRESHOLD
    _obey_receive_maximum(client)
    batch_socket_io(client)
    _plain_acknowledgements(client._client)
    return client


def _plain_acknowledgements(paho_client: paho.Client) -> None:
    """Handle a PUBACK without properties without building two objects for each.

    For every PUBACK, paho decodes a new ReasonCode and a new Properties object, which with
    the state board's stream of publishes is a large share of what a publish costs. A PUBACK
    of a message id and at most a reason code (MQTT 5's "Success" or, where nobody
    subscribes, "No matching subscribers"; every MQTT 3.1.1 PUBACK) holds nothing more:
    paho's own `_do_on_publish` gets the message id with the reason code decoded once per
    value, and one empty Properties. A PUBACK with properties, and every PUBCOMP, go
    through paho's decoding as before.
    """
    inner = paho_client._handle_pubackcomp
    empty = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
    reasons: dict[bytes, ReasonCode] = {b"": ReasonCode(PacketTypes.PUBACK)}

    def handle(cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = paho_client._in_packet["packet"]
        code = bytes(packet[2:])
        reason = reasons.get(code)
        if reason is None and cmd == "PUBACK" and len(code) == 1:
            reason = ReasonCode(PacketTypes.PUBACK)
            try:
                reason.unpack(code)  # as paho decodes it; refuses an unknown value
            except (ValueError, KeyError, IndexError, TypeError):
                return inner(cmd)
            reasons[code] = reason
        if cmd != "PUBACK" or reason is None or len(packet) < 2:
            return inner(cmd)
        mid = int.from_bytes(packet[:2], "big")
        paho_client._easy_log(paho.MQTT_LOG_DEBUG, "Received %s (Mid: %d)", cmd, mid)
        with paho_client._out_message_mutex:
            if mid in paho_client._out_messages:
                return paho_client._do_on_publish(mid, reason, empty)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    paho_client._handle_pubackcomp = handle  # type: ignore[method-assign]


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


class Acknowledgements:
    """QoS 1+ publishes waiting for the broker's acknowledgement, with one timer for all.

    What `aiomqtt.Client.publish` does, without what it costs per call beyond that: it
    scans every pending call twice (to refuse a message id in use, which paho never hands
    out twice while in flight, and to count them for a warning), and wraps the wait in
    `asyncio.wait_for`, a task per publish. Here a publish waits on one future; aiomqtt's
    own paho callback sets what it finds under the message id, which resolves it. Every
    publish waits `seconds` at most, so their deadlines come in the order they were sent:
    one timer, for the oldest, stands for all of them.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._waiting: dict[asyncio.Future[bool], float] = {}  # → deadline; oldest first
        self._timer: asyncio.TimerHandle | None = None

    async def publish(
        self, client: aiomqtt.Client, topic: str, payload: str | bytes, *, qos: int, retain: bool
    ) -> bool:
        """True once the broker has the message; False when too slow or `cut()` first.

        MqttError when paho refuses to send it.
        """
        info = client._client.publish(topic, payload, qos, retain)  # aiomqtt's paho client
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise MqttCodeError(info.rc, "Could not publish message")
        if info.is_published():
            return True
        loop = client._loop
        future: asyncio.Future[bool] = loop.create_future()
        deadline = loop.time() + self._seconds
        self._waiting[future] = deadline
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire, loop)
        pending = client._pending_publishes  # where aiomqtt's on_publish looks for it
        pending[info.mid] = _Acknowledgement(future)
        try:
            return await future
        finally:
            pending.pop(info.mid, None)
            self._waiting.pop(future, None)

    def cut(self) -> None:
        """The link dropped: every publish still waiting answers False now."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting:
            if not future.done():
                future.set_result(False)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        while self._waiting:
            future, deadline = next(iter(self._waiting.items()))
            if deadline > now:
                self._timer = loop.call_at(deadline, self._expire, loop)
                return
            del self._waiting[future]
            if not future.done():
                future.set_result(False)


class _Acknowledgement(asyncio.Event):
    """What aiomqtt's on_publish sets for a message id; here it resolves the waiting future."""

    def __init__(self, future: asyncio.Future[bool]) -> None:
        super().__init__()
        self._future = future

    def set(self) -> None:
        if not self._future.done():
            self._future.set_result(True)

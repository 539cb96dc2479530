"""QoS 1 publishes packed and acknowledged here, not through paho's per-message objects.

For each QoS 1 publish, paho builds an `MQTTMessage` and an `MQTTMessageInfo` with a
`threading.Condition`, logs the packet, and keeps it in its session table; for each
PUBACK it decodes a reason code and properties, calls aiomqtt back, and scans every
message in that table for one it held back. With the state board's window of publishes
in flight, that was more than half of what a publish cost in the watch benchmark.

So a QoS 1 PUBLISH is packed here and joins paho's queue of outgoing packets (so the
batched writer and TLS see nothing new), its packet identifier taken from paho's own
counter, and its PUBACK is matched here before paho looks at it. The broker's Receive
Maximum counts paho's publishes and ours alike: ours take a place in paho's in-flight
count, so neither side sends more than the broker allows, and a publish that finds no
place waits here until an acknowledgement frees one. What paho keeps for resending after
a reconnect is not needed: every connection gets a new client, publishes still waiting
when a link drops answer False, and the state board publishes everything again after
the next connect. QoS 0 and 2 still go through paho.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Final, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_kube.mqtt.deadlines import Deadlines
from mqtt_kube.mqtt.stats import MqttStats

logger = logging.getLogger(__name__)

_PUBLISH_QOS1: Final = paho.PUBLISH | 0x02
_MAX_PAYLOAD: Final = 268_435_455  # what MQTT's remaining length can express
_FIRST_FAILURE: Final = 0x80  # PUBACK reason codes from here on refuse the message


class QosOnePublishes:
    """The QoS 1 publishes of one paho client, from packing to their PUBACK."""

    def __init__(
        self, paho_client: paho.Client, *, mqtt5: bool, deadlines: Deadlines, stats: MqttStats
    ) -> None:
        self._paho = paho_client
        self._deadlines = deadlines
        self._stats = stats  # the connection's counters
        self._properties = b"\x00" if mqtt5 else b""  # MQTT 5: no properties
        self._waiting: dict[int, tuple[asyncio.Future[bool], str]] = {}  # mid → (ack, topic)
        self._held: deque[tuple[int, bytes]] = deque()  # (mid, packet) with no place yet
        self._loop = asyncio.get_running_loop()

    def send(self, topic: str, payload: str | bytes, *, retain: bool) -> asyncio.Future[bool]:
        """Queue one QoS 1 publish; the future is True on its PUBACK, False if the broker
        refuses it, does not answer within the deadline, or the link drops first.

        ValueError for a topic paho would refuse.
        """
        topic_bytes = topic.encode()
        if not topic_bytes or b"+" in topic_bytes or b"#" in topic_bytes:
            raise ValueError(f"Invalid publish topic {topic!r}.")
        if len(topic_bytes) > 65535:
            raise ValueError("Publish topic is too long.")
        body = payload.encode() if isinstance(payload, str) else payload
        if len(body) > _MAX_PAYLOAD:
            logger.warning("%s not published: %d bytes is more than MQTT carries", topic, len(body))
            return answered(False)
        paho_client = self._paho
        mid = paho_client._mid_generate()
        while mid in self._waiting:  # still unacknowledged after 65,535 more: skip it
            mid = paho_client._mid_generate()
        properties = self._properties
        length = 4 + len(topic_bytes) + len(properties) + len(body)
        packet = b"".join(
            (
                bytes((_PUBLISH_QOS1 | retain,)),
                _remaining_length(length),
                len(topic_bytes).to_bytes(2, "big"),
                topic_bytes,
                mid.to_bytes(2, "big"),
                properties,
                body,
            )
        )
        future: asyncio.Future[bool] = self._loop.create_future()
        self._waiting[mid] = (future, topic)
        self._deadlines.track(future)
        if self._held or not self._room():
            self._held.append((mid, packet))
        else:
            self._put(mid, packet)
        return future

    def acknowledged(self, mid: int, code: bytes) -> bool:
        """A PUBACK arrived: True if it was for one of ours (then it is handled)."""
        entry = self._waiting.pop(mid, None)
        if entry is None:
            return False
        future, topic = entry
        with self._paho._out_message_mutex:
            self._paho._inflight_messages -= 1
        if not future.done():  # else it expired, or the link was cut meanwhile
            self._deadlines.discard(future)
            if code and code[0] >= _FIRST_FAILURE:
                logger.warning(
                    "the MQTT broker refused the message on %s: %s", topic, _reason(code[0])
                )
                future.set_result(False)
            else:
                self._stats.messages_out += 1
                future.set_result(True)
        self.release()
        return True

    def release(self) -> None:
        """Send what waits for a place, now that an acknowledgement may have freed one."""
        paho_client = self._paho
        if paho_client._out_messages:  # paho's own held-back publishes go first
            with paho_client._out_message_mutex:
                paho_client._update_inflight()
        held = self._held
        while held and self._room():
            self._put(*held.popleft())

    def _room(self) -> bool:
        paho_client = self._paho
        limit = paho_client._max_inflight_messages
        return limit == 0 or paho_client._inflight_messages < limit

    def _put(self, mid: int, packet: bytes) -> None:
        paho_client = self._paho
        with paho_client._out_message_mutex:
            paho_client._inflight_messages += 1
        paho_client._packet_queue(paho.PUBLISH, packet, mid, 1)


def answered(result: bool) -> asyncio.Future[bool]:
    """A publish's future that is answered already."""
    future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future


def _reason(code: int) -> str:
    try:
        return str(ReasonCode(PacketTypes.PUBACK, identifier=code))
    except ValueError:  # a code MQTT 5 does not define for a PUBACK
        return f"reason code {code:#04x}"


def _remaining_length(length: int) -> bytes:
    """MQTT's variable-length integer."""
    if length < 128:
        return bytes((length,))
    encoded = bytearray()
    while True:
        digit, length = length % 128, length // 128
        encoded.append(digit | 0x80 if length else digit)
        if not length:
            return bytes(encoded)


def handle_acknowledgements(paho_client: paho.Client, publishes: QosOnePublishes) -> None:
    """Match each PUBACK to our publishes before paho looks for it among its own."""
    inner = paho_client._handle_pubackcomp

    def handle(cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = paho_client._in_packet["packet"]
        if cmd == "PUBACK" and len(packet) >= 2:
            mid = int.from_bytes(packet[:2], "big")
            if publishes.acknowledged(mid, bytes(packet[2:3])):
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        result = inner(cmd)
        publishes.release()  # paho's own acknowledgement may have freed a place for ours
        return result

    paho_client._handle_pubackcomp = handle  # type: ignore[method-assign]

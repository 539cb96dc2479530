"""A loopback relay in front of the test broker that reads the MQTT packets passing through.

It stands in for what a test cannot see from either end:

- `refuse_mqtt5`: answer an MQTT 5 CONNECT as a broker that speaks only 3.1.1 does (CONNACK
  with return code 1, "unacceptable protocol version", then close) and relay the rest;
- `connects`: the protocol level and the clean-session / clean-start flag of every CONNECT;
- `most_in_flight`: the most QoS 1 and 2 PUBLISH packets a client had sent without their
  PUBACK or PUBCOMP (what the broker's Receive Maximum counts);
- `cut()`: drop every relayed connection without a word, as a failed network does.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Self

from mqtt_kube.testing.mosquitto import HOST

_CONNECT, _PUBLISH, _PUBACK, _PUBCOMP = 1, 3, 4, 7
_REFUSED_PROTOCOL = b"\x20\x02\x00\x01"  # CONNACK, 3.1.1: unacceptable protocol version


@dataclass(frozen=True)
class Connect:
    level: int  # 4: MQTT 3.1.1, 5: MQTT 5
    clean: bool  # clean session (3.1.1) or clean start (5)


class MqttRelay:
    """Relays one broker's connections on a port of its own; see the module docstring."""

    def __init__(self, target_host: str, target_port: int, *, refuse_mqtt5: bool = False) -> None:
        self.host = HOST
        self.port = 0
        self.refuse_mqtt5 = refuse_mqtt5
        self.connects: list[Connect] = []
        self.most_in_flight = 0
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        await self.restore()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.cut()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def cut(self) -> None:
        """Stop listening and drop every relayed connection abruptly."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()

    async def restore(self) -> None:
        """Listen again, on the same port after a `cut()`."""
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                await self._relay(reader, writer)
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            self._tasks.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await _read_packet(reader)
        if first[0] >> 4 != _CONNECT:
            return
        connect = _parse_connect(first)
        self.connects.append(connect)
        if connect.level == 5 and self.refuse_mqtt5:
            writer.write(_REFUSED_PROTOCOL)
            await writer.drain()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers.add(up_writer)
        in_flight = [0]
        try:
            up_writer.write(first)
            await asyncio.gather(
                self._pump(reader, up_writer, in_flight, sent=True),
                self._pump(up_reader, writer, in_flight, sent=False),
            )
        finally:
            self._writers.discard(up_writer)
            up_writer.transport.abort()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        in_flight: list[int],
        *,
        sent: bool,
    ) -> None:
        """Copy packets one way; count QoS 1 and 2 publishes (client side), and the PUBACKs
        and PUBCOMPs that end them (broker side)."""
        try:
            while True:
                packet = await _read_packet(reader)
                kind, flags = packet[0] >> 4, packet[0] & 0x0F
                if sent and kind == _PUBLISH and (flags >> 1) & 0x03 in (1, 2):
                    in_flight[0] += 1
                    self.most_in_flight = max(self.most_in_flight, in_flight[0])
                elif not sent and kind in (_PUBACK, _PUBCOMP):
                    in_flight[0] -= 1
                writer.write(packet)
                await writer.drain()
        finally:
            writer.transport.abort()


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    """One whole MQTT control packet: fixed header, remaining length, the rest."""
    head = await reader.readexactly(1)
    length_bytes = b""
    length, shift = 0, 0
    while True:
        byte = await reader.readexactly(1)
        length_bytes += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    return head + length_bytes + await reader.readexactly(length)


def _parse_connect(packet: bytes) -> Connect:
    """The protocol level and clean flag of a CONNECT packet."""
    index = 1
    while packet[index] & 0x80:  # skip the remaining length
        index += 1
    index += 1
    name_length = int.from_bytes(packet[index : index + 2], "big")
    index += 2 + name_length
    level, flags = packet[index], packet[index + 1]
    return Connect(level=level, clean=bool(flags & 0x02))

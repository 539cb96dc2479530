"""paho's socket reads and writes, batched: a system call per burst, not per packet.

With the state board's window of QoS 1 publishes in flight, the MQTT socket carries a
stream of small packets both ways, and paho handles each one with system calls of its own:
a `send` per PUBLISH (each its own TCP segment, under TCP_NODELAY) and three `recv`s per
PUBACK (type, length, body). On loopback those calls cost more than the rest of a publish.
So, on each client paho is given:

- `loop_write` runs under TCP_CORK when more than one packet is queued: the packets
  queued since the last call leave together when it returns.
- reads go through a read-ahead buffer: one `recv` takes whatever has arrived, and paho's
  small reads are served from it. `loop_read` is called again while the buffer holds
  bytes (paho stops after as many packets as it has messages in flight), so nothing read
  waits for the socket to become readable again.
- after a read that leaves nothing to send, TCP_QUICKACK: mosquitto, by default, holds
  each PUBACK back until its previous segment is acknowledged (Nagle's algorithm), and
  when we have nothing to send the kernel delays that acknowledgement up to 40 ms,
  stalling every burst of publishes. The option sends the pending ACK at once; it does not
  stick, so it is set each time. When paho has packets to send, they carry the ACK.

All three are Linux socket options or plain buffering; where an option is missing (or the
socket is not a TCP socket) the call goes through unchanged.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Final

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

READ_AHEAD: Final = 65536  # bytes asked of the socket at once
_CORK: Final = getattr(socket, "TCP_CORK", None)
_QUICKACK: Final = getattr(socket, "TCP_QUICKACK", None)


def batch_socket_io(paho_client: paho.Client) -> None:
    """Install the batched reads and writes on `paho_client` (before it connects)."""
    buffer = _ReadAhead(paho_client._sock_recv)
    paho_client._sock_recv = buffer.recv  # type: ignore[method-assign]
    inner_read = paho_client.loop_read
    inner_write = paho_client.loop_write

    def loop_read(max_packets: int = 1) -> MQTTErrorCode:
        result = inner_read(max_packets)
        while result == MQTTErrorCode.MQTT_ERR_SUCCESS and buffer.pending():
            result = inner_read(max_packets)
        if not paho_client.want_write():  # else our next segment carries the ACK
            _set(paho_client.socket(), _QUICKACK, 1)
        return result

    def loop_write() -> MQTTErrorCode:
        if len(paho_client._out_packet) < 2:  # one packet is one segment anyway
            return inner_write()
        sock = paho_client.socket()
        _set(sock, _CORK, 1)
        try:
            return inner_write()
        finally:
            _set(sock, _CORK, 0)

    paho_client.loop_read = loop_read  # type: ignore[method-assign]
    paho_client.loop_write = loop_write  # type: ignore[method-assign]


class _ReadAhead:
    """paho's `_sock_recv`, served from one larger read of the socket."""

    def __init__(self, receive: Callable[[int], bytes]) -> None:
        self._receive = receive  # paho's own: turns TLS's want-read into BlockingIOError
        self._data = b""
        self._at = 0

    def recv(self, bufsize: int) -> bytes:
        data, at = self._data, self._at
        if at >= len(data):
            data = self._receive(READ_AHEAD)  # BlockingIOError when nothing has arrived
            if not data:
                return data  # the connection closed: paho sees it as before
            self._data, at = data, 0
        self._at = at + bufsize
        return data[at : at + bufsize]

    def pending(self) -> int:
        """Bytes read from the socket that paho has not taken yet."""
        return len(self._data) - self._at


def _set(sock: object, option: int | None, value: int) -> None:
    if option is not None and isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # a socket closing meanwhile
            sock.setsockopt(socket.IPPROTO_TCP, option, value)

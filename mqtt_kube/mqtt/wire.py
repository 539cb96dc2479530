"""paho's socket reads and writes, batched: a system call per burst, not per packet.

With the state board's window of QoS 1 publishes in flight, the MQTT socket carries a
stream of small packets both ways, and paho handles each one with system calls of its own:
a `send` per PUBLISH and three `recv`s per PUBACK (type, length, body), and aiomqtt wakes
the event loop through its self-pipe and registers the socket for writing for every burst.
On loopback those calls cost more than the rest of a publish. So, on each client:

- a packet queued from the event loop's thread is not waited for with the selector: one
  write is scheduled for the loop's next turn (`call_soon`), and it sends every packet
  queued by then. Only when the socket takes less than all of it does the client wait
  for it to become writable, as aiomqtt does (and always for packets queued from the
  thread that connects).
- that write joins the queued packets into one `send` on a plain TCP socket, and tells
  paho what of each packet went out; over TLS, where a write must be repeated with the
  same data, paho writes each packet itself under TCP_CORK, so they leave together.
- reads go through a read-ahead buffer: one `recv` takes whatever has arrived, and paho's
  small reads are served from it. `loop_read` is called again while the buffer holds
  bytes (paho stops after as many packets as it has messages in flight), so nothing read
  waits for the socket to become readable again; a `recv` that gave less than it was
  asked for took all there was, so paho's next read waits for the selector instead of
  asking the socket for nothing.
- after a read that leaves nothing to send, TCP_QUICKACK: mosquitto, by default, holds
  each PUBACK back until its previous segment is acknowledged (Nagle's algorithm), and
  when we have nothing to send the kernel delays that acknowledgement up to 40 ms,
  stalling every burst of publishes. The option sends the pending ACK at once; it does not
  stick, so it is set each time. When paho has packets to send, they carry the ACK.

The socket options are Linux's; where one is missing (or the socket is not a TCP socket)
the call goes through unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any, Final

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

READ_AHEAD: Final = 65536  # bytes asked of the socket at once
_CORK: Final = getattr(socket, "TCP_CORK", None)
_QUICKACK: Final = getattr(socket, "TCP_QUICKACK", None)


def batch_socket_io(client: aiomqtt.Client) -> None:
    """Install the batched reads and writes on `client`'s paho client (before it connects)."""
    paho_client = client._client
    buffer = _ReadAhead(paho_client._sock_recv)
    paho_client._sock_recv = buffer.recv  # type: ignore[method-assign]
    inner_read = paho_client.loop_read
    inner_write = paho_client.loop_write
    writer = _NextTurnWriter(client)

    def loop_read(max_packets: int = 1) -> MQTTErrorCode:
        buffer.readable()
        result = inner_read(max_packets)
        while result == MQTTErrorCode.MQTT_ERR_SUCCESS and buffer.pending():
            result = inner_read(max_packets)
        if not paho_client.want_write():  # else our next segment carries the ACK
            _set(paho_client.socket(), _QUICKACK, 1)
        return result

    def loop_write() -> MQTTErrorCode:
        packets = paho_client._out_packet
        sock = paho_client._sock
        if len(packets) < 2:  # one packet is one segment anyway
            return inner_write()
        if isinstance(sock, ssl.SSLSocket) or not isinstance(sock, socket.socket):
            _set(sock, _CORK, 1)
            try:
                return inner_write()
            finally:
                _set(sock, _CORK, 0)
        data = b"".join([memoryview(p["packet"])[p["pos"] :] for p in packets])
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return inner_write()  # paho meets the error again and reports it its own way
        real_send = paho_client._sock_send
        paho_client._sock_send = _Sent(sent).take  # type: ignore[method-assign]
        try:
            return inner_write()  # paho's bookkeeping of each packet, as if it sent them
        finally:
            paho_client._sock_send = real_send  # type: ignore[method-assign]

    paho_client.loop_read = loop_read  # type: ignore[method-assign]
    paho_client.loop_write = loop_write  # type: ignore[method-assign]
    paho_client.on_socket_register_write = writer.register_write


class _NextTurnWriter:
    """Writes what paho queues from the loop's thread at the loop's next turn, in one go."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        self._paho = client._client
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        wait_writable = self._paho.on_socket_register_write  # aiomqtt's: add_writer, any thread
        assert wait_writable is not None  # aiomqtt sets it
        self._wait_writable = wait_writable
        self._scheduled = False

    def register_write(self, receiver: paho.Client, userdata: Any, sock: Any) -> None:
        """paho's `on_socket_register_write`: it has queued a packet."""
        if threading.get_ident() != self._loop_thread:
            self._wait_writable(receiver, userdata, sock)  # paho connecting, in aiomqtt's thread
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._write)

    def _write(self) -> None:
        self._scheduled = False
        paho_client = self._paho
        try:
            paho_client.loop_write()
        except Exception as exc:  # as aiomqtt's writer: the link is broken
            if not self._client._disconnected.done():
                self._client._disconnected.set_exception(exc)
            return
        sock = paho_client.socket()
        if sock is not None and paho_client.want_write():  # the socket is full for now
            self._wait_writable(paho_client, paho_client.user_data_get(), sock)


class _Sent:
    """paho's `_sock_send` for packets already sent: how much of each went out."""

    def __init__(self, sent: int) -> None:
        self._left = sent

    def take(self, buf: bytes | bytearray) -> int:
        taken = min(len(buf), self._left)
        if not taken:
            raise BlockingIOError  # the rest waits until the socket takes more
        self._left -= taken
        return taken


class _ReadAhead:
    """paho's `_sock_recv`, served from one larger read of the socket."""

    def __init__(self, receive: Callable[[int], bytes]) -> None:
        self._receive = receive  # paho's own: turns TLS's want-read into BlockingIOError
        self._data = b""
        self._at = 0
        self._drained = False  # the socket gave less than asked, so it had nothing more

    def recv(self, bufsize: int) -> bytes:
        data, at = self._data, self._at
        if at >= len(data):
            if self._drained:
                raise BlockingIOError  # the last read took all there was: ask the selector
            data = self._receive(READ_AHEAD)  # BlockingIOError when nothing has arrived
            if not data:
                return data  # the connection closed: paho sees it as before
            self._data, at = data, 0
            self._drained = len(data) < READ_AHEAD
        taken = data[at : at + bufsize]
        self._at = at + len(taken)
        return taken

    def readable(self) -> None:
        """The selector says the socket has bytes: the next read asks it again."""
        self._drained = False

    def pending(self) -> int:
        """Bytes read from the socket that paho has not taken yet."""
        return len(self._data) - self._at


def _set(sock: object, option: int | None, value: int) -> None:
    if option is not None and isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # a socket closing meanwhile
            sock.setsockopt(socket.IPPROTO_TCP, option, value)

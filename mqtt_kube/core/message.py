"""An MQTT message as the rest of mqtt-kube sees it, detached from the client library."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """An incoming MQTT message."""

    topic: str
    payload: bytes
    retain: bool
    qos: int


MessageHandler = Callable[[Message], None]
ConnectHook = Callable[[], Awaitable[None]]  # run after each (re)connect

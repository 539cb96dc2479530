"""How long the broker keeps mqtt-kube's session, and what each connection asks for.

The session holds the subscriptions and the QoS 1 commands the broker queues while the link
is down. Kept for ever, it turns the button presses of a day away into as many Jobs on
return; not kept at all, a command sent in the second a link drops is lost. So it outlives a
drop by `mqtt.session-expiry` seconds, and no longer:

- MQTT 5 (tried first): the Session Expiry Interval tells the broker, which discards the
  session, queued commands and all, once mqtt-kube has been away that long.
- MQTT 3.1.1 (for a broker that refuses 5) has no expiry, so mqtt-kube keeps the time
  itself: back in time, it resumes the session (clean session off); later, it starts a new
  one: a connection with clean session on, which makes the broker discard the old session,
  closed at once, then the persistent connection.

The first connection of a process always starts a new session: nothing tells how long a
session left by an earlier run (or by an earlier version, whose sessions never expired) has
been collecting commands. A `session-expiry` of 0 gives a clean session on every connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from aiomqtt import ProtocolVersion
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

MQTT5: Final = ProtocolVersion.V5
MQTT311: Final = ProtocolVersion.V311
# CONNACK "unsupported protocol version": MQTT 5's code, and the 3.1.1 code paho reads as it.
_UNSUPPORTED_PROTOCOL: Final = frozenset({1, 132})


@dataclass(frozen=True)
class SessionPlan:
    """What one connection attempt asks of the broker."""

    protocol: ProtocolVersion
    clean: bool  # MQTT 5: Clean Start; 3.1.1: clean session
    expiry: int  # MQTT 5: the Session Expiry Interval, in seconds
    discard_first: bool = False  # 3.1.1: first a clean connection, closed at once

    @property
    def protocol_name(self) -> str:
        return "MQTT 5" if self.protocol is MQTT5 else "MQTT 3.1.1"


class SessionPolicy:
    """The plan for each connection attempt, from what happened to the ones before."""

    def __init__(self, expiry: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.expiry = expiry
        self.protocol = MQTT5
        self._clock = clock
        self._ours = False  # the broker holds a session that this process started
        self._lost_at: float | None = None  # when the last connection ended

    def plan(self) -> SessionPlan:
        if self.expiry == 0:
            return SessionPlan(self.protocol, clean=True, expiry=0)
        if self.protocol is MQTT5:
            return SessionPlan(MQTT5, clean=not self._ours, expiry=self.expiry)
        away = None if self._lost_at is None else self._clock() - self._lost_at
        stale = not self._ours or (away is not None and away > self.expiry)
        return SessionPlan(MQTT311, clean=False, expiry=self.expiry, discard_first=stale)

    def connected(self) -> None:
        """The broker accepted a connection made by `plan()`."""
        self._ours = self.expiry > 0
        self._lost_at = None

    def lost(self) -> None:
        """A connection ended; the session's time away starts now."""
        if self._lost_at is None:
            self._lost_at = self._clock()

    def refused_protocol(self, error: BaseException) -> bool:
        """True, and MQTT 3.1.1 from now on, when `error` is a broker refusing MQTT 5."""
        if self.protocol is not MQTT5 or not isinstance(error, MqttConnectError):
            return False
        code = error.rc.value if isinstance(error.rc, ReasonCode) else error.rc
        if code not in _UNSUPPORTED_PROTOCOL:
            return False
        self.protocol = MQTT311
        return True

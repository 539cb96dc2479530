"""The MQTT connection's counters, shared by the connection and its publishes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MqttStats:
    """Counters for /metrics."""

    messages_in: int = 0
    messages_out: int = 0
    reconnects: int = 0
    dropped_oversize: int = 0

"""The latest payload of every state topic, published only when it changes.

Watches write here synchronously (they must never wait on the network); one pump task
publishes what changed, coalescing bursts so a topic that changes a hundred times while
the broker is slow is published once, with its latest value. After every (re)connect the
whole board is published again, so the broker — retained messages included — always
ends up holding the current state.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, Protocol

logger = logging.getLogger(__name__)

# Publishes in flight at once. More does not help: aiomqtt scans every pending call on
# each publish, so a window of 512 publishes less than half as fast as one of 64.
_WINDOW: Final = 64


class Publisher(Protocol):
    """What the board needs from an MQTT connection."""

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> bool: ...


class StateBoard:
    """Latest state per topic, and the task that publishes it."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._latest: dict[str, str] = {}  # topic → payload
        self._options: dict[str, tuple[int, bool]] = {}  # topic → (qos, retain)
        self._published: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()

    def set(self, topic: str, payload: str, *, qos: int, retain: bool) -> None:
        """Record the state of `topic`; it is published if it differs from what was sent."""
        # Called for every watch event: plain dict work, nothing allocated per call.
        if self._latest.get(topic) == payload:
            return
        self._latest[topic] = payload
        self._options[topic] = (qos, retain)
        self._dirty.add(topic)
        self._wake.set()

    def snapshot(self) -> dict[str, str]:
        """Topic → latest payload, for /api/status."""
        return dict(self._latest)

    def __len__(self) -> int:
        return len(self._latest)

    async def run(self) -> None:
        """Publish changes as they come, forever."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            topics, self._dirty = self._dirty, set()
            await self._publish([t for t in topics if self._latest[t] != self._published.get(t)])

    async def republish(self) -> None:
        """Publish every known state again (after a reconnect or Home Assistant's birth)."""
        self._published.clear()
        await self._publish(list(self._latest))

    async def _publish(self, topics: list[str]) -> None:
        # A sliding window: each sender takes the next topic as soon as its last publish
        # is acknowledged, so the link never idles waiting for the slowest of a batch.
        remaining = iter(topics)

        async def send() -> None:
            for topic in remaining:
                await self._publish_one(topic)

        await asyncio.gather(*(send() for _ in range(min(_WINDOW, len(topics)))))

    async def _publish_one(self, topic: str) -> None:
        payload = self._latest[topic]
        qos, retain = self._options[topic]
        if await self._publisher.publish(topic, payload, qos=qos, retain=retain):
            self._published[topic] = payload
            logger.debug("published %s = %r", topic, payload[:200])

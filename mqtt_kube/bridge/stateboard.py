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
from collections.abc import Iterable
from functools import partial
from typing import Final, Protocol

from mqtt_kube.core.window import send_windowed

logger = logging.getLogger(__name__)

# Publishes started and not yet answered. The broker's Receive Maximum (mosquitto: 20)
# bounds what is really in flight; the rest wait, already packed, for a place.
_WINDOW: Final = 64


class Publisher(Protocol):
    """What the board needs from an MQTT connection."""

    def publish_soon(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[bool]:
        """Start a publish: True once the broker has it, False when it did not get it."""
        ...


class StateBoard:
    """Latest state per topic, and the task that publishes it."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._latest: dict[str, str] = {}  # topic → payload
        self._options: dict[str, tuple[int, bool]] = {}  # topic → (qos, retain)
        self._published: dict[str, str] = {}
        self._dirty: dict[str, None] = {}  # topics changed since the pump last looked, in order
        self._forgotten: set[str] = set()  # cleared retained states, dropped once published
        self._wake = asyncio.Event()
        self._woken = False  # the pump has been told of a change it has not yet looked at

    def set(self, topic: str, payload: str, *, qos: int, retain: bool) -> None:
        """Record the state of `topic`; it is published if it differs from what was sent."""
        # Called for every watch event: plain dict work, nothing allocated per call.
        if self._forgotten and topic in self._forgotten:
            self._forgotten.discard(topic)  # a binding took the topic again
        elif self._latest.get(topic) == payload:
            return
        self._latest[topic] = payload
        options = self._options.get(topic)
        if options is None or options[0] != qos or options[1] != retain:
            self._options[topic] = (qos, retain)
        self._dirty[topic] = None
        if not self._woken:
            self._woken = True
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
            self._woken = False
            topics, self._dirty = self._dirty, {}
            await self._publish(
                [
                    t
                    for t in topics
                    if t in self._latest and self._latest[t] != self._published.get(t)
                ]
            )

    def forget(self, topic: str) -> None:
        """The topic has no state any more (its binding went): clear a retained copy."""
        if topic not in self._latest:
            return
        if not self._options[topic][1] or self._published.get(topic) == "":
            self._drop(topic)  # nothing retained to clear
            return
        self._latest[topic] = ""
        self._dirty[topic] = None
        self._forgotten.add(topic)
        self._woken = True
        self._wake.set()

    def _drop(self, topic: str) -> None:
        self._latest.pop(topic, None)
        self._options.pop(topic, None)
        self._published.pop(topic, None)
        self._dirty.pop(topic, None)
        self._forgotten.discard(topic)

    async def republish(self, topics: Iterable[str] | None = None) -> None:
        """Publish every known state (or these) again: after a reconnect, a birth, a new entity."""
        if topics is None:
            self._published.clear()
            await self._publish(list(self._latest))
            return
        chosen = [topic for topic in topics if topic in self._latest]
        for topic in chosen:
            self._published.pop(topic, None)
        await self._publish(chosen)

    async def _publish(self, topics: list[str]) -> None:
        await send_windowed(topics, self._start_one, width=_WINDOW)

    def _start_one(self, topic: str) -> asyncio.Future[bool] | None:
        """Publish the latest payload of `topic` (as it is now, not when it was queued)."""
        payload = self._latest.get(topic)
        if payload is None:
            return None  # forgotten meanwhile
        qos, retain = self._options[topic]
        future = self._publisher.publish_soon(topic, payload, qos=qos, retain=retain)
        future.add_done_callback(partial(self._answered, topic, payload))
        return future

    def _answered(self, topic: str, payload: str, future: asyncio.Future[bool]) -> None:
        if future.cancelled() or not future.result():
            return  # not published: the next change or reconnect publishes it again
        self._published[topic] = payload
        logger.debug("published %s = %r", topic, payload[:200])
        if payload == "" and topic in self._forgotten and self._latest.get(topic) == "":
            self._drop(topic)  # the retained copy is cleared: nothing more to keep

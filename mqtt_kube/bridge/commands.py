"""Route command messages to their handlers, one ordered worker per topic.

The MQTT receive loop must never wait on the Kubernetes API, so `dispatch` only queues.
Each topic gets its own worker, so a slow API call for one binding never delays another.
Patch topics coalesce: while a patch is in flight, newer payloads replace the waiting
one (desired state: only the last value matters). Action topics keep a short queue —
launching is not idempotent — and drop with a warning beyond it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from mqtt_kube.bridge.metrics import CommandCounters
from mqtt_kube.config.model import RetainedPolicy
from mqtt_kube.core.message import Message

logger = logging.getLogger(__name__)

CommandHandler = Callable[[str], Awaitable[None]]
ACTION_QUEUE_LIMIT: Final = 16


@dataclass
class _Route:
    handler: CommandHandler
    coalesce: bool
    retained: RetainedPolicy
    label: str
    pending: deque[str] = field(default_factory=deque)
    busy: bool = False


class CommandRouter:
    """Topic → handler, with per-topic workers started on demand."""

    def __init__(self, *, counters: CommandCounters) -> None:
        self._counters = counters
        self._routes: dict[str, _Route] = {}
        self._group: asyncio.TaskGroup | None = None

    def add(
        self,
        topic: str,
        handler: CommandHandler,
        *,
        coalesce: bool,
        retained: RetainedPolicy,
        label: str,
    ) -> None:
        """Route `topic` to `handler`; a route already there keeps its queue and worker, so a
        reload that changes the binding behind a topic loses none of its commands."""
        route = self._routes.get(topic)
        if route is None:
            self._routes[topic] = _Route(handler, coalesce, retained, label)
            return
        route.handler, route.coalesce, route.retained, route.label = (
            handler,
            coalesce,
            retained,
            label,
        )

    def remove(self, topic: str) -> None:
        """Stop routing `topic`; what is already queued there is still handled."""
        self._routes.pop(topic, None)

    def __contains__(self, topic: str) -> bool:
        return topic in self._routes

    def topics(self) -> list[str]:
        return list(self._routes)

    async def run(self) -> None:
        """Host the workers until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                await asyncio.Event().wait()
            finally:
                self._group = None

    def dispatch(self, message: Message) -> None:
        """Queue one received message for its topic's worker; never blocks."""
        route = self._routes.get(message.topic)
        if route is None:
            return
        if message.retain and route.retained == "ignore":
            logger.info("%s: retained message on %s ignored", route.label, message.topic)
            self._counters.ignored += 1
            return
        try:
            text = message.payload.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("%s: payload on %s is not UTF-8 text", route.label, message.topic)
            self._counters.failed += 1
            return
        if route.coalesce and route.pending:
            route.pending.clear()
            self._counters.ignored += 1
        elif len(route.pending) >= ACTION_QUEUE_LIMIT:
            logger.warning("%s: too many commands queued on %s", route.label, message.topic)
            self._counters.failed += 1
            return
        route.pending.append(text)
        if not route.busy and self._group is not None:
            route.busy = True
            self._group.create_task(
                self._work(message.topic, route), name=f"command {message.topic}"
            )

    async def _work(self, topic: str, route: _Route) -> None:
        try:
            while route.pending:
                text = route.pending.popleft()
                try:
                    await route.handler(text)
                except Exception:
                    self._counters.failed += 1
                    logger.exception("%s: command on %s failed", route.label, topic)
        finally:
            route.busy = False

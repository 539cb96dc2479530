"""How long a publish may wait for the broker's acknowledgement, with one timer for all.

Every publish waits the same number of seconds at most, so their deadlines come in the
order they were sent: one timer, for the oldest, stands for all of them, where
`asyncio.wait_for` would make a task per publish. When the link drops, every publish
still waiting answers False at once.
"""

from __future__ import annotations

import asyncio


class Deadlines:
    """Futures of publishes that answer False when not acknowledged in time."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._waiting: dict[asyncio.Future[bool], float] = {}  # → deadline; oldest first
        self._timer: asyncio.TimerHandle | None = None

    def track(self, future: asyncio.Future[bool]) -> None:
        """`future` answers False `seconds` from now unless it is done (or discarded) first."""
        loop = future.get_loop()
        deadline = loop.time() + self._seconds
        self._waiting[future] = deadline
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire, loop)

    def discard(self, future: asyncio.Future[bool]) -> None:
        """`future` is answered: it has no deadline any more."""
        self._waiting.pop(future, None)

    def cut(self) -> None:
        """The link dropped: every publish still waiting answers False now."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting:
            if not future.done():
                future.set_result(False)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        while self._waiting:
            future, deadline = next(iter(self._waiting.items()))
            if deadline > now:
                self._timer = loop.call_at(deadline, self._expire, loop)
                return
            del self._waiting[future]
            if not future.done():
                future.set_result(False)

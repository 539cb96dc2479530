"""Many sends with a few in flight at once, for publishes that each wait for their ack.

The next item is started as soon as one in flight is answered, so the link never idles
waiting for the slowest of a batch; and a send is a future with a done-callback, not a
task, so a publish costs no coroutine of its own. The state board and Home Assistant
discovery publish this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

_Item = TypeVar("_Item")


async def send_windowed(
    items: Iterable[_Item],
    start: Callable[[_Item], asyncio.Future[Any] | None],
    *,
    width: int,
) -> None:
    """Start every item's send, at most `width` unanswered at once, in order; wait for all.

    `start` begins one send and returns its future, or None when there is nothing to send.
    What `start` raises is raised here; once this is cancelled, no more sends start.
    """
    remaining = iter(items)
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    active = 0

    def start_next(answered: object = None) -> None:
        nonlocal active
        if answered is not None:
            active -= 1
        if finished.done():  # cancelled, or a start failed
            return
        try:
            for item in remaining:
                future = start(item)
                if future is not None:
                    active += 1
                    future.add_done_callback(start_next)
                    return
        except Exception as exc:
            finished.set_exception(exc)
            return
        if not active:
            finished.set_result(None)

    for _ in range(width):
        start_next()
    await finished

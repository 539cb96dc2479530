"""Many sends with a few in flight at once, for publishes that each wait for their ack.

Each of `width` senders takes the next item as soon as its last send is done, so the link
never idles waiting for the slowest of a batch. The state board and Home Assistant
discovery publish this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

_Item = TypeVar("_Item")


async def send_windowed(
    items: Sequence[_Item], send: Callable[[_Item], Awaitable[object]], *, width: int
) -> None:
    """Send every item, at most `width` at a time, in order of starting."""
    remaining = iter(items)

    async def sender() -> None:
        for item in remaining:
            await send(item)

    await asyncio.gather(*(sender() for _ in range(min(width, len(items)))))

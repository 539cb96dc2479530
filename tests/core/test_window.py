"""The sliding send window: at most `width` unanswered, in order, and it stops when told.

Covered: every item is started once, in order, never more than `width` unanswered at once;
an item with nothing to send (None) is skipped; what `start` raises reaches the caller;
once the caller is cancelled, answers start nothing more; an empty batch returns at once.
"""

from __future__ import annotations

import asyncio

import pytest

from mqtt_kube.core.window import send_windowed


class Sends:
    """Sends answered by the test, one by one; records what was started."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.open: list[asyncio.Future[bool]] = []
        self.most_open = 0

    def start(self, item: int) -> asyncio.Future[bool] | None:
        if item < 0:
            return None
        self.started.append(item)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.open.append(future)
        self.most_open = max(self.most_open, sum(not f.done() for f in self.open))
        return future

    async def answer_all(self, window: asyncio.Task[None]) -> None:
        while not window.done():
            waiting = [f for f in self.open if not f.done()]
            if waiting:
                waiting[0].set_result(True)
            await asyncio.sleep(0)


async def test_every_item_is_started_once_in_order_within_the_width() -> None:
    sends = Sends()
    items = [0, 1, -1, 2, 3, 4, -2, 5, 6, 7, 8, 9]
    window = asyncio.create_task(send_windowed(items, sends.start, width=3))
    await sends.answer_all(window)
    await window
    assert sends.started == [n for n in items if n >= 0]
    assert sends.most_open == 3


async def test_what_start_raises_reaches_the_caller() -> None:
    calls: list[int] = []

    def start(item: int) -> asyncio.Future[bool]:
        calls.append(item)
        if item == 3:
            raise ValueError("bad item 3")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        future.set_result(True)
        return future

    with pytest.raises(ValueError, match="bad item 3"):
        await send_windowed(range(10), start, width=2)
    assert calls == [0, 1, 2, 3]


async def test_a_cancelled_window_starts_nothing_more() -> None:
    sends = Sends()
    window = asyncio.create_task(send_windowed(range(10), sends.start, width=2))
    await asyncio.sleep(0)
    assert sends.started == [0, 1]
    window.cancel()
    with pytest.raises(asyncio.CancelledError):
        await window
    for future in sends.open:
        future.set_result(True)
    await asyncio.sleep(0)
    assert sends.started == [0, 1]


async def test_an_empty_batch_returns_at_once() -> None:
    await asyncio.wait_for(send_windowed([], Sends().start, width=4), 1)

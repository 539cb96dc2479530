"""Waiting in tests for state that another task, process or server changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(check: Callable[[], bool], *, seconds: float = 5.0) -> None:
    """Poll `check` until it is true; fail the test by TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110 - the state lives elsewhere (a server, a broker)
            await asyncio.sleep(0.01)

"""SIGHUP to mqtt-kube as a process: the file is read again and applied, the process stays.

Covered: SIGHUP reloads even when the file is the same (a launch template may have changed),
shown in /api/status with the same digest; an edit of the file is applied by itself, with a
new digest; a broken file on SIGHUP is refused, named on stderr, and the process keeps
running and exits 0 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.cli.test_process import config, get, started, wait_ready  # noqa: F401 - a fixture


async def status(base: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((await get(f"{base}/api/status"))[1])
    return body["config"]


async def until_true(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    """Ask `await check()` until it is true; fail by TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - the state is in another process
            await asyncio.sleep(0.05)


async def test_sighup_reloads_and_a_broken_file_is_refused(
    config: tuple[Path, str],  # noqa: F811 - the fixture of test_process
) -> None:
    path, base = config
    async with started(path) as process:
        await wait_ready(process, base)
        first = await status(base)
        assert first["reloads"] == 0

        async def reloads(count: int) -> bool:
            return bool((await status(base))["reloads"] >= count)

        process.send_signal(signal.SIGHUP)
        await until_true(lambda: reloads(1))
        assert (await status(base))["digest"] == first["digest"]

        text = path.read_text()
        path.write_text(text + "\n# edited\n")  # the file's watch applies this by itself
        await until_true(lambda: reloads(2))
        assert (await status(base))["digest"] != first["digest"]

        path.write_text(text.replace("bindings:", "bindings: [", 1))
        process.send_signal(signal.SIGHUP)

        async def refused() -> bool:
            return (await status(base))["refused"] is not None

        await until_true(refused)
        assert (await status(base))["reloads"] == 2
        assert process.returncode is None
        process.send_signal(signal.SIGTERM)
        _, stderr = await process.communicate()
    assert process.returncode == 0
    assert f"reload of {path} refused" in stderr.decode()

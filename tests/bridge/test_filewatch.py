"""The configuration file's watch: inotify where the kernel has it, polling elsewhere.

Covered: a file written in place; a ConfigMap volume's update (a new timestamped folder,
the `..data` link renamed over the old one, the file a link through it); the polling
fallback; and with inotify no task wakes up while nothing changes (the loop waits on the
descriptor, no timer is scheduled).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from mqtt_kube.bridge.filewatch import FileWatch
from tests.support.waiting import until


@contextlib.asynccontextmanager
async def watching(
    path: Path, **options: float | bool
) -> AsyncIterator[tuple[FileWatch, list[int]]]:
    calls: list[int] = []
    watch = FileWatch(path, lambda: calls.append(1), **options)  # type: ignore[arg-type]
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0)  # let it set up
    try:
        yield watch, calls
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_file_written_in_place_is_told(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\n")
    async with watching(path) as (watch, calls):
        await until(lambda: watch.inotify)
        path.write_text("a: 2\n")
        await until(lambda: bool(calls))


async def test_a_configmap_update_by_its_data_link_is_told(tmp_path: Path) -> None:
    first = tmp_path / "..2026_12_02_10_00_00.1"
    first.mkdir()
    (first / "config.yaml").write_text("a: 1\n")
    (tmp_path / "..data").symlink_to(first.name)
    path = tmp_path / "config.yaml"
    path.symlink_to("..data/config.yaml")
    async with watching(path) as (watch, calls):
        await until(lambda: watch.inotify)
        second = tmp_path / "..2026_12_02_10_05_00.2"
        second.mkdir()
        (second / "config.yaml").write_text("a: 2\n")
        (tmp_path / "..data_tmp").symlink_to(second.name)
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")  # as the kubelet does
        await until(lambda: bool(calls))
        assert path.read_text() == "a: 2\n"


async def test_without_inotify_the_file_is_polled(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\n")
    async with watching(path, inotify=False, poll_seconds=0.05) as (watch, calls):
        await asyncio.sleep(0.1)  # one poll has seen the file as it was
        path.write_text("a: 22\n")
        await until(lambda: bool(calls))
        assert not watch.inotify


async def test_with_inotify_nothing_is_scheduled_while_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\n")
    loop = asyncio.get_running_loop()
    async with watching(path) as (watch, calls):
        await until(lambda: watch.inotify)
        await asyncio.sleep(0)
        timers = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
        assert timers == []
        assert calls == []

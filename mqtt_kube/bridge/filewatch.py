"""Tell when the configuration file may have changed, without waking up while it does not.

On Linux the kernel says so (inotify, through ctypes: no dependency): the folder of the
file is watched, and of the file a symlink points to, since a ConfigMap volume replaces
its files by renaming a `..data` link. Elsewhere, or when inotify cannot be had, the file
is polled every `POLL_SECONDS`: the only wake-ups a reload costs, and only there.
Whether the content really changed is for the caller to decide (by its digest).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

POLL_SECONDS: Final = 5.0
_IN_CLOSE_WRITE: Final = 0x008
_IN_MOVED_FROM: Final = 0x040
_IN_MOVED_TO: Final = 0x080
_IN_CREATE: Final = 0x100
_IN_DELETE: Final = 0x200
_MASK: Final = _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
_EVENT: Final = struct.Struct("iIII")  # wd, mask, cookie, len; then the name
_CONFIGMAP_LINK: Final = b"..data"


class FileWatch:
    """Calls `changed()` when the file at `path` may have changed."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        changed: Callable[[], None],
        *,
        poll_seconds: float = POLL_SECONDS,
        inotify: bool = True,  # False: poll even where inotify works
    ) -> None:
        self.path = Path(path)
        self._changed = changed
        self._poll_seconds = poll_seconds
        self._use_inotify = inotify
        self._fd: int | None = None
        self._wanted: set[bytes] = set()
        self.inotify = False  # True while the kernel tells

    async def run(self) -> None:
        """Watch until cancelled: by inotify where it works, else by polling."""
        loop = asyncio.get_running_loop()
        fd = self._inotify() if self._use_inotify else None
        if fd is None:
            await self._poll()
            return
        self._fd, self.inotify = fd, True
        loop.add_reader(fd, self._read)
        try:
            await asyncio.Event().wait()
        finally:
            loop.remove_reader(fd)
            os.close(fd)
            self._fd = None

    def _names(self) -> tuple[set[bytes], set[str]]:
        """The names whose change matters, and the folders they are in."""
        plain = Path(os.path.abspath(self.path))
        real = Path(os.path.realpath(self.path))
        names = {os.fsencode(plain.name), os.fsencode(real.name), _CONFIGMAP_LINK}
        return names, {str(plain.parent), str(real.parent)}

    def _inotify(self) -> int | None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter runs on
            init = libc.inotify_init1
            add = libc.inotify_add_watch
        except (OSError, AttributeError):
            logger.info(
                "no inotify here: the configuration file is checked every %.0f s", POLL_SECONDS
            )
            return None
        fd: int = init(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            logger.warning(
                "inotify: %s; checking the file every %.0f s",
                os.strerror(ctypes.get_errno()),
                POLL_SECONDS,
            )
            return None
        self._wanted, folders = self._names()
        for folder in folders:
            if add(fd, os.fsencode(folder), _MASK) < 0:
                logger.warning(
                    "inotify on %s: %s; checking the file every %.0f s",
                    folder,
                    os.strerror(ctypes.get_errno()),
                    POLL_SECONDS,
                )
                os.close(fd)
                return None
        return fd

    def _read(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        offset, hit = 0, False
        while offset + _EVENT.size <= len(data):
            _, _, _, length = _EVENT.unpack_from(data, offset)
            start = offset + _EVENT.size
            name = data[start : start + length].rstrip(b"\0")
            offset = start + length
            hit = hit or name in self._wanted
        if hit:
            self._changed()

    async def _poll(self) -> None:
        seen = _stamp(self.path)
        while True:
            await asyncio.sleep(self._poll_seconds)
            now = _stamp(self.path)
            if now != seen:
                seen = now
                self._changed()


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

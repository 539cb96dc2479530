"""Live reload: SIGHUP, or a change of the configuration file, applies the new file.

The new file is loaded and checked exactly as at start-up. A file with problems is
refused: each problem is logged with its line, the file in use keeps running, and
/api/status shows the refusal next to the version in use. So is a file that changes what
cannot change while running (the broker and the session, the HTTP server, how the API is
reached and watched, discovery's prefix and birth topic, the log level): those take a
restart, and the log names each setting. Anything else (bindings, discover entries) is
applied in place. A file change with the same content (a touch, an editor's second write)
applies nothing; SIGHUP always reloads (a launch template may have changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from mqtt_kube.bridge.filewatch import FileWatch
from mqtt_kube.config.load import file_digest, load_config
from mqtt_kube.config.model import Config
from mqtt_kube.core.collector import thaw
from mqtt_kube.core.errors import ConfigError

logger = logging.getLogger(__name__)

SETTLE_SECONDS: Final = 0.2  # after a change, for the rest of an editor's writes
LIVE: Final = frozenset({"source", "bindings", "discover", "digest", "warnings"})


class Reloader:
    """Loads the file again when asked and hands a good one to `apply`."""

    def __init__(self, config: Config, *, apply: Callable[[Config], str]) -> None:
        self.config = config
        self._apply = apply
        self._wanted = asyncio.Event()
        self._forced = False
        self.loaded_at = _now()
        self.reloads = 0
        self.checks = 0  # times the file was read again (applied or not)
        self.refused: dict[str, Any] | None = None

    def request(self, *, force: bool = True) -> None:
        """Reload soon: `force` even when the file's content is the same (SIGHUP)."""
        self._forced = self._forced or force
        self._wanted.set()

    def status(self) -> dict[str, Any]:
        """What /api/status shows of the file in use, and of a file refused since."""
        return {
            "file": self.config.source,
            "digest": self.config.digest,
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "refused": self.refused,
        }

    async def run(self, handle_signals: bool = True) -> None:
        """Forever: wait for SIGHUP or a file change, then reload."""
        loop = asyncio.get_running_loop()
        if handle_signals:
            loop.add_signal_handler(signal.SIGHUP, self.request)
        watch = FileWatch(self.config.source, lambda: self.request(force=False))
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(watch.run(), name="configuration file watch")
                while True:
                    await self._wanted.wait()
                    await asyncio.sleep(SETTLE_SECONDS)
                    self._wanted.clear()
                    forced, self._forced = self._forced, False
                    await self.reload(force=forced)
        finally:
            if handle_signals:
                with contextlib.suppress(RuntimeError):
                    loop.remove_signal_handler(signal.SIGHUP)

    async def reload(self, *, force: bool = True) -> bool:
        """Load the file and apply it; False when it was refused or had not changed."""
        if not force:
            digest = await asyncio.to_thread(file_digest, self.config.source)
            if digest == self.config.digest:
                self.checks += 1
                return False  # written again as it was: nothing to parse
        try:
            config = await asyncio.to_thread(load_config, self.config.source)
        except ConfigError as exc:
            self.checks += 1
            self._refuse([str(problem) for problem in exc.problems], digest=None)
            return False
        if config.digest == self.config.digest and not force:
            self.checks += 1
            return False
        restart = needs_restart(self.config, config)
        self.checks += 1
        if restart:
            self._refuse(
                [f"{name} changed: that takes a restart of mqtt-kube" for name in restart],
                digest=config.digest,
            )
            return False
        for warning in config.warnings:
            logger.warning("%s", warning)
        summary = self._apply(config)
        thaw()  # what the start froze may be garbage now
        self.config = config
        self.loaded_at = _now()
        self.reloads += 1
        self.refused = None
        logger.info("reloaded %s (version %s): %s", config.source, config.digest, summary)
        return True

    def _refuse(self, problems: list[str], *, digest: str | None) -> None:
        logger.error(
            "reload of %s refused, still running version %s:\n  %s",
            self.config.source,
            self.config.digest,
            "\n  ".join(problems),
        )
        self.refused = {"at": _now(), "digest": digest, "problems": problems}


def needs_restart(old: Config, new: Config) -> list[str]:
    """The settings that differ between two files and cannot change while running."""
    changed = []
    for field in dataclasses.fields(Config):
        if field.name in LIVE:
            continue
        before, after = getattr(old, field.name), getattr(new, field.name)
        if before == after:
            continue
        if dataclasses.is_dataclass(before) and dataclasses.is_dataclass(after):
            for inner in dataclasses.fields(before):
                if getattr(before, inner.name) != getattr(after, inner.name):
                    changed.append(f"{field.name}.{inner.name.replace('_', '-')}")
        else:
            changed.append("logging.level" if field.name == "log_level" else field.name)
    return changed


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

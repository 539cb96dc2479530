"""Exponential backoff with jitter, shared by every reconnect loop."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays that double from `initial` up to `maximum`, each spread by ±`jitter`."""

    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.2
    _next: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the following one."""
        base = self._next or self.initial
        self._next = min(base * 2, self.maximum)
        spread = base * self.jitter
        return max(0.0, base + random.uniform(-spread, spread))  # noqa: S311 - not cryptographic

    def reset(self) -> None:
        """Start again from `initial` (call after a success)."""
        self._next = 0.0

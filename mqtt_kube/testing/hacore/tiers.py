"""The Home Assistant Core releases the test suite runs against, and where their installs live.

The oldest release mqtt-kube supports runs on the host's Python 3.11. The current release
needs Python >= 3.14.2, which Debian's testing suite has: it runs in a chroot of that suite.
Installs are cached outside the clone (`MQTT_KUBE_HA_CACHE`, else
/var/cache/mqtt-kube/homeassistant), so a second run on the same machine is quick.
Which tiers a test run uses is a comma-separated list (`MQTT_KUBE_HA_TIERS`, or pytest's
`--ha-tiers`), "all" for every tier.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CACHE_ENV: Final = "MQTT_KUBE_HA_CACHE"
DEFAULT_CACHE: Final = Path("/var/cache/mqtt-kube/homeassistant")
TIERS_ENV: Final = "MQTT_KUBE_HA_TIERS"


@dataclass(frozen=True)
class Tier:
    """One Home Assistant Core release and how it is installed."""

    version: str
    # None: a virtual environment on the host's Python; else the Debian suite of the chroot
    # whose Python runs this release.
    debian_suite: str | None
    # pip picks the dependencies that HA does not pin as they were on this date, the last
    # day this release was current (a later upload can break an old release).
    uploaded_prior_to: str
    # Since 2026.x Home Assistant keeps its HTTP settings in storage; a YAML `http:` block
    # is only tried, and falls back to 0.0.0.0:8123 five minutes later.
    http_in_storage: bool
    # Default integrations that go online by themselves: their config entries are written
    # disabled before the first start (2026.x's Marketplace fetches a catalog at start-up).
    offline_entries: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        """The tier's name in test ids and folder names: `ha2024.3.3`."""
        return f"ha{self.version}"


OLDEST: Final = Tier(
    "2024.3.3", debian_suite=None, uploaded_prior_to="2024-04-03T00:00:00Z", http_in_storage=False
)
CURRENT: Final = Tier(
    "2026.11.0",
    debian_suite="forky",
    uploaded_prior_to="2026-12-02T00:00:00Z",
    http_in_storage=True,
    offline_entries=("marketplace",),
)
TIERS: Final = {tier.version: tier for tier in (OLDEST, CURRENT)}
DEFAULT_TIERS: Final = OLDEST.version


def cache_root() -> Path:
    """Where the installs are kept: `$MQTT_KUBE_HA_CACHE`, else the default."""
    value = os.environ.get(CACHE_ENV, "").strip()
    return Path(value) if value else DEFAULT_CACHE


def select_tiers(text: str, *, source: str) -> list[Tier]:
    """The tiers a comma- or space-separated list names ("all": every tier)."""
    names = [name for name in re.split(r"[,\s]+", text.strip()) if name]
    if names == ["all"]:
        return list(TIERS.values())
    if not names:
        raise ValueError(f"{source}: no Home Assistant tier named (known: {', '.join(TIERS)})")
    unknown = [name for name in names if name not in TIERS]
    if unknown:
        raise ValueError(
            f"{source}: unknown Home Assistant tier {', '.join(unknown)} "
            f"(known: {', '.join(TIERS)}, or all)"
        )
    return [TIERS[name] for name in dict.fromkeys(names)]

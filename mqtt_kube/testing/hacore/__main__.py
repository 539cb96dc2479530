"""`python -m mqtt_kube.testing.hacore provision [TIERS]`: install Home Assistant tiers.

TIERS is a comma- or space-separated list of versions, or "all"; without it,
`$MQTT_KUBE_HA_TIERS`, else the default tier. Prints how long each tier took; exits 1
with the reason when one cannot be installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from mqtt_kube.testing.hacore.process import ProvisionError
from mqtt_kube.testing.hacore.provision import provision
from mqtt_kube.testing.hacore.tiers import DEFAULT_TIERS, TIERS_ENV, cache_root, select_tiers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mqtt_kube.testing.hacore")
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("provision", help="install Home Assistant tiers into the cache")
    install.add_argument("tiers", nargs="*", help="versions, or all")
    args = parser.parse_args(argv)
    if args.tiers:
        text, source = " ".join(args.tiers), "the command line"
    else:
        text, source = os.environ.get(TIERS_ENV, DEFAULT_TIERS), TIERS_ENV
    try:
        tiers = select_tiers(text, source=source)
        for tier in tiers:
            started = time.monotonic()
            place = provision(tier)
            print(
                f"Home Assistant {tier.version}: ready in {time.monotonic() - started:.1f} s "
                f"({place.venv}{f' in {place.root}' if place.root else ''}; cache {cache_root()})"
            )
    except (ProvisionError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

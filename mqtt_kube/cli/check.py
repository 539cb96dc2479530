"""`mqtt-kube check CONFIG`: validate the file and say what it will do; nothing connects."""

from __future__ import annotations

import argparse
import sys

from mqtt_kube.cli.common import EXIT_CONFIG, EXIT_OK, add_config_argument, read_config
from mqtt_kube.config.discover import RECIPE_ANNOTATION
from mqtt_kube.config.identity import client_id_warning
from mqtt_kube.config.model import Config
from mqtt_kube.homeassistant import plan as discovery


def summarize(config: Config) -> list[str]:
    """What `check` prints about a valid config: connections, then each binding's topics."""
    mqtt = config.mqtt
    tls = "TLS" if mqtt.tls else "no TLS"
    auth = f", user {mqtt.username}" if mqtt.username else ""
    discovery = (
        f"on, prefix {config.homeassistant.discovery_prefix}" if config.homeassistant else "off"
    )
    lines = [
        f"MQTT {mqtt.host}:{mqtt.port} as {mqtt.client_id} ({tls}{auth}); "
        f"availability on {mqtt.availability_topic}",
        f"HTTP {config.http.bind}:{config.http.port}; log level {config.log_level}; "
        f"Home Assistant discovery {discovery}",
        f"{len(config.bindings)} binding{'s' if len(config.bindings) != 1 else ''}:",
    ]
    for binding in config.bindings:
        recipes = ", ".join(binding.recipes)
        under = f" (recipe {recipes} under {binding.topic})" if recipes else ""
        lines.append(f"  {binding.label}{under}")
        for watch in binding.watch:
            flags = f"qos {watch.qos}" + (", retain" if watch.retain else "")
            lines.append(f"    watch  {watch.locus.expression} → {watch.topic} [{flags}]")
        for patch in binding.patch:
            lines.append(f"    patch  ← {patch.topic} → {patch.locus.expression}")
        for action in binding.action:
            target = action.launch.path if action.launch else "delete only"
            lines.append(f"    action ← {action.topic} → {target}")
        for command in binding.command:
            lines.append(f"    {command.operation:<6} ← {command.topic}")
    if config.discover:
        lines.append(
            f"{len(config.discover)} discover entr{'ies' if len(config.discover) != 1 else 'y'}:"
        )
    for entry in config.discover:
        recipes = ", ".join(entry.recipe) or f"those the {RECIPE_ANNOTATION} annotation names"
        lines.append(f"  {entry.label}: recipes {recipes}")
    return lines


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `mqtt-kube check`."""
    add_config_argument(parser)
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="check the file for a run with --leader-elect",
    )


def check_config(args: argparse.Namespace) -> int:
    """`mqtt-kube check CONFIG`: validate and summarise; nothing connects."""
    config = read_config(args, show_warnings=True)
    if config is None:
        return EXIT_CONFIG
    warning = client_id_warning(config, leader_elect=args.leader_elect)
    if warning is not None:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{args.config}: OK")
    for line in summarize(config):
        print(line)
    if config.homeassistant is not None:  # the entities Home Assistant will get (discovery.py)
        for line in discovery.describe(discovery.build_plan(config)):
            print(line)
    return EXIT_OK

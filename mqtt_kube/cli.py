"""The `mqtt-kube` command: run the bridge, or check a configuration file first.

Subcommands come from the `COMMANDS` table (name → `Command`), so a new one is one entry;
a first argument that is not a command name means `run` (`mqtt-kube CONFIG`, as in the
original). A bad configuration is printed as `file:line: path: message` lines and exits 2,
without a traceback and before anything connects.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mqtt_kube import __version__, discovery, rbac
from mqtt_kube.config import Config
from mqtt_kube.errors import ConfigError, MqttKubeError
from mqtt_kube.logs import LEVEL_NAMES, setup_logging
from mqtt_kube.schema import load_config

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
# options of every command that take a value: skipped while looking for the command name
VALUE_OPTIONS = ("--log-format", "--log-level")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """The one positional argument most commands take."""
    parser.add_argument("config", metavar="CONFIG", help="the YAML configuration file")


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, its arguments, and what it does (returns the exit status)."""

    help: str
    run: Callable[[argparse.Namespace], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] = add_config_argument


def read_config(args: argparse.Namespace, *, show_warnings: bool = False) -> Config | None:
    """The config named on the command line; None after printing its problems to stderr."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(
            f"{args.config}: {count} problem{'s' if count != 1 else ''}; nothing was started",
            file=sys.stderr,
        )
        return None
    if show_warnings:
        for warning in config.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return config


def run_service(args: argparse.Namespace) -> int:
    """`mqtt-kube [run] CONFIG`: bridge until SIGTERM/SIGINT."""
    config = read_config(args)
    if config is None:
        return EXIT_CONFIG
    setup_logging(level=args.log_level or config.log_level, fmt=args.log_format)
    # imported here so that `check` (and --help) never load the runtime and its libraries
    from mqtt_kube import service

    try:
        return asyncio.run(service.run(config, leader_elect=args.leader_elect))
    except KeyboardInterrupt:
        return EXIT_OK
    except MqttKubeError as exc:
        logger.error("stopped: %s", exc)
        return EXIT_FAILED


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="with several replicas: act only while holding a Kubernetes Lease",
    )


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
        lines.append(f"  {binding.label}")
        for watch in binding.watch:
            flags = f"qos {watch.qos}" + (", retain" if watch.retain else "")
            lines.append(f"    watch  {watch.locus.expression} → {watch.topic} [{flags}]")
        for patch in binding.patch:
            lines.append(f"    patch  ← {patch.topic} → {patch.locus.expression}")
        for action in binding.action:
            target = action.launch.path if action.launch else "delete only"
            lines.append(f"    action ← {action.topic} → {target}")
    return lines


def check_config(args: argparse.Namespace) -> int:
    """`mqtt-kube check CONFIG`: validate and summarise; nothing connects."""
    config = read_config(args, show_warnings=True)
    if config is None:
        return EXIT_CONFIG
    print(f"{args.config}: OK")
    for line in summarize(config):
        print(line)
    if config.homeassistant is not None:  # the entities Home Assistant will get (discovery.py)
        for line in discovery.describe(discovery.build_plan(config)):
            print(line)
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "run": Command(
        "connect and bridge until stopped (the default command)", run_service, add_run_arguments
    ),
    "check": Command("validate CONFIG and summarise it; nothing connects", check_config),
    "rbac": Command(
        "print the least Kubernetes RBAC that CONFIG needs, as YAML for kubectl apply -f -",
        rbac.rbac_command,
        rbac.add_rbac_arguments,
    ),
}
DEFAULT_COMMAND = "run"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: global options, and one sub-parser per entry of COMMANDS."""
    parser = argparse.ArgumentParser(
        prog="mqtt-kube",
        description="Bridge Kubernetes objects and MQTT topics, configured by one YAML file.",
        epilog=f"`mqtt-kube CONFIG` is short for `mqtt-kube {DEFAULT_COMMAND} CONFIG`.",
    )
    parser.add_argument("--version", action="version", version=f"mqtt-kube {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log line format"
    )
    common.add_argument(
        "--log-level",
        type=str.upper,
        choices=tuple(LEVEL_NAMES),
        help="overrides logging.level of the config",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, parents=[common], help=command.help)
        sub.description = command.help
        command.add_arguments(sub)
    return parser


def with_command(argv: Sequence[str]) -> list[str]:
    """`argv` with the command name first: options may come before it, and it may be left out."""
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in VALUE_OPTIONS:
            skip = True
        elif arg == "--" or not arg.startswith("-"):
            if arg in COMMANDS:
                return [arg, *argv[:index], *argv[index + 1 :]]
            return [DEFAULT_COMMAND, *argv]
    return list(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(with_command(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version and usage errors end here
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    setup_logging(level=args.log_level or "INFO", fmt=args.log_format)
    return COMMANDS[args.command].run(args)

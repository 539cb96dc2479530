"""The `mqtt-kube` command: its subcommands, global options, and the entry point.

Subcommands come from the `COMMANDS` table (name → `Command`), so a new one is one entry;
a first argument that is not a command name means `run` (`mqtt-kube CONFIG`, as in the
original).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mqtt_kube import __version__
from mqtt_kube.cli import check, rbac, run
from mqtt_kube.cli.common import EXIT_FAILED, Command
from mqtt_kube.core.logs import LEVEL_NAMES, setup_logging

# options of every command that take a value: skipped while looking for the command name
VALUE_OPTIONS = ("--log-format", "--log-level")

COMMANDS: dict[str, Command] = {
    "run": Command(
        "connect and bridge until stopped (the default command)",
        run.run_service,
        run.add_run_arguments,
    ),
    "check": Command(
        "validate CONFIG and summarise it; nothing connects",
        check.check_config,
        check.add_check_arguments,
    ),
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

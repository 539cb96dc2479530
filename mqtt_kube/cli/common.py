"""What every `mqtt-kube` subcommand shares: exit statuses, the config argument, reading it.

A bad configuration is printed as `file:line: path: message` lines, without a traceback and
before anything connects; the command then exits with `EXIT_CONFIG`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config
from mqtt_kube.core.collector import built_for_good
from mqtt_kube.core.errors import ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


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
        with built_for_good():  # the configuration lives as long as the process
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

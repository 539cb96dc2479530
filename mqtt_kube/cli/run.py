"""`mqtt-kube [run] CONFIG`: load the file, set up logging, and bridge until stopped.

The runtime (and its libraries) is imported only here, so that `check`, `rbac` and `--help`
never load it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from mqtt_kube.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, add_config_argument, read_config
from mqtt_kube.config.identity import client_id_warning
from mqtt_kube.core.errors import MqttKubeError
from mqtt_kube.core.logs import setup_logging

logger = logging.getLogger(__name__)


def run_service(args: argparse.Namespace) -> int:
    """`mqtt-kube [run] CONFIG`: bridge until SIGTERM/SIGINT."""
    config = read_config(args)
    if config is None:
        return EXIT_CONFIG
    setup_logging(level=args.log_level or config.log_level, fmt=args.log_format)
    warning = client_id_warning(config, leader_elect=args.leader_elect)
    if warning is not None:
        logger.warning("%s", warning)
    # imported here so that `check` (and --help) never load the runtime and its libraries
    from mqtt_kube.bridge import service

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

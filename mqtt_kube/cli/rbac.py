"""`mqtt-kube rbac CONFIG`: print the least RBAC the file needs (see `mqtt_kube.kube.rbac`)."""

from __future__ import annotations

import argparse
import sys

from mqtt_kube.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, read_config
from mqtt_kube.kube.rbac import DEFAULT_NAMESPACE, DEFAULT_SERVICE_ACCOUNT, RbacError, render_rbac


def add_rbac_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `mqtt-kube rbac`."""
    parser.add_argument("config", metavar="CONFIG", help="the YAML configuration file")
    parser.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"namespace of mqtt-kube's ServiceAccount (default {DEFAULT_NAMESPACE})",
    )
    parser.add_argument(
        "--service-account",
        default=DEFAULT_SERVICE_ACCOUNT,
        help=f"name of mqtt-kube's ServiceAccount (default {DEFAULT_SERVICE_ACCOUNT})",
    )
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="also allow the leader-election Lease in the ServiceAccount's namespace",
    )


def rbac_command(args: argparse.Namespace) -> int:
    """`mqtt-kube rbac CONFIG`: print the RBAC manifests; the exit status."""
    config = read_config(args)
    if config is None:
        return EXIT_CONFIG
    try:
        text = render_rbac(
            config,
            namespace=args.namespace,
            service_account=args.service_account,
            leader_elect=args.leader_elect,
        )
    except RbacError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(text)
    return EXIT_OK

"""Entry point of the Home Assistant add-on: `python3 -m mqtt_kube.addon`.

The add-on runs the normal service on a config file kept in the add-on's own config folder
(`/addon_configs/<repo>_mqtt_kube` on the host, `/config` inside the container). This
module only fills in what Home Assistant knows and the file should not have to repeat:
the broker's address and credentials (from the Supervisor's MQTT service, unless the user
gave their own in the add-on options), the Kubernetes credentials placed beside the config
file (a kubeconfig, or a ServiceAccount token that becomes one), and the log level chosen
in the UI. On first start it writes a commented starter config.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Final

from mqtt_kube.addon.broker import broker_settings, describe_tls, fetch_mqtt_service, file_broker
from mqtt_kube.addon.cluster import addon_file, kube_credentials
from mqtt_kube.addon.options import AddonEnvironment, AddonError, read_options
from mqtt_kube.bridge import service
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config
from mqtt_kube.core.collector import built_for_good
from mqtt_kube.core.errors import ConfigError, MqttKubeError
from mqtt_kube.core.logs import setup_logging

logger = logging.getLogger(__name__)

WATCHDOG_PORT: Final = 8080

STARTER_CONFIG: Final = """\
# mqtt-kube add-on configuration.
#
# The add-on fills in the broker for you at every start: the Mosquitto add-on's address
# and credentials from the Supervisor, or the broker options of the add-on's
# Configuration tab when you set them. Leave `mqtt.host`, `port`, `auth` and `tls` out
# (the add-on's Documentation tab says when `tls` is needed).
#
# Put a kubeconfig for your cluster beside this file, named `kubeconfig` (or set the
# add-on's `kubeconfig` option to its file name), then restart the add-on. Or put a
# ServiceAccount token there, named `token` (with the cluster's CA as `ca.crt`), and set
# the add-on's `kubernetes_server` option to the API server's https:// address.
# `mqtt-kube rbac` prints the least RBAC this file needs in the cluster.
mqtt:
  client-id: mqtt-kube-homeassistant   # keep it stable: entity ids are built from it
  topic-prefix: mqtt-kube

# Announce every binding to Home Assistant through MQTT discovery.
homeassistant:
  discovery-prefix: homeassistant

bindings:
  # An example: the Deployment `my-app` in namespace `default` as a switch.
  # ON scales it to one replica, OFF to zero; the state follows what really runs.
  # Change namespace and name to one of your Deployments.
  - namespace: default
    resource: Deployment
    name: my-app
    homeassistant:
      name: My app
    patch:
      topic: my-app/power/set
      locus: spec.replicas
      values:
        "ON": 1
        "OFF": 0
    watch:
      locus: status.availableReplicas
      topic: my-app/power/state
      retain: true
      values:
        1: "ON"
        ~: "OFF"
"""


def write_starter_config(path: Path) -> bool:
    """Write the commented starter config unless a file is already there; True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as file:
            file.write(STARTER_CONFIG)
    except FileExistsError:
        return False
    logger.warning(
        "first start: wrote a starter configuration to %s (the add-on's folder under "
        "/addon_configs on the host); edit it for your cluster and restart the add-on",
        path,
    )
    return True


async def prepare(env: AddonEnvironment) -> Config:
    """Everything before the service runs: options, starter config, broker, kubeconfig."""
    options = read_options(env.options_path)
    config_path = env.config_dir / options.config_file
    write_starter_config(config_path)
    cafile = None
    if options.mqtt_cafile:
        cafile = addon_file(env.config_dir, options.mqtt_cafile, option="mqtt_cafile")
    with built_for_good():  # the configuration lives as long as the process
        config = load_config(config_path)
    broker = None
    source = "the add-on options"
    if not options.mqtt_host:
        broker = await fetch_mqtt_service(
            base_url=env.supervisor_url,
            token=env.supervisor_token,
            fallback=file_broker(config.mqtt),
        )
        source = "the configuration file" if broker is None else "the Supervisor"
    mqtt = broker_settings(config.mqtt, broker=broker, options=options, cafile=cafile)
    logger.info("broker from %s: %s:%s, %s", source, mqtt.host, mqtt.port, describe_tls(mqtt.tls))
    kubernetes = config.kubernetes
    if kubernetes.kubeconfig is None:
        kubernetes = replace(kubernetes, kubeconfig=str(kube_credentials(env, options)))
    if config.http.port != WATCHDOG_PORT:
        logger.warning(
            "http.port is %s: the add-on's watchdog checks port %s, so it will restart the "
            "add-on; leave http.port out of the config file",
            config.http.port,
            WATCHDOG_PORT,
        )
    return replace(config, mqtt=mqtt, kubernetes=kubernetes, log_level=options.log_level)


def main() -> int:
    """Run the add-on; the process exit status."""
    env = AddonEnvironment.from_environ(os.environ)
    setup_logging(level="INFO", fmt="text")
    try:
        config = asyncio.run(prepare(env))
    except ConfigError as exc:
        for problem in exc.problems:
            logger.error("%s", problem)
        return 2
    except AddonError as exc:
        logger.error("%s", exc)
        return 1
    setup_logging(level=config.log_level, fmt="text")
    try:
        return asyncio.run(service.run(config))
    except KeyboardInterrupt:
        return 0
    except MqttKubeError as exc:
        logger.error("stopped: %s", exc)
        return 1

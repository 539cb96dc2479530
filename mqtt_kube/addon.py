"""Entry point of the Home Assistant add-on: `python3 -m mqtt_kube.addon`.

The add-on runs the normal service on a config file kept in the add-on's own config folder
(`/addon_configs/<repo>_mqtt_kube` on the host, `/config` inside the container). This
module only fills in what Home Assistant knows and the file should not have to repeat:
the broker's address and credentials (from the Supervisor's MQTT service, unless the user
gave their own in the add-on options), the kubeconfig placed beside the config file, and
the log level chosen in the UI. On first start it writes a commented starter config.

It deliberately does not use bashio: the Supervisor's API is one HTTP request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import aiohttp

from mqtt_kube import service
from mqtt_kube.config import Config, MqttSettings, TlsSettings
from mqtt_kube.errors import ConfigError, MqttKubeError
from mqtt_kube.logs import setup_logging
from mqtt_kube.schema import load_config

# `python3 -m mqtt_kube.addon` runs this file as `__main__`; log under the module's real name.
logger = logging.getLogger(__spec__.name if __spec__ else __name__)

DEFAULT_OPTIONS_PATH: Final = Path("/data/options.json")
DEFAULT_CONFIG_DIR: Final = Path("/config")
DEFAULT_SUPERVISOR_URL: Final = "http://supervisor"
# Where s6-overlay keeps the container's environment when a process was started without it.
S6_ENVIRONMENT: Final = Path("/run/s6/container_environment")
KUBECONFIG_NAMES: Final = ("kubeconfig", "kubeconfig.yaml", "kubeconfig.yml")
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
SUPERVISOR_TIMEOUT: Final = 10.0
WATCHDOG_PORT: Final = 8080

STARTER_CONFIG: Final = """\
# mqtt-kube add-on configuration.
#
# The add-on fills in the broker for you at every start: the Mosquitto add-on's address
# and credentials from the Supervisor, or the broker options of the add-on's
# Configuration tab when you set them. Leave `mqtt.host`, `port`, `auth` and `tls` out.
#
# Put a kubeconfig for your cluster beside this file, named `kubeconfig` (or set the
# add-on's `kubeconfig` option to its file name), then restart the add-on.
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


class AddonError(MqttKubeError):
    """The add-on cannot start: bad options, or no way to reach the cluster."""


@dataclass(frozen=True)
class AddonEnvironment:
    """Where the add-on finds its inputs; every path can be moved by an environment variable."""

    options_path: Path = DEFAULT_OPTIONS_PATH
    config_dir: Path = DEFAULT_CONFIG_DIR
    supervisor_url: str = DEFAULT_SUPERVISOR_URL
    supervisor_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, s6_environment: Path = S6_ENVIRONMENT
    ) -> AddonEnvironment:
        """From MQTT_KUBE_ADDON_OPTIONS, MQTT_KUBE_ADDON_CONFIG_DIR, MQTT_KUBE_SUPERVISOR_URL
        and SUPERVISOR_TOKEN (read from s6-overlay's copy when the variable is missing)."""
        token = environ.get("SUPERVISOR_TOKEN")
        if not token:
            try:
                token = (s6_environment / "SUPERVISOR_TOKEN").read_text().strip()
            except OSError:
                token = None
        return cls(
            options_path=Path(environ.get("MQTT_KUBE_ADDON_OPTIONS", DEFAULT_OPTIONS_PATH)),
            config_dir=Path(environ.get("MQTT_KUBE_ADDON_CONFIG_DIR", DEFAULT_CONFIG_DIR)),
            supervisor_url=environ.get("MQTT_KUBE_SUPERVISOR_URL", DEFAULT_SUPERVISOR_URL),
            supervisor_token=token or None,
        )


@dataclass(frozen=True)
class AddonOptions:
    """What the user set in the add-on's Configuration tab (`/data/options.json`)."""

    log_level: str = "INFO"
    config_file: str = "config.yaml"
    kubeconfig: str | None = None
    mqtt_host: str | None = None
    mqtt_port: int | None = None
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Broker:
    """The broker as the Supervisor's MQTT service describes it."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False


def read_options(path: Path) -> AddonOptions:
    """The add-on options; AddonError naming the file and the option when one is wrong."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AddonError(f"{path}: not found; the Supervisor writes it for an add-on") from exc
    except OSError as exc:
        raise AddonError(f"{path}: cannot read the add-on options: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise AddonError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise AddonError(f"{path}: the add-on options must be a JSON object")
    problems: list[str] = []

    def text(key: str) -> str | None:
        value = raw.get(key)
        if value is None or value == "":
            return None  # the UI saves a cleared optional field as an empty string
        if not isinstance(value, str):
            problems.append(f"option {key!r} must be text, not {value!r}")
            return None
        return value.strip() or None

    level = (text("log_level") or "INFO").upper()
    if level not in LOG_LEVELS:
        problems.append(f"option 'log_level' must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    port = raw.get("mqtt_port")
    if port in (None, ""):
        port = None
    elif isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.append(f"option 'mqtt_port' must be a port number (1-65535), not {port!r}")
        port = None
    options = AddonOptions(
        log_level=level,
        config_file=text("config_file") or "config.yaml",
        kubeconfig=text("kubeconfig"),
        mqtt_host=text("mqtt_host"),
        mqtt_port=port,
        mqtt_username=text("mqtt_username"),
        mqtt_password=text("mqtt_password"),
    )
    if problems:
        raise AddonError("; ".join(f"{path}: {problem}" for problem in problems))
    return options


async def fetch_mqtt_service(*, base_url: str, token: str | None) -> Broker | None:
    """The MQTT service the Supervisor announces, or None (with one clear log line) when
    there is no Supervisor to ask or it has no broker to offer."""
    url = f"{base_url.rstrip('/')}/services/mqtt"
    if not token:
        logger.error(
            "Supervisor unreachable: SUPERVISOR_TOKEN is not set, so the MQTT service "
            "cannot be asked for; set the broker in the add-on options"
        )
        return None
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=SUPERVISOR_TIMEOUT)
            ) as session,
            session.get(url, headers={"Authorization": f"Bearer {token}"}) as response,
        ):
            status = response.status
            body: Any = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.error(
            "Supervisor unreachable at %s (%s); set the broker in the add-on options",
            url,
            str(exc) or type(exc).__name__,
        )
        return None
    except ValueError:
        logger.error("Supervisor answered %s with something that is not JSON", url)
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if status != 200 or not isinstance(data, dict) or not data.get("host"):
        message = body.get("message") if isinstance(body, dict) else None
        logger.error(
            "no MQTT service: the Supervisor answered %s (%s); install and start the "
            "Mosquitto broker add-on, or set the broker in the add-on options",
            status,
            message or "no broker announced",
        )
        return None
    try:
        port = int(data.get("port") or 1883)
    except (TypeError, ValueError):
        logger.error("no MQTT service: the Supervisor gave port %r", data.get("port"))
        return None
    return Broker(
        host=str(data["host"]),
        port=port,
        username=data.get("username") or None,
        password=data.get("password") or None,
        ssl=bool(data.get("ssl")),
    )


def broker_settings(
    mqtt: MqttSettings, *, broker: Broker | None, options: AddonOptions
) -> MqttSettings:
    """The config file's MQTT settings with the Supervisor's broker, then the user's options,
    laid over them (a filled option always wins)."""
    if broker is not None:
        mqtt = replace(
            mqtt,
            host=broker.host,
            port=broker.port,
            username=broker.username,
            password=broker.password,
            tls=(mqtt.tls or TlsSettings()) if broker.ssl else None,
        )
    overrides: dict[str, Any] = {
        "host": options.mqtt_host,
        "port": options.mqtt_port,
        "username": options.mqtt_username,
        "password": options.mqtt_password,
    }
    return replace(mqtt, **{key: value for key, value in overrides.items() if value is not None})


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


def find_kubeconfig(config_dir: Path, *, option: str | None) -> Path:
    """The kubeconfig in the add-on's config folder: the one the option names, else the
    first of `kubeconfig`, `kubeconfig.yaml`, `kubeconfig.yml`."""
    names = (option,) if option else KUBECONFIG_NAMES
    for name in names:
        path = config_dir / name
        if path.is_file():
            return path
    tried = ", ".join(str(config_dir / name) for name in names)
    raise AddonError(
        f"no kubeconfig found (looked for {tried}): put a kubeconfig for your cluster in the "
        "add-on's config folder, or set `kubernetes.kubeconfig` in the config file"
    )


async def prepare(env: AddonEnvironment) -> Config:
    """Everything before the service runs: options, starter config, broker, kubeconfig."""
    options = read_options(env.options_path)
    config_path = env.config_dir / options.config_file
    write_starter_config(config_path)
    broker = None
    if options.mqtt_host:
        logger.info("broker from the add-on options: %s", options.mqtt_host)
    else:
        broker = await fetch_mqtt_service(base_url=env.supervisor_url, token=env.supervisor_token)
        if broker is not None:
            logger.info("broker from the Supervisor: %s:%s", broker.host, broker.port)
    config = load_config(config_path)
    kubernetes = config.kubernetes
    if kubernetes.kubeconfig is None:
        kubeconfig = find_kubeconfig(env.config_dir, option=options.kubeconfig)
        logger.info("Kubernetes credentials from %s", kubeconfig)
        kubernetes = replace(kubernetes, kubeconfig=str(kubeconfig))
    if config.http.port != WATCHDOG_PORT:
        logger.warning(
            "http.port is %s: the add-on's watchdog checks port %s, so it will restart the "
            "add-on; leave http.port out of the config file",
            config.http.port,
            WATCHDOG_PORT,
        )
    return replace(
        config,
        mqtt=broker_settings(config.mqtt, broker=broker, options=options),
        kubernetes=kubernetes,
        log_level=options.log_level,
    )


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


if __name__ == "__main__":
    raise SystemExit(main())

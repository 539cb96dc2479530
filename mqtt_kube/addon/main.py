"""Entry point of the Home Assistant add-on: `python3 -m mqtt_kube.addon.main`.

The add-on runs the normal service on a config file kept in the add-on's own config folder
(`/addon_configs/<repo>_mqtt_kube` on the host, `/config` inside the container). This
module only fills in what Home Assistant knows and the file should not have to repeat:
the broker's address and credentials (from the Supervisor's MQTT service, unless the user
gave their own in the add-on options), the Kubernetes credentials placed beside the config
file (a kubeconfig, or a ServiceAccount token that becomes one), and the log level chosen
in the UI. On first start it writes a commented starter config.

It deliberately does not use bashio: the Supervisor's API is one HTTP request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml

from mqtt_kube.bridge import service
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config, MqttSettings, TlsSettings
from mqtt_kube.core.errors import ConfigError, MqttKubeError
from mqtt_kube.core.logs import setup_logging

# `python3 -m mqtt_kube.addon.main` runs this file as `__main__`; log under the module's real name.
logger = logging.getLogger(__name__)

DEFAULT_OPTIONS_PATH: Final = Path("/data/options.json")
DEFAULT_CONFIG_DIR: Final = Path("/config")
DEFAULT_DATA_DIR: Final = Path("/data")
DEFAULT_SUPERVISOR_URL: Final = "http://supervisor"
KUBECONFIG_NAMES: Final = ("kubeconfig", "kubeconfig.yaml", "kubeconfig.yml")
# The file names a ServiceAccount token Secret gives its keys.
TOKEN_NAME: Final = "token"  # noqa: S105 - a file name, not a secret
CA_NAME: Final = "ca.crt"
GENERATED_KUBECONFIG: Final = "kubeconfig-from-token.yaml"  # written in the data folder
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
SUPERVISOR_TIMEOUT: Final = 10.0
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


class AddonError(MqttKubeError):
    """The add-on cannot start: bad options, or no way to reach the cluster."""


@dataclass(frozen=True)
class AddonEnvironment:
    """Where the add-on finds its inputs; every path can be moved by an environment variable."""

    options_path: Path = DEFAULT_OPTIONS_PATH
    config_dir: Path = DEFAULT_CONFIG_DIR
    supervisor_url: str = DEFAULT_SUPERVISOR_URL
    supervisor_token: str | None = field(default=None, repr=False)
    data_dir: Path = DEFAULT_DATA_DIR

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AddonEnvironment:
        """From MQTT_KUBE_ADDON_OPTIONS, MQTT_KUBE_ADDON_CONFIG_DIR, MQTT_KUBE_SUPERVISOR_URL,
        SUPERVISOR_TOKEN (set by the Supervisor) and MQTT_KUBE_ADDON_DATA_DIR."""
        return cls(
            options_path=Path(environ.get("MQTT_KUBE_ADDON_OPTIONS", DEFAULT_OPTIONS_PATH)),
            config_dir=Path(environ.get("MQTT_KUBE_ADDON_CONFIG_DIR", DEFAULT_CONFIG_DIR)),
            supervisor_url=environ.get("MQTT_KUBE_SUPERVISOR_URL", DEFAULT_SUPERVISOR_URL),
            supervisor_token=environ.get("SUPERVISOR_TOKEN") or None,
            data_dir=Path(environ.get("MQTT_KUBE_ADDON_DATA_DIR", DEFAULT_DATA_DIR)),
        )


@dataclass(frozen=True)
class AddonOptions:
    """What the user set in the add-on's Configuration tab (`/data/options.json`)."""

    log_level: str = "INFO"
    config_file: str = "config.yaml"
    kubeconfig: str | None = None
    kubernetes_server: str | None = None
    mqtt_host: str | None = None
    mqtt_port: int | None = None
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)
    mqtt_cafile: str | None = None


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
    server = text("kubernetes_server")
    if server and not server.lower().startswith("https://"):
        problems.append(
            "option 'kubernetes_server' must be an https:// address (the token must not "
            f"cross the network in clear), not {server!r}"
        )
    options = AddonOptions(
        log_level=level,
        config_file=text("config_file") or "config.yaml",
        kubeconfig=text("kubeconfig"),
        kubernetes_server=server,
        mqtt_host=text("mqtt_host"),
        mqtt_port=port,
        mqtt_username=text("mqtt_username"),
        mqtt_password=text("mqtt_password"),
        mqtt_cafile=text("mqtt_cafile"),
    )
    if options.kubeconfig and options.kubernetes_server:
        problems.append("set either option 'kubeconfig' or 'kubernetes_server', not both")
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
    mqtt: MqttSettings, *, broker: Broker | None, options: AddonOptions, cafile: Path | None
) -> MqttSettings:
    """The config file's MQTT settings with the Supervisor's broker, then the user's options,
    laid over them (a filled option always wins). A broker announced with `ssl` gets TLS,
    verified as the file's `mqtt.tls` says; `cafile` (the `mqtt_cafile` option) turns TLS
    on in any case and verifies the broker against that CA."""
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
    mqtt = replace(mqtt, **{key: value for key, value in overrides.items() if value is not None})
    if cafile is not None:
        mqtt = replace(mqtt, tls=replace(mqtt.tls or TlsSettings(), cafile=str(cafile)))
    return mqtt


def describe_tls(tls: TlsSettings | None) -> str:
    """How the broker connection is protected, for the start-up log line."""
    if tls is None:
        return "no TLS"
    if tls.insecure:
        return "TLS without verifying the broker (mqtt.tls.insecure)"
    return f"TLS verified against {tls.cafile or 'the system CAs'}"


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


def addon_file(config_dir: Path, name: str, *, option: str) -> Path:
    """A file the option names in the add-on's config folder; AddonError when it is missing."""
    path = config_dir / name
    if not path.is_file():
        raise AddonError(f"option {option!r} names {path}, which does not exist")
    return path


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
        "add-on's config folder, or a ServiceAccount token named `token` with the "
        "`kubernetes_server` option set, or set `kubernetes.kubeconfig` in the config file"
    )


def write_token_kubeconfig(config_dir: Path, data_dir: Path, *, server: str) -> Path:
    """A kubeconfig for `server` with the bearer token in `<config_dir>/token` and the CA in
    `<config_dir>/ca.crt` when there is one (else the system CAs verify the server); written
    into `data_dir`, readable by this user only. The token never reaches the log."""
    token_path = config_dir / TOKEN_NAME
    try:
        token = token_path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise AddonError(
            f"option 'kubernetes_server' is set but {token_path} does not exist: put the "
            "ServiceAccount's token there"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise AddonError(f"{token_path}: cannot read the token: {exc}") from exc
    if not token or any(char.isspace() for char in token):
        raise AddonError(f"{token_path}: not a token (expected one line without spaces)")
    cluster = {"server": server}
    ca_path = config_dir / CA_NAME
    if ca_path.exists():
        try:
            ca = ca_path.read_bytes()
        except OSError as exc:
            raise AddonError(f"{ca_path}: cannot read the CA: {exc.strerror}") from exc
        if b"-----BEGIN CERTIFICATE-----" not in ca:
            raise AddonError(f"{ca_path}: not a PEM certificate")
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode("ascii")
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "addon", "cluster": cluster}],
        "users": [{"name": "addon", "user": {"token": token}}],
        "contexts": [{"name": "addon", "context": {"cluster": "addon", "user": "addon"}}],
        "current-context": "addon",
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / GENERATED_KUBECONFIG
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # a file left by an earlier start may be wider
        yaml.safe_dump(kubeconfig, file, sort_keys=False)
    logger.info(
        "Kubernetes API %s with the token in %s, verified against %s",
        server,
        token_path,
        ca_path if "certificate-authority-data" in cluster else "the system CAs",
    )
    return path


def kube_credentials(env: AddonEnvironment, options: AddonOptions) -> Path:
    """The kubeconfig to use: written from the token when `kubernetes_server` is set, else
    the kubeconfig file in the add-on's config folder."""
    if options.kubernetes_server:
        return write_token_kubeconfig(
            env.config_dir, env.data_dir, server=options.kubernetes_server
        )
    kubeconfig = find_kubeconfig(env.config_dir, option=options.kubeconfig)
    logger.info("Kubernetes credentials from %s", kubeconfig)
    return kubeconfig


async def prepare(env: AddonEnvironment) -> Config:
    """Everything before the service runs: options, starter config, broker, kubeconfig."""
    options = read_options(env.options_path)
    config_path = env.config_dir / options.config_file
    write_starter_config(config_path)
    cafile = None
    if options.mqtt_cafile:
        cafile = addon_file(env.config_dir, options.mqtt_cafile, option="mqtt_cafile")
    broker = None
    source = "the add-on options"
    if not options.mqtt_host:
        broker = await fetch_mqtt_service(base_url=env.supervisor_url, token=env.supervisor_token)
        source = "the configuration file" if broker is None else "the Supervisor"
    config = load_config(config_path)
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

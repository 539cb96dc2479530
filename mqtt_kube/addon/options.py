"""The add-on's inputs: where they are, and the options the user set in the UI.

The Supervisor writes the options to `/data/options.json`; every path can be moved by an
environment variable, which is how the tests run the add-on outside a Supervisor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mqtt_kube.core.errors import MqttKubeError

DEFAULT_OPTIONS_PATH: Final = Path("/data/options.json")
DEFAULT_CONFIG_DIR: Final = Path("/config")
DEFAULT_DATA_DIR: Final = Path("/data")
DEFAULT_SUPERVISOR_URL: Final = "http://supervisor"
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


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

"""The MQTT broker for the add-on: asked of the Supervisor, overridden by the user's options.

It deliberately does not use bashio: the Supervisor's API is one HTTP request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import aiohttp

from mqtt_kube.addon.options import AddonOptions
from mqtt_kube.config.model import MqttSettings, TlsSettings

logger = logging.getLogger(__name__)

SUPERVISOR_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class Broker:
    """The broker as the Supervisor's MQTT service describes it."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False


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

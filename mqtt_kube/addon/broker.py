"""The MQTT broker for the add-on: asked of the Supervisor, overridden by the user's options.

A Supervisor without a broker to offer is an error only when nothing else names one: with
a broker in the configuration file, the add-on goes on with it and says so as a warning.
It deliberately does not use bashio: the Supervisor's API is one HTTP request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import aiohttp

from mqtt_kube.addon.options import AddonOptions
from mqtt_kube.config.model import DEFAULT_MQTT_HOST, MqttSettings, TlsSettings

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


def no_broker(problem: str, advice: str, *, fallback: str | None) -> None:
    """Say that the Supervisor offers no broker: a warning when `fallback` names the broker
    the add-on uses instead, else an error with `advice`."""
    if fallback:
        logger.warning("%s; using %s", problem, fallback)
    else:
        logger.error("%s; %s", problem, advice)


async def fetch_mqtt_service(
    *, base_url: str, token: str | None, fallback: str | None = None
) -> Broker | None:
    """The MQTT service the Supervisor announces, or None (with one clear log line) when
    there is no Supervisor to ask or it has no broker to offer. `fallback` names the broker
    the add-on uses then, if the configuration names one: the line is then a warning, since
    the add-on goes on with that broker, not an error."""
    url = f"{base_url.rstrip('/')}/services/mqtt"
    set_it = "set the broker in the add-on options"
    if not token:
        no_broker(
            "Supervisor unreachable: SUPERVISOR_TOKEN is not set, so the MQTT service "
            "cannot be asked for",
            set_it,
            fallback=fallback,
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
        reason = str(exc) or type(exc).__name__
        no_broker(f"Supervisor unreachable at {url} ({reason})", set_it, fallback=fallback)
        return None
    except ValueError:
        no_broker(
            f"Supervisor answered {url} with something that is not JSON", set_it, fallback=fallback
        )
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if status != 200 or not isinstance(data, dict) or not data.get("host"):
        message = (body.get("message") if isinstance(body, dict) else None) or "no broker announced"
        no_broker(
            f"no MQTT service: the Supervisor answered {status} ({message})",
            f"install and start the Mosquitto broker add-on, or {set_it}",
            fallback=fallback,
        )
        return None
    try:
        port = int(data.get("port") or 1883)
    except (TypeError, ValueError):
        no_broker(
            f"no MQTT service: the Supervisor gave port {data.get('port')!r}",
            set_it,
            fallback=fallback,
        )
        return None
    return Broker(
        host=str(data["host"]),
        port=port,
        username=data.get("username") or None,
        password=data.get("password") or None,
        ssl=bool(data.get("ssl")),
    )


def file_broker(mqtt: MqttSettings) -> str | None:
    """The broker the configuration file names, for the log; None when it names none (its
    default host is the container's own loopback, where no broker runs)."""
    if mqtt.host == DEFAULT_MQTT_HOST:
        return None
    return f"the broker of the configuration file, {mqtt.host}"


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

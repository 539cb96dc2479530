"""The settings sections of the file (`mqtt`, `http`, `homeassistant`) as frozen settings.

The schemas have checked each section's keys; what is built here are the values that
depend on several keys at once: the broker port from TLS, the availability topic from the
prefix and client-id, TLS from `auth` and `tls` together.
"""

from __future__ import annotations

from typing import Any

from mqtt_kube.config import validators as v
from mqtt_kube.config.identity import default_client_id
from mqtt_kube.config.model import (
    DEFAULT_HTTP_BIND,
    DEFAULT_HTTP_MAX_CONNECTIONS,
    DEFAULT_HTTP_PORT,
    DEFAULT_KEEPALIVE,
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_MQTT_HOST,
    DEFAULT_MQTT_PORT,
    DEFAULT_MQTT_TLS_PORT,
    DEFAULT_SESSION_EXPIRY,
    HomeAssistantSettings,
    HttpSettings,
    MqttSettings,
    TlsSettings,
)
from mqtt_kube.config.problems import Problems
from mqtt_kube.config.schemas import CONF_HOMEASSISTANT, CONF_HTTP, CONF_MQTT, DISCOVERY_SCHEMA


def mqtt_settings(problems: Problems, section: dict[str, Any] | None) -> MqttSettings | None:
    if section is None:
        return None
    auth = section.get("auth") or {}
    tls_section = section.get("tls")
    kind = auth.get("type", "none")
    tls: TlsSettings | None = None
    if kind == "mtls":
        tls_section = tls_section or {}
        cafile = auth.get("cafile")
        other = tls_section.get("cafile")
        if cafile and other and cafile != other:
            problems.problem(
                [CONF_MQTT, "tls", "cafile"], "differs from mqtt.auth.cafile: give one"
            )
        tls = TlsSettings(
            cafile=cafile or other,
            certfile=auth["certfile"],
            keyfile=auth["keyfile"],
            keyfile_password=auth.get("keyfile_password"),
            protocols=auth.get("protocols") or (),
            insecure=bool(tls_section.get("insecure", False)),
        )
    elif tls_section is not None:
        tls = TlsSettings(
            cafile=tls_section.get("cafile"),
            insecure=bool(tls_section.get("insecure", False)),
        )
    prefix = section.get("topic-prefix")
    prefix = prefix.rstrip("/") if prefix else None
    client_id = section.get("client-id") or default_client_id(prefix)
    given = section.get("availability-topic")
    if given:
        availability = v.join_topic(prefix, given)
    elif prefix:
        availability = v.join_topic(prefix, "status")
    else:
        availability = f"mqtt-kube/{client_id}/status"
    where = [CONF_MQTT, "availability-topic" if given else "client-id"]
    if problems.check(v.check_topic, availability, where) is None:
        return None
    port = section.get("port") or (DEFAULT_MQTT_TLS_PORT if tls else DEFAULT_MQTT_PORT)
    keepalive = section.get("keepalive")
    expiry = section.get("session-expiry")
    return MqttSettings(
        client_id=client_id,
        client_id_defaulted=not section.get("client-id"),
        availability_topic=availability,
        host=section.get("host") or DEFAULT_MQTT_HOST,
        port=port,
        topic_prefix=prefix,
        username=auth.get("username"),
        password=auth.get("password"),
        tls=tls,
        keepalive=DEFAULT_KEEPALIVE if keepalive is None else keepalive,
        max_payload=section.get("max-payload") or DEFAULT_MAX_PAYLOAD,
        session_expiry=DEFAULT_SESSION_EXPIRY if expiry is None else expiry,
    )


def http_settings(problems: Problems, section: dict[str, Any] | None) -> HttpSettings | None:
    if section is None:
        return None
    if section.get("bind") and section.get("host"):
        problems.problem(
            [CONF_HTTP, "host"], "give either bind or host (the same setting), not both"
        )
    port = section.get("port")
    return HttpSettings(
        bind=section.get("bind") or section.get("host") or DEFAULT_HTTP_BIND,
        port=DEFAULT_HTTP_PORT if port is None else port,
        max_connections=section.get("max-connections") or DEFAULT_HTTP_MAX_CONNECTIONS,
    )


def discovery_settings(problems: Problems, value: Any) -> HomeAssistantSettings | None:
    """`homeassistant:` off (absent, false, no, off), on with defaults, or a mapping."""
    value = v.word_to_bool(value)
    if value is None or value is False:
        return None
    if value is True:
        return HomeAssistantSettings()
    section = problems.check(DISCOVERY_SCHEMA, value, [CONF_HOMEASSISTANT])
    if section is None:
        return None
    defaults = HomeAssistantSettings()
    prefix = section.get("discovery-prefix")
    return HomeAssistantSettings(
        discovery_prefix=prefix.rstrip("/") if prefix else defaults.discovery_prefix,
        birth_topic=section.get("birth-topic") or defaults.birth_topic,
    )

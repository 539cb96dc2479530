"""The schema of each mapping in the configuration file, built from the leaf validators.

Sections (`mqtt`, `http`, `logging`, `kubernetes`, `homeassistant`) have one schema each.
The three associations share a base (a topic and a value map) and extend it, as Home
Assistant's MQTT platforms extend their base schemas: a watch adds its locus, qos and
retain; the two command associations add the retained-message policy, and then a patch its
locus, an action its launch template. The lists between mappings are walked by
`mqtt_kube.config.load`, so a mistake in one binding never hides the next one's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from mqtt_kube.config import validators as v
from mqtt_kube.config.model import MAX_SESSION_EXPIRY
from mqtt_kube.core.hass_facts import COMPONENTS, override_problems

CONF_MQTT = "mqtt"
CONF_HTTP = "http"
CONF_LOGGING = "logging"
CONF_KUBERNETES = "kubernetes"
CONF_HOMEASSISTANT = "homeassistant"
CONF_BINDINGS = "bindings"
CONF_DISCOVER = "discover"
CONF_WATCH = "watch"
CONF_PATCH = "patch"
CONF_ACTION = "action"
CONF_VALUES = "values"
CONF_TOPIC = "topic"
CONF_LOCUS = "locus"
CONF_LAUNCH = "launch"
CONF_RECIPE = "recipe"
ASSOCIATIONS = (CONF_WATCH, CONF_PATCH, CONF_ACTION)
ACTION_OUTPUTS = ("launch", "delete")
MAX_MQTT_PAYLOAD = 268_435_455  # the largest packet MQTT can carry

TLS_SCHEMA = v.Strict(
    {vol.Optional("cafile"): v.optional(v.existing_file), vol.Optional("insecure"): v.boolean},
    what="mqtt.tls",
)

AUTH_FIELDS: dict[str, dict[Any, v.Validator]] = {
    "none": {},
    "basic": {
        vol.Required("username"): v.nonempty_text,
        vol.Optional("password"): v.optional(v.secret),
    },
    "mtls": {
        vol.Optional("cafile"): v.optional(v.existing_file),
        vol.Required("certfile"): v.existing_file,
        vol.Required("keyfile"): v.existing_file,
        vol.Optional("keyfile_password"): v.optional(v.secret),
        vol.Optional("protocols"): v.optional(v.text_list),
    },
}
AUTH_TYPE = v.one_of(*AUTH_FIELDS)


def _auth(value: Any) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise vol.Invalid(f"expected mqtt.auth (a mapping of keys), got {v.describe(value)}")
    try:
        kind = AUTH_TYPE(value.get("type", "none"))
    except vol.Invalid as exc:
        exc.prepend(["type"])
        raise
    elsewhere = {
        str(key): f"{key} is a key of auth type {other}, not {kind}"
        for other, fields in AUTH_FIELDS.items()
        if other != kind
        for key in fields
    }
    fields = {vol.Optional("type"): AUTH_TYPE, **AUTH_FIELDS[kind]}
    return v.Strict(fields, what="mqtt.auth", elsewhere=elsewhere)(value)


def _tls(value: Any) -> dict[str, Any] | None:
    """A mapping of TLS settings; true/on/yes: TLS with defaults; false/off/no: no TLS."""
    value = v.word_to_bool(value)
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise vol.Invalid(f"expected true, false or a mapping of TLS keys, got {v.describe(value)}")
    return TLS_SCHEMA(value)


MQTT_SCHEMA = v.Strict(
    {
        vol.Optional("host"): v.optional(v.nonempty_text),
        vol.Optional("port"): v.optional(v.whole_number(1, 65535)),
        vol.Optional("client-id"): v.optional(v.nonempty_text),
        vol.Optional("topic-prefix"): v.optional(v.topic_name),
        vol.Optional("auth"): _auth,
        vol.Optional("tls"): _tls,
        vol.Optional("keepalive"): v.optional(v.whole_number(0, 65535)),
        vol.Optional("availability-topic"): v.optional(v.topic_name),
        vol.Optional("max-payload"): v.optional(v.whole_number(1, MAX_MQTT_PAYLOAD)),
        vol.Optional("session-expiry"): v.optional(v.whole_number(0, MAX_SESSION_EXPIRY)),
    },
    what="mqtt",
)

HTTP_SCHEMA = v.Strict(
    {
        vol.Optional("bind"): v.optional(v.nonempty_text),
        vol.Optional("host"): v.optional(v.nonempty_text),
        vol.Optional("port"): v.optional(v.whole_number(0, 65535)),
        vol.Optional("max-connections"): v.optional(v.whole_number(1, 1_000_000)),
    },
    what="http",
)

LOGGING_SCHEMA = v.Strict(
    {
        vol.Optional("level"): v.optional(
            v.one_of("DEBUG", "INFO", "WARNING", "ERROR", aliases={"WARN": "WARNING"})
        )
    },
    what="logging",
)

KUBERNETES_SCHEMA = v.Strict(
    {
        vol.Optional("kubeconfig"): v.optional(v.nonempty_text),
        vol.Optional("context"): v.optional(v.nonempty_text),
        vol.Optional("watch-scope"): v.optional(v.one_of("namespace", "cluster", "object", "auto")),
    },
    what="kubernetes",
)

DISCOVERY_SCHEMA = v.Strict(
    {
        vol.Optional("discovery-prefix"): v.optional(v.topic_name),
        vol.Optional("birth-topic"): v.optional(v.topic_name),
    },
    what="homeassistant",
)

ROOT_SCHEMA = v.Strict(
    {
        vol.Optional(CONF_MQTT): object,
        vol.Optional(CONF_HTTP): object,
        vol.Optional(CONF_LOGGING): object,
        vol.Optional(CONF_KUBERNETES): object,
        vol.Optional(CONF_HOMEASSISTANT): object,
        vol.Optional(CONF_BINDINGS): object,  # required unless there is a discover list
        vol.Optional(CONF_DISCOVER): object,
    },
    what="the configuration",
)

OVERRIDES_SCHEMA = v.Strict(
    {
        vol.Optional("component"): v.one_of(*COMPONENTS),
        vol.Optional("name"): v.nonempty_text,
        vol.Optional("icon"): v.nonempty_text,
        vol.Optional("device_class"): v.device_class_name,
        vol.Optional("unit_of_measurement"): v.nonempty_text,
        vol.Optional("entity_category"): v.one_of("config", "diagnostic"),
        vol.Optional("state_class"): v.one_of("measurement", "total", "total_increasing"),
        vol.Optional("enabled_by_default"): v.boolean,
        vol.Optional("min"): v.whole_number(-1_000_000, 1_000_000),
        vol.Optional("max"): v.whole_number(-1_000_000, 1_000_000),
        vol.Optional("step"): v.whole_number(1, 1_000_000),
        vol.Optional("mode"): v.one_of("box", "slider"),
    },
    what="a binding's homeassistant overrides",
)


def _overrides(value: Any) -> dict[str, Any] | bool | None:
    """A binding's `homeassistant:`: false (left out), true or ~ (defaults), or overrides."""
    value = v.word_to_bool(value)
    if value is None or value is True:
        return None
    if value is False:
        return False
    overrides = OVERRIDES_SCHEMA(value)
    errors = _override_conflicts(overrides)
    if errors:
        raise vol.MultipleInvalid(errors)
    return overrides


def _override_conflicts(overrides: Mapping[str, Any]) -> list[vol.Invalid]:
    """Overrides Home Assistant would refuse (each names its key), on the named component if any.

    A refusal the discovery plan can mend by itself (`entity_category: config` on a sensor
    becomes `diagnostic`) is left to it.
    """
    component = overrides.get("component")
    return [
        vol.Invalid(problem.message, path=[problem.key])
        for problem in override_problems(overrides, component=component)
        if problem.replacement is None
    ]


BINDING_SCHEMA = v.Strict(
    {
        vol.Optional("namespace"): v.optional(v.namespace_name),
        vol.Required("resource"): v.nonempty_text,
        vol.Optional("apiVersion"): v.optional(v.api_version_name),
        vol.Required("name"): v.object_name,
        vol.Optional(CONF_WATCH): object,
        vol.Optional(CONF_PATCH): object,
        vol.Optional(CONF_ACTION): object,
        vol.Optional(CONF_RECIPE): object,  # checked by mqtt_kube.config.recipes
        vol.Optional(CONF_TOPIC): v.optional(v.topic_name),  # the recipes' topic base
        vol.Optional(CONF_LAUNCH): v.optional(v.launch_template),  # the job recipe's
        vol.Optional(CONF_HOMEASSISTANT): _overrides,
    },
    what="a binding",
)

# The part every association has: the topic, and how values are mapped.
ASSOCIATION_SCHEMA = v.Strict(
    {
        vol.Required(CONF_TOPIC): v.topic_name,
        vol.Optional(CONF_VALUES): v.value_map,
    },
    what="an association",
)
WATCH_SCHEMA = ASSOCIATION_SCHEMA.extend(
    {
        vol.Required(CONF_LOCUS): v.jsonpath_locus,
        vol.Optional("qos"): v.optional(v.whole_number(0, 2)),
        vol.Optional("retain"): v.optional(v.boolean),
    },
    what="a watch",
)
# A command topic: whether a retained message there is applied (see RetainedPolicy).
COMMAND_SCHEMA = ASSOCIATION_SCHEMA.extend(
    {vol.Optional("retained"): v.optional(v.one_of("apply", "ignore"))},
    what="a command",
)
PATCH_SCHEMA = COMMAND_SCHEMA.extend(
    {vol.Required(CONF_LOCUS): v.jsonpath_locus},
    what="a patch",
)
ACTION_SCHEMA = COMMAND_SCHEMA.extend(
    {vol.Optional(CONF_LAUNCH): v.optional(v.launch_template)},
    what="an action",
)
ASSOCIATION_SCHEMAS = {
    CONF_WATCH: WATCH_SCHEMA,
    CONF_PATCH: PATCH_SCHEMA,
    CONF_ACTION: ACTION_SCHEMA,
}

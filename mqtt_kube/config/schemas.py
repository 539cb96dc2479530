"""Turn a configuration file into a `Config`, or into one ConfigError naming every mistake.

Each mapping of the file is checked by its own voluptuous schema (wrapped in `Strict`, which
names unknown keys with a did-you-mean hint), and the lists between them are walked here, so
a mistake in one binding never hides the mistakes in the next. Values that need compiling
(JSONPath, value maps, launch templates) are compiled while they are checked; rules that
span several keys (kinds and namespaces, topic prefixes, duplicate command topics) run after.
Every problem carries its path and line. Nothing here connects to anything.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import voluptuous as vol

from mqtt_kube.config.model import (
    DEFAULT_HTTP_BIND,
    DEFAULT_HTTP_MAX_CONNECTIONS,
    DEFAULT_HTTP_PORT,
    DEFAULT_KEEPALIVE,
    DEFAULT_LOG_LEVEL,
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_MQTT_HOST,
    DEFAULT_MQTT_PORT,
    DEFAULT_MQTT_TLS_PORT,
    ActionSpec,
    BindingSpec,
    Config,
    HomeAssistantSettings,
    HttpSettings,
    KubernetesSettings,
    MqttSettings,
    PatchSpec,
    TlsSettings,
    WatchSpec,
)
from mqtt_kube.config.yaml_file import (
    LineDict,
    LineList,
    PathPart,
    format_path,
    line_of,
    load_yaml,
    plain,
)
from mqtt_kube.core.errors import ConfigError, ConfigProblem, TemplateError
from mqtt_kube.core.kinds import BUILTIN_KINDS, builtin_kind
from mqtt_kube.core.locus import Locus
from mqtt_kube.core.template import LaunchTemplate
from mqtt_kube.core.valuemap import ValueMap, ValueMapSpecError
from mqtt_kube.homeassistant.plan import (
    DEVICE_CLASSES,
    NUMBER_MAX,
    NUMBER_MIN,
    NUMERIC_HINTS,
    OVERRIDE_KEYS,
    TIME_CLASSES,
    UNANNOUNCEABLE_CLASSES,
)

CONF_MQTT = "mqtt"
CONF_HTTP = "http"
CONF_LOGGING = "logging"
CONF_KUBERNETES = "kubernetes"
CONF_HOMEASSISTANT = "homeassistant"
CONF_BINDINGS = "bindings"
CONF_WATCH = "watch"
CONF_PATCH = "patch"
CONF_ACTION = "action"
CONF_VALUES = "values"
CONF_TOPIC = "topic"
CONF_LOCUS = "locus"
CONF_LAUNCH = "launch"

ASSOCIATIONS = (CONF_WATCH, CONF_PATCH, CONF_ACTION)
VALUE_MAP_KEYS = ("transform", "jsonpath", "map", "format")
ACTION_OUTPUTS = ("launch", "delete")
MAX_TOPIC_BYTES = 65535
MAX_MQTT_PAYLOAD = 268_435_455  # the largest packet MQTT can carry

_TRUE_WORDS = ("true", "yes", "on")
_FALSE_WORDS = ("false", "no", "off")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_API_VERSION = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?")

Validator = Callable[[Any], Any]


# --- leaf validators: each returns the clean value or raises vol.Invalid with a plain sentence


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _hint(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _optional(validator: Validator) -> Validator:
    """`key: ~` counts as not given."""

    def validate(value: Any) -> Any:
        return None if value is None else validator(value)

    return validate


def _text(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise vol.Invalid(f"expected text, got {_describe(value)}")
    if not value:
        raise vol.Invalid("may not be empty")
    return value


def _secret(value: Any) -> str:
    """A password: text only, and never repeated in a message."""
    if not isinstance(value, str):
        # YAML reads unquoted 0123 as 83 and 1.50 as 1.5: refuse rather than send a mangled one.
        raise vol.Invalid(f"expected text, got {_kind(value)} (not shown); quote it")
    if not value:
        raise vol.Invalid("may not be empty")
    return value


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _describe(value)


def _integer(low: int, high: int) -> Validator:
    def validate(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"expected a whole number, got {_describe(value)}")
        if not low <= value <= high:
            raise vol.Invalid(f"must be between {low} and {high}, got {value}")
        return value

    return validate


def _word_to_bool(value: Any) -> Any:
    """Text naming a boolean (true/yes/on, false/no/off, any case) as that bool; else `value`."""
    if isinstance(value, str) and value.lower() in _TRUE_WORDS + _FALSE_WORDS:
        return value.lower() in _TRUE_WORDS
    return value


def _boolean(value: Any) -> bool:
    value = _word_to_bool(value)
    if isinstance(value, bool):
        return value
    raise vol.Invalid(f"expected true or false, got {_describe(value)}")


def _choice(*options: str, aliases: Mapping[str, str] | None = None) -> Validator:
    """One of `options`, in any case; returns the option as spelt here."""
    by_lower = {option.lower(): option for option in options}
    by_lower.update({alias.lower(): option for alias, option in (aliases or {}).items()})

    def validate(value: Any) -> str:
        if isinstance(value, str) and value.lower() in by_lower:
            return by_lower[value.lower()]
        hint = _hint(value.lower(), list(by_lower)) if isinstance(value, str) else ""
        raise vol.Invalid(f"must be one of {', '.join(options)}; got {_describe(value)}{hint}")

    return validate


def check_topic(topic: str) -> str:
    """A topic we may publish on or subscribe to exactly (no wildcards); raises vol.Invalid."""
    if not topic.strip("/"):
        raise vol.Invalid("a topic needs at least one level besides '/'")
    if "+" in topic or "#" in topic:
        raise vol.Invalid(f"topic {topic!r} contains a wildcard (+ or #); name one topic")
    if "\0" in topic:
        raise vol.Invalid("a topic may not contain the NUL character")
    if len(topic.encode()) > MAX_TOPIC_BYTES:
        raise vol.Invalid(f"a topic may be at most {MAX_TOPIC_BYTES} bytes long")
    return topic


def _topic(value: Any) -> str:
    return check_topic(_text(value))


def _existing_file(value: Any) -> str:
    path = _text(value)
    if not os.path.isfile(path):
        raise vol.Invalid(f"file not found: {path}")
    return path


def _text_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(_text(item) for item in value)
    return (_text(value),)


def _namespace(value: Any) -> str:
    text = _text(value)
    if len(text) > 63 or not _DNS_LABEL.fullmatch(text):
        raise vol.Invalid(
            f"{text!r} is not a namespace name: lowercase letters, digits and '-', at most 63"
        )
    return text


def _object_name(value: Any) -> str:
    text = _text(value)
    if text in (".", "..") or "/" in text or "%" in text:
        raise vol.Invalid(f"{text!r} is not a Kubernetes object name")
    return text


def _api_version(value: Any) -> str:
    text = _text(value)
    if not _API_VERSION.fullmatch(text):
        raise vol.Invalid(
            f"expected group/version like apps/v1 (or v1 for the core group), got {text!r}"
        )
    return text


def _locus(value: Any) -> Locus:
    text = _text(value)
    try:
        return Locus.parse(text)
    except ValueError as exc:
        raise vol.Invalid(str(exc)) from exc


def _is_long_form(spec: Mapping[Any, Any]) -> bool:
    return any(key in spec for key in VALUE_MAP_KEYS)


def _values(value: Any) -> ValueMap:
    if value is not None and not isinstance(value, Mapping):
        raise vol.Invalid(
            f"expected a mapping (a map of inputs to outputs), got {_describe(value)}"
        )
    try:
        return ValueMap.from_config(value)
    except ValueMapSpecError as exc:
        raise vol.Invalid(str(exc), path=_value_map_path(exc.key)) from exc


def _value_map_path(key: str) -> list[PathPart]:
    """`map['re:(']` → ["map", "re:("]; `['re:(']` (when values is itself the map) → ["re:("]."""
    match = re.fullmatch(r"(\w*)(?:\[(.*)\])?", key, re.DOTALL)
    if match is None:
        return [key]
    where: list[PathPart] = [match.group(1)] if match.group(1) else []
    if match.group(2) is not None:
        try:
            where.append(_literal(match.group(2)))
        except (ValueError, SyntaxError):
            return where
    return where


def _literal(text: str) -> PathPart:
    value = ast.literal_eval(text)
    if not isinstance(value, str | int | float | bool | type(None)):
        raise ValueError(text)
    return value


def _template(value: Any) -> LaunchTemplate:
    path = _text(value)
    try:
        return LaunchTemplate.load(path)
    except TemplateError as exc:
        raise vol.Invalid(str(exc)) from exc


class UnknownKey(vol.Invalid):
    """A key no schema knows; reported even where a tag's failure silences the rest."""


class Strict:
    """A voluptuous mapping schema that reports unknown keys by name, with a hint."""

    def __init__(
        self,
        fields: Mapping[Any, Any],
        *,
        what: str,
        elsewhere: Mapping[str, str] | None = None,
    ) -> None:
        self.what = what
        self.known = [str(key) for key in fields]
        self.elsewhere = dict(elsewhere or {})
        self.schema = vol.Schema(dict(fields), extra=vol.REMOVE_EXTRA)

    def __call__(self, value: Any) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise vol.Invalid(f"expected {self.what} (a mapping of keys), got {_describe(value)}")
        errors: list[vol.Invalid] = [
            UnknownKey(self._unknown(key), path=[key]) for key in value if key not in self.known
        ]
        try:
            out: dict[str, Any] = self.schema(dict(value))
        except vol.MultipleInvalid as exc:
            errors.extend(exc.errors)
        if errors:
            raise vol.MultipleInvalid(errors)
        return out

    def _unknown(self, key: object) -> str:
        if isinstance(key, str) and key in self.elsewhere:
            return self.elsewhere[key]
        message = f"unknown key {key!r} in {self.what}"
        hint = _hint(key, self.known) if isinstance(key, str) else ""
        return message + (hint or f"; known keys: {', '.join(self.known)}")


# --- the schemas, one per mapping in the file

TLS_SCHEMA = Strict(
    {vol.Optional("cafile"): _optional(_existing_file), vol.Optional("insecure"): _boolean},
    what="mqtt.tls",
)
AUTH_FIELDS: dict[str, dict[Any, Validator]] = {
    "none": {},
    "basic": {vol.Required("username"): _text, vol.Optional("password"): _optional(_secret)},
    "mtls": {
        vol.Optional("cafile"): _optional(_existing_file),
        vol.Required("certfile"): _existing_file,
        vol.Required("keyfile"): _existing_file,
        vol.Optional("keyfile_password"): _optional(_secret),
        vol.Optional("protocols"): _optional(_text_list),
    },
}
AUTH_TYPE = _choice(*AUTH_FIELDS)


def _auth(value: Any) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise vol.Invalid(f"expected mqtt.auth (a mapping of keys), got {_describe(value)}")
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
    return Strict(fields, what="mqtt.auth", elsewhere=elsewhere)(value)


def _tls(value: Any) -> dict[str, Any] | None:
    """A mapping of TLS settings; true/on/yes: TLS with defaults; false/off/no: no TLS."""
    value = _word_to_bool(value)
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise vol.Invalid(f"expected true, false or a mapping of TLS keys, got {_describe(value)}")
    return TLS_SCHEMA(value)


MQTT_SCHEMA = Strict(
    {
        vol.Optional("host"): _optional(_text),
        vol.Optional("port"): _optional(_integer(1, 65535)),
        vol.Optional("client-id"): _optional(_text),
        vol.Optional("topic-prefix"): _optional(_topic),
        vol.Optional("auth"): _auth,
        vol.Optional("tls"): _tls,
        vol.Optional("keepalive"): _optional(_integer(0, 65535)),
        vol.Optional("availability-topic"): _optional(_topic),
        vol.Optional("max-payload"): _optional(_integer(1, MAX_MQTT_PAYLOAD)),
    },
    what="mqtt",
)
HTTP_SCHEMA = Strict(
    {
        vol.Optional("bind"): _optional(_text),
        vol.Optional("host"): _optional(_text),
        vol.Optional("port"): _optional(_integer(0, 65535)),
        vol.Optional("max-connections"): _optional(_integer(1, 1_000_000)),
    },
    what="http",
)
LOGGING_SCHEMA = Strict(
    {
        vol.Optional("level"): _optional(
            _choice("DEBUG", "INFO", "WARNING", "ERROR", aliases={"WARN": "WARNING"})
        )
    },
    what="logging",
)
KUBERNETES_SCHEMA = Strict(
    {
        vol.Optional("kubeconfig"): _optional(_text),
        vol.Optional("context"): _optional(_text),
        vol.Optional("watch-scope"): _optional(_choice("auto", "namespace", "cluster")),
    },
    what="kubernetes",
)
DISCOVERY_SCHEMA = Strict(
    {
        vol.Optional("discovery-prefix"): _optional(_topic),
        vol.Optional("birth-topic"): _optional(_topic),
    },
    what="homeassistant",
)
ROOT_SCHEMA = Strict(
    {
        vol.Optional(CONF_MQTT): object,
        vol.Optional(CONF_HTTP): object,
        vol.Optional(CONF_LOGGING): object,
        vol.Optional(CONF_KUBERNETES): object,
        vol.Optional(CONF_HOMEASSISTANT): object,
        vol.Required(CONF_BINDINGS): object,
    },
    what="the configuration",
)


def _device_class(value: Any) -> str:
    """A device class of some component, in any case (Home Assistant lowers it too)."""
    text = _text(value).lower()
    if text in UNANNOUNCEABLE_CLASSES:
        raise vol.Invalid(f"{text!r} needs a list of options, which mqtt-kube does not announce")
    known = sorted(set().union(*DEVICE_CLASSES.values()))
    if text not in known:
        raise vol.Invalid(f"{text!r} is not a Home Assistant device class{_hint(text, known)}")
    return text


OVERRIDES_SCHEMA = Strict(
    {
        vol.Optional("component"): _choice("switch", "sensor", "binary_sensor", "button", "number"),
        vol.Optional("name"): _text,
        vol.Optional("icon"): _text,
        vol.Optional("device_class"): _device_class,
        vol.Optional("unit_of_measurement"): _text,
        vol.Optional("entity_category"): _choice("config", "diagnostic"),
        vol.Optional("state_class"): _choice("measurement", "total", "total_increasing"),
        vol.Optional("enabled_by_default"): _boolean,
        vol.Optional("min"): _integer(-1_000_000, 1_000_000),
        vol.Optional("max"): _integer(-1_000_000, 1_000_000),
        vol.Optional("step"): _integer(1, 1_000_000),
        vol.Optional("mode"): _choice("box", "slider"),
    },
    what="a binding's homeassistant overrides",
)


def _overrides(value: Any) -> dict[str, Any] | bool | None:
    """A binding's `homeassistant:`: false (left out), true or ~ (defaults), or overrides."""
    value = _word_to_bool(value)
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
    """Overrides that Home Assistant would refuse together (each names its key)."""
    errors = []
    component = overrides.get("component")
    device_class = overrides.get("device_class")
    if component is not None:
        for key in sorted(overrides.keys() - OVERRIDE_KEYS[component] - {"component", "name"}):
            errors.append(vol.Invalid(f"has no effect on a {component}", path=[key]))
        if device_class is not None and device_class not in DEVICE_CLASSES[component]:
            fits = [name for name, classes in DEVICE_CLASSES.items() if device_class in classes]
            errors.append(
                vol.Invalid(
                    f"{device_class!r} is a device class of a {' or '.join(fits)}, "
                    f"not of a {component}",
                    path=["device_class"],
                )
            )
    if device_class in TIME_CLASSES:
        for key in NUMERIC_HINTS:
            if key in overrides:
                errors.append(
                    vol.Invalid(
                        f"makes Home Assistant expect numbers, but device_class {device_class} "
                        "says the sensor shows a time; give one or the other",
                        path=[key],
                    )
                )
    low, high = overrides.get("min", NUMBER_MIN), overrides.get("max", NUMBER_MAX)
    if low >= high:
        errors.append(
            vol.Invalid(
                f"max must be greater than min, here {high} and {low} "
                f"(without them: max {NUMBER_MAX}, min {NUMBER_MIN})",
                path=["max" if "max" in overrides else "min"],
            )
        )
    return errors


BINDING_SCHEMA = Strict(
    {
        vol.Optional("namespace"): _optional(_namespace),
        vol.Required("resource"): _text,
        vol.Optional("apiVersion"): _optional(_api_version),
        vol.Required("name"): _object_name,
        vol.Optional(CONF_WATCH): object,
        vol.Optional(CONF_PATCH): object,
        vol.Optional(CONF_ACTION): object,
        vol.Optional(CONF_HOMEASSISTANT): _overrides,
    },
    what="a binding",
)
WATCH_SCHEMA = Strict(
    {
        vol.Required(CONF_LOCUS): _locus,
        vol.Required(CONF_TOPIC): _topic,
        vol.Optional("qos"): _optional(_integer(0, 2)),
        vol.Optional("retain"): _optional(_boolean),
        vol.Optional(CONF_VALUES): _values,
    },
    what="a watch",
)
RETAINED = _optional(_choice("apply", "ignore"))
PATCH_SCHEMA = Strict(
    {
        vol.Required(CONF_TOPIC): _topic,
        vol.Required(CONF_LOCUS): _locus,
        vol.Optional(CONF_VALUES): _values,
        vol.Optional("retained"): RETAINED,
    },
    what="a patch",
)
ACTION_SCHEMA = Strict(
    {
        vol.Required(CONF_TOPIC): _topic,
        vol.Optional(CONF_LAUNCH): _optional(_template),
        vol.Optional(CONF_VALUES): _values,
        vol.Optional("retained"): RETAINED,
    },
    what="an action",
)
ASSOCIATION_SCHEMAS = {
    CONF_WATCH: WATCH_SCHEMA,
    CONF_PATCH: PATCH_SCHEMA,
    CONF_ACTION: ACTION_SCHEMA,
}


def join_topic(prefix: str | None, topic: str) -> str:
    """`prefix` + `topic` with exactly one "/" at the seam."""
    if not prefix:
        return topic
    return f"{prefix.rstrip('/')}/{topic.lstrip('/')}"


def load_config(path: str | os.PathLike[str]) -> Config:
    """The validated configuration in `path`; ConfigError listing every problem otherwise."""
    file = Path(path)
    data, problems = load_yaml(file)
    builder = _Builder(data, source=str(file), problems=problems)
    config = builder.build(Path(os.path.abspath(file)))
    if builder.problems or config is None:
        raise ConfigError(builder.sorted_problems())
    return config


class _Builder:
    """Checks one loaded file and builds its Config, collecting problems as it goes."""

    def __init__(self, data: object, *, source: str, problems: list[ConfigProblem]) -> None:
        self.data = data
        self.source = source
        self.problems = list(problems)
        # paths whose value a tag failed to produce: the schema says nothing more about them
        self.settled = {problem.path for problem in problems if problem.path}
        self.warnings: list[str] = []
        self.command_topics: dict[str, str] = {}

    def sorted_problems(self) -> list[ConfigProblem]:
        unique = list(dict.fromkeys(self.problems))
        return sorted(unique, key=lambda problem: problem.line or 0)

    def problem(self, where: Sequence[PathPart], message: str, *, always: bool = False) -> None:
        """Record a problem, unless it only repeats a failed tag's (`always` overrides)."""
        text = format_path(where)
        settled = (
            text == path or text.startswith((f"{path}.", f"{path}[")) for path in self.settled
        )
        if not always and any(settled):
            return
        line = line_of(self.data, where)
        self.problems.append(ConfigProblem(text, message, line=line, source=self.source))

    def warn(self, where: Sequence[PathPart], message: str) -> None:
        line = line_of(self.data, where)
        self.warnings.append(str(ConfigProblem(format_path(where), message, line, self.source)))

    def check(self, validator: Validator, value: Any, where: Sequence[PathPart]) -> Any:
        """The validated value, or None after recording every problem found in it."""
        try:
            return validator(value)
        except vol.MultipleInvalid as exc:
            for error in exc.errors:
                self._record(error, where)
        except vol.Invalid as exc:
            self._record(exc, where)
        return None

    def _record(self, error: vol.Invalid, where: Sequence[PathPart]) -> None:
        if isinstance(error, vol.MultipleInvalid):
            for inner in error.errors:
                self._record(inner, where)
            return
        message = error.msg
        if isinstance(error, vol.RequiredFieldInvalid):
            message = "required, but missing"
        # voluptuous names a missing key by its marker (vol.Required("name"))
        parts = [part.schema if isinstance(part, vol.Marker) else part for part in error.path]
        self.problem([*where, *parts], message, always=isinstance(error, UnknownKey))

    def build(self, source: Path) -> Config | None:
        root = self.data
        if root is None and not self.problems:
            self.problem([], "the file is empty: it needs at least a bindings list")
        if not isinstance(root, LineDict):
            if root is not None:
                self.problem([], f"expected a mapping of sections, got {_describe(root)}")
            return None
        self.check(ROOT_SCHEMA, root, [])
        mqtt = self._mqtt(self.check(MQTT_SCHEMA, root.get(CONF_MQTT), [CONF_MQTT]))
        http = self._http(self.check(HTTP_SCHEMA, root.get(CONF_HTTP), [CONF_HTTP]))
        logs = self.check(LOGGING_SCHEMA, root.get(CONF_LOGGING), [CONF_LOGGING])
        kube = self.check(KUBERNETES_SCHEMA, root.get(CONF_KUBERNETES), [CONF_KUBERNETES])
        discovery = self._discovery(root.get(CONF_HOMEASSISTANT))
        prefix = mqtt.topic_prefix if mqtt else self._raw_prefix(root)
        bindings = self._bindings(root.get(CONF_BINDINGS), prefix=prefix)
        if self.problems or mqtt is None or http is None or logs is None or kube is None:
            return None
        return Config(
            source=str(source),
            mqtt=mqtt,
            bindings=bindings,
            http=http,
            kubernetes=KubernetesSettings(
                kubeconfig=kube.get("kubeconfig"),
                context=kube.get("context"),
                watch_scope=kube.get("watch-scope") or "auto",
            ),
            homeassistant=discovery,
            log_level=logs.get("level") or DEFAULT_LOG_LEVEL,
            warnings=tuple(self.warnings),
        )

    def _raw_prefix(self, root: LineDict) -> str | None:
        section = root.get(CONF_MQTT)
        prefix = section.get("topic-prefix") if isinstance(section, Mapping) else None
        return prefix if isinstance(prefix, str) else None

    def _mqtt(self, section: dict[str, Any] | None) -> MqttSettings | None:
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
                self.problem(
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
        client_id = section.get("client-id") or f"mqtt-kube-{socket.gethostname()}"
        given = section.get("availability-topic")
        if given:
            availability = join_topic(prefix, given)
        elif prefix:
            availability = join_topic(prefix, "status")
        else:
            availability = f"mqtt-kube/{client_id}/status"
        where = [CONF_MQTT, "availability-topic" if given else "client-id"]
        if self.check(check_topic, availability, where) is None:
            return None
        port = section.get("port") or (DEFAULT_MQTT_TLS_PORT if tls else DEFAULT_MQTT_PORT)
        keepalive = section.get("keepalive")
        return MqttSettings(
            client_id=client_id,
            availability_topic=availability,
            host=section.get("host") or DEFAULT_MQTT_HOST,
            port=port,
            topic_prefix=prefix,
            username=auth.get("username"),
            password=auth.get("password"),
            tls=tls,
            keepalive=DEFAULT_KEEPALIVE if keepalive is None else keepalive,
            max_payload=section.get("max-payload") or DEFAULT_MAX_PAYLOAD,
        )

    def _http(self, section: dict[str, Any] | None) -> HttpSettings | None:
        if section is None:
            return None
        if section.get("bind") and section.get("host"):
            self.problem(
                [CONF_HTTP, "host"], "give either bind or host (the same setting), not both"
            )
        port = section.get("port")
        return HttpSettings(
            bind=section.get("bind") or section.get("host") or DEFAULT_HTTP_BIND,
            port=DEFAULT_HTTP_PORT if port is None else port,
            max_connections=section.get("max-connections") or DEFAULT_HTTP_MAX_CONNECTIONS,
        )

    def _discovery(self, value: Any) -> HomeAssistantSettings | None:
        """`homeassistant:` off (absent, false, no, off), on with defaults, or a mapping."""
        value = _word_to_bool(value)
        if value is None or value is False:
            return None
        if value is True:
            return HomeAssistantSettings()
        section = self.check(DISCOVERY_SCHEMA, value, [CONF_HOMEASSISTANT])
        if section is None:
            return None
        defaults = HomeAssistantSettings()
        prefix = section.get("discovery-prefix")
        return HomeAssistantSettings(
            discovery_prefix=prefix.rstrip("/") if prefix else defaults.discovery_prefix,
            birth_topic=section.get("birth-topic") or defaults.birth_topic,
        )

    def _bindings(self, value: Any, *, prefix: str | None) -> tuple[BindingSpec, ...]:
        if value is None:
            return ()  # missing: ROOT_SCHEMA said so; `bindings: []` or `~` is an empty list
        if not isinstance(value, LineList):
            self.problem([CONF_BINDINGS], f"expected a list of bindings, got {_describe(value)}")
            return ()
        built = (self._binding(item, index, prefix=prefix) for index, item in enumerate(value))
        return tuple(binding for binding in built if binding is not None)

    def _binding(self, item: Any, index: int, *, prefix: str | None) -> BindingSpec | None:
        where: list[PathPart] = [CONF_BINDINGS, index]
        raw = plain(item)
        if isinstance(item, LineDict):
            for key in ASSOCIATIONS:
                if isinstance(item.get(key), LineDict):
                    item[key] = _listed(item[key])
        head = self.check(BINDING_SCHEMA, item, where)
        associations = {
            key: self._associations(item.get(key), [*where, key], prefix=prefix)
            for key in ASSOCIATIONS
            if isinstance(item, Mapping)
        }
        if head is None:
            return None
        kind, api_version = self._kind(head, where)
        watch = associations.get(CONF_WATCH, ())
        patch = associations.get(CONF_PATCH, ())
        action = associations.get(CONF_ACTION, ())
        if kind is None:
            return None
        return BindingSpec(
            where=format_path(where),
            kind=kind,
            name=head["name"],
            namespace=head.get("namespace"),
            api_version=api_version,
            watch=tuple(spec for spec in watch if isinstance(spec, WatchSpec)),
            patch=tuple(spec for spec in patch if isinstance(spec, PatchSpec)),
            action=tuple(spec for spec in action if isinstance(spec, ActionSpec)),
            homeassistant=head.get(CONF_HOMEASSISTANT),
            raw=raw,
        )

    def _kind(self, head: dict[str, Any], where: list[PathPart]) -> tuple[str | None, str | None]:
        kind: str = head["resource"]
        api_version: str | None = head.get("apiVersion")
        namespace = head.get("namespace")
        info = builtin_kind(kind, api_version)
        if info is None:
            if api_version is None:
                message = f"unknown kind {kind!r}: add apiVersion for a custom resource"
                close = difflib.get_close_matches(kind, list(BUILTIN_KINDS), n=1)
                if close:
                    message += f" (or did you mean the built-in {close[0]!r}?)"
                self.problem([*where, "resource"], message)
                return None, None
            return kind, api_version
        if info.namespaced and not namespace:
            self.problem([*where, "namespace"], f"{info.kind} is namespaced: add its namespace")
        if not info.namespaced and namespace:
            self.problem(
                [*where, "namespace"], f"{info.kind} is cluster-scoped: remove the namespace"
            )
        return info.kind, api_version

    def _associations(
        self, value: Any, where: list[PathPart], *, prefix: str | None
    ) -> tuple[WatchSpec | PatchSpec | ActionSpec | None, ...]:
        if value is None:
            return ()
        key = where[-1]
        if not isinstance(value, LineList):
            self.problem(
                where, f"expected a {key} mapping or a list of them, got {_describe(value)}"
            )
            return ()
        schema = ASSOCIATION_SCHEMAS[str(key)]
        specs = []
        for index, item in enumerate(value):
            place = [*where, index]
            spec = self.check(schema, item, place)
            if spec is not None:
                specs.append(self._association(str(key), spec, item, place, prefix=prefix))
        return tuple(specs)

    def _association(
        self,
        key: str,
        spec: dict[str, Any],
        item: LineDict,
        where: list[PathPart],
        *,
        prefix: str | None,
    ) -> WatchSpec | PatchSpec | ActionSpec | None:
        topic = join_topic(prefix, spec[CONF_TOPIC])
        if self.check(check_topic, topic, [*where, CONF_TOPIC]) is None:
            return None
        values: ValueMap = spec.get(CONF_VALUES) or ValueMap.from_config(None)
        if values.uses_format:
            self.warn(
                [*where, CONF_VALUES, "format"],
                "'format' has no effect (the original ignored it too); it can be removed",
            )
        place = format_path(where)
        if key == CONF_WATCH:
            qos, retain = spec.get("qos"), spec.get("retain")
            return WatchSpec(
                where=place,
                locus=spec[CONF_LOCUS],
                topic=topic,
                values=values,
                qos=1 if qos is None else qos,
                retain=bool(retain),
            )
        self._command_topic(topic, where)
        if key == CONF_PATCH:
            locus: Locus = spec[CONF_LOCUS]
            if not locus.field_path:
                self.problem(
                    [*where, CONF_LOCUS],
                    f"a patch locus must name one field (like spec.replicas), not a query: "
                    f"{locus.expression!r}",
                )
                return None
            return PatchSpec(
                where=place,
                topic=topic,
                locus=locus,
                values=values,
                retained=spec.get("retained") or "apply",
            )
        launch: LaunchTemplate | None = spec.get(CONF_LAUNCH)
        long_form = isinstance(item.get(CONF_VALUES), Mapping) and _is_long_form(item[CONF_VALUES])
        map_path: list[PathPart] = [*where, CONF_VALUES, *(["map"] if long_form else [])]
        for entry in values.entries:
            if entry.output not in ACTION_OUTPUTS:
                # A warning, not a problem: the original's own README maps "STOP" to
                # "create", and configs written for it must keep loading.
                self.warn(
                    [*map_path, entry.key],
                    "an action maps payloads to 'launch' or 'delete', "
                    f"not {_describe(entry.output)}; such payloads will be ignored",
                )
        launches = not values.has_map or any(e.output == "launch" for e in values.entries)
        if launches and launch is None:
            self.problem(
                [*where, CONF_LAUNCH],
                "required: a template file to launch (the map has 'launch', or there is no map)",
            )
        return ActionSpec(
            where=place,
            topic=topic,
            launch=launch,
            values=values,
            retained=spec.get("retained") or "ignore",
            raw=plain(item),
        )

    def _command_topic(self, topic: str, where: list[PathPart]) -> None:
        first = self.command_topics.setdefault(topic, format_path(where))
        if first != format_path(where):
            self.problem(
                [*where, CONF_TOPIC], f"topic {topic!r} is already the command topic of {first}"
            )


def _listed(item: LineDict) -> LineList:
    """A single association mapping, as the one-item list it stands for."""
    listed = LineList([item])
    listed.line = item.line
    listed.lines = [item.line or 0]
    return listed

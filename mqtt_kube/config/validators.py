"""The leaf validators of the configuration, and `Strict`, the mapping schema around them.

Each validator returns the clean value or raises `vol.Invalid` with a plain sentence that
names what was wrong (`expected a whole number, got 'three'`). `Strict` names unknown keys
with a did-you-mean hint, and `Strict.extend` builds a schema from a base, as Home
Assistant's MQTT schemas do. Values that need compiling (JSONPath, value maps, launch
templates) are compiled while they are checked, so a mistake is found before anything runs.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import voluptuous as vol

from mqtt_kube.config.yaml_file import PathPart
from mqtt_kube.core.errors import TemplateError, ValueMapSpecError
from mqtt_kube.core.hass_facts import ALL_DEVICE_CLASSES, UNANNOUNCEABLE_CLASSES
from mqtt_kube.core.locus import Locus
from mqtt_kube.core.template import LaunchTemplate
from mqtt_kube.core.valuemap import ValueMap

MAX_TOPIC_BYTES = 65535

_TRUE_WORDS = ("true", "yes", "on")

_FALSE_WORDS = ("false", "no", "off")

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

_API_VERSION = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?")

VALUE_MAP_KEYS = ("transform", "jsonpath", "map", "format")

Validator = Callable[[Any], Any]


def describe(value: object) -> str:
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


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def optional(validator: Validator) -> Validator:
    """`key: ~` counts as not given."""

    def validate(value: Any) -> Any:
        return None if value is None else validator(value)

    return validate


def nonempty_text(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise vol.Invalid(f"expected text, got {describe(value)}")
    if not value:
        raise vol.Invalid("may not be empty")
    return value


def secret(value: Any) -> str:
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
    return describe(value)


def whole_number(low: int, high: int) -> Validator:
    def validate(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"expected a whole number, got {describe(value)}")
        if not low <= value <= high:
            raise vol.Invalid(f"must be between {low} and {high}, got {value}")
        return value

    return validate


def word_to_bool(value: Any) -> Any:
    """Text naming a boolean (true/yes/on, false/no/off, any case) as that bool; else `value`."""
    if isinstance(value, str) and value.lower() in _TRUE_WORDS + _FALSE_WORDS:
        return value.lower() in _TRUE_WORDS
    return value


def boolean(value: Any) -> bool:
    value = word_to_bool(value)
    if isinstance(value, bool):
        return value
    raise vol.Invalid(f"expected true or false, got {describe(value)}")


def one_of(*options: str, aliases: Mapping[str, str] | None = None) -> Validator:
    """One of `options`, in any case; returns the option as spelt here."""
    by_lower = {option.lower(): option for option in options}
    by_lower.update({alias.lower(): option for alias, option in (aliases or {}).items()})

    def validate(value: Any) -> str:
        if isinstance(value, str) and value.lower() in by_lower:
            return by_lower[value.lower()]
        hint = did_you_mean(value.lower(), list(by_lower)) if isinstance(value, str) else ""
        raise vol.Invalid(f"must be one of {', '.join(options)}; got {describe(value)}{hint}")

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


def topic_name(value: Any) -> str:
    return check_topic(nonempty_text(value))


def existing_file(value: Any) -> str:
    path = nonempty_text(value)
    if not os.path.isfile(path):
        raise vol.Invalid(f"file not found: {path}")
    return path


def text_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(nonempty_text(item) for item in value)
    return (nonempty_text(value),)


def namespace_name(value: Any) -> str:
    text = nonempty_text(value)
    if len(text) > 63 or not _DNS_LABEL.fullmatch(text):
        raise vol.Invalid(
            f"{text!r} is not a namespace name: lowercase letters, digits and '-', at most 63"
        )
    return text


def object_name(value: Any) -> str:
    text = nonempty_text(value)
    if text in (".", "..") or "/" in text or "%" in text:
        raise vol.Invalid(f"{text!r} is not a Kubernetes object name")
    return text


def api_version_name(value: Any) -> str:
    text = nonempty_text(value)
    if not _API_VERSION.fullmatch(text):
        raise vol.Invalid(
            f"expected group/version like apps/v1 (or v1 for the core group), got {text!r}"
        )
    return text


def jsonpath_locus(value: Any) -> Locus:
    text = nonempty_text(value)
    try:
        return Locus.parse(text)
    except ValueError as exc:
        raise vol.Invalid(str(exc)) from exc


def is_long_form(spec: Mapping[Any, Any]) -> bool:
    return any(key in spec for key in VALUE_MAP_KEYS)


def value_map(value: Any) -> ValueMap:
    if value is not None and not isinstance(value, Mapping):
        raise vol.Invalid(f"expected a mapping (a map of inputs to outputs), got {describe(value)}")
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


def launch_template(value: Any) -> LaunchTemplate:
    path = nonempty_text(value)
    try:
        return LaunchTemplate.load(path)
    except TemplateError as exc:
        raise vol.Invalid(str(exc)) from exc


def device_class_name(value: Any) -> str:
    """A device class of some component, in any case (Home Assistant lowers it too)."""
    text = nonempty_text(value).lower()
    if text in UNANNOUNCEABLE_CLASSES:
        raise vol.Invalid(f"{text!r} needs a list of options, which mqtt-kube does not announce")
    known = list(ALL_DEVICE_CLASSES)
    if text not in known:
        raise vol.Invalid(
            f"{text!r} is not a Home Assistant device class{did_you_mean(text, known)}"
        )
    return text


class UnknownKey(vol.Invalid):
    """A key no schema knows; reported even where a tag's failure silences the rest."""


class Strict:
    """A voluptuous mapping schema that reports unknown keys by name, with a hint.

    A mapping whose every key is known and whose every value passes is checked without
    voluptuous (which costs more than the checks themselves, for each of thousands of
    bindings), when every field is a plain key (no default) and a function or `object`;
    anything else, and any mistake, goes through voluptuous, which says what it always
    has.
    """

    def __init__(
        self,
        fields: Mapping[Any, Any],
        *,
        what: str,
        elsewhere: Mapping[str, str] | None = None,
    ) -> None:
        self.what = what
        self.fields = dict(fields)
        self.known = [str(key) for key in fields]
        self.elsewhere = dict(elsewhere or {})
        self.schema = vol.Schema(dict(fields), extra=vol.REMOVE_EXTRA)
        self._checks = _plain_checks(fields)
        self._required = frozenset(str(key) for key in fields if isinstance(key, vol.Required))

    def extend(self, fields: Mapping[Any, Any], *, what: str) -> Strict:
        """This schema's keys plus `fields`: a kind built on a base, as `vol.Schema.extend`."""
        return Strict({**self.fields, **fields}, what=what, elsewhere=self.elsewhere)

    def __call__(self, value: Any) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise vol.Invalid(f"expected {self.what} (a mapping of keys), got {describe(value)}")
        errors: list[vol.Invalid] = [
            UnknownKey(self._unknown(key), path=[key]) for key in value if key not in self.known
        ]
        if not errors and self._checks is not None:
            checked = self._checked(value, self._checks)
            if checked is not None:
                return checked
        try:
            out: dict[str, Any] = self.schema(dict(value))
        except vol.MultipleInvalid as exc:
            errors.extend(exc.errors)
        if errors:
            raise vol.MultipleInvalid(errors)
        return out

    def _checked(
        self, value: Mapping[Any, Any], checks: Mapping[str, Validator]
    ) -> dict[str, Any] | None:
        """What voluptuous would give for a mapping without a mistake; None otherwise."""
        out: dict[str, Any] = {}
        try:
            for key, item in value.items():
                out[key] = checks[key](item)
        except Exception:  # voluptuous runs it again and says what is wrong
            return None
        return out if self._required.issubset(out) else None

    def _unknown(self, key: object) -> str:
        if isinstance(key, str) and key in self.elsewhere:
            return self.elsewhere[key]
        message = f"unknown key {key!r} in {self.what}"
        hint = did_you_mean(key, self.known) if isinstance(key, str) else ""
        return message + (hint or f"; known keys: {', '.join(self.known)}")


def _plain_checks(fields: Mapping[Any, Any]) -> dict[str, Validator] | None:
    """Each key's check, when voluptuous would only call it (or, for `object`, take the
    value as it is); None when a field needs voluptuous itself."""
    checks: dict[str, Validator] = {}
    for key, check in fields.items():
        if not isinstance(key, vol.Required | vol.Optional) or not isinstance(key.schema, str):
            return None
        if not isinstance(key.default, vol.Undefined):
            return None
        if check is object:
            checks[key.schema] = _as_is
        elif callable(check) and not isinstance(check, type) and not _compiled(check):
            checks[key.schema] = check
        else:
            return None
    return checks


def _compiled(check: object) -> bool:
    """A voluptuous schema or marker of its own (All, Any, In...): not a plain call."""
    return hasattr(check, "__voluptuous_compile__") or isinstance(check, vol.Schema)


def _as_is(value: Any) -> Any:
    return value


def join_topic(prefix: str | None, topic: str) -> str:
    """`prefix` + `topic` with exactly one "/" at the seam."""
    if not prefix:
        return topic
    return f"{prefix.rstrip('/')}/{topic.lstrip('/')}"

"""Value mapping: the `values:` block of an association, compiled once and matched per value.

Everything that can be wrong in a `values:` block (a regex, a `lambda`, a `transform`, a
format string naming a field that can never exist) is found when the configuration loads
and raised as `ValueMapSpecError`. At run time only the value itself can fail: a transform
that raises, or a payload that is not JSON (`ValueMapError`), or a `lambda` key that raises,
which counts as no match and is handed to the caller's `on_predicate_error` to report.

Expressions are compiled by `mqtt_kube.core.expressions`, and each entry's test is a matcher
from `mqtt_kube.core.matchers`.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mqtt_kube.core.errors import ValueMapError, ValueMapSpecError
from mqtt_kube.core.expressions import compile_callable
from mqtt_kube.core.locus import Locus
from mqtt_kube.core.matchers import (
    Matcher,
    literal_matcher,
    predicate_matcher,
    preview,
    regex_matcher,
    type_name,
)

__all__ = ["Form", "MapEntry", "Match", "PredicateErrorHandler", "ValueMap"]

Form = Literal["literal", "regex", "lambda"]
# (the lambda key as written, the value it was given, what it raised)
PredicateErrorHandler = Callable[[str, object, Exception], None]

CONF_TRANSFORM = "transform"
CONF_JSONPATH = "jsonpath"
CONF_MAP = "map"
CONF_FORMAT = "format"
_STRUCTURE_KEYS = frozenset({CONF_TRANSFORM, CONF_JSONPATH, CONF_MAP, CONF_FORMAT})

REGEX_PREFIX = "re:"
_LAMBDA = re.compile(r"lambda\b")
_CONTEXT_NAMES = frozenset({"input", "value", "json"})


@dataclass(frozen=True)
class MapEntry:
    """One map entry as written, and which form it was compiled as."""

    key: object  # as written: str, int, float, bool or None
    output: object  # as written
    form: Form


@dataclass(frozen=True)
class Match:
    """The result of mapping one value."""

    output: object  # the mapped output (format strings rendered); with no map: the value
    context: Mapping[str, object]  # input, value, json (with jsonpath), regex named groups


@dataclass(frozen=True)
class _Rule:
    entry: MapEntry
    matches: Matcher  # the regex groups (or {}) when the value matches, else None
    formatted: bool  # the output is a str with replacement fields


class ValueMap:
    """A compiled `values:` block; build it with `ValueMap.from_config`."""

    def __init__(
        self,
        *,
        rules: tuple[_Rule, ...] = (),
        transform: tuple[str, Callable[[object], object]] | None = None,
        jsonpath: Locus | None = None,
        uses_format: bool = False,
    ) -> None:
        self._rules = rules
        self._transform = transform
        self._jsonpath = jsonpath
        self.entries: tuple[MapEntry, ...] = tuple(rule.entry for rule in rules)
        self.has_map = bool(rules)
        self.uses_format = uses_format
        self.transform_source: str | None = transform[0] if transform else None
        self.jsonpath: str | None = jsonpath.expression if jsonpath else None

    @classmethod
    def from_config(cls, spec: Mapping[str, Any] | None) -> ValueMap:
        """Compile a `values:` block; None or {} is the identity map."""
        if spec is None:
            return cls()
        if not isinstance(spec, Mapping):
            raise ValueMapSpecError(f"values must be a mapping, not {type_name(spec)}")
        if not _STRUCTURE_KEYS.intersection(k for k in spec if isinstance(k, str)):
            return cls(rules=_compile_map(spec, where="", has_json=False))
        unknown = [k for k in spec if k not in _STRUCTURE_KEYS]
        if unknown:
            raise ValueMapSpecError(
                f"unknown key {unknown[0]!r} in values (expected transform, jsonpath, map or "
                "format; write the entries under `map:` when using any of them)",
                key=str(unknown[0]),
            )
        transform = None
        if spec.get(CONF_TRANSFORM) is not None:
            source = spec[CONF_TRANSFORM]
            transform = (source, compile_callable(source, what="transform", key=CONF_TRANSFORM))
        jsonpath = None
        if spec.get(CONF_JSONPATH) is not None:
            jsonpath = _compile_jsonpath(spec[CONF_JSONPATH])
        entries = spec.get(CONF_MAP)
        if entries is None:
            entries = {}
        if not isinstance(entries, Mapping):
            raise ValueMapSpecError(
                f"map must be a mapping of input to output, not {type_name(entries)}",
                key=CONF_MAP,
            )
        return cls(
            rules=_compile_map(entries, where=CONF_MAP, has_json=jsonpath is not None),
            transform=transform,
            jsonpath=jsonpath,
            uses_format=CONF_FORMAT in spec,
        )

    def match(
        self, value: object, *, on_predicate_error: PredicateErrorHandler | None = None
    ) -> Match | None:
        """Map `value`; None only when there is a map and no entry matched.

        A `lambda` key that raises does not match; `on_predicate_error` hears of it.
        Raises ValueMapError when the transform fails or the payload is not JSON.
        """
        if isinstance(value, bytes | bytearray):
            value = _decode(value)
        raw = value
        context: dict[str, object] = {"input": raw}
        if self._transform is not None:
            source, function = self._transform
            try:
                value = function(value)
            except Exception as exc:
                raise ValueMapError(
                    f"transform {source!r} failed on {preview(raw)}: {type(exc).__name__}: {exc}"
                ) from exc
        if self._jsonpath is not None:
            document = _parse_json(value) if isinstance(value, str | bytes | bytearray) else value
            context["json"] = document
            value = self._jsonpath.find_first(document)
        context["value"] = value
        if not self._rules:
            return Match(output=value, context=context)
        for rule in self._rules:
            try:
                groups = rule.matches(value)
            except Exception as exc:
                if rule.entry.form != "lambda":
                    raise
                if on_predicate_error is not None:
                    on_predicate_error(str(rule.entry.key), value, exc)
                continue
            if groups is None:
                continue
            context.update(groups)
            return Match(output=_render(rule, context), context=context)
        return None

    def __repr__(self) -> str:
        return (
            f"ValueMap(entries={self.entries!r}, transform={self.transform_source!r}, "
            f"jsonpath={self.jsonpath!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValueMap):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple[object, ...]:
        # Keys compared with their type, so that key 1 and key True stay different entries.
        entries = tuple(
            (type(e.key).__name__, repr(e.key), repr(e.output), e.form) for e in self.entries
        )
        return (entries, self.transform_source, self.jsonpath, self.uses_format)


# -- compiling ------------------------------------------------------------------------------


def _compile_map(entries: Mapping[Any, Any], *, where: str, has_json: bool) -> tuple[_Rule, ...]:
    rules = []
    names = _CONTEXT_NAMES if has_json else _CONTEXT_NAMES - {"json"}
    for key, output in entries.items():
        place = f"{where}[{key!r}]"
        if isinstance(key, str) and key.startswith(REGEX_PREFIX):
            pattern = _compile_regex(key, place=place)
            matches = regex_matcher(pattern)
            form: Form = "regex"
            available = names | set(pattern.groupindex)
        elif isinstance(key, str) and _LAMBDA.match(key):
            predicate = compile_callable(key, what="lambda", key=place)
            matches = predicate_matcher(predicate)
            form = "lambda"
            available = names
        elif key is None or isinstance(key, str | int | float):
            matches = literal_matcher(key)
            form = "literal"
            available = names
        else:
            raise ValueMapSpecError(
                f"a map key must be text, a number, a boolean or ~, not {type_name(key)}",
                key=place,
            )
        formatted = isinstance(output, str) and _check_format(output, available, place=place)
        rules.append(_Rule(MapEntry(key=key, output=output, form=form), matches, formatted))
    return tuple(rules)


def _compile_regex(key: str, *, place: str) -> re.Pattern[str]:
    try:
        pattern = re.compile(key[len(REGEX_PREFIX) :])
    except re.error as exc:
        raise ValueMapSpecError(f"bad regular expression {key!r}: {exc}", key=place) from exc
    clash = sorted(_CONTEXT_NAMES.intersection(pattern.groupindex))
    if clash:
        raise ValueMapSpecError(
            f"regular expression {key!r} names a group {clash[0]!r}, which is reserved for "
            "the matching context; choose another name",
            key=place,
        )
    return pattern


def _compile_jsonpath(source: object) -> Locus:
    if not isinstance(source, str):
        raise ValueMapSpecError(
            f"jsonpath must be a JSONPath string, not {type_name(source)}", key=CONF_JSONPATH
        )
    try:
        return Locus.parse(source)
    except ValueError as exc:
        raise ValueMapSpecError(str(exc), key=CONF_JSONPATH) from exc


def _check_format(output: str, available: frozenset[str] | set[str], *, place: str) -> bool:
    """Whether `output` has replacement fields; each must name something the context has."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(output) if name is not None]
    except ValueError as exc:
        raise ValueMapSpecError(
            f"output {output!r} is not a valid format string: {exc} (write {{{{ and }}}} for "
            "literal braces)",
            key=place,
        ) from exc
    for name in fields:
        root = re.split(r"[.\[]", name, maxsplit=1)[0]
        if root not in available:
            known = ", ".join(sorted(available))
            what = "a positional field" if root == "" or root.isdigit() else repr(root)
            raise ValueMapSpecError(
                f"output {output!r} uses {what}; the context has only: {known}", key=place
            )
    return bool(fields)


def _render(rule: _Rule, context: Mapping[str, object]) -> object:
    output = rule.entry.output
    if not rule.formatted:
        return output
    assert isinstance(output, str)
    try:
        return output.format_map(context)
    except (KeyError, ValueError, IndexError, AttributeError, TypeError) as exc:
        raise ValueMapError(
            f"output {output!r} cannot be formatted with the value {preview(context['value'])}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _parse_json(payload: str | bytes | bytearray) -> object:
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise ValueMapError(f"payload {preview(payload)} is not JSON: {exc}") from exc


def _decode(payload: bytes | bytearray) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueMapError(f"payload {preview(payload)} is not UTF-8 text: {exc}") from exc

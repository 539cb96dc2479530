"""Value mapping: the `values:` block of an association, compiled once and matched per value.

Everything that can be wrong in a `values:` block (a regex, a `lambda`, a `transform`, a
format string naming a field that can never exist) is found when the configuration loads
and raised as `ValueMapSpecError`. At run time only the value itself can fail: a transform
that raises, or a payload that is not JSON (`ValueMapError`).

Expressions come from the operator's own file and are trusted code, evaluated with a small
set of builtins; payloads are only ever passed to them as arguments, never evaluated.
"""

from __future__ import annotations

import builtins
import inspect
import json
import logging
import math
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from mqtt_kube.core.errors import ValueMapError
from mqtt_kube.core.locus import Locus
from mqtt_kube.core.payload import encode_payload

__all__ = ["Form", "MapEntry", "Match", "ValueMap", "ValueMapSpecError"]

logger = logging.getLogger(__name__)

Form = Literal["literal", "regex", "lambda"]

CONF_TRANSFORM = "transform"
CONF_JSONPATH = "jsonpath"
CONF_MAP = "map"
CONF_FORMAT = "format"
_STRUCTURE_KEYS = frozenset({CONF_TRANSFORM, CONF_JSONPATH, CONF_MAP, CONF_FORMAT})

REGEX_PREFIX = "re:"
_LAMBDA = re.compile(r"lambda\b")
_CONTEXT_NAMES = frozenset({"input", "value", "json"})
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

_SAFE_BUILTINS: dict[str, object] = {
    name: getattr(builtins, name)
    for name in [
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "divmod",
        "float",
        "int",
        "isinstance",
        "len",
        "list",
        "max",
        "min",
        "repr",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
    ]
}
_EVAL_GLOBALS: dict[str, object] = {"__builtins__": _SAFE_BUILTINS, "json": json, "re": re}


class ValueMapSpecError(ValueError):
    """A `values:` block that cannot be compiled.

    `key` is where inside `values` the problem is: "transform", "jsonpath", "map['re:(']",
    or, when `values` is itself the map, "['re:(']" (join it without a dot).
    """

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key


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


_Matcher = Callable[[object], dict[str, object] | None]


@dataclass(frozen=True)
class _Rule:
    entry: MapEntry
    matches: _Matcher  # the regex groups (or {}) when the value matches, else None
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
            raise ValueMapSpecError(f"values must be a mapping, not {_type_name(spec)}")
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
            transform = (source, _compile_callable(source, what="transform", key=CONF_TRANSFORM))
        jsonpath = None
        if spec.get(CONF_JSONPATH) is not None:
            jsonpath = _compile_jsonpath(spec[CONF_JSONPATH])
        entries = spec.get(CONF_MAP)
        if entries is None:
            entries = {}
        if not isinstance(entries, Mapping):
            raise ValueMapSpecError(
                f"map must be a mapping of input to output, not {_type_name(entries)}",
                key=CONF_MAP,
            )
        return cls(
            rules=_compile_map(entries, where=CONF_MAP, has_json=jsonpath is not None),
            transform=transform,
            jsonpath=jsonpath,
            uses_format=CONF_FORMAT in spec,
        )

    def match(self, value: object) -> Match | None:
        """Map `value`; None only when there is a map and no entry matched.

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
                    f"transform {source!r} failed on {_preview(raw)}: {type(exc).__name__}: {exc}"
                ) from exc
        if self._jsonpath is not None:
            document = _parse_json(value) if isinstance(value, str | bytes | bytearray) else value
            context["json"] = document
            value = self._jsonpath.find_first(document)
        context["value"] = value
        if not self._rules:
            return Match(output=value, context=context)
        for rule in self._rules:
            groups = rule.matches(value)
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
            matches = _regex_matcher(pattern)
            form: Form = "regex"
            available = names | set(pattern.groupindex)
        elif isinstance(key, str) and _LAMBDA.match(key):
            predicate = _compile_callable(key, what="lambda", key=place)
            matches = _predicate_matcher(key, predicate)
            form = "lambda"
            available = names
        elif key is None or isinstance(key, str | int | float):
            matches = _literal_matcher(key)
            form = "literal"
            available = names
        else:
            raise ValueMapSpecError(
                f"a map key must be text, a number, a boolean or ~, not {_type_name(key)}",
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


def _compile_callable(source: object, *, what: str, key: str) -> Callable[[object], object]:
    """Evaluate the operator's expression into a callable taking one argument."""
    if not isinstance(source, str):
        raise ValueMapSpecError(
            f"{what} must be a Python expression in a string, not {_type_name(source)}", key=key
        )
    try:
        function = eval(compile(source, f"<{what}>", "eval"), dict(_EVAL_GLOBALS))
    except SyntaxError as exc:
        raise ValueMapSpecError(
            f"{what} {source!r} is not valid Python: {exc.msg}", key=key
        ) from exc
    except Exception as exc:
        raise ValueMapSpecError(
            f"{what} {source!r} cannot be evaluated: {type(exc).__name__}: {exc}", key=key
        ) from exc
    if not callable(function):
        raise ValueMapSpecError(
            f"{what} {source!r} gives {_type_name(function)}, not a function of one argument "
            "(write e.g. 'lambda v: ...')",
            key=key,
        )
    try:
        inspect.signature(function).bind(None)
    except TypeError as exc:
        raise ValueMapSpecError(
            f"{what} {source!r} cannot be called with one argument: {exc}", key=key
        ) from exc
    except ValueError:
        pass  # some builtins have no signature to inspect; calling them will tell
    return cast(Callable[[object], object], function)


def _compile_jsonpath(source: object) -> Locus:
    if not isinstance(source, str):
        raise ValueMapSpecError(
            f"jsonpath must be a JSONPath string, not {_type_name(source)}", key=CONF_JSONPATH
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


# -- matching -------------------------------------------------------------------------------


def _literal_matcher(key: object) -> _Matcher:
    if key is None:
        return lambda value: {} if value is None or value == "" else None
    if isinstance(key, bool):
        text = "true" if key else "false"

        def match_bool(value: object) -> dict[str, object] | None:
            if isinstance(value, bool):
                return {} if value is key else None
            if isinstance(value, str) and value.strip().lower() == text:
                return {}
            return None

        return match_bool
    if isinstance(key, int | float):
        number = key

        def match_number(value: object) -> dict[str, object] | None:
            if isinstance(value, bool):
                return None  # True == 1 in Python; not here
            if isinstance(value, int | float):
                return {} if value == number else None
            if isinstance(value, str):
                parsed = _parse_number(value)
                return {} if parsed is not None and parsed == number else None
            return None

        return match_number
    assert isinstance(key, str)
    word = key
    return lambda value: {} if _as_text(value) == word else None


def _regex_matcher(pattern: re.Pattern[str]) -> _Matcher:
    def match_regex(value: object) -> dict[str, object] | None:
        found = pattern.match(_as_text(value))
        return dict(found.groupdict()) if found else None

    return match_regex


def _predicate_matcher(source: str, predicate: Callable[[object], object]) -> _Matcher:
    def match_predicate(value: object) -> dict[str, object] | None:
        try:
            return {} if predicate(value) else None
        except Exception as exc:
            logger.debug(
                "%s raised %s: %s on %s; no match", source, type(exc).__name__, exc, _preview(value)
            )
            return None

    return match_predicate


def _render(rule: _Rule, context: Mapping[str, object]) -> object:
    output = rule.entry.output
    if not rule.formatted:
        return output
    assert isinstance(output, str)
    try:
        return output.format_map(context)
    except (KeyError, ValueError, IndexError, AttributeError, TypeError) as exc:
        raise ValueMapError(
            f"output {output!r} cannot be formatted with the value {_preview(context['value'])}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


# -- helpers --------------------------------------------------------------------------------


def _parse_json(payload: str | bytes | bytearray) -> object:
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise ValueMapError(f"payload {_preview(payload)} is not JSON: {exc}") from exc


def _decode(payload: bytes | bytearray) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueMapError(f"payload {_preview(payload)} is not UTF-8 text: {exc}") from exc


def _parse_number(text: str) -> int | float | None:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    number = float(text)
    return number if math.isfinite(number) else None


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else encode_payload(value)


def _preview(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__

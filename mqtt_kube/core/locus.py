"""A JSONPath into a Kubernetes object: read the value there, or build a patch that sets it.

Watches evaluate their locus on every change of every object, so a path that is a plain
chain of names and indices (almost all of them: `status.availableReplicas`,
`spec.template.spec.containers[0].image`) is walked directly on the dict, a chain of names
alone by a function of its own (`reader`); anything richer
(filters, wildcards, slices) goes through jsonpath-ng's extended parser. Writing is only
offered for plain paths, as a single-field patch: never a read-modify-write of the object.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import ExtendedJsonPathParser
from jsonpath_ng.jsonpath import Child, Fields, Index, JSONPath, Root

__all__ = ["FieldPath", "Locus"]

FieldPath = tuple[str | int, ...]

_REPLICAS: FieldPath = ("spec", "replicas")
_MISSING = object()


@dataclass(frozen=True)
class Locus:
    """A parsed JSONPath; build one with `Locus.parse`."""

    expression: str  # as written in the configuration
    field_path: FieldPath | None  # the chain of keys/indices of a plain path, else None
    _compiled: JSONPath = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Locus:
        """Parse `text`, with or without a leading `$.`; ValueError on bad syntax."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"a JSONPath must be a non-empty string, not {text!r}")
        compiled = _compile(text)
        return cls(expression=text, field_path=_plain_chain(compiled), _compiled=compiled)

    @property
    def is_replicas(self) -> bool:
        """True for `spec.replicas`, which the /scale subresource sets."""
        return self.field_path == _REPLICAS

    def read(self, obj: Mapping[str, Any]) -> object:
        """The value at this path: None when nothing matches, a list when several do."""
        if self.field_path is not None:
            return _walk(obj, self.field_path)
        values = [datum.value for datum in self._compiled.find(obj)]
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def reader(self) -> Callable[[Mapping[str, Any]], object]:
        """`read` as one function, for a caller that reads this path on every change."""
        path = self.field_path
        if path is None or not all(isinstance(step, str) for step in path):
            return self.read

        def read_names(obj: Mapping[str, Any]) -> object:
            current: object = obj
            for step in path:
                if type(current) is not dict:  # a Mapping of another type, or no mapping
                    return _walk(obj, path)
                current = current.get(step)  # None when missing, as _walk says too
            return current

        return read_names

    def find_first(self, obj: object) -> object:
        """The first value this path matches in `obj` (any JSON value), None when none does."""
        if self.field_path is not None:
            return _walk(obj, self.field_path)
        found = self._compiled.find(obj)
        return found[0].value if found else None

    def merge_patch(self, value: object) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386) that sets only this field to `value`."""
        path = self._writable("a merge patch")
        if any(isinstance(step, int) for step in path):
            raise ValueError(
                f"{self.expression!r} crosses a list index; a merge patch would replace the "
                "whole list (use a JSON patch)"
            )
        body: object = value
        for step in reversed(path):
            body = {step: body}
        assert isinstance(body, dict)
        return body

    def json_patch(
        self, value: object, *, seen: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """A JSON patch (RFC 6902) that sets only this field to `value`.

        The leaf is set with `add`, which replaces a key that exists and adds one that does
        not (`replace` fails on a missing key); a list element with `replace`. `seen`, the
        last known copy of the object, tells when a parent of the leaf is missing too: then
        the first missing parent is added with the leaf inside, after a `test` that the
        nearest parent that exists is still as seen, so that the server refuses the patch
        rather than overwrite what another writer put there meanwhile.
        """
        path = self._writable("a JSON patch")
        leaf = _pointer(path)
        if isinstance(path[-1], int):
            return [{"op": "replace", "path": leaf, "value": value}]
        present = len(path) - 1 if seen is None else _present_steps(seen, path)
        if present >= len(path) - 1 or any(isinstance(step, int) for step in path[present:]):
            # The parent exists, or nothing better is known (a missing parent gets a 422).
            return [{"op": "add", "path": leaf, "value": value}]
        assert seen is not None  # `present` came from it
        nested: object = value
        for step in reversed(path[present + 1 :]):
            nested = {step: nested}
        ancestor = path[:present]
        if ancestor:
            guard = {"op": "test", "path": _pointer(ancestor), "value": _walk(seen, ancestor)}
        else:
            version = (seen.get("metadata") or {}).get("resourceVersion")
            guard = {"op": "test", "path": "/metadata/resourceVersion", "value": version}
        return [guard, {"op": "add", "path": _pointer(path[: present + 1]), "value": nested}]

    def _writable(self, what: str) -> FieldPath:
        if self.field_path is None:
            raise ValueError(
                f"{self.expression!r} is not a plain chain of fields and indices; "
                f"{what} cannot set it"
            )
        if not self.field_path:
            raise ValueError(f"{self.expression!r} names the whole object; {what} needs a field")
        return self.field_path


@functools.cache
def _parser() -> ExtendedJsonPathParser:
    # Building the parser (ply's tables) costs three times the parse itself.
    return ExtendedJsonPathParser()


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> JSONPath:
    """The parsed path; a config of thousands of bindings repeats a handful of loci."""
    try:
        with warnings.catch_warnings():
            # jsonpath-ng warns about syntax it will drop in 2.0 (e.g. `|`); refusing
            # it now keeps configurations valid across that upgrade.
            warnings.simplefilter("error", DeprecationWarning)
            compiled: JSONPath = _parser().parse(text)
    except DeprecationWarning as exc:
        raise ValueError(f"JSONPath {text!r} uses deprecated syntax: {exc}") from exc
    except (JSONPathError, ValueError, TypeError) as exc:
        raise ValueError(f"invalid JSONPath {text!r}: {exc}") from exc
    return compiled


def _plain_chain(node: JSONPath) -> FieldPath | None:
    """The steps of a path made only of single names and non-negative single indices."""
    steps: list[str | int] = []
    while isinstance(node, Child):
        step = _plain_step(node.right)
        if step is None:
            return None
        steps.append(step)
        node = node.left
    if not isinstance(node, Root):
        step = _plain_step(node)
        if step is None:
            return None
        steps.append(step)
    steps.reverse()
    return tuple(steps)


def _plain_step(node: JSONPath) -> str | int | None:
    if isinstance(node, Fields) and len(node.fields) == 1:
        return node.fields[0]
    if isinstance(node, Index) and len(node.indices) == 1 and node.indices[0] >= 0:
        return node.indices[0]
    return None


def _walk(obj: object, path: FieldPath) -> object:
    current = obj
    for step in path:
        if isinstance(step, str):
            # `type is dict` first: what JSON gives us, and far cheaper than the ABC check.
            if type(current) is not dict and not isinstance(current, Mapping):
                return None
            current = current.get(step, _MISSING)
            if current is _MISSING:
                return None
        else:
            if not isinstance(current, list | tuple) or step >= len(current):
                return None
            current = current[step]
    return current


def _pointer(path: FieldPath) -> str:
    """The RFC 6901 JSON pointer of a field path."""
    return "".join(f"/{str(step).replace('~', '~0').replace('/', '~1')}" for step in path)


def _present_steps(obj: object, path: FieldPath) -> int:
    """How many leading steps of `path` exist in `obj`."""
    node = obj
    for count, step in enumerate(path):
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return count
            node = node[step]
        elif isinstance(node, Mapping) and step in node:
            node = node[step]
        else:
            return count
    return len(path)

"""Which fields each kind has, so the fake Kubernetes API server can refuse or drop the rest.

The real API server decodes every body into its types: a field the type does not declare is
dropped with a `Warning` header, or refused under `fieldValidation=Strict` (and ignored
silently under `Ignore`). The fake does the same with field trees taken from
kubernetes_asyncio's generated models (`openapi_types` names each attribute's type,
`attribute_map` its JSON key), so no list of fields is written by hand; a custom resource
gets its tree from its CRD-style `openAPIV3Schema`, where `x-kubernetes-preserve-unknown-fields`
keeps whatever is below it. Only field names are checked, not value types.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from kubernetes_asyncio.client import models

JsonObject = dict[str, Any]
Directive = Literal["Strict", "Warn", "Ignore"]

DIRECTIVES: Final[tuple[Directive, ...]] = ("Ignore", "Strict", "Warn")
_LIST: Final = re.compile(r"^list\[(.+)\]$")
_DICT: Final = re.compile(r"^dict\(str, (.+)\)$")
_SCALARS: Final = frozenset({"str", "int", "bool", "float", "datetime", "date"})


@dataclass(frozen=True)
class FieldTree:
    """The shape of a JSON value: an object with known fields, a map, a list, or a leaf.

    `any`: whatever is there is kept (a leaf, `object` in the models, a preserved subtree).
    """

    shape: Literal["object", "map", "list", "scalar", "any"]
    model: str = ""  # the generated model an object's fields come from, if any
    item: FieldTree | None = None  # of a map or a list
    declared: dict[str, FieldTree] | None = field(default=None, compare=False)  # CRD objects

    def fields(self) -> dict[str, FieldTree]:
        if self.declared is not None:
            return self.declared
        return _model_fields(self.model)


ANY: Final = FieldTree("any")
_SCALAR: Final = FieldTree("scalar")


def model_tree(name: str) -> FieldTree:
    """The tree of a generated model, e.g. `V1Deployment`; fields are read when first needed."""
    if not isinstance(getattr(models, name, None), type):
        raise ValueError(f"kubernetes_asyncio has no model {name!r}")
    return FieldTree("object", model=name)


def builtin_tree(kind: str, version: str) -> FieldTree:
    """A built-in kind's tree: `V1Deployment` for apps/v1 Deployment."""
    return model_tree(f"{version.capitalize()}{kind}")


def has_status(tree: FieldTree) -> bool:
    """Whether objects of this tree carry a `status` (then the kind has a /status)."""
    return tree.shape == "object" and "status" in tree.fields()


@functools.cache
def _model_fields(name: str) -> dict[str, FieldTree]:
    cls = getattr(models, name)
    types: dict[str, str] = cls.openapi_types
    keys: dict[str, str] = cls.attribute_map
    return {keys[attribute]: _type_tree(text) for attribute, text in types.items()}


def _type_tree(text: str) -> FieldTree:
    if text in _SCALARS:
        return _SCALAR
    if text == "object":
        return ANY
    if found := _LIST.match(text):
        return FieldTree("list", item=_type_tree(found.group(1)))
    if found := _DICT.match(text):
        return FieldTree("map", item=_type_tree(found.group(1)))
    return model_tree(text)


def schema_tree(schema: JsonObject, *, top: bool = True) -> FieldTree:
    """The tree of a CRD `openAPIV3Schema`; at the top, apiVersion, kind and metadata as always."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return ANY
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        return FieldTree("list", item=schema_tree(items, top=False) if items else ANY)
    if kind != "object" and not top:
        return _SCALAR if kind else ANY
    declared = {
        name: schema_tree(sub, top=False) for name, sub in (schema.get("properties") or {}).items()
    }
    extra = schema.get("additionalProperties")
    if extra and not declared:
        return FieldTree("map", item=ANY if extra is True else schema_tree(extra, top=False))
    if top:
        declared.update(apiVersion=_SCALAR, kind=_SCALAR, metadata=model_tree("V1ObjectMeta"))
    return FieldTree("object", declared=declared)


def unknown_fields(tree: FieldTree, value: object, path: str = "") -> list[str]:
    """The paths of the fields in `value` that `tree` does not declare (`spec.replica`)."""
    found: list[str] = []
    if tree.shape == "object" and isinstance(value, dict):
        fields = tree.fields()
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            sub = fields.get(key)
            if sub is None:
                found.append(where)
            else:
                found += unknown_fields(sub, item, where)
    elif tree.shape == "map" and isinstance(value, dict) and tree.item is not None:
        for key, item in value.items():
            found += unknown_fields(tree.item, item, f"{path}.{key}" if path else key)
    elif tree.shape == "list" and isinstance(value, list) and tree.item is not None:
        for index, item in enumerate(value):
            found += unknown_fields(tree.item, item, f"{path}[{index}]")
    return found


def pruned(value: object, paths: list[str]) -> Any:
    """`value` without the fields at `paths` (as `unknown_fields` names them); a copy."""
    result = _copy(value)
    for path in paths:
        _drop(result, _steps(path))
    return result


def _copy(value: object) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        steps.append(int(part[1:-1]) if part.startswith("[") else part)
    return steps


def _drop(node: Any, steps: list[str | int]) -> None:
    for step in steps[:-1]:
        node = node[step]
    node.pop(steps[-1], None)


def strict_message(paths: list[str]) -> str:
    """What the real decoder says of unknown fields."""
    return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in paths)


def warning_header(path: str) -> str:
    """One `Warning` header value, as the real server sends for a dropped field."""
    text = f'unknown field "{path}"'.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{text}"'

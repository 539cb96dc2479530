"""The YAML a launch template renders, read with its payload tokens still in place.

The YAML is composed with the tokens of `template_context.Payloads` standing where payload
text goes, checked, and only then are the tokens swapped back, into scalar nodes:

- a plain scalar that is exactly one token becomes the payload read as a scalar
  (`replicas: ${match.input}` with `3` gives the number 3; anything not a number, boolean
  or null stays a string);
- a token inside a quoted, block or longer scalar is substituted as text;
- a token in a mapping key, a tag, `kind`, `apiVersion` or `metadata.namespace` is refused.

A payload therefore cannot add keys, objects, documents or tags, whatever it contains.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mqtt_kube.core.errors import TemplateError
from mqtt_kube.core.template_context import Payloads
from mqtt_kube.core.yaml_dialect import MERGE_TAG, STR_TAG, use_dialect

_PAYLOAD_TAG = "tag:mqtt-kube,2024:payload"  # internal; set only on nodes we rewrote
_PROTECTED = frozenset({("kind",), ("apiVersion",), ("metadata", "namespace")})

# A payload inserted alone as a plain scalar is read with these rules (YAML 1.2 core
# schema, decimal only): YAML 1.1 extras such as `yes`, `0x1F` or `1:30` stay text.
_PAYLOAD_NULL = re.compile(r"~|null|Null|NULL|")

_PAYLOAD_BOOL = {"true": True, "True": True, "TRUE": True}

_PAYLOAD_BOOL.update({"false": False, "False": False, "FALSE": False})

_PAYLOAD_INT = re.compile(r"[-+]?[0-9]+")

_PAYLOAD_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")


class _Loader(yaml.SafeLoader):
    """SafeLoader in the template dialect of `yaml_dialect`: YAML 1.1 booleans, no dates.

    It also remembers which scalars carry an explicit tag (`!!str ${...}`), which must be
    kept rather than replaced by the payload's own type.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.explicit: set[int] = set()
        self.payloads: dict[str, str] = {}

    def compose_scalar_node(self, anchor: Any) -> ScalarNode:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        node = super().compose_scalar_node(anchor)
        if getattr(event, "tag", None) not in (None, "!"):
            self.explicit.add(id(node))
        return node


use_dialect(_Loader, "template")


def _construct_payload(loader: _Loader, node: ScalarNode) -> object:
    return _payload_scalar(loader.payloads[node.value])


_Loader.add_constructor(_PAYLOAD_TAG, _construct_payload)


def parse_rendered(text: str, payloads: Payloads, *, path: str) -> object:
    """The one YAML mapping in `text`, payload tokens replaced as the module says."""
    loader = _Loader(text)
    loader.payloads = payloads.texts
    try:
        documents: list[Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                documents.append(node)
        if len(documents) != 1:
            raise TemplateError(
                f"{path}: the template must render exactly one YAML document, not {len(documents)}"
            )
        root = documents[0]
        if not isinstance(root, MappingNode):
            raise TemplateError(f"{path}: the template must render a YAML mapping (an object)")
        _check(root, (), payloads, seen=set(), path=path)
        _substitute(root, payloads, loader.explicit, seen=set())
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: the rendered template is not valid YAML: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise TemplateError(f"{path}: the rendered template cannot be read: {exc}") from exc
    finally:
        loader.dispose()


def _check(
    node: Node, where: tuple[str, ...], payloads: Payloads, *, seen: set[int], path: str
) -> None:
    """Refuse payload text in keys, tags and the protected fields."""
    if payloads.contains(node.tag):
        raise TemplateError(f"{path}: a payload may not name a YAML tag")
    if where in _PROTECTED and _tainted(node, payloads, set()):
        raise TemplateError(f"{path}: a payload may not set {'.'.join(where)}")
    # Below a path that leads to no protected field, only keys and tags matter, and they do
    # not depend on the path: an aliased node needs checking once.
    if not any(p[: len(where)] == where for p in _PROTECTED):
        if id(node) in seen:
            return
        seen.add(id(node))
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if _tainted(key, payloads, set()):
                raise TemplateError(f"{path}: a payload may not name keys")
            if key.tag == MERGE_TAG:  # `<<: *base` (or a list of them) adds keys right here
                merged = value.value if isinstance(value, SequenceNode) else [value]
                for base in merged:
                    _check(base, where, payloads, seen=seen, path=path)
                continue
            name = key.value if isinstance(key, ScalarNode) else "?"
            _check(value, (*where, name), payloads, seen=seen, path=path)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _check(item, (*where, "[]"), payloads, seen=seen, path=path)


def _tainted(node: Node, payloads: Payloads, stack: set[int]) -> bool:
    if isinstance(node, ScalarNode):
        return payloads.contains(node.value)
    if id(node) in stack:
        return False
    stack.add(id(node))
    if isinstance(node, MappingNode):
        return any(
            _tainted(k, payloads, stack) or _tainted(v, payloads, stack) for k, v in node.value
        )
    if isinstance(node, SequenceNode):
        return any(_tainted(item, payloads, stack) for item in node.value)
    return False


def _substitute(node: Node, payloads: Payloads, explicit: set[int], *, seen: set[int]) -> None:
    """Put the payloads back: a lone plain token becomes a scalar value, others text."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, ScalarNode):
        if not payloads.contains(node.value):
            return
        alone = payloads.pattern.fullmatch(node.value)
        if alone and node.style is None and node.tag == STR_TAG and id(node) not in explicit:
            node.tag = _PAYLOAD_TAG
        else:
            node.value = payloads.substitute(node.value)
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            _substitute(key, payloads, explicit, seen=seen)
            _substitute(value, payloads, explicit, seen=seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _substitute(item, payloads, explicit, seen=seen)


def _payload_scalar(text: str) -> object:
    """A payload inserted alone as a plain scalar: a number, boolean or null if it reads as one."""
    if _PAYLOAD_NULL.fullmatch(text):
        return None
    if text in _PAYLOAD_BOOL:
        return _PAYLOAD_BOOL[text]
    if _PAYLOAD_INT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # beyond Python's digit limit for int()
            return text
    if _PAYLOAD_FLOAT.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else text
    return text

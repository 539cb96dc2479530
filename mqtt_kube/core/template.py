"""Launch templates: a Mako-templated YAML manifest rendered into one Kubernetes object.

The template is the operator's; the payload that triggers it is not. So no text from a
payload ever reaches the YAML parser. While Mako renders, every string that came from the
payload (`match.input`, `match.value`, regex groups, every key and string of `match.json`)
stands in the output as an opaque random token. The YAML is composed with those tokens in
place, and only then are they swapped back, into scalar nodes:

- a plain scalar that is exactly one token becomes the payload read as a scalar
  (`replicas: ${match.input}` with `3` gives the number 3; anything not a number, boolean
  or null stays a string);
- a token inside a quoted, block or longer scalar is substituted as text;
- a token in a mapping key, a tag, `kind`, `apiVersion` or `metadata.namespace` is refused.

A payload therefore cannot add keys, objects, documents or tags, whatever it contains.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, overload

import yaml
from mako import exceptions as mako_exceptions
from mako.template import Template
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mqtt_kube.core.errors import TemplateError

__all__ = ["LaunchTemplate"]

logger = logging.getLogger(__name__)

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
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
    """SafeLoader as the config file reads YAML: `on`/`yes`/`no`/`off` and dates stay text.

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


_DROPPED_RESOLVERS = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:value",
}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_RESOLVERS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_payload(loader: _Loader, node: ScalarNode) -> object:
    return _payload_scalar(loader.payloads[node.value])


_Loader.add_constructor(_PAYLOAD_TAG, _construct_payload)


class LaunchTemplate:
    """A compiled launch template; build it with `LaunchTemplate.load`."""

    def __init__(self, path: str, source: str, template: Any) -> None:
        self.path = path
        self.source = source
        self._template = template

    @classmethod
    def load(cls, path: str) -> LaunchTemplate:
        """Read and compile `path`; TemplateError names the file (and line) when that fails."""
        try:
            with open(path, encoding="utf-8") as stream:
                source = stream.read()
        except OSError as exc:
            raise TemplateError(f"{path}: cannot read the template: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise TemplateError(f"{path}: the template is not UTF-8 text: {exc}") from exc
        try:
            # S702 is about HTML: this renders YAML, made safe by the token scheme above.
            template = Template(  # noqa: S702
                text=source,
                uri=path,
                strict_undefined=True,
                imports=[f"from {__name__} import _yaml_text"],
                default_filters=["_yaml_text"],
            )
        except mako_exceptions.MakoException as exc:
            line = getattr(exc, "lineno", None)
            where = f"{path}:{line}" if line else path
            raise TemplateError(f"{where}: {exc}") from exc
        except SyntaxError as exc:
            raise TemplateError(f"{path}:{exc.lineno}: {exc.msg}") from exc
        return cls(path, source, template)

    def render(
        self,
        *,
        binding: Mapping[str, Any],
        action: Mapping[str, Any],
        match: Mapping[str, object],
        namespace: str | None,
        labels: Mapping[str, str],
        uid: str | None = None,
    ) -> dict[str, Any]:
        """Render into one object: namespace filled in, `labels` merged over the template's."""
        payloads = _Payloads()
        text = self._render_text(
            binding=_config_tree(binding),
            action=_config_tree(action),
            match=_match_tree(match, payloads),
            uid=secrets.token_hex(4) if uid is None else uid,
        )
        payloads.check_intact(text, path=self.path)
        body = _finish(
            _parse(text, payloads, path=self.path),
            namespace=namespace,
            labels=labels,
            path=self.path,
        )
        metadata = body["metadata"]
        logger.debug(
            "%s: rendered %s %s",
            self.path,
            body["kind"],
            metadata.get("name") or metadata["generateName"],
        )
        return body

    def _render_text(self, **context: object) -> str:
        try:
            return str(self._template.render(**context))
        except Exception as exc:
            line = _template_line(self.path)
            where = f"{self.path}:{line}" if line else self.path
            raise TemplateError(f"{where}: rendering failed: {type(exc).__name__}: {exc}") from exc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LaunchTemplate):
            return NotImplemented
        return (self.path, self.source) == (other.path, other.source)

    def __hash__(self) -> int:
        return hash((self.path, self.source))

    def __repr__(self) -> str:
        return f"LaunchTemplate({self.path!r})"


# -- the template's view of its context --------------------------------------------------------


class _Tree(Mapping[str, Any]):
    """A read-only mapping that also allows attribute access: `${binding.name}`."""

    def __init__(self, items: dict[str, Any], *, keys: Sequence[str], text: Callable[[], str]):
        self._items = items
        self._keys = keys
        self._text = text

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(str(k) for k in self._items)[:20]) or "nothing"
            raise AttributeError(f"no key {name!r} here (it has: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __str__(self) -> str:
        return self._text()

    __repr__ = __str__


class _List(Sequence[Any]):
    """A list from the payload: items can be read; printed whole, it is one payload string."""

    def __init__(self, items: list[Any], *, text: Callable[[], str]):
        self._items = items
        self._text = text

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __str__(self) -> str:
        return self._text()

    __repr__ = __str__


class _Tainted(str):
    """A payload string as the template sees it: its text is an opaque token.

    Compared, hashed and measured as the payload, so `% if match.json.mode == "full":` and
    lookups work; it cannot be sliced or iterated, which would cut the token apart.
    """

    _payload: str

    def __new__(cls, token: str, payload: str) -> _Tainted:
        self = super().__new__(cls, token)
        self._payload = payload
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Tainted):
            return self._payload == other._payload
        if isinstance(other, str):
            return self._payload == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self._payload)

    def __len__(self) -> int:
        return len(self._payload)

    def __getitem__(self, index: Any) -> NoReturn:
        raise TypeError(_NO_EDIT)

    def __iter__(self) -> NoReturn:
        raise TypeError(_NO_EDIT)


_NO_EDIT = (
    "a payload value can only be inserted as it is, not cut or changed in the template; "
    "reshape it with the value map (transform, or a regex with named groups)"
)


class _Payloads:
    """The tokens of one rendering and the payload strings they stand for."""

    def __init__(self) -> None:
        nonce = secrets.token_hex(16)
        self._nonce = nonce
        self._prefix = f"mqk{nonce}x"
        self.pattern = re.compile(rf"{self._prefix}[0-9]+z")
        self.texts: dict[str, str] = {}

    def token(self, payload: str) -> _Tainted:
        token = f"{self._prefix}{len(self.texts)}z"
        self.texts[token] = payload
        return _Tainted(token, payload)

    def wrap(self, value: object) -> Any:
        """`value` as the template may see it: every string in it a token."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.token(value)
        if isinstance(value, Mapping):
            items = {str(k): self.wrap(v) for k, v in value.items()}
            keys = [self.token(k) for k in items]
            return _Tree(items, keys=keys, text=lambda: self.token(_json(value)))
        if isinstance(value, list | tuple):
            return _List([self.wrap(v) for v in value], text=lambda: self.token(_json(value)))
        return self.token(str(value))

    def substitute(self, text: str) -> str:
        return self.pattern.sub(lambda found: self.texts[found.group(0)], text)

    def check_intact(self, text: str, *, path: str) -> None:
        """Refuse output where the template changed a token (e.g. `.upper()` on a payload)."""
        whole = len(self.pattern.findall(text))
        for part in (self._nonce[:12], self._nonce[-12:]):
            if len(re.findall(part, text, flags=re.IGNORECASE)) != whole:
                raise TemplateError(f"{path}: {_NO_EDIT}")

    def contains(self, text: str) -> bool:
        return self._nonce in text


def _yaml_text(value: object) -> str:
    """Mako's output filter: None and booleans written as YAML reads them back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _config_tree(value: object) -> Any:
    if isinstance(value, Mapping):
        items = {str(k): _config_tree(v) for k, v in value.items()}
        return _Tree(items, keys=list(items), text=lambda: str(dict(value)))
    if isinstance(value, list | tuple):
        return [_config_tree(v) for v in value]
    return value


def _match_tree(match: Mapping[str, object], payloads: _Payloads) -> _Tree:
    items = {name: payloads.wrap(value) for name, value in match.items()}
    return _Tree(items, keys=list(items), text=lambda: payloads.token(_json(dict(match))))


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _template_line(path: str) -> int | None:
    """The template line of the exception being handled, when Mako can tell."""
    records = mako_exceptions.RichTraceback().records
    lines = [r[5] for r in records if r[4] == path and r[5]]
    return lines[-1] if lines else None


# -- YAML with tokens -------------------------------------------------------------------------


def _parse(text: str, payloads: _Payloads, *, path: str) -> object:
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
    node: Node, where: tuple[str, ...], payloads: _Payloads, *, seen: set[int], path: str
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
            if key.tag == _MERGE_TAG:  # `<<: *base` (or a list of them) adds keys right here
                merged = value.value if isinstance(value, SequenceNode) else [value]
                for base in merged:
                    _check(base, where, payloads, seen=seen, path=path)
                continue
            name = key.value if isinstance(key, ScalarNode) else "?"
            _check(value, (*where, name), payloads, seen=seen, path=path)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _check(item, (*where, "[]"), payloads, seen=seen, path=path)


def _tainted(node: Node, payloads: _Payloads, stack: set[int]) -> bool:
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


def _substitute(node: Node, payloads: _Payloads, explicit: set[int], *, seen: set[int]) -> None:
    """Put the payloads back: a lone plain token becomes a scalar value, others text."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, ScalarNode):
        if not payloads.contains(node.value):
            return
        alone = payloads.pattern.fullmatch(node.value)
        if alone and node.style is None and node.tag == _STR_TAG and id(node) not in explicit:
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


# -- the object ---------------------------------------------------------------------------------


def _finish(
    body: object, *, namespace: str | None, labels: Mapping[str, str], path: str
) -> dict[str, Any]:
    """Check the required fields, settle the namespace, add our labels."""
    if not isinstance(body, dict):
        raise TemplateError(f"{path}: the template must render a mapping")
    for name in ("kind", "apiVersion"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise TemplateError(f"{path}: the rendered object has no {name}")
    metadata = body.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise TemplateError(f"{path}: metadata must be a mapping")
    if not any(isinstance(metadata.get(k), str) and metadata[k] for k in ("name", "generateName")):
        raise TemplateError(
            f"{path}: the rendered object has neither metadata.name nor generateName"
        )
    own = metadata.get("namespace")
    if own is None:
        if namespace is not None:
            metadata["namespace"] = namespace
    elif namespace is not None and own != namespace:
        raise TemplateError(
            f"{path}: the template sets namespace {own!r}, but the binding is in {namespace!r}"
        )
    existing = metadata.get("labels")
    if existing is None:
        existing = {}
    if not isinstance(existing, dict):
        raise TemplateError(f"{path}: metadata.labels must be a mapping")
    metadata["labels"] = {**existing, **labels}
    try:
        json.dumps(body)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"{path}: the rendered object is not plain JSON data: {exc}") from exc
    return body

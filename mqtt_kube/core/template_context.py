"""What a launch template sees of its context, with every payload string an opaque token.

The template is the operator's; the payload that triggers it is not. So while Mako renders,
every string that came from the payload (`match.input`, `match.value`, regex groups, every
key and string of `match.json`) stands in the output as a random token that `Payloads`
remembers; `mqtt_kube.core.template_yaml` swaps them back after the YAML is composed.
`binding` and `action` (the operator's own config) are plain values with attribute access.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, overload

from mqtt_kube.core.errors import TemplateError


class Tree(Mapping[str, Any]):
    """A read-only mapping that also allows attribute access: `${binding.name}`.

    A key wins over a method of the same name: `${match.json.items}` is the payload's
    `items`, not the mapping's method; `.items()`, `.get()`... work where no key hides them.
    """

    def __init__(self, items: dict[str, Any], *, keys: Sequence[str], text: Callable[[], str]):
        self._items = items
        self._keys = keys
        self._text = text

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_"):
            items = object.__getattribute__(self, "_items")
            if name in items:
                return items[name]
        return object.__getattribute__(self, name)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __eq__(self, other: object) -> bool:
        # Mapping's own __eq__ calls self.items(), which a key named `items` would hide.
        if isinstance(other, Tree):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other)
        return NotImplemented

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


class PayloadList(Sequence[Any]):
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


class Tainted(str):
    """A payload string as the template sees it: its text is an opaque token.

    Compared, hashed and measured as the payload, so `% if match.json.mode == "full":` and
    lookups work; it cannot be sliced or iterated, which would cut the token apart.
    """

    _payload: str

    def __new__(cls, token: str, payload: str) -> Tainted:
        self = super().__new__(cls, token)
        self._payload = payload
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tainted):
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
        raise TypeError(NO_EDIT)

    def __iter__(self) -> NoReturn:
        raise TypeError(NO_EDIT)


NO_EDIT = (
    "a payload value can only be inserted as it is, not cut or changed in the template; "
    "reshape it with the value map (transform, or a regex with named groups)"
)


class Payloads:
    """The tokens of one rendering and the payload strings they stand for."""

    def __init__(self) -> None:
        nonce = secrets.token_hex(16)
        self._nonce = nonce
        self._prefix = f"mqk{nonce}x"
        self.pattern = re.compile(rf"{self._prefix}[0-9]+z")
        self.texts: dict[str, str] = {}

    def token(self, payload: str) -> Tainted:
        token = f"{self._prefix}{len(self.texts)}z"
        self.texts[token] = payload
        return Tainted(token, payload)

    def wrap(self, value: object) -> Any:
        """`value` as the template may see it: every string in it a token."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.token(value)
        if isinstance(value, Mapping):
            items = {str(k): self.wrap(v) for k, v in value.items()}
            keys = [self.token(k) for k in items]
            return Tree(items, keys=keys, text=lambda: self.token(_json(value)))
        if isinstance(value, list | tuple):
            return PayloadList([self.wrap(v) for v in value], text=lambda: self.token(_json(value)))
        return self.token(str(value))

    def substitute(self, text: str) -> str:
        return self.pattern.sub(lambda found: self.texts[found.group(0)], text)

    def check_intact(self, text: str, *, path: str) -> None:
        """Refuse output where the template changed a token (e.g. `.upper()` on a payload)."""
        whole = len(self.pattern.findall(text))
        for part in (self._nonce[:12], self._nonce[-12:]):
            if len(re.findall(part, text, flags=re.IGNORECASE)) != whole:
                raise TemplateError(f"{path}: {NO_EDIT}")

    def contains(self, text: str) -> bool:
        return self._nonce in text


def yaml_text(value: object) -> str:
    """Mako's output filter: None and booleans written as YAML reads them back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def config_tree(value: object) -> Any:
    if isinstance(value, Mapping):
        items = {str(k): config_tree(v) for k, v in value.items()}
        return Tree(items, keys=list(items), text=lambda: str(dict(value)))
    if isinstance(value, list | tuple):
        return [config_tree(v) for v in value]
    return value


def match_tree(match: Mapping[str, object], payloads: Payloads) -> Tree:
    items = {name: payloads.wrap(value) for name, value in match.items()}
    return Tree(items, keys=list(items), text=lambda: payloads.token(_json(dict(match))))


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

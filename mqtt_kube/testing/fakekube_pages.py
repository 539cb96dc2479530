"""Lists in pages, as the real API server serves them with `limit` and `continue`.

A list with `limit` answers at most that many items and, when more are left, a `continue`
token. Following it gives the next page from the same resourceVersion as the first one
(the store rebuilds that state from its history), so the pages add up to one consistent
list; once that version is compacted away the token gets 410 Expired, and the client must
list again from the start. `remainingItemCount` is sent only without selectors, as the
real server does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final

from mqtt_kube.testing.fakekube_resources import StatusError

JsonObject = dict[str, Any]

EXPIRED_CONTINUE: Final = (
    "The provided continue parameter is too old to display a consistent list result. You "
    "can start a new list without the continue parameter."
)


@dataclass(frozen=True)
class Continue:
    """Where a paged list goes on: its resourceVersion, and the key of its last item."""

    resource_version: int
    after: tuple[str, str]  # (namespace, name) of the last item sent

    def encode(self) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": self.resource_version, "start": self.after})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Continue:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
            version = int(data["rv"])
            namespace, name = (str(part) for part in data["start"])
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise StatusError.bad_request(f"continue key is not valid: {exc}") from exc
        return cls(version, (namespace, name))


def item_key(obj: JsonObject) -> tuple[str, str]:
    """(namespace, name): the order lists come in."""
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def one_page(
    items: list[JsonObject],
    *,
    resource_version: int,
    after: tuple[str, str] | None,
    limit: int,
    counted: bool,
) -> tuple[list[JsonObject], JsonObject]:
    """The page of `items` (sorted by key) after `after`, and the list's metadata for it."""
    if after is not None:
        items = [item for item in items if item_key(item) > after]
    metadata: JsonObject = {"resourceVersion": str(resource_version)}
    if limit and len(items) > limit:
        page, rest = items[:limit], len(items) - limit
        metadata["continue"] = Continue(resource_version, item_key(page[-1])).encode()
        if counted:
            metadata["remainingItemCount"] = rest
        return page, metadata
    return items, metadata

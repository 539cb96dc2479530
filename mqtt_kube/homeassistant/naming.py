"""Names and ids in discovery: node ids, entity names, stable unique ids and object ids.

Everything here is derived from the configuration alone, so the same file gives the same
ids on every start, and two instances (different client-ids) never share one.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from mqtt_kube.config.model import BindingSpec
from mqtt_kube.core.locus import Locus

_TOPIC_PART: Final = re.compile(r"[^a-zA-Z0-9_-]+")
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_OBJECT_ID_SLUG: Final = 60


def node_id_for(client_id: str) -> str:
    """The discovery node id of an instance: its client-id, made topic-safe and still unique."""
    safe = _TOPIC_PART.sub("_", client_id).strip("_") or "mqtt-kube"
    if safe == client_id:
        return safe
    return f"{safe}_{digest(client_id, 6)}"


def locus_id(locus: Locus) -> str:
    """A locus as the same text however it was written (`$.spec.replicas` = `spec.replicas`)."""
    path = locus.field_path
    if path is None:
        expression = locus.expression.strip()
        for lead in ("$.", "$"):
            if expression.startswith(lead):
                return expression[len(lead) :]
        return expression
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def humanize_locus(locus: Locus) -> str:
    """An entity name for a field, from its last name: `status.readyReplicas` → `Ready replicas`."""
    path = locus.field_path
    if path:
        names = [part for part in path if isinstance(part, str)]
        if names:
            return humanize(names[-1])
    tail = re.split(r"[.\[\]]", locus_id(locus).rstrip("]"))[-1]
    return humanize(tail) if tail else "Value"


def humanize(text: str) -> str:
    """`availableReplicas` → `Available replicas`; `RUN` → `Run`; `run-backup` → `Run backup`."""
    words = _CAMEL.sub(" ", text).replace("_", " ").replace("-", " ").split()
    if not words:
        return "Value"
    phrase = " ".join(words).lower()
    return phrase[0].upper() + phrase[1:]


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name 2`, `name 3`… when a sibling entity has it already; marks it taken."""
    candidate, serial = name, 2
    while candidate in taken:
        candidate = f"{name} {serial}"
        serial += 1
    taken.add(candidate)
    return candidate


def identity(binding: BindingSpec) -> str:
    """The binding's object as `Kind/namespace/name`: the stable part of its device id."""
    if binding.namespace:
        return f"{binding.kind}/{binding.namespace}/{binding.name}"
    return f"{binding.kind}/{binding.name}"


def object_id(binding: BindingSpec, part: str, unique_id: str) -> str:
    """The topic-safe object id of an entity's config topic: readable, then a digest."""
    parts = [binding.kind, binding.namespace or "", binding.name, part.split(":", 1)[1]]
    slug = _TOPIC_PART.sub("_", "_".join(p for p in parts if p)).strip("_").lower()
    return f"{slug[:_OBJECT_ID_SLUG].rstrip('_')}_{digest(unique_id, 8)}"


def digest(text: str, length: int) -> str:
    """A short, stable digest of `text` (not for security)."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:length]

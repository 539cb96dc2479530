"""The exception tree: one base, one branch per place a problem can come from.

Library errors (YAML, voluptuous, aiohttp, kubernetes_asyncio) are translated into these
once, at the boundary where they happen, and chained with ``from``.
"""

from __future__ import annotations

from dataclasses import dataclass


class MqttKubeError(Exception):
    """Base of every error mqtt-kube raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in a configuration file, with where it is."""

    path: str  # e.g. "bindings[2].watch[0].locus"; "" for the whole file
    message: str
    line: int | None = None  # 1-based line in the file, when known
    source: str = ""  # the file the problem is in

    def __str__(self) -> str:
        place = self.source or "config"
        if self.line is not None:
            place = f"{place}:{self.line}"
        where = f" {self.path}:" if self.path else ""
        return f"{place}:{where} {self.message}"


class ConfigError(MqttKubeError):
    """A configuration file that cannot be used; carries every problem found at once."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ValueMapSpecError(ValueError):
    """A `values:` block that cannot be compiled.

    `key` is where inside `values` the problem is: "transform", "jsonpath", "map['re:(']",
    or, when `values` is itself the map, "['re:(']" (join it without a dot).
    """

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class ValueMapError(MqttKubeError):
    """A value could not go through a value map (failed transform, payload not JSON)."""


class TemplateError(MqttKubeError):
    """A launch template could not be rendered into one safe Kubernetes object."""


class KubeError(MqttKubeError):
    """The Kubernetes API refused or failed a request."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        unknown_fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.unknown_fields = unknown_fields  # that a strict request named (422)


class NotFound(KubeError):
    """404: the object or the resource does not exist."""


class Conflict(KubeError):
    """409: already exists, or a conflicting update."""


class Invalid(KubeError):
    """422: the API server rejected the content."""


class Forbidden(KubeError):
    """401/403: the credentials may not do this."""


class Gone(KubeError):
    """410: the resourceVersion is too old; list again."""


class WrongScope(KubeError):
    """The binding's namespace does not fit the kind: a namespaced kind needs one."""

"""Launch templates: a Mako-templated YAML manifest rendered into one Kubernetes object.

The template is the operator's; the payload that triggers it is not. No text from a
payload ever reaches the YAML parser: while Mako renders, payload strings are opaque tokens
(`template_context`), swapped back into scalar values only after the YAML is composed
(`template_yaml`). Here: loading and compiling the template, rendering it, and finishing
the object (required fields, the binding's namespace, mqtt-kube's labels).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from mako import exceptions as mako_exceptions
from mako.template import Template

from mqtt_kube.core.errors import TemplateError
from mqtt_kube.core.template_context import Payloads, config_tree, match_tree
from mqtt_kube.core.template_yaml import parse_rendered

__all__ = ["LaunchTemplate"]

logger = logging.getLogger(__name__)


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
            # S702 is about HTML: this renders YAML, made safe by the token scheme (template_yaml).
            template = Template(  # noqa: S702
                text=source,
                uri=path,
                strict_undefined=True,
                imports=["from mqtt_kube.core.template_context import yaml_text"],
                default_filters=["yaml_text"],
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
        payloads = Payloads()
        text = self._render_text(
            binding=config_tree(binding),
            action=config_tree(action),
            match=match_tree(match, payloads),
            uid=secrets.token_hex(4) if uid is None else uid,
        )
        payloads.check_intact(text, path=self.path)
        body = _finish(
            parse_rendered(text, payloads, path=self.path),
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


def _template_line(path: str) -> int | None:
    """The template line of the exception being handled, when Mako can tell."""
    records = mako_exceptions.RichTraceback().records
    lines = [r[5] for r in records if r[4] == path and r[5]]
    return lines[-1] if lines else None


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

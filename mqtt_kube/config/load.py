"""Turn a configuration file into a `Config`, or into one ConfigError naming every mistake.

Each mapping of the file is checked by its schema (`mqtt_kube.config.schemas`); the
sections are built in `sections`, the bindings in `bindings`, and every problem goes to one
`Problems`, so a mistake in one place never hides the mistakes in another. Nothing here
connects to anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from mqtt_kube.config import validators as v
from mqtt_kube.config.bindings import BindingsReader
from mqtt_kube.config.collisions import check_topics
from mqtt_kube.config.discover import read_discover
from mqtt_kube.config.model import DEFAULT_LOG_LEVEL, Config, KubernetesSettings, WatchScope
from mqtt_kube.config.problems import Problems
from mqtt_kube.config.schemas import (
    CONF_BINDINGS,
    CONF_DISCOVER,
    CONF_HOMEASSISTANT,
    CONF_HTTP,
    CONF_KUBERNETES,
    CONF_LOGGING,
    CONF_MQTT,
    HTTP_SCHEMA,
    KUBERNETES_SCHEMA,
    LOGGING_SCHEMA,
    MQTT_SCHEMA,
    ROOT_SCHEMA,
)
from mqtt_kube.config.sections import discovery_settings, http_settings, mqtt_settings
from mqtt_kube.config.yaml_file import LineDict, load_yaml
from mqtt_kube.core.errors import ConfigError


def load_config(path: str | os.PathLike[str]) -> Config:
    """The validated configuration in `path`; ConfigError listing every problem otherwise."""
    file = Path(path)
    try:
        raw: bytes | None = file.read_bytes()
    except OSError:
        raw = None  # load_yaml says why it cannot be read
    digest = "" if raw is None else content_digest(raw)
    data, found = load_yaml(file, raw=raw)
    problems = Problems(data, source=str(file), problems=found)
    config = _build(problems, Path(os.path.abspath(file)))
    if problems or config is None:
        raise ConfigError(problems.sorted())
    return dataclasses.replace(config, digest=digest)


def content_digest(raw: bytes) -> str:
    """The version of a file's content that `Config.digest` and `/api/status` show."""
    return hashlib.sha256(raw).hexdigest()[:16]


def file_digest(path: str | os.PathLike[str]) -> str | None:
    """The digest of the file as it is now; None when it cannot be read."""
    try:
        return content_digest(Path(path).read_bytes())
    except OSError:
        return None


def _build(problems: Problems, source: Path) -> Config | None:
    root = problems.data
    if root is None and not problems.problems:
        problems.problem([], "the file is empty: it needs at least a bindings or discover list")
    if not isinstance(root, LineDict):
        if root is not None:
            problems.problem([], f"expected a mapping of sections, got {v.describe(root)}")
        return None
    problems.check(ROOT_SCHEMA, root, [])
    if CONF_BINDINGS not in root and CONF_DISCOVER not in root:
        problems.problem([CONF_BINDINGS], "required, but missing (or a discover list)")
    mqtt = mqtt_settings(problems, problems.check(MQTT_SCHEMA, root.get(CONF_MQTT), [CONF_MQTT]))
    http = http_settings(problems, problems.check(HTTP_SCHEMA, root.get(CONF_HTTP), [CONF_HTTP]))
    logs = problems.check(LOGGING_SCHEMA, root.get(CONF_LOGGING), [CONF_LOGGING])
    kube = problems.check(KUBERNETES_SCHEMA, root.get(CONF_KUBERNETES), [CONF_KUBERNETES])
    discovery = discovery_settings(problems, root.get(CONF_HOMEASSISTANT))
    prefix = mqtt.topic_prefix if mqtt else _raw_prefix(root)
    reader = BindingsReader(problems, prefix=prefix)
    bindings = reader.read(root.get(CONF_BINDINGS))
    discover = read_discover(problems, root.get(CONF_DISCOVER), prefix=prefix)
    if mqtt is not None:
        check_topics(problems, reader.topics, mqtt=mqtt, discovery=discovery)
    if problems.problems or mqtt is None or http is None or logs is None or kube is None:
        return None
    return Config(
        source=str(source),
        mqtt=mqtt,
        bindings=bindings,
        discover=discover,
        http=http,
        kubernetes=KubernetesSettings(
            kubeconfig=kube.get("kubeconfig"),
            context=kube.get("context"),
            watch_scope=_watch_scope(problems, kube.get("watch-scope")),
        ),
        homeassistant=discovery,
        log_level=logs.get("level") or DEFAULT_LOG_LEVEL,
        warnings=tuple(problems.warnings),
    )


def _watch_scope(problems: Problems, given: str | None) -> WatchScope:
    """The scope; `auto` (the earlier default) loads as `namespace`, with a warning."""
    if given == "auto":
        problems.warn(
            [CONF_KUBERNETES, "watch-scope"],
            "`auto` is no longer a scope: it went cluster-wide as soon as a kind spanned two "
            "namespaces. Watches are now namespaced (`namespace`, the default); write "
            "`watch-scope: cluster` to keep one watch per kind across all namespaces "
            "(then apply the ClusterRole `mqtt-kube rbac` prints)",
        )
        return "namespace"
    if given == "cluster":
        return "cluster"
    if given == "object":
        return "object"
    return "namespace"


def _raw_prefix(root: LineDict) -> str | None:
    section = root.get(CONF_MQTT)
    prefix = section.get("topic-prefix") if isinstance(section, Mapping) else None
    return prefix if isinstance(prefix, str) else None

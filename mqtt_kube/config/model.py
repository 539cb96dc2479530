"""Validated configuration: frozen dataclasses built from one YAML file.

Loading, schema checks and error collection live in `mqtt_kube.config.schemas` and
`mqtt_kube.config.yaml_file`; this module holds the shapes the rest of the program trusts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mqtt_kube.config.selector import EVERYTHING, LabelSelector
from mqtt_kube.core.kinds import builtin_kind
from mqtt_kube.core.locus import Locus
from mqtt_kube.core.template import LaunchTemplate
from mqtt_kube.core.valuemap import ValueMap

RetainedPolicy = Literal["apply", "ignore"]
CommandOperation = Literal["power", "restart", "run"]
WatchScope = Literal["namespace", "cluster", "object"]
# (kind, apiVersion, namespace or None: all, name or None: every object there)
WatchKey = tuple[str, str | None, str | None, str | None]

DEFAULT_MQTT_HOST = "127.0.0.1"
DEFAULT_MQTT_PORT = 1883
DEFAULT_MQTT_TLS_PORT = 8883
DEFAULT_KEEPALIVE = 60
# Seconds the broker keeps the session (and the QoS 1 commands it queues) after a drop: a
# button press is still wanted a few seconds late, not minutes later (mqtt_kube.mqtt.session).
DEFAULT_SESSION_EXPIRY = 30
MAX_SESSION_EXPIRY = 4_294_967_295  # the largest MQTT 5 Session Expiry Interval
DEFAULT_MAX_PAYLOAD = 256 * 1024
DEFAULT_HTTP_BIND = "0.0.0.0"  # noqa: S104 - a health endpoint for probes must listen on the pod IP
DEFAULT_HTTP_PORT = 8080
DEFAULT_HTTP_MAX_CONNECTIONS = 100
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
DEFAULT_BIRTH_TOPIC = "homeassistant/status"


@dataclass(frozen=True)
class TlsSettings:
    """TLS towards the broker: server verification, optionally a client certificate (mtls)."""

    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    keyfile_password: str | None = field(default=None, repr=False)
    protocols: tuple[str, ...] = ()
    insecure: bool = False


@dataclass(frozen=True)
class MqttSettings:
    client_id: str
    availability_topic: str
    client_id_defaulted: bool = False  # not in the file: see mqtt_kube.config.identity
    host: str = DEFAULT_MQTT_HOST
    port: int = DEFAULT_MQTT_PORT
    topic_prefix: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsSettings | None = None
    keepalive: int = DEFAULT_KEEPALIVE
    max_payload: int = DEFAULT_MAX_PAYLOAD
    session_expiry: int = DEFAULT_SESSION_EXPIRY


@dataclass(frozen=True)
class HttpSettings:
    bind: str = DEFAULT_HTTP_BIND
    port: int = DEFAULT_HTTP_PORT
    max_connections: int = DEFAULT_HTTP_MAX_CONNECTIONS


@dataclass(frozen=True)
class KubernetesSettings:
    kubeconfig: str | None = None  # None: $KUBECONFIG, ~/.kube/config, then in-cluster
    context: str | None = None
    # "namespace": one list+watch per (kind, namespace), needing only namespaced Roles;
    # "cluster": one list+watch per kind across all namespaces; "object": one per bound
    # object, whose RBAC names the objects (see `watch_groups`).
    watch_scope: WatchScope = "namespace"


@dataclass(frozen=True)
class HomeAssistantSettings:
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX
    birth_topic: str = DEFAULT_BIRTH_TOPIC


@dataclass(frozen=True)
class EntityHint:
    """How a recipe wants one of its associations shown in Home Assistant.

    Hand-written associations have none: their entities are inferred from the maps.
    """

    name: str  # the entity's name (unused for the main entity; an action's buttons: payloads)
    main: bool = False  # the device's main entity, named by the device
    icon: str | None = None
    device_class: str | None = None


@dataclass(frozen=True)
class WatchSpec:
    """Publish a field of the object to a topic whenever it changes."""

    where: str  # "bindings[0].watch[1]", for log lines
    locus: Locus
    topic: str  # full topic, prefix already joined
    values: ValueMap
    qos: int = 1
    retain: bool = False
    hint: EntityHint | None = None


@dataclass(frozen=True)
class PatchSpec:
    """Set a field of the object from the payloads received on a topic."""

    where: str
    topic: str
    locus: Locus
    values: ValueMap
    retained: RetainedPolicy = "apply"
    hint: EntityHint | None = None


@dataclass(frozen=True)
class ActionSpec:
    """Launch an object from a template, or delete, from the payloads received on a topic."""

    where: str
    topic: str
    launch: LaunchTemplate | None  # None when the map only ever says "delete"
    values: ValueMap
    retained: RetainedPolicy = "ignore"
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # `action` in templates
    hint: EntityHint | None = None

    @property
    def can_launch(self) -> bool:
        """Some payload may launch: the map has `launch`, or there is no map."""
        return self.launch is not None and self._may_give("launch")

    @property
    def can_delete(self) -> bool:
        """Some payload may delete: the map has `delete`, or there is no map."""
        return self._may_give("delete")

    def _may_give(self, verb: str) -> bool:
        return not self.values.has_map or any(e.output == verb for e in self.values.entries)


@dataclass(frozen=True)
class CommandSpec:
    """A recipe's command whose one request is computed when the payload arrives.

    `power`: ON/OFF scale the object, recording and restoring its replica count from the
    watched copy (mqtt_kube.kube.recipe_requests); `restart`: the pod template's
    restartedAt set to now; `run`: a Job created from the watched CronJob's jobTemplate.
    `values` maps each payload to the operation's word (`on`, `off`, `press`).
    """

    where: str
    topic: str
    operation: CommandOperation
    values: ValueMap
    retained: RetainedPolicy = "ignore"
    state: WatchSpec | None = None  # the watch that shows the result (the power switch's)
    hint: EntityHint | None = None


@dataclass(frozen=True)
class BindingSpec:
    """One Kubernetes object and the MQTT associations configured for it."""

    where: str  # "bindings[0]"
    kind: str  # e.g. "Deployment"; as written under `resource:`
    name: str
    namespace: str | None = None
    api_version: str | None = None  # None: the built-in kind's default
    watch: tuple[WatchSpec, ...] = ()
    patch: tuple[PatchSpec, ...] = ()
    action: tuple[ActionSpec, ...] = ()
    command: tuple[CommandSpec, ...] = ()  # from recipes only
    recipes: tuple[str, ...] = ()  # the recipe names the binding gave, in order
    topic: str | None = None  # the topic base of its recipes, prefix joined
    # None: defaults; False: no discovery for this binding; a dict: overrides
    homeassistant: dict[str, Any] | Literal[False] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # `binding` in templates

    @property
    def label(self) -> str:
        """How logs name the binding: `Kind namespace/name` (or `Kind name`)."""
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class DiscoverSpec:
    """One `discover:` entry: which objects become bindings, and with which recipes."""

    where: str  # "discover[0]"
    kind: str  # as the built-in table spells it, or as written for another kind
    api_version: str | None = None
    namespaces: tuple[str, ...] | None = None  # None: every namespace (or a cluster kind)
    selector: LabelSelector = EVERYTHING
    recipe: tuple[str, ...] = ()  # (): only objects that carry the recipe annotation

    @property
    def label(self) -> str:
        where = ", ".join(self.namespaces) if self.namespaces else "every namespace"
        info = builtin_kind(self.kind, self.api_version)
        if info is not None and not info.namespaced:
            where = "the cluster"
        selected = f" matching {self.selector.text}" if self.selector.text else ""
        return f"{self.where} ({self.kind} in {where}{selected})"


@dataclass(frozen=True)
class Config:
    source: str  # absolute path of the file it came from
    mqtt: MqttSettings
    bindings: tuple[BindingSpec, ...]
    discover: tuple[DiscoverSpec, ...] = ()
    digest: str = ""  # of the file's bytes: the version /api/status shows
    http: HttpSettings = HttpSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()
    homeassistant: HomeAssistantSettings | None = None  # None: discovery off
    log_level: str = DEFAULT_LOG_LEVEL
    warnings: tuple[str, ...] = ()  # accepted but noteworthy, e.g. `format` has no effect


def watch_groups(config: Config) -> dict[WatchKey, list[BindingSpec]]:
    """The shared list+watches the bindings need, each with the bindings it serves.

    Least privilege by default (`watch-scope: namespace`): bindings of one kind share a
    watch per namespace, and only a cluster-scoped kind (a binding without a namespace) is
    watched across the cluster. `cluster` shares one watch per kind across all namespaces
    (fewer connections, cluster-wide rights); `object` watches each bound object alone
    (a `metadata.name` field selector), so that RBAC can name the objects. The service opens
    these watches and `mqtt-kube rbac` grants what they need, so both follow this one rule.
    """
    groups: dict[WatchKey, list[BindingSpec]] = {}
    for binding in config.bindings:
        if binding.watch:
            groups.setdefault(watch_key(config, binding), []).append(binding)
    return groups


def watch_key(config: Config, binding: BindingSpec) -> WatchKey:
    """The shared watch a binding's object is followed by (see `watch_groups`)."""
    scope = config.kubernetes.watch_scope
    kind, api_version = _kind_key(binding)
    if scope == "cluster":
        return (kind, api_version, None, None)
    if scope == "object":
        return (kind, api_version, binding.namespace, binding.name)
    return (kind, api_version, binding.namespace, None)


def discover_keys(config: Config, entry: DiscoverSpec) -> list[WatchKey]:
    """The shared watches a discovery entry looks through: one per namespace it names, or
    one across all namespaces (also with `watch-scope: cluster`, where bindings share it).

    With `watch-scope: object` an entry still watches its namespaces: it cannot name the
    objects it has yet to find."""
    kind, api_version = _kind_key(entry)
    if entry.namespaces is None or config.kubernetes.watch_scope == "cluster":
        return [(kind, api_version, None, None)]
    return [(kind, api_version, namespace, None) for namespace in entry.namespaces]


def _kind_key(binding: BindingSpec | DiscoverSpec) -> tuple[str, str | None]:
    """(kind, apiVersion) with a built-in kind's own spelling and default apiVersion."""
    info = builtin_kind(binding.kind, binding.api_version)
    if info is None:
        return binding.kind, binding.api_version
    return info.kind, info.api_version

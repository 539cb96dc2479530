"""What a configuration asks of the Kubernetes API server, verb by verb and object by object.

The requests its bindings make (mqtt_kube.kube.watch, patch and actions): list/watch where
the service watches (in the bindings' namespaces by default; across all namespaces through
a ClusterRole for a cluster-scoped kind or with `watch-scope: cluster`; on the named objects
only with `watch-scope: object`), patch on the one endpoint a patch touches (`/scale`,
`/status` or the object), create on what an action can launch, and for an action that can delete:
delete on the binding's own object, deletecollection (by label) on its kind and on what it
launches; for a recipe's commands, patch of the object (power, restart) and create of Jobs
(run). `mqtt_kube.kube.rbac` renders these as Roles and ClusterRoles.

Everything is worked out offline, from the built-in kinds table and the launch templates'
text: no API server is asked. Where that leaves a guess (the plural of a custom resource),
the output says so in a comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from mqtt_kube.config.discover import stand_ins
from mqtt_kube.config.model import BindingSpec, Config, DiscoverSpec, discover_keys, watch_groups
from mqtt_kube.core.errors import MqttKubeError
from mqtt_kube.core.kinds import BUILTIN_KINDS, builtin_kind
from mqtt_kube.core.template import LaunchTemplate

DISCOVERY_URLS: Final = ("/api", "/apis", "/version")
_TOP_LEVEL = re.compile(r"^(apiVersion|kind):[ \t]*(.*?)[ \t]*(?:#.*)?$")

Names = frozenset[str] | None  # None: every object of the resource


class RbacError(MqttKubeError):
    """The RBAC a configuration needs cannot be worked out (e.g. an unreadable template)."""


@dataclass(frozen=True)
class KindRef:
    """A kind as RBAC sees it: API group, resource name and scope."""

    kind: str
    api_version: str
    plural: str
    namespaced: bool
    scalable: bool | None  # None: unknown offline (a custom resource may have /scale)
    builtin: bool
    status: bool | None = True  # has /status; None: unknown offline (a custom resource)

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def discovery_url(self) -> str:
        """The API discovery document the service reads to resolve this kind."""
        return "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"


def guess_plural(kind: str) -> str:
    """The lowercase English plural, as the API server derives most resource names."""
    word = kind.lower()
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return f"{word}es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return f"{word[:-1]}ies"
    return f"{word}s"


def kind_ref(kind: str, api_version: str | None, *, namespaced: bool) -> KindRef:
    """A built-in kind from the table; any other kind from its apiVersion and a guessed plural.

    `namespaced` is only used for kinds the table does not know: offline, the binding's
    own namespace (or its absence) is the only hint of a custom resource's scope.
    """
    info = builtin_kind(kind, api_version)
    if info is not None:
        return KindRef(
            kind=info.kind,
            api_version=info.api_version,
            plural=info.plural,
            namespaced=info.namespaced,
            scalable=info.scalable,
            builtin=True,
            status=info.status,
        )
    if not api_version:
        raise RbacError(f"kind {kind!r} is not built in and has no apiVersion")
    return KindRef(
        kind=kind,
        api_version=api_version,
        plural=guess_plural(kind),
        namespaced=namespaced,
        scalable=None,
        builtin=False,
        status=None,
    )


def template_kind(template: LaunchTemplate) -> tuple[str, str]:
    """(apiVersion, kind) of a launch template, read from its top-level lines."""
    path = template.path
    found: dict[str, str] = {}
    for line in template.source.splitlines():
        match = _TOP_LEVEL.match(line)
        if match and match.group(1) not in found:
            found[match.group(1)] = match.group(2).strip("\"'")
    for key in ("apiVersion", "kind"):
        value = found.get(key)
        if not value:
            raise RbacError(f"{path}: no top-level `{key}:` line, so its kind is unknown")
        if "${" in value or "%" in value:
            raise RbacError(
                f"{path}: `{key}: {value}` is templated; the launched kind must be written out"
            )
    return found["apiVersion"], found["kind"]


@dataclass
class Permissions:
    """Verbs per (scope, API group, resource), with the object names they are limited to."""

    # scope: a namespace (Role) or None (ClusterRole)
    grants: dict[str | None, dict[tuple[str, str], dict[str, Names]]] = field(default_factory=dict)
    # (group, plural) of custom resources → why their rules rest on a guess
    custom: dict[tuple[str, str], str] = field(default_factory=dict)
    nonresource_urls: set[str] = field(default_factory=set)

    def allow(
        self,
        *,
        namespace: str | None,
        group: str,
        resource: str,
        verbs: Iterable[str],
        names: Iterable[str] | None = None,
    ) -> None:
        """Grant `verbs`; on the named objects only when `names` is given."""
        wanted: Names = None if names is None else frozenset(names)
        by_verb = self.grants.setdefault(namespace, {}).setdefault((group, resource), {})
        for verb in verbs:
            if verb not in by_verb:
                by_verb[verb] = wanted
                continue
            current = by_verb[verb]
            by_verb[verb] = None if current is None or wanted is None else current | wanted

    def notes(self, namespace: str | None) -> list[str]:
        """Why some rules of this scope rest on guesses, one sentence per custom resource."""
        present = {
            (group, resource.partition("/")[0])
            for group, resource in self.grants.get(namespace, {})
        }
        return [note for key, note in sorted(self.custom.items()) if key in present]


def required_permissions(
    config: Config, *, service_namespace: str, leader_elect: bool = False
) -> Permissions:
    """Everything the bindings of `config` ask of the API server."""
    perms = Permissions()
    for (kind_name, api_version, namespace, name), bindings in watch_groups(config).items():
        kind = kind_ref(kind_name, api_version, namespaced=bindings[0].namespace is not None)
        perms.allow(
            namespace=namespace if kind.namespaced else None,
            group=kind.group,
            resource=kind.plural,
            verbs=("list", "watch"),
            # With `watch-scope: object`: the API server authorizes a list or watch with a
            # `metadata.name` field selector as a request for that one object.
            names=None if name is None else (name,),
        )
    for binding in config.bindings:
        kind = kind_ref(binding.kind, binding.api_version, namespaced=binding.namespace is not None)
        _require_kind(perms, kind)
        scope = binding.namespace if kind.namespaced else None
        _require_patches(perms, binding, kind=kind, scope=scope)
        _require_actions(perms, binding, kind=kind, scope=scope)
        _require_commands(perms, binding, kind=kind, scope=scope)
    for entry in config.discover:
        _require_discovery(perms, config, entry)
    if leader_elect:
        # imported here: the leader module brings the Kubernetes client, which nothing else
        # of this offline command needs
        from mqtt_kube.kube.leader import lease_name

        lease = kind_ref("Lease", BUILTIN_KINDS["Lease"].api_version, namespaced=True)
        perms.allow(
            namespace=service_namespace,
            group=lease.group,
            resource=lease.plural,
            verbs=("create",),
        )
        perms.allow(
            namespace=service_namespace,
            group=lease.group,
            resource=lease.plural,
            verbs=("get", "update"),
            names=(lease_name(config.mqtt.client_id),),
        )
    return perms


def _require_discovery(perms: Permissions, config: Config, entry: DiscoverSpec) -> None:
    """A discovery entry lists and watches exactly where it looks (namespaced Roles, or a
    ClusterRole when it names no namespace) and writes what its recipes write, on any
    object there: which objects it will find is not known offline."""
    kind = kind_ref(entry.kind, entry.api_version, namespaced=True)
    _require_kind(perms, kind)
    for _, _, namespace, _ in discover_keys(config, entry):
        perms.allow(
            namespace=namespace if kind.namespaced else None,
            group=kind.group,
            resource=kind.plural,
            verbs=("list", "watch"),
        )
    everywhere = entry.namespaces is None
    for spec in stand_ins(entry, prefix=config.mqtt.topic_prefix):
        scope = None if everywhere or not kind.namespaced else spec.namespace
        _require_patches(perms, spec, kind=kind, scope=scope, any_object=True)
        _require_commands(perms, spec, kind=kind, scope=scope, any_object=True)


def _require_kind(perms: Permissions, kind: KindRef) -> None:
    """What resolving the kind costs: API discovery for anything not built in."""
    if kind.builtin:
        return
    perms.nonresource_urls.update((*DISCOVERY_URLS, kind.discovery_url))
    scope = "namespaced" if kind.namespaced else "cluster-scoped"
    perms.custom[(kind.group, kind.plural)] = (
        f"{kind.kind} ({kind.api_version}) is not a built-in kind: its resource name "
        f"{kind.plural!r} is the lowercase English plural, guessed offline, and it is taken "
        f"to be {scope}; check both with `kubectl api-resources --api-group={kind.group}`."
    )


def _require_patches(
    perms: Permissions,
    binding: BindingSpec,
    *,
    kind: KindRef,
    scope: str | None,
    any_object: bool = False,
) -> None:
    """On the binding's own object, or (`any_object`, discovery) on any object there."""
    for patch in binding.patch:
        field_path = patch.locus.field_path or ()
        resources: tuple[str, ...]
        if patch.locus.is_replicas and kind.scalable is None:
            # Whether a custom resource has /scale is only known through discovery.
            resources = (kind.plural, f"{kind.plural}/scale")
        elif patch.locus.is_replicas and kind.scalable:
            resources = (f"{kind.plural}/scale",)
        elif field_path and field_path[0] == "status" and kind.status is None:
            # Whether a custom resource has /status is only known through discovery too.
            resources = (kind.plural, f"{kind.plural}/status")
        elif field_path and field_path[0] == "status" and kind.status:
            resources = (f"{kind.plural}/status",)
        else:
            resources = (kind.plural,)
        for resource in resources:
            perms.allow(
                namespace=scope,
                group=kind.group,
                resource=resource,
                verbs=("patch",),
                names=None if any_object else (binding.name,),
            )


def _require_commands(
    perms: Permissions,
    binding: BindingSpec,
    *,
    kind: KindRef,
    scope: str | None,
    any_object: bool = False,
) -> None:
    """A recipe's commands (mqtt_kube.kube.recipe_requests): `power` and `restart` patch the
    object itself (an annotation cannot go through /scale), `run` creates Jobs beside the
    CronJob."""
    for command in binding.command:
        if command.operation == "run":
            job = kind_ref("Job", BUILTIN_KINDS["Job"].api_version, namespaced=True)
            perms.allow(namespace=scope, group=job.group, resource=job.plural, verbs=("create",))
        else:
            perms.allow(
                namespace=scope,
                group=kind.group,
                resource=kind.plural,
                verbs=("patch",),
                names=None if any_object else (binding.name,),
            )


def _require_actions(
    perms: Permissions, binding: BindingSpec, *, kind: KindRef, scope: str | None
) -> None:
    deletes = any(action.can_delete for action in binding.action)
    if deletes:
        # `delete` removes the binding's object, then whatever of its kind carries the
        # binding's labels (mqtt_kube.bridge.binding: Binding._delete).
        perms.allow(
            namespace=scope,
            group=kind.group,
            resource=kind.plural,
            verbs=("delete",),
            names=(binding.name,),
        )
        perms.allow(
            namespace=scope, group=kind.group, resource=kind.plural, verbs=("deletecollection",)
        )
    for action in binding.action:
        if action.launch is None or not action.can_launch:
            continue
        api_version, kind_name = template_kind(action.launch)
        launched = kind_ref(kind_name, api_version, namespaced=binding.namespace is not None)
        _require_kind(perms, launched)
        perms.allow(
            namespace=(binding.namespace or "default") if launched.namespaced else None,
            group=launched.group,
            resource=launched.plural,
            verbs=("create", "deletecollection") if deletes else ("create",),
        )

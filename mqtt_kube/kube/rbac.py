"""The least Kubernetes RBAC a configuration needs, as YAML for `kubectl apply -f -`.

The original service asked for cluster-admin. `mqtt-kube rbac CONFIG` reads the same file
the service runs and grants only the requests its bindings make (mqtt_kube.kube.watch,
patch and actions): list/watch where the service watches (across all namespaces through a
ClusterRole for a kind `watch_groups` watches cluster-wide), patch on the one endpoint a
patch touches (`/scale`, `/status` or the object), create on what an action can launch,
and for an action that can delete: delete on the binding's own object, deletecollection
(by label) on its kind and on what it launches. Namespaced kinds get a Role per
namespace; cluster-scoped ones a ClusterRole.

Everything is worked out offline, from the built-in kinds table and the launch templates'
text: no API server is asked. Where that leaves a guess (the plural of a custom resource),
the output says so in a comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from mqtt_kube.config.model import BindingSpec, Config, watch_groups
from mqtt_kube.core.errors import MqttKubeError
from mqtt_kube.core.kinds import BUILTIN_KINDS, builtin_kind

DEFAULT_NAMESPACE: Final = "mqtt-kube"
DEFAULT_SERVICE_ACCOUNT: Final = "mqtt-kube"
VERB_ORDER: Final = (
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
)
DISCOVERY_URLS: Final = ("/api", "/apis", "/version")
LABELS: Final = {"app.kubernetes.io/name": "mqtt-kube"}
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
    )


def template_kind(path: str) -> tuple[str, str]:
    """(apiVersion, kind) of a launch template, read from its top-level lines."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RbacError(f"{path}: cannot read the launch template: {exc.strerror}") from exc
    found: dict[str, str] = {}
    for line in text.splitlines():
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
    for (kind_name, api_version, namespace), bindings in watch_groups(config).items():
        kind = kind_ref(kind_name, api_version, namespaced=bindings[0].namespace is not None)
        perms.allow(
            namespace=namespace if kind.namespaced else None,
            group=kind.group,
            resource=kind.plural,
            verbs=("list", "watch"),
        )
    for binding in config.bindings:
        kind = kind_ref(binding.kind, binding.api_version, namespaced=binding.namespace is not None)
        _require_kind(perms, kind)
        scope = binding.namespace if kind.namespaced else None
        _require_patches(perms, binding, kind=kind, scope=scope)
        _require_actions(perms, binding, kind=kind, scope=scope)
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
    perms: Permissions, binding: BindingSpec, *, kind: KindRef, scope: str | None
) -> None:
    for patch in binding.patch:
        field_path = patch.locus.field_path or ()
        resources: tuple[str, ...]
        if patch.locus.is_replicas and kind.scalable is None:
            # Whether a custom resource has /scale is only known through discovery.
            resources = (kind.plural, f"{kind.plural}/scale")
        elif patch.locus.is_replicas and kind.scalable:
            resources = (f"{kind.plural}/scale",)
        elif field_path and field_path[0] == "status":
            resources = (f"{kind.plural}/status",)
        else:
            resources = (kind.plural,)
        for resource in resources:
            perms.allow(
                namespace=scope,
                group=kind.group,
                resource=resource,
                verbs=("patch",),
                names=(binding.name,),
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
        api_version, kind_name = template_kind(action.launch.path)
        launched = kind_ref(kind_name, api_version, namespaced=binding.namespace is not None)
        _require_kind(perms, launched)
        perms.allow(
            namespace=(binding.namespace or "default") if launched.namespaced else None,
            group=launched.group,
            resource=launched.plural,
            verbs=("create", "deletecollection") if deletes else ("create",),
        )


def _rules(grants: dict[tuple[str, str], dict[str, Names]]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for group, resource in sorted(grants):
        by_verb = grants[(group, resource)]
        granted = [verb for verb in VERB_ORDER if verb in by_verb]
        unrestricted = [verb for verb in granted if by_verb[verb] is None]
        if unrestricted:
            rules.append({"apiGroups": [group], "resources": [resource], "verbs": unrestricted})
        limited: dict[frozenset[str], list[str]] = {}
        for verb in granted:
            names = by_verb[verb]
            if names is not None:
                limited.setdefault(names, []).append(verb)
        for names, verbs in sorted(limited.items(), key=lambda item: sorted(item[0])):
            rules.append(
                {
                    "apiGroups": [group],
                    "resources": [resource],
                    "resourceNames": sorted(names),
                    "verbs": verbs,
                }
            )
    return rules


def render_rbac(
    config: Config,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    leader_elect: bool = False,
) -> str:
    """Multi-document YAML: the Roles, ClusterRole and bindings that `config` needs."""
    perms = required_permissions(config, service_namespace=namespace, leader_elect=leader_elect)
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
    documents: list[str] = []
    cluster_rules = _rules(perms.grants.get(None, {}))
    if perms.nonresource_urls:
        cluster_rules.append({"nonResourceURLs": sorted(perms.nonresource_urls), "verbs": ["get"]})
    if cluster_rules:
        name = f"{namespace}:{service_account}"
        documents += _role_and_binding(
            kind="ClusterRole",
            metadata={"name": name, "labels": dict(LABELS)},
            rules=cluster_rules,
            subject=subject,
            notes=perms.notes(None),
        )
    for role_namespace in sorted(ns for ns in perms.grants if ns is not None):
        documents += _role_and_binding(
            kind="Role",
            metadata={"name": service_account, "namespace": role_namespace, "labels": dict(LABELS)},
            rules=_rules(perms.grants[role_namespace]),
            subject=subject,
            notes=perms.notes(role_namespace),
        )
    header = _comment(
        f"Least-privilege RBAC for mqtt-kube running {Path(config.source).name} as "
        f"ServiceAccount {namespace}/{service_account}. Generated by `mqtt-kube rbac`; "
        "apply with `kubectl apply -f -`."
    )
    return header + "---\n".join(documents)


def _role_and_binding(
    *,
    kind: str,
    metadata: dict[str, Any],
    rules: list[dict[str, Any]],
    subject: dict[str, str],
    notes: list[str],
) -> list[str]:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": metadata,
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": kind,
            "name": metadata["name"],
        },
        "subjects": [subject],
    }
    return [
        "".join(_comment(note) for note in notes) + _yaml(role),
        _yaml(binding),
    ]


class _Dumper(yaml.SafeDumper):
    """Block style, except lists of plain strings: `verbs: [get, list, watch]`."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(item, str) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _yaml(obj: dict[str, Any]) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def _comment(text: str, width: int = 96) -> str:
    """`text` as `# ` comment lines of at most `width` characters."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "".join(f"# {line}\n" for line in lines)
